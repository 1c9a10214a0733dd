//! What a page says about itself: title, date, author, language, categories, keywords, lead
//! image and canonical address, from `<meta>` tags, JSON-LD and the page's own text.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;
use url::Url;

use crate::dates;
use crate::dom::Head;

/// Metadata found in the page itself (or a front matter block, which is the document's own).
#[derive(Debug, Default, Clone)]
pub struct PageMeta {
    pub title: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub canonical_url: Option<String>,
    pub language: Option<String>,
    pub categories: Vec<String>,
    pub keywords: Vec<String>,
    pub lead_image: Option<String>,
}

/// The fields of JSON-LD objects describing the article.
#[derive(Debug, Default)]
struct JsonLd {
    headline: Option<String>,
    published: Option<String>,
    authors: Vec<String>,
    sections: Vec<String>,
    keywords: Vec<String>,
    image: Option<String>,
    language: Option<String>,
}

const ARTICLE_TYPES: &[&str] = &[
    "article",
    "newsarticle",
    "blogposting",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "report",
    "scholarlyarticle",
    "techarticle",
    "posting",
    "socialmediaposting",
    "liveblogposting",
    "webpage",
];

fn json_ld(head: &Head) -> JsonLd {
    let mut out = JsonLd::default();
    let mut objects = Vec::new();
    for script in &head.json_ld {
        // Some sites put several objects or a trailing semicolon in one script.
        let trimmed = script.trim().trim_end_matches(';');
        if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
            collect_objects(v, &mut objects, 0);
        }
    }
    // Article types first, WebPage last: a page object's name is often the site's.
    objects.sort_by_key(|o| {
        let t = type_names(o);
        if t.iter().any(|t| t == "webpage") { 1 } else { 0 }
    });
    for o in objects.iter().filter(|o| type_names(o).iter().any(|t| ARTICLE_TYPES.contains(&t.as_str()))) {
        out.headline = out.headline.or_else(|| string(o.get("headline")).or_else(|| string(o.get("name"))));
        out.published =
            out.published.or_else(|| string(o.get("datePublished")).or_else(|| string(o.get("dateCreated"))));
        if out.authors.is_empty() {
            out.authors = names(o.get("author"));
        }
        if out.sections.is_empty() {
            out.sections = list(o.get("articleSection"));
        }
        if out.keywords.is_empty() {
            out.keywords = list(o.get("keywords"));
        }
        out.image = out.image.or_else(|| image(o.get("image")));
        out.language = out.language.or_else(|| string(o.get("inLanguage")));
    }
    out
}

fn collect_objects(v: Value, out: &mut Vec<serde_json::Map<String, Value>>, depth: usize) {
    if depth > 4 {
        return;
    }
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| collect_objects(i, out, depth + 1)),
        Value::Object(mut o) => {
            if let Some(graph) = o.remove("@graph") {
                collect_objects(graph, out, depth + 1);
            }
            if let Some(main) = o.get("mainEntity").cloned() {
                collect_objects(main, out, depth + 1);
            }
            out.push(o);
        }
        _ => {}
    }
}

fn type_names(o: &serde_json::Map<String, Value>) -> Vec<String> {
    list(o.get("@type")).into_iter().map(|t| t.to_ascii_lowercase()).collect()
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Array(a) => a.iter().find_map(|i| string(Some(i))),
        _ => None,
    }
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => split_list(s),
        Some(Value::Array(a)) => a.iter().filter_map(|i| string(Some(i))).collect(),
        _ => Vec::new(),
    }
}

fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_owned()],
        Some(Value::Object(o)) => string(o.get("name")).into_iter().collect(),
        Some(Value::Array(a)) => a.iter().flat_map(|i| names(Some(i))).collect(),
        _ => Vec::new(),
    }
}

fn image(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => string(o.get("url")).or_else(|| string(o.get("contentUrl"))),
        Value::Array(a) => a.iter().find_map(|i| image(Some(i))),
        _ => None,
    }
}

/// Splits a keyword or category list written as one string.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', '，', ';', '；', '、', '|']).map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

