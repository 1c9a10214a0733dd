//! A linear pass over the markup before it is parsed: it caps element nesting and empties
//! scripts, styles and comments.
//!
//! Scripts, styles and comments are a third to a half of a typical news page and none of it is
//! text; the parser's tokenizer walks them character by character, so leaving them out before the
//! parse is the cheapest speed-up there is. JSON-LD scripts are kept: they carry metadata.
//!
//! html5ever's tree builder scans the stack of open elements for many start tags, so a page of
//! 100,000 nested `<div>`s costs quadratic time (31 s of CPU for 1.1 MB, measured here), and any
//! recursive walk of such a tree can overflow the stack. Browsers cap nesting at 512; we drop start
//! tags (and their end tags) past [`MAX_DEPTH`] open container elements, keeping all text. Pages
//! that stay below the cap, which is every real page, are returned untouched and not copied.

use std::borrow::Cow;

use memchr::memchr;

/// Open container elements allowed before further start tags are dropped.
pub const MAX_DEPTH: usize = 256;

/// Elements whose content is raw text: a `<div` inside them is not markup.
const RAW_TEXT: &[&str] =
    &["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript", "svg", "template"];

/// Elements that never nest (void) or that the parser closes implicitly when a sibling starts;
/// counting them would make ordinary pages with unclosed `<p>` or `<li>` look deep.
const NOT_COUNTED: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "p", "li",
    "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "rb", "rt", "rp", "colgroup",
    "html", "head", "body", "param", "keygen", "frame",
];

/// Raw-text elements whose content is dropped (JSON-LD scripts excepted).
/// (Inline SVG is not raw text to a browser, but it is never article text and icons are bulky.)
const EMPTIED: &[&str] = &["script", "style", "noscript", "template", "svg"];

/// Returns `html` with start tags beyond [`MAX_DEPTH`] nested containers removed (with their
/// matching end tags), comments removed, and the content of scripts and styles emptied.
pub fn prepare(html: &str) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `html` already handled when `out` is in use
    let mut stack: Vec<String> = Vec::new();
    let mut dropped: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr(b'<', &bytes[i..]) {
        let start = i + off;
        i = start + 1;
        if bytes[i..].starts_with(b"!--") {
            i = find(bytes, i + 3, b"-->").map_or(bytes.len(), |e| e + 3);
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(&html[copied..start]);
            copied = i;
            continue;
        }
        let closing = bytes.get(i) == Some(&b'/');
        let name_start = if closing { i + 1 } else { i };
        let name_end = name_start + bytes[name_start..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if name_end == name_start || !bytes[name_start].is_ascii_alphabetic() {
            continue;
        }
        let name = html[name_start..name_end].to_ascii_lowercase();
        let Some(gt) = memchr(b'>', &bytes[name_end..]).map(|g| name_end + g) else {
            break;
        };
        i = gt + 1;
        let self_closing = bytes[gt - 1] == b'/';
        let mut drop_tag = false;
        if closing {
            if let Some(entry) = dropped.iter_mut().find(|(n, c)| *n == name && *c > 0) {
                entry.1 -= 1;
                drop_tag = true;
            } else if let Some(pos) = stack.iter().rev().take(64).position(|n| *n == name) {
                stack.truncate(stack.len() - pos - 1);
            }
        } else if RAW_TEXT.contains(&name.as_str()) {
            let close = format!("</{name}");
            let end = find_ignore_case(bytes, i, close.as_bytes()).unwrap_or(bytes.len());
            let json_ld = name == "script" && html[name_end..gt].to_ascii_lowercase().contains("ld+json");
            if EMPTIED.contains(&name.as_str()) && !json_ld && end > i {
                let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
                buf.push_str(&html[copied..i]);
                copied = end;
            }
            i = end;
            continue;
        } else if !self_closing && !NOT_COUNTED.contains(&name.as_str()) {
            if stack.len() >= MAX_DEPTH {
                match dropped.iter_mut().find(|(n, _)| *n == name) {
                    Some(entry) => entry.1 += 1,
                    None => dropped.push((name, 1)),
                }
                drop_tag = true;
            } else {
                stack.push(name);
            }
        }
        if drop_tag {
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(&html[copied..start]);
            copied = gt + 1;
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut buf) => {
            buf.push_str(&html[copied..]);
            Cow::Owned(buf)
        }
    }
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&haystack[from.min(haystack.len())..], needle).map(|p| from + p)
}

fn find_ignore_case(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut i = from;
    while let Some(off) = memchr(b'<', &haystack[i.min(haystack.len())..]) {
        let at = i + off;
        if haystack.len() >= at + needle.len() && haystack[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_without_scripts_or_comments_are_not_copied() {
        let page = "<html><body><div><p>one<p>two</div></body></html>";
        assert!(matches!(prepare(page), Cow::Borrowed(_)));
    }

    #[test]
    fn scripts_styles_and_comments_are_emptied_but_json_ld_kept() {
        let page = "<p>a<script>if (a<b) '<div>'</script><!-- c --><style>p{}</style>\
                    <script type=\"application/ld+json\">{\"x\":1}</script><SCRIPT>y()</SCRIPT>b";
        assert_eq!(
            prepare(page),
            "<p>a<script></script><style></style><script type=\"application/ld+json\">{\"x\":1}</script><SCRIPT></SCRIPT>b"
        );
    }

    #[test]
    fn deep_nesting_is_capped_and_text_kept() {
        let n = 10_000;
        let page = format!("{}deep text{}", "<div class=x>".repeat(n), "</div>".repeat(n));
        let capped = prepare(&page);
        assert_eq!(capped.matches("<div").count(), MAX_DEPTH);
        assert_eq!(capped.matches("</div>").count(), MAX_DEPTH);
        assert!(capped.contains("deep text"));
    }

    #[test]
    fn comments_and_scripts_do_not_count() {
        let page = format!("<!--{}--><script>{}</script><p>ok", "<div>".repeat(1000), "<div>".repeat(1000));
        assert_eq!(prepare(&page), "<script></script><p>ok");
    }
}
