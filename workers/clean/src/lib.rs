//! The clean stage: a document in (a web page or a front-matter document, in any encoding,
//! gzip or not), a normalized article event out. Pure: no I/O, no clock (the caller passes `now`).
//!
//! # Layout
//!
//! - [`document`]: gzip, type guessing, the front matter block, Markdown bodies.
//! - [`charset`]: bytes to text, as browsers decode.
//! - [`prescan`]: caps element nesting before the parse.
//! - [`dom`]: one parse into a compact tree, with the head's metadata collected on the way.
//! - [`extract`]: finds the article's body among the furniture and renders text and HTML.
//! - [`metadata`], [`dates`], [`language`]: title, date, author, language and the rest.
//! - [`worker`]: the stage on the broker (the `copydesk-clean` binary).

pub mod charset;
pub mod dates;
pub mod document;
pub mod dom;
pub mod extract;
pub mod language;
pub mod metadata;
pub mod prescan;
pub mod worker;

use chrono::{DateTime, FixedOffset, Utc};
use shared::message::{ArticleEvent, Metadata, SCHEMA};
use url::Url;

use crate::document::Type;
use crate::dom::{Data, Dom};
use crate::extract::{Mode, patterns};

/// Why a document gave no article. All are permanent: the same bytes fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is {0} bytes, more than the {max} allowed", max = document::MAX_DOCUMENT_BYTES)]
    TooLarge(usize),
    #[error("the document is not text (binary content)")]
    Binary,
    #[error("the document is not valid gzip: {0}")]
    Gzip(String),
    #[error("the front matter is not valid YAML: {0}")]
    FrontMatter(String),
    #[error("content type `{0}` is not supported (text/html or text/markdown)")]
    UnsupportedType(String),
    #[error("no article text found in the document")]
    NoArticle,
}

impl CleanError {
    /// A short, stable name for metrics and dead-letter headers.
    pub fn kind(&self) -> &'static str {
        match self {
            CleanError::Empty => "empty",
            CleanError::TooLarge(_) => "too_large",
            CleanError::Binary => "binary",
            CleanError::Gzip(_) => "bad_gzip",
            CleanError::FrontMatter(_) => "bad_front_matter",
            CleanError::UnsupportedType(_) => "unsupported_type",
            CleanError::NoArticle => "no_article",
        }
    }
}

/// One document to clean, with what the caller knows about it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    /// `text/html` or `text/markdown`; guessed from `name` and the content when absent.
    pub content_type: Option<&'a str>,
    /// A file name, for guessing the type.
    pub name: Option<&'a str>,
    /// Where the page was fetched (the final URL after redirects).
    pub url: Option<&'a str>,
    /// The charset the HTTP response named.
    pub charset: Option<&'a str>,
    pub job_id: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// The HTTP response's `Last-Modified` (else `Date`): the date of a page that states none.
    pub http_date: Option<DateTime<Utc>>,
}

