//! Reading a document: gzip, the type (web page or front-matter document), and the front matter.

use std::io::Read;

use serde_yaml_ng::Value;

use crate::CleanError;

/// Largest document accepted, after decompression. News pages are well under 2 MB; a bigger one
/// is a mistake or an attack, and the HTML parser's memory grows with the input.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Html,
    /// A YAML front matter block with an HTML or Markdown body.
    Markdown,
}

impl Type {
    /// The type a content type names; `None` for types we do not take.
    pub fn from_content_type(ct: &str) -> Option<Type> {
        match ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "text/html" | "application/xhtml+xml" => Some(Type::Html),
            "text/markdown" | "text/x-markdown" | "text/plain" => Some(Type::Markdown),
            _ => None,
        }
    }

    /// Guesses the type from a file name and the first bytes.
    pub fn guess(name: Option<&str>, bytes: &[u8]) -> Type {
        if starts_with_front_matter(bytes) {
            return Type::Markdown;
        }
        let name = name.unwrap_or("").to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".md") || name.ends_with(".markdown") {
            return Type::Markdown;
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
        if name.ends_with(".txt") && !head.contains("<html") && !head.contains("<!doctype") {
            return Type::Markdown;
        }
        Type::Html
    }
}

fn starts_with_front_matter(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    bytes[start..].starts_with(b"---")
        && bytes[start + 3..].iter().take_while(|b| **b != b'\n').all(|b| b.is_ascii_whitespace())
}

/// The bytes of the document, decompressed when they are gzip (by their magic number, whatever
/// the name says), within [`MAX_DOCUMENT_BYTES`].
pub fn read(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CleanError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_DOCUMENT_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| CleanError::Gzip(e.to_string()))?;
        if out.len() > MAX_DOCUMENT_BYTES {
            return Err(CleanError::TooLarge(MAX_DOCUMENT_BYTES + 1));
        }
        return Ok(out.into());
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CleanError::TooLarge(bytes.len()));
    }
    Ok(bytes.into())
}

/// A front-matter document split into its fields and its body.
#[derive(Debug, Default)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub date: Option<String>,
    pub author: Option<String>,
    pub editor: Option<String>,
    pub categories: Vec<String>,
    pub keywords: Vec<String>,
    pub image: Option<String>,
    pub url: Option<String>,
    pub language: Option<String>,
    pub site: Option<String>,
}

/// Splits `text` into front matter and body. A document without a front matter block is all body.
///
/// # Errors
///
/// [`CleanError::FrontMatter`] when the block is not valid YAML or not a mapping.
pub fn split_front_matter(text: &str) -> Result<(FrontMatter, &str), CleanError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let Some(rest) = trimmed.strip_prefix("---") else {
        return Ok((FrontMatter::default(), text));
    };
    let Some(rest) = rest
        .split_once('\n')
        .map(|(first, rest)| (first.trim().is_empty(), rest))
        .filter(|(ok, _)| *ok)
        .map(|(_, r)| r)
    else {
        return Ok((FrontMatter::default(), text));
    };
    // The block ends at a line of `---` or `...`.
    let mut offset = 0;
    let mut end = None;
    for line in rest.split_inclusive('\n') {
        let l = line.trim_end();
        if l == "---" || l == "..." {
            end = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let Some((yaml_end, body_start)) = end else {
        return Err(CleanError::FrontMatter("the front matter block has no closing `---` line".into()));
    };
    let yaml = &rest[..yaml_end];
    let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| CleanError::FrontMatter(e.to_string()))?;
    let map = match value {
        Value::Mapping(m) => m,
        Value::Null => Default::default(),
        _ => {
            return Err(CleanError::FrontMatter("the front matter is not a mapping of fields".into()));
        }
    };
    let get = |keys: &[&str]| keys.iter().find_map(|k| map.get(*k).and_then(scalar));
    let get_list = |keys: &[&str]| {
        keys.iter().map(|k| map.get(*k).map(list).unwrap_or_default()).find(|l| !l.is_empty()).unwrap_or_default()
    };
    let fm = FrontMatter {
        title: get(&["title", "headline"]),
        date: get(&["date", "published", "published_at", "pubDate", "pubdate", "created"]),
        author: get(&["author", "authors", "byline", "source"]),
        editor: get(&["editor"]),
        categories: get_list(&["categories", "category", "section"]),
        keywords: get_list(&["tags", "keywords"]),
        image: get(&["headimg", "thumbnail", "image", "cover", "lead_image", "featured_image"]),
        url: get(&["url", "link", "source_url", "permalink", "canonical"]),
        language: get(&["language", "lang", "locale"]),
        site: get(&["site", "site_name"]),
    };
    Ok((fm, &rest[body_start..]))
}