/// The primary language subtag of a BCP 47 tag or locale (`zh-CN`, `en_US`), lower case.
pub fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    (2..=3).contains(&primary.len()).then_some(primary).filter(|p| p.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Reads the page's metadata from its head, JSON-LD and, for the date, its text.
pub fn from_head(head: &Head, base: Option<&Url>) -> PageMeta {
    let ld = json_ld(head);
    let language = head
        .lang
        .as_deref()
        .or(head.meta(&["content-language", "og:locale", "language", "dc.language"]))
        .or(ld.language.as_deref())
        .and_then(primary_language);
    let zone = if language.as_deref() == Some("zh") { dates::china() } else { FixedOffset::east_opt(0).expect("zero") };
    let published_at = ld
        .published
        .as_deref()
        .and_then(|d| dates::parse(d, zone))
        .or_else(|| {
            head.meta(&[
                "article:published_time",
                "og:published_time",
                "og:article:published_time",
                "datepublished",
                "pubdate",
                "publishdate",
                "publish-date",
                "publish_date",
                "publication_date",
                "sailthru.date",
                "parsely-pub-date",
                "dc.date.issued",
                "dc.date",
                "dcterms.created",
                "date",
                "article.published",
                "published_time",
                "weibo:article:create_at",
            ])
            .and_then(|d| dates::parse(d, zone))
        })
        .or_else(|| head.times.iter().find_map(|t| dates::parse(t, zone)));
    let author = if ld.authors.is_empty() {
        head.meta(&[
            "author",
            "article:author",
            "byl",
            "parsely-author",
            "sailthru.author",
            "dc.creator",
            "twitter:creator",
        ])
        .filter(|a| !a.starts_with("http") && !a.starts_with('@'))
        .map(|a| a.trim_start_matches("By ").trim_start_matches("by ").to_owned())
    } else {
        Some(dedup(ld.authors).join(", "))
    };
    let mut categories = ld.sections;
    if categories.is_empty() {
        categories =
            head.metas.iter().filter(|(k, _)| k == "article:section").map(|(_, v)| v.trim().to_owned()).collect();
    }
    let mut keywords = ld.keywords;
    if keywords.is_empty() {
        keywords = head.meta(&["keywords", "news_keywords"]).map(split_list).unwrap_or_default();
    }
    if keywords.is_empty() {
        keywords = head.metas.iter().filter(|(k, _)| k == "article:tag").map(|(_, v)| v.trim().to_owned()).collect();
    }
    let resolve = |s: &str| absolute(s, base);
    PageMeta {
        title: title(head, ld.headline.as_deref()),
        published_at,
        author,
        canonical_url: head.canonical.as_deref().or(head.meta(&["og:url"])).and_then(resolve),
        language,
        categories: dedup(categories),
        keywords: dedup(keywords),
        lead_image: head
            .meta(&["og:image", "og:image:url", "twitter:image", "twitter:image:src"])
            .map(str::to_owned)
            .or(ld.image)
            .and_then(|s| resolve(&s)),
    }
}

/// An absolute `http(s)` URL for `s`.
pub fn absolute(s: &str, base: Option<&Url>) -> Option<String> {
    let url = match base {
        Some(b) => b.join(s.trim()).ok()?,
        None => Url::parse(s.trim()).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !i.is_empty() && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

const TITLE_SEPARATORS: &[&str] = &[" | ", " - ", " – ", " — ", " :: ", " · ", "_", "｜", "|", " — ", "－", "--"];

/// The article's title: the `<h1>` when another source confirms it, else JSON-LD's headline,
/// `og:title` or `<title>` without the site's name.
fn title(head: &Head, headline: Option<&str>) -> Option<String> {
    let og = head.meta(&["og:title", "twitter:title", "title", "dc.title", "headline"]);
    let page = head.title.as_deref().filter(|t| !t.is_empty());
    let confirmers: Vec<String> = [og, page, headline].into_iter().flatten().map(shared::text::normalize).collect();
    for h1 in &head.h1 {
        let n = shared::text::normalize(h1);
        if n.chars().count() >= 4 && confirmers.iter().any(|c| c.contains(&n)) {
            return Some(h1.clone());
        }
    }
    if let Some(h) = headline {
        return Some(strip_site(h));
    }
    og.or(page).map(strip_site).filter(|t| !t.is_empty())
}

/// `Article title - Site` → `Article title`: the longest part between separators.
pub fn strip_site(title: &str) -> String {
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    for sep in TITLE_SEPARATORS {
        if title.contains(sep) {
            let parts: Vec<&str> = title.split(sep).map(str::trim).collect();
            let longest = parts.iter().max_by_key(|p| p.chars().count()).copied().unwrap_or("");
            if longest.chars().count() * 2 >= title.chars().count() / 2 && longest.chars().count() >= 4 {
                return longest.to_owned();
            }
        }
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_suffixes_are_stripped() {
        assert_eq!(strip_site("Storm hits coast - The Daily News"), "Storm hits coast");
        assert_eq!(strip_site("山西河曲人口小县机构改革基本完成_新浪财经_新浪网"), "山西河曲人口小县机构改革基本完成");
        assert_eq!(strip_site("A plain title"), "A plain title");
    }

    #[test]
    fn json_ld_article_fields_are_read() {
        let head = Head {
            json_ld: vec![
                r#"{"@context":"https://schema.org","@graph":[{"@type":"WebPage","name":"Site"},
                {"@type":"NewsArticle","headline":"Real headline","datePublished":"2022-08-02T06:47:25Z",
                 "author":[{"@type":"Person","name":"Ann Lee"},{"name":"Bo Chen"}],"keywords":"a, b",
                 "image":{"url":"https://x.test/i.jpg"}}]}"#
                    .into(),
            ],
            ..Head::default()
        };
        let meta = from_head(&head, None);
        assert_eq!(meta.title.as_deref(), Some("Real headline"));
        assert_eq!(meta.published_at.map(dates::format).as_deref(), Some("2022-08-02T06:47:25Z"));
        assert_eq!(meta.author.as_deref(), Some("Ann Lee, Bo Chen"));
        assert_eq!(meta.keywords, ["a", "b"]);
        assert_eq!(meta.lead_image.as_deref(), Some("https://x.test/i.jpg"));
    }

    #[test]
    fn h1_confirmed_by_the_title_wins() {
        let head = Head {
            title: Some("Storm hits coast | News".into()),
            h1: vec!["Logo".into(), "Storm hits coast".into()],
            ..Head::default()
        };
        assert_eq!(from_head(&head, None).title.as_deref(), Some("Storm hits coast"));
    }
}
