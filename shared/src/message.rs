//! The contract's wire types (`../shared/CONTRACT.md`): the job a crawler sends and the article
//! event we publish.
//!
//! Jobs are decoded by hand from a `serde_json::Value` rather than by derive, so that a bad job is
//! refused with a reason that names the field at fault ("`metadata.title` must be a string"),
//! which is what an operator reading a dead letter needs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `schema` and AMQP `type` of every event we publish.
pub const SCHEMA: &str = "copydesk.article.v1";

/// Largest job body accepted, in bytes; bigger is refused as a permanent error.
pub const MAX_JOB_BYTES: usize = 32 * 1024 * 1024;

/// `text/html`, a web page.
pub const CONTENT_TYPE_HTML: &str = "text/html";
/// `text/markdown`, a document with a YAML front matter block and an HTML or Markdown body.
pub const CONTENT_TYPE_MARKDOWN: &str = "text/markdown";

/// The pipeline stage a job is addressed to; also its routing key on `P.jobs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Fetch,
    Clean,
}

/// Why a job was refused. Every variant is permanent: retrying the same bytes cannot help.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error("job is {0} bytes, more than the {MAX_JOB_BYTES} allowed")]
    TooLarge(usize),
    #[error("job is not UTF-8: {0}")]
    NotUtf8(String),
    #[error("job is not valid JSON: {0}")]
    NotJson(String),
    #[error("job must be a JSON object, not {0}")]
    NotObject(&'static str),
    #[error("job lacks the required field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` must be {expected}, not {found}")]
    WrongType { field: String, expected: &'static str, found: &'static str },
    #[error("field `content_type` is `{0}`; supported are `text/html` and `text/markdown`")]
    UnsupportedContentType(String),
}

impl JobError {
    /// A short, stable name for metrics and dead-letter headers.
    pub fn kind(&self) -> &'static str {
        match self {
            JobError::TooLarge(_) => "too_large",
            JobError::NotUtf8(_) => "not_utf8",
            JobError::NotJson(_) => "not_json",
            JobError::NotObject(_) => "not_object",
            JobError::Missing(_) => "missing_field",
            JobError::WrongType { .. } => "wrong_type",
            JobError::UnsupportedContentType(_) => "unsupported_content_type",
        }
    }
}

/// What the crawler already knows about the page. The page's own data wins where both exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A crawler's job, validated for the stage it was sent to. Serializes in the contract's shape
/// (the fetch stage writes clean jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Job {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub metadata: Metadata,
}

impl Job {
    /// Decodes and validates a job body for `stage`. Unknown fields are ignored.
    ///
    /// # Errors
    ///
    /// A [`JobError`] naming the first problem found; all are permanent.
    pub fn parse(body: &[u8], stage: Stage) -> Result<Job, JobError> {
        if body.len() > MAX_JOB_BYTES {
            return Err(JobError::TooLarge(body.len()));
        }
        let text = std::str::from_utf8(body).map_err(|e| JobError::NotUtf8(e.to_string()))?;
        // serde_json refuses nesting deeper than 128 levels, so a hostile body cannot
        // exhaust the stack.
        let value: Value = serde_json::from_str(text).map_err(|e| JobError::NotJson(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(JobError::NotObject(kind(&value)));
        };
        Job::from_object(&map, stage)
    }

    fn from_object(map: &Map<String, Value>, stage: Stage) -> Result<Job, JobError> {
        let url = opt_string(map, "url", "url")?;
        let content = opt_string(map, "content", "content")?;
        let content_type = opt_string(map, "content_type", "content_type")?;
        let id = opt_string(map, "id", "id")?;
        let metadata = match map.get("metadata") {
            None | Some(Value::Null) => Metadata::default(),
            Some(Value::Object(m)) => Metadata {
                title: opt_string(m, "title", "metadata.title")?,
                published_at: opt_string(m, "published_at", "metadata.published_at")?,
                author: opt_string(m, "author", "metadata.author")?,
                categories: string_list(m, "categories", "metadata.categories")?,
                site: opt_string(m, "site", "metadata.site")?,
                language: opt_string(m, "language", "metadata.language")?,
            },
            Some(other) => {
                return Err(wrong_type("metadata", "an object", other));
            }
        };
        match stage {
            Stage::Fetch if url.is_none() => return Err(JobError::Missing("url")),
            Stage::Clean if content.is_none() => return Err(JobError::Missing("content")),
            _ => {}
        }
        if let Some(ct) = &content_type {
            let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if essence != CONTENT_TYPE_HTML && essence != CONTENT_TYPE_MARKDOWN {
                return Err(JobError::UnsupportedContentType(ct.clone()));
            }
        }
        Ok(Job { url, content, content_type, id, metadata })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &'static str, found: &Value) -> JobError {
    JobError::WrongType { field: field.to_owned(), expected, found: kind(found) }
}

/// A string field; absent and `null` both mean "not given".
fn opt_string(map: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, JobError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

/// A list of strings; a single string is taken as a list of one, as crawlers often send it so.
fn string_list(map: &Map<String, Value>, key: &str, field: &str) -> Result<Vec<String>, JobError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(field, "an array of strings", other)),
            })
            .collect(),
        Some(other) => Err(wrong_type(field, "an array of strings", other)),
    }
}

