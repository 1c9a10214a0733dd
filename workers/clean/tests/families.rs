//! Furniture families that must never reach `text`, `html` or `images`, on the project's own
//! example pages (`examples/`) and on pages written here for each family.

use std::path::PathBuf;

use chrono::Utc;
use copydesk_clean::{Input, clean};
use shared::message::ArticleEvent;

fn example(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)).unwrap()
}

fn clean_page(bytes: &[u8], url: Option<&str>) -> ArticleEvent {
    clean(&Input { bytes, content_type: Some("text/html"), url, ..Default::default() }, Utc::now()).unwrap()
}

fn assert_absent(event: &ArticleEvent, junk: &[&str]) {
    for j in junk {
        assert!(!event.text.contains(j), "text holds {j:?}:\n{}", event.text);
        assert!(!event.html.contains(j), "html holds {j:?}");
    }
}

#[test]
fn english_page_keeps_every_paragraph_and_drops_the_furniture() {
    let event = clean_page(&example("council-budget.html"), None);
    assert_eq!(event.title, "Council approves budget with new money for parks");
    assert_eq!(event.author.as_deref(), Some("Dana Whitfield"));
    assert_eq!(event.published_at.as_deref(), Some("2026-05-12T22:05:00Z"));
    assert_eq!(
        event.canonical_url.as_deref(),
        Some("https://www.tribune.example.com/news/2026/05/12/council-budget-parks")
    );
    assert_eq!(event.site.as_deref(), Some("www.tribune.example.com"));
    assert_eq!(event.language, "en");
    assert_eq!(event.keywords, ["budget", "parks", "city council"]);
    assert_eq!(event.text.split("\n\n").count(), 7, "{}", event.text);
    assert!(event.text.starts_with("The city council voted 7 to 2"));
    assert!(event.text.ends_with("The new budget takes effect on July 1."));
    assert!(event.html.contains("<h2>Objections over taxes</h2>"));
    assert_absent(
        &event,
        &[
            "cookies",
            "Share on",
            "Advertisement",
            "Related stories",
            "Library hours",
            "newsletter",
            "Playground on Elm",
            "Most read",
            "All rights reserved",
            "Sign up",
            "not text",
        ],
    );
    assert_eq!(event.images.len(), 1);
    assert_eq!(event.images[0].url, "https://www.tribune.example.com/media/2026/05/park.jpg");
    assert_eq!(event.images[0].caption.as_deref(), Some("The new playground at Riverside Park opened last autumn."));
    assert!(!event.html.contains("logo"));
}

#[test]
fn gbk_portal_page_is_decoded_and_its_furniture_dropped() {
    let event = clean_page(&example("tree-planting-gbk.html"), Some("http://news.example.cn/2026/0312/a1.html"));
    assert_eq!(event.title, "春季植树活动在城郊展开");
    assert_eq!(event.language, "zh");
    assert_eq!(event.published_at.as_deref(), Some("2026-03-12T01:30:00Z"));
    assert_eq!(event.author.as_deref(), Some("林小雨"));
    assert_eq!(event.editor.as_deref(), Some("张晓"));
    assert_eq!(event.text.split("\n\n").count(), 4, "{}", event.text);
    assert!(event.text.starts_with("本报讯"), "indentation is trimmed: {:?}", &event.text[..30]);
    assert_absent(
        &event,
        &[
            "原标题",
            "图片来源",
            "免责声明",
            "责任编辑",
            "相关新闻",
            "绿化率再创新高",
            "APP",
            "热点排行",
            "版权所有",
            "首页",
            "　",
        ],
    );
    assert_eq!(event.images.len(), 1);
    assert_eq!(event.images[0].url, "http://news.example.cn/pic/2026/0312/trees.jpg");
}

