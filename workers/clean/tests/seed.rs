//! The seed document our first user sent (`../shared/corpus/seed/`), cleaned exactly as they
//! expect: its metadata, its eleven paragraphs and none of its furniture.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use copydesk_clean::{Input, clean};
use regex::Regex;

fn seed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/seed/000_2fd2c59e8df45501.txt")
}

/// The body paragraphs as the file writes them, found independently of the extractor: every
/// `<p cms-style="font-L">`, with its full-width indentation trimmed.
fn expected_paragraphs(doc: &str) -> Vec<String> {
    let re = Regex::new(r#"<p cms-style="font-L">(.*?)</p>"#).unwrap();
    re.captures_iter(doc).map(|c| c[1].trim_matches(|c: char| c.is_whitespace()).to_owned()).collect()
}

#[test]
fn seed_is_cleaned_as_our_first_user_expects() {
    let bytes = std::fs::read(seed_path()).expect("the seed is in ../shared/corpus/seed");
    let doc = String::from_utf8(bytes.clone()).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let event =
        clean(&Input { bytes: &bytes, name: Some("000_2fd2c59e8df45501.txt"), ..Default::default() }, now).unwrap();

    assert_eq!(event.title, "山西河曲人口小县机构改革基本完成：36个党政机构精简为22个");
    assert_eq!(event.published_at.as_deref(), Some("2022-08-02T06:47:25Z"));
    assert_eq!(event.categories, ["金融", "新浪财经", "新浪财经－国內"]);
    assert_eq!(event.author.as_deref(), Some("新浪财经"));
    assert_eq!(event.editor.as_deref(), Some("吴剑"));
    assert_eq!(event.language, "zh");
    assert_eq!(
        event.lead_image.as_deref(),
        Some("https://n.sinaimg.cn/finance/crawl/15/w550h265/20220802/accd-cc9c57937cbbe1cbb8ba85961cce29da.jpg")
    );

    let expected = expected_paragraphs(&doc);
    assert_eq!(expected.len(), 11);
    let paragraphs: Vec<&str> = event.text.split("\n\n").collect();
    assert_eq!(paragraphs, expected);

    for junk in ["海量资讯", "新浪财经APP", "责任编辑", "SF031", "appendQr", "border:1px", "{", "&#123;"] {
        assert!(!event.text.contains(junk), "text holds {junk:?}");
        assert!(!event.html.contains(junk), "html holds {junk:?}");
    }
    assert!(event.images.iter().all(|i| !i.url.contains("343233024.png")), "the QR code is not a content image");
    assert!(!event.html.contains("<style") && !event.html.contains("class="));
    assert_eq!(event.html.matches("<p>").count(), 11);

    assert_eq!(event.id.len(), 64);
    assert_eq!(event.content_hash, format!("sha256:{}", event.id));
    assert_eq!(event.simhash.len(), 16);
    assert_eq!(event.processed_at, "2026-11-27T12:00:00Z");
    assert!(event.excerpt.chars().count() <= 300);
    assert!(event.text.replace("\n\n", " ").starts_with(&event.excerpt), "{}", event.excerpt);
    assert!(event.excerpt.ends_with('。'));
    assert_eq!(event.routing_key(), "article.zh.unknown");
}

#[test]
fn seed_with_a_sina_url_names_its_site() {
    let bytes = std::fs::read(seed_path()).unwrap();
    let url = "https://finance.sina.com.cn/china/2022-08-02/doc-imizmscv4536251.shtml";
    let event = clean(&Input { bytes: &bytes, url: Some(url), ..Default::default() }, Utc::now()).unwrap();
    assert_eq!(event.site.as_deref(), Some("finance.sina.com.cn"));
    assert_eq!(event.routing_key(), "article.zh.finance_sina_com_cn");
}
