//! Bad input gives a clear error, or an empty-article refusal, and never a panic; memory stays
//! bounded. (Run by nextest, each test in its own process, so the peak-memory reading is this
//! test's own.)

use chrono::Utc;
use copydesk_clean::{CleanError, Input, clean};

fn clean_bytes(bytes: &[u8], content_type: Option<&str>) -> Result<shared::message::ArticleEvent, CleanError> {
    clean(&Input { bytes, content_type, ..Default::default() }, Utc::now())
}

/// Peak resident memory of this process, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn an_empty_document_is_refused() {
    assert!(matches!(clean_bytes(b"", None), Err(CleanError::Empty)));
    assert!(matches!(clean_bytes(b"  \n\t ", Some("text/html")), Err(CleanError::Empty)));
}

#[test]
fn binary_junk_is_refused() {
    // A deterministic pseudo-random byte stream: mostly invalid in every text encoding.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let junk: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let err = clean_bytes(&junk, None).unwrap_err();
    assert!(matches!(err, CleanError::Binary | CleanError::NoArticle), "{err}");
    let png = [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &junk[..4096]].concat();
    assert!(clean_bytes(&png, Some("text/html")).is_err());
}

#[test]
fn invalid_utf8_in_a_page_is_decoded_not_fatal() {
    let mut page = b"<html><body><article><p>".to_vec();
    page.extend(b"The council met on Tuesday \xff\xfe and approved the plan, which had been debated for weeks by residents, officials and the press. ".repeat(5));
    page.extend(b"</p></article></body></html>");
    let event = clean_bytes(&page, Some("text/html")).unwrap();
    assert!(event.text.contains("The council met on Tuesday"));
}

#[test]
fn a_twenty_megabyte_page_is_refused_with_its_size() {
    let page = format!("<html><body><p>{}</p></body></html>", "word ".repeat(4 * 1024 * 1024));
    assert!(page.len() > 20_000_000);
    let err = clean_bytes(page.as_bytes(), Some("text/html")).unwrap_err();
    assert!(matches!(err, CleanError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("bytes, more than"), "{err}");
    assert!(peak_rss_mib() < 256, "peak memory {} MiB", peak_rss_mib());
}

#[test]
fn a_hundred_thousand_nested_divs_are_cleaned_within_bounds() {
    let n = 100_000;
    let page = format!(
        "<html><body>{}<p>Deep inside the page, the article text still says something worth reading, with commas, clauses and a full stop.</p>{}</body></html>",
        "<div>".repeat(n),
        "</div>".repeat(n)
    );
    let event = clean_bytes(page.as_bytes(), Some("text/html")).unwrap();
    assert!(event.text.contains("Deep inside the page"));
    // Unclosed ones too: the parser closes them at the end of the document.
    let unclosed = format!("<html><body>{}<p>Unclosed nesting, still text.</p>", "<div><span>".repeat(n));
    let _ = clean_bytes(unclosed.as_bytes(), Some("text/html"));
    assert!(peak_rss_mib() < 256, "peak memory {} MiB", peak_rss_mib());
}

#[test]
fn front_matter_that_is_not_yaml_is_refused_with_the_reason() {
    let doc = b"---\ntitle: [unclosed\ndate: : :\n---\n<p>Body text that would otherwise be fine.</p>\n";
    let err = clean_bytes(doc, Some("text/markdown")).unwrap_err();
    assert!(matches!(err, CleanError::FrontMatter(_)), "{err}");
    assert!(err.to_string().starts_with("the front matter is not valid YAML"), "{err}");
}

#[test]
fn a_page_with_no_text_is_refused_as_no_article() {
    let page = b"<html><head><title>Nothing here</title></head><body><nav><a href=/>Home</a></nav><img src=x.png></body></html>";
    assert!(matches!(clean_bytes(page, Some("text/html")), Err(CleanError::NoArticle)));
    assert!(matches!(clean_bytes(b"---\ntitle: x\n---\n", Some("text/markdown")), Err(CleanError::NoArticle)));
}

#[test]
fn an_unsupported_content_type_is_refused_by_name() {
    let err = clean_bytes(b"%PDF-1.7", Some("application/pdf")).unwrap_err();
    assert_eq!(err.to_string(), "content type `application/pdf` is not supported (text/html or text/markdown)");
}