#[test]
fn chinese_portal_furniture_family_is_dropped() {
    let page = "<html><head><meta charset=utf-8><title>示例新闻标题_示例网</title></head><body>
        <div class=main><div class=article>
        <p>　　原标题：另一个标题</p>
        <p>　　第一段正文，讲述了事情的经过，其中包括时间、地点和人物，以及各方的说法。</p>
        <p>　　第二段正文继续介绍背景情况，记者在现场看到，工作人员正在有序地开展各项工作。</p>
        <p>　　第三段正文引用了专家的分析，专家认为，这项措施将在未来几年内产生明显效果。</p>
        <p>（文章来源：示例日报）</p>
        <p>扫描二维码，关注示例新闻公众号</p>
        <p>打开示例新闻客户端，查看更多精彩内容</p>
        <p>特别声明：以上内容仅代表作者本人观点，不代表示例网观点或立场。</p>
        <div class=related><h3>相关阅读</h3><ul><li><a href=/1>链接一</a></li><li><a href=/2>链接二</a></li></ul></div>
        <p>编辑：李四</p>
        </div></div></body></html>";
    let event = clean_page(page.as_bytes(), None);
    assert_eq!(event.text.split("\n\n").count(), 3, "{}", event.text);
    assert_absent(&event, &["原标题", "文章来源", "二维码", "客户端", "特别声明", "相关阅读", "链接一", "编辑"]);
    assert_eq!(event.editor.as_deref(), Some("李四"));
}

#[test]
fn interview_questions_that_start_with_the_reporter_are_kept() {
    let page = "<html><body><div class=content>
        <p>记者：这项工作是从什么时候开始的？在推进过程中遇到了哪些困难，又是怎样解决的？</p>
        <p>受访者：我们从去年春天开始筹备，最大的困难是资金和人手，后来通过多方协调才逐步解决。</p>
        <p>记者：下一步还有哪些打算？市民最关心的几件事情什么时候能够落实？</p>
        <p>受访者：年底前完成第一期工程，明年继续推进第二期，争取让市民早日用上新设施。</p>
        </div></body></html>";
    let event = clean_page(page.as_bytes(), None);
    assert_eq!(event.text.split("\n\n").count(), 4, "{}", event.text);
}

#[test]
fn front_matter_markdown_body_is_rendered_and_promo_lines_dropped() {
    let event = clean(
        &Input { bytes: &example("harbour-ferry.md"), name: Some("harbour-ferry.md"), ..Default::default() },
        Utc::now(),
    )
    .unwrap();
    assert_eq!(event.title, "Harbour ferry returns to service after winter repairs");
    assert_eq!(event.published_at.as_deref(), Some("2026-03-16T07:30:00Z"));
    assert_eq!(event.keywords, ["ferry", "harbour", "transport"]);
    assert_eq!(event.editor.as_deref(), Some("Sam Rivers"));
    assert!(
        event.html.contains("<blockquote>")
            && event.html.contains("<ul>\n<li>")
            && event.html.contains("<h2>What changed</h2>")
    );
    assert_absent(&event, &["Download our app", "Editor:"]);
    assert!(event.text.ends_with("when the ferry's late crossings return."));
}

#[test]
fn html_output_is_limited_to_the_contract_tag_set() {
    let page = r#"<html><body><article>
        <p onclick="x()" class="lead" style="color:red">First <b>bold</b> <a href="/next" onclick="evil()">link</a> and <a href="javascript:alert(1)">script link</a>, a long enough paragraph to count as the article.</p>
        <h3 id=s>Section</h3><ol><li>One item that is long enough, with a comma.</li><li>Two items, also with words.</li></ol>
        <pre>  code  kept  </pre><blockquote>A quoted sentence, as said.</blockquote>
        <p>Closing paragraph with &amp; and &lt;tags&gt; escaped, and more words to read.</p>
        </article></body></html>"#;
    let event = clean_page(page.as_bytes(), Some("https://example.com/a/b.html"));
    let allowed = ["p", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "figure", "img", "a"];
    let tags = regex::Regex::new(r"</?([a-zA-Z0-9]+)([^>]*)>").unwrap();
    for c in tags.captures_iter(&event.html) {
        assert!(allowed.contains(&&c[1]), "tag {} in {}", &c[1], event.html);
        let attrs = c[2].trim();
        assert!(
            attrs.is_empty() || attrs.starts_with("href=\"http") || attrs.starts_with("src=\"http"),
            "attrs {attrs}"
        );
    }
    assert!(event.html.contains(r#"<a href="https://example.com/next">link</a>"#));
    assert!(!event.html.contains("javascript") && !event.html.contains("onclick"));
    assert!(event.html.contains("&amp; and &lt;tags&gt;"));
    assert!(event.text.contains("& and <tags> escaped"));
}
