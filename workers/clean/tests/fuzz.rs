//! Property tests (bounded, in the normal suite) of the front-matter parser, the charset decoder
//! and the whole clean stage: no input makes them panic, and what comes out keeps its promises
//! (the contract's tag set in `html`, no empty article). Findings are kept as regression cases
//! below.

use chrono::Utc;
use copydesk_clean::{Input, charset, clean, document};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Tag soup: random tags (open, close, unclosed, self-closing), attributes and text, CJK included.
fn soup() -> impl Strategy<Value = String> {
    let tag = prop_oneof![
        Just("div"),
        Just("p"),
        Just("span"),
        Just("a"),
        Just("table"),
        Just("td"),
        Just("tr"),
        Just("ul"),
        Just("li"),
        Just("script"),
        Just("style"),
        Just("h1"),
        Just("h2"),
        Just("br"),
        Just("img"),
        Just("article"),
        Just("nav"),
        Just("figure"),
        Just("pre"),
        Just("blockquote"),
        Just("svg"),
        Just("noscript"),
        Just("template"),
        Just("head"),
        Just("title"),
        Just("meta"),
        Just("font"),
        Just("center"),
        Just("form"),
        Just("iframe"),
    ];
    let attr = prop_oneof![
        Just(String::new()),
        Just(" class=\"content article-body\"".to_owned()),
        Just(" class=\"share related comment\"".to_owned()),
        Just(" href=\"/x?a=1&b=2\"".to_owned()),
        Just(" src=\"data:image/png;base64,AAAA\"".to_owned()),
        Just(" style=\"display:none\"".to_owned()),
        Just(" charset=\"gbk\"".to_owned()),
        "[a-z]{1,8}=\"[^\"]{0,12}\"".prop_map(|s| format!(" {s}")),
    ];
    let text = prop_oneof![
        "[a-zA-Z ,.]{0,60}",
        "[\u{4e00}-\u{4e80}，。]{0,40}",
        Just("责任编辑：张三".to_owned()),
        Just("&amp;&lt;&#123;&#x1F600;&bogus;".to_owned()),
        Just("<!-- comment <div> -->".to_owned()),
        Just("]]><![CDATA[".to_owned()),
    ];
    let piece = prop_oneof![
        (tag.clone(), attr).prop_map(|(t, a)| format!("<{t}{a}>")),
        tag.clone().prop_map(|t| format!("</{t}>")),
        tag.prop_map(|t| format!("<{t}/>")),
        text,
    ];
    proptest::collection::vec(piece, 0..80).prop_map(|v| v.concat())
}

fn check(bytes: &[u8], content_type: Option<&str>) -> Result<(), TestCaseError> {
    let input = Input { bytes, content_type, url: Some("https://news.example.com/a/b.html"), ..Input::default() };
    match clean(&input, Utc::now()) {
        Ok(event) => {
            prop_assert!(!event.text.trim().is_empty());
            for tag in
                event.html.split('<').skip(1).map(|t| t.trim_start_matches('/').split(['>', ' ']).next().unwrap_or(""))
            {
                prop_assert!(
                    ["p", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "figure", "img", "a"]
                        .contains(&tag),
                    "tag {tag} in {}",
                    event.html
                );
            }
            prop_assert!(!event.html.contains("<script") && !event.html.contains("javascript:"));
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn tag_soup_never_panics(page in soup()) {
        check(page.as_bytes(), Some("text/html"))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes, None)?;
        let _ = charset::decode(&bytes, Some("gb2312"), Some("cn"));
    }

    #[test]
    fn front_matter_never_panics(yaml in "[a-z:\\-\\[\\]{}'\" \n#&*!|>]{0,200}", body in "[a-z <>/p]{0,50}") {
        let doc = format!("---\n{yaml}\n---\n{body}");
        match document::split_front_matter(&doc) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().starts_with("the front matter")),
        }
        check(doc.as_bytes(), Some("text/markdown"))?;
    }

    #[test]
    fn mutated_examples_never_panic(cut in any::<usize>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..20)) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        for name in ["council-budget.html", "tree-planting-gbk.html", "harbour-ferry.md"] {
            let mut bytes = std::fs::read(root.join(name)).unwrap();
            for (at, b) in &flips {
                let i = at % bytes.len();
                bytes[i] ^= b;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            check(&bytes, None)?;
        }
    }
}