/// Cleans one document into an article event (with `duplicate_of` unset).
///
/// # Errors
///
/// A [`CleanError`] when the document cannot be read or holds no article.
pub fn clean(input: &Input<'_>, now: DateTime<Utc>) -> Result<ArticleEvent, CleanError> {
    let bytes = document::read(input.bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CleanError::Empty);
    }
    let kind = match input.content_type {
        Some(ct) => Type::from_content_type(ct).ok_or_else(|| CleanError::UnsupportedType(ct.to_owned()))?,
        None => Type::guess(input.name, &bytes),
    };
    let url = input.url.and_then(|u| Url::parse(u.trim()).ok()).filter(|u| matches!(u.scheme(), "http" | "https"));
    let tld = url.as_ref().and_then(|u| u.host_str().and_then(|h| h.rsplit('.').next()).map(str::to_owned));
    let decoded = charset::decode(&bytes, input.charset, tld.as_deref());
    if looks_binary(&decoded.text) {
        return Err(CleanError::Binary);
    }

    let (front, dom, mode) = match kind {
        Type::Markdown => {
            let (front, body) = document::split_front_matter(&decoded.text)?;
            let html = document::body_html(body);
            (front, Dom::parse_fragment(&prescan::prepare(&html)), Mode::Fragment)
        }
        Type::Html => (Default::default(), Dom::parse_document(&prescan::prepare(&decoded.text)), Mode::Page),
    };
    let url = url.or_else(|| front.url.as_deref().and_then(|u| Url::parse(u).ok()));
    // Links resolve against the page's address; a document that came without one (a file) may
    // still name its own in a canonical link or `og:url`.
    let url = url.or_else(|| {
        let own = dom.head.canonical.as_deref().or(dom.head.meta(&["og:url"]))?;
        Url::parse(own.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
    });
    let base = match (&url, dom.head.base.as_deref()) {
        (Some(u), Some(b)) => u.join(b).ok().or_else(|| Some(u.clone())),
        (u, _) => u.clone(),
    };
    let page = metadata::from_head(&dom.head, base.as_ref());
    let job = input.metadata.cloned().unwrap_or_default();

    let title = front.title.clone().or(page.title.clone()).or(job.title.clone());
    let extracted = extract::extract(&dom, mode, base.as_ref(), title.as_deref());
    let text = extracted.text();
    if text.trim().is_empty() {
        return Err(CleanError::NoArticle);
    }
    // The whole page's text, for what the metadata misses; built only when needed.
    let page_text = std::cell::OnceCell::new();
    let page_text = || page_text.get_or_init(|| all_text(&dom)).as_str();

    let declared = front.language.as_deref().or(page.language.as_deref()).or(job.language.as_deref());
    let language = language::resolve(declared.and_then(metadata::primary_language).as_deref(), &text);
    let zone = if language == "zh" { dates::china() } else { FixedOffset::east_opt(0).expect("zero") };
    let published_at = front
        .date
        .as_deref()
        .and_then(|d| dates::parse(d, zone))
        .or(page.published_at)
        .or_else(|| dates::find(page_text(), zone))
        .or_else(|| job.published_at.as_deref().and_then(|d| dates::parse(d, zone)))
        .or(input.http_date);

    let editor = front.editor.clone().or_else(|| {
        let text = page_text();
        let maybe = text.contains("编") || text.contains("dit");
        maybe
            .then(|| patterns::EDITOR.captures(text))
            .flatten()
            .and_then(|c| c.get(1).or(c.get(2)))
            .map(|m| m.as_str().trim_end_matches(['.', ',']).to_owned())
    });
    let author = front
        .author
        .clone()
        .or(page.author.clone())
        .or_else(|| dom.head.byline.as_deref().map(strip_by))
        .or_else(|| patterns::AUTHOR_LINE.captures(page_text()).and_then(|c| c.get(1)).map(|m| m.as_str().to_owned()))
        .or(job.author.clone());

    let images = extracted.images();
    let lead_image = front
        .image
        .as_deref()
        .and_then(|i| metadata::absolute(i, base.as_ref()))
        .or(page.lead_image.clone())
        .or_else(|| images.first().map(|i| i.url.clone()));
    let canonical_url = page.canonical_url.clone().or_else(|| front.url.clone());
    let site = canonical_url
        .as_deref()
        .or(input.url)
        .and_then(|u| Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .or(front.site.clone())
        .or(job.site.clone());
    let categories = [front.categories.clone(), page.categories.clone(), job.categories.clone()]
        .into_iter()
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    let keywords = if front.keywords.is_empty() { page.keywords.clone() } else { front.keywords.clone() };
    let title = title.unwrap_or_else(|| fallback_title(&extracted));

    let fingerprint = shared::text::Fingerprint::of(&text);
    Ok(ArticleEvent {
        schema: SCHEMA.to_owned(),
        simhash: fingerprint.simhash_hex(),
        id: fingerprint.id,
        content_hash: fingerprint.content_hash,
        duplicate_of: None,
        url: input.url.map(str::to_owned),
        canonical_url,
        site,
        title,
        author,
        editor,
        published_at: published_at.map(dates::format),
        language,
        categories,
        keywords,
        lead_image,
        images,
        html: extracted.html(),
        excerpt: shared::text::excerpt(&text),
        word_count: shared::text::word_count(&text),
        text,
        job_id: input.job_id.map(str::to_owned),
        fetched_at: dates::format(input.fetched_at.unwrap_or(now)),
        processed_at: dates::format(now),
    })
}

/// Control characters (other than tab, line breaks and form feed) and replacement characters
/// in more than 2% of the first 64 Ki characters: not a text document.
fn looks_binary(text: &str) -> bool {
    let (mut total, mut bad) = (0usize, 0usize);
    for c in text.chars().take(64 * 1024) {
        total += 1;
        if c == '\u{FFFD}' || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c')) {
            bad += 1;
        }
    }
    bad * 50 > total
}

/// The text of the whole document, for finding dates, editors and authors the metadata misses.
fn all_text(dom: &Dom) -> String {
    let mut out = String::new();
    for node in &dom.nodes {
        if let Data::Text(t) = &node.data {
            let t = t.trim();
            if !t.is_empty() {
                out.push_str(t);
                out.push('\n');
            }
        }
    }
    out
}

/// The name in a byline: `By Dana Whitfield · May 12, 2026` → `Dana Whitfield`.
fn strip_by(byline: &str) -> String {
    let b = byline.split(['·', '•', '|', '｜', '\n']).next().unwrap_or(byline).trim();
    let b = if b.to_lowercase().starts_with("by ") { b[3..].trim() } else { b };
    b.trim_end_matches([',', ';', '-', '–', '—']).trim().to_owned()
}

/// A title for a document that states none: its first heading, else its first line, shortened.
fn fallback_title(extracted: &extract::Extracted) -> String {
    let first = extracted
        .blocks
        .iter()
        .find(|b| matches!(b.kind, extract::Kind::Heading(_)))
        .or_else(|| extracted.blocks.iter().find(|b| !b.text.is_empty()))
        .map(|b| b.text.as_str())
        .unwrap_or("");
    let short: String = first.chars().take(120).collect();
    if short.len() < first.len() { format!("{}…", short.trim_end()) } else { short }
}