/// A content image of the article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Absolute URL.
    pub url: String,
    pub alt: Option<String>,
    pub caption: Option<String>,
}

/// One normalized article, as published to `P.articles` (schema `copydesk.article.v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleEvent {
    pub schema: String,
    /// Hex of `content_hash`'s digest: the same article always has the same id.
    pub id: String,
    /// `sha256:<64 hex>` of [`crate::text::normalize`]d text.
    pub content_hash: String,
    /// 16 hex digits, [`crate::text::simhash`] of the text.
    pub simhash: String,
    pub duplicate_of: Option<String>,
    pub url: Option<String>,
    pub canonical_url: Option<String>,
    pub site: Option<String>,
    pub title: String,
    pub author: Option<String>,
    pub editor: Option<String>,
    /// RFC 3339, UTC.
    pub published_at: Option<String>,
    pub language: String,
    pub categories: Vec<String>,
    pub keywords: Vec<String>,
    pub lead_image: Option<String>,
    pub images: Vec<Image>,
    pub text: String,
    pub html: String,
    pub excerpt: String,
    pub word_count: u64,
    pub job_id: Option<String>,
    pub fetched_at: String,
    pub processed_at: String,
}

impl ArticleEvent {
    /// The event's routing key on `P.articles`: `article.<language>.<site>`, or
    /// `duplicate.<language>.<site>` when `duplicate_of` is set.
    pub fn routing_key(&self) -> String {
        let kind = if self.duplicate_of.is_some() { "duplicate" } else { "article" };
        let language = if self.language.is_empty() { "und" } else { self.language.as_str() };
        format!("{kind}.{language}.{}", site_key(self.site.as_deref()))
    }
}

/// The `<site>` part of a routing key: the host without a leading `www.`, dots replaced by `_`,
/// or `unknown`. Characters that are not ASCII alphanumerics, `-` or `_` become `_`, so a key
/// never holds AMQP topic wildcards.
pub fn site_key(site: Option<&str>) -> String {
    let Some(host) = site.map(str::trim).filter(|s| !s.is_empty()) else {
        return "unknown".to_owned();
    };
    let host = host.strip_prefix("www.").unwrap_or(host);
    host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_job_with_metadata_is_decoded() {
        let body = br#"{"content":"<p>x</p>","content_type":"text/html","id":"j1",
            "metadata":{"title":"T","categories":["a","b"]},"extra":1}"#;
        let job = Job::parse(body, Stage::Clean).unwrap();
        assert_eq!(job.id.as_deref(), Some("j1"));
        assert_eq!(job.metadata.title.as_deref(), Some("T"));
        assert_eq!(job.metadata.categories, ["a", "b"]);
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        assert_eq!(Job::parse(br#"{"url":"http://x"}"#, Stage::Clean), Err(JobError::Missing("content")));
        assert_eq!(Job::parse(br#"{"content":"x"}"#, Stage::Fetch), Err(JobError::Missing("url")));
        let err = Job::parse(br#"{"content":"x","metadata":{"title":5}}"#, Stage::Clean).unwrap_err();
        assert_eq!(err.to_string(), "field `metadata.title` must be a string, not a number");
        let err = Job::parse(br#"{"content":7}"#, Stage::Clean).unwrap_err();
        assert_eq!(err.to_string(), "field `content` must be a string, not a number");
    }

    #[test]
    fn non_json_non_object_and_non_utf8_are_refused() {
        assert!(matches!(Job::parse(b"{not json", Stage::Clean), Err(JobError::NotJson(_))));
        assert_eq!(Job::parse(b"[1]", Stage::Clean), Err(JobError::NotObject("an array")));
        assert!(matches!(Job::parse(b"\xff\xfe{}", Stage::Clean), Err(JobError::NotUtf8(_))));
    }

    #[test]
    fn deeply_nested_json_is_refused_without_overflow() {
        let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(Job::parse(body.as_bytes(), Stage::Clean), Err(JobError::NotJson(_))));
    }

    #[test]
    fn unsupported_content_type_is_refused() {
        let err = Job::parse(br#"{"content":"x","content_type":"application/pdf"}"#, Stage::Clean);
        assert!(matches!(err, Err(JobError::UnsupportedContentType(_))));
        let ok = Job::parse(br#"{"content":"x","content_type":"text/html; charset=utf-8"}"#, Stage::Clean);
        assert!(ok.is_ok());
    }

    #[test]
    fn site_key_follows_the_contract() {
        assert_eq!(site_key(Some("www.finance.sina.com.cn")), "finance_sina_com_cn");
        assert_eq!(site_key(Some("Example.COM")), "example_com");
        assert_eq!(site_key(Some("a*b#c")), "a_b_c");
        assert_eq!(site_key(None), "unknown");
    }
}