fn scalar(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Sequence(items) => return items.iter().find_map(scalar),
        Value::Mapping(m) => return m.get("name").and_then(scalar),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
        Value::String(s) => crate::metadata::split_list(s),
        other => scalar(other).into_iter().collect(),
    }
}

/// The body of a front-matter document as HTML: HTML bodies as they are, Markdown rendered.
pub fn body_html(body: &str) -> std::borrow::Cow<'_, str> {
    let head = body.trim_start();
    let looks_html = head.starts_with('<')
        || ["<p", "<div", "<br", "<img", "<h2", "<section", "<article"].iter().any(|t| body.contains(t));
    if looks_html {
        return body.into();
    }
    let mut out = String::with_capacity(body.len() + body.len() / 4);
    pulldown_cmark::html::push_html(&mut out, pulldown_cmark::Parser::new(body));
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_fields_and_body_are_split() {
        let doc = "---\ntitle: 'T'\ncategories:\n - a\n - b\nheadimg: 'https://x.test/i.jpg'\ndate: Tue, 02 Aug 2022 06:47:25 GMT\n---\n\n<p>Body</p>\n";
        let (fm, body) = split_front_matter(doc).unwrap();
        assert_eq!(fm.title.as_deref(), Some("T"));
        assert_eq!(fm.categories, ["a", "b"]);
        assert_eq!(fm.image.as_deref(), Some("https://x.test/i.jpg"));
        assert_eq!(fm.date.as_deref(), Some("Tue, 02 Aug 2022 06:47:25 GMT"));
        assert_eq!(body.trim(), "<p>Body</p>");
    }

    #[test]
    fn invalid_yaml_is_a_clear_error() {
        let err = split_front_matter("---\ntitle: [unclosed\n---\nbody").unwrap_err();
        assert!(matches!(err, CleanError::FrontMatter(_)), "{err}");
        assert!(matches!(split_front_matter("---\ntitle: x\nno end"), Err(CleanError::FrontMatter(_))));
        assert!(matches!(split_front_matter("---\n- a\n- b\n---\nbody"), Err(CleanError::FrontMatter(_))));
    }

    #[test]
    fn markdown_bodies_are_rendered_and_html_kept() {
        assert!(body_html("# Head\n\nSome *text*.").contains("<p>Some <em>text</em>.</p>"));
        assert_eq!(body_html("<p>x</p>"), "<p>x</p>");
    }

    #[test]
    fn types_are_guessed_from_name_and_content() {
        assert_eq!(Type::guess(Some("a.txt"), b"\n---\ntitle: x\n---\n"), Type::Markdown);
        assert_eq!(Type::guess(Some("a.html.gz"), b"<html>"), Type::Html);
        assert_eq!(Type::guess(None, b"<!doctype html><p>x"), Type::Html);
    }

    #[test]
    fn gzip_is_read_and_bombs_are_capped() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"<p>hello</p>").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(&*read(&gz).unwrap(), b"<p>hello</p>");

        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..20 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(matches!(read(&bomb), Err(CleanError::TooLarge(_))));
    }
}
