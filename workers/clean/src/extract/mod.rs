//! Main-content extraction: from a parsed page to the article's blocks, text and HTML.
//!
//! 1. [`score`] finds the container (a whole fragment, for front-matter bodies, is its own
//!    container);
//! 2. [`emit`] walks it into blocks, leaving out furniture subtrees;
//! 3. [`filter`] drops furniture lines that survived inside clean-looking bodies (editor lines,
//!    promos, disclaimers, date and byline lines, the title repeated);
//! 4. [`render`] writes `text` (paragraphs separated by a blank line) and the contract's small
//!    HTML.

mod emit;
pub mod patterns;
mod score;

use shared::message::Image;
use url::Url;

use crate::dom::{Dom, ROOT};
pub use emit::{Block, Kind};

/// Where the document came from, which decides how its container is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A full web page: the article is somewhere among the furniture.
    Page,
    /// An article body (a front-matter document's): all of it is the article, less furniture lines.
    Fragment,
}

pub struct Extracted {
    pub blocks: Vec<Block>,
}

impl Extracted {
    pub fn text(&self) -> String {
        let paragraphs: Vec<&str> =
            self.blocks.iter().filter(|b| !b.text.is_empty()).map(|b| b.text.as_str()).collect();
        paragraphs.join("\n\n")
    }

    pub fn images(&self) -> Vec<Image> {
        let mut out: Vec<Image> = Vec::new();
        for b in &self.blocks {
            if let Kind::Figure(img) = &b.kind
                && !out.iter().any(|i| i.url == img.url)
            {
                out.push(img.clone());
            }
        }
        out
    }

    /// The body as the contract's minimal HTML.
    pub fn html(&self) -> String {
        render(&self.blocks)
    }
}

/// Extracts the article from `dom`. `title` is dropped where the body repeats it.
pub fn extract(dom: &Dom, mode: Mode, base: Option<&Url>, title: Option<&str>) -> Extracted {
    let stats = score::stats(dom);
    if mode == Mode::Fragment {
        return Extracted { blocks: filter(emit::blocks(dom, &stats, &[ROOT], base, true), title) };
    }
    let strict = attempt(dom, &stats, &score::unlikely(dom, &stats), base, title, true);
    let strict_chars = chars(&strict);
    if strict_chars >= RETRY_BELOW_CHARS {
        return Extracted { blocks: strict };
    }
    // Like Readability: when furniture-named subtrees were left out and little remains, the site's
    // class names misled us (`page-ad-margins` around everything); try again without them.
    let lenient = attempt(dom, &stats, &vec![false; dom.nodes.len()], base, title, false);
    Extracted { blocks: if chars(&lenient) >= 2 * strict_chars.max(1) { lenient } else { strict } }
}

/// Below this many characters of text, extraction is tried again without the class-name rules.
const RETRY_BELOW_CHARS: usize = 500;

fn attempt(
    dom: &Dom,
    stats: &[score::Stats],
    unlikely: &[bool],
    base: Option<&Url>,
    title: Option<&str>,
    strict: bool,
) -> Vec<Block> {
    let selected = score::select(dom, stats, unlikely);
    let roots = if selected.is_empty() { vec![ROOT] } else { selected };
    filter(emit::blocks(dom, stats, &roots, base, strict), title)
}

/// Text length in Latin-equivalent characters: a CJK character carries about as much as three
/// Latin letters, so a short Chinese article is not mistaken for a failed extraction.
fn chars(blocks: &[Block]) -> usize {
    blocks
        .iter()
        .flat_map(|b| b.text.chars())
        .map(|c| if shared::text::is_cjk(c) { 3 } else { usize::from(!c.is_whitespace()) })
        .sum()
}

/// Drops furniture lines from the blocks.
fn filter(blocks: Vec<Block>, title: Option<&str>) -> Vec<Block> {
    let title = title.map(shared::text::normalize);
    blocks.into_iter().filter(|b| !is_furniture(b, title.as_deref())).collect()
}

fn is_furniture(b: &Block, title: Option<&str>) -> bool {
    if matches!(b.kind, Kind::Figure(_)) {
        return false;
    }
    let text = b.text.trim();
    if text.is_empty() || text.chars().all(|c| !c.is_alphanumeric()) {
        return true;
    }
    let chars = b.chars as usize;
    if let Some(t) = title.filter(|t| text.len() <= t.len() + 32) {
        // The title again, perhaps with a label (`主题：…`, `Title: …`).
        let n = shared::text::normalize(text);
        if n == t || (n.contains(t) && n.chars().count() <= t.chars().count() + 8) {
            return true;
        }
    }
    let ld = b.link_density();
    if chars < 300 && (ld > 0.8 || (ld > 0.5 && sentence_marks(text) < 2)) {
        return true;
    }
    if chars <= 300 && patterns::FURNITURE_PREFIX.is_match(text) {
        return true;
    }
    // `记者：张三 李四` is a byline; `记者：什么时候开始的？` opens an interview question.
    if chars <= 40
        && patterns::BYLINE_PREFIX.is_match(text)
        && !text.contains(['，', '。', '？', '！', ',', '?', '!', ';', '；'])
    {
        return true;
    }
    if chars <= 80
        && (patterns::FURNITURE_LINE.is_match(text)
            || patterns::DATE_ONLY.is_match(text)
            || patterns::META_LINE.is_match(text))
    {
        return true;
    }
    false
}

fn sentence_marks(text: &str) -> usize {
    text.chars().filter(|c| matches!(c, ',' | '.' | ';' | '，' | '。' | '；' | '、' | '!' | '?' | '！' | '？')).count()
}

fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut open_list: Option<(bool, crate::dom::Id)> = None;
    for b in blocks {
        let item = match b.kind {
            Kind::Item { ordered, list } => Some((ordered, list)),
            _ => None,
        };
        if open_list.is_some() && open_list != item {
            let (ordered, _) = open_list.take().expect("checked");
            out.push_str(if ordered { "</ol>\n" } else { "</ul>\n" });
        }
        match &b.kind {
            Kind::Paragraph => push_tag(&mut out, "p", &b.html),
            Kind::Heading(level) => {
                push_tag(&mut out, ["h2", "h2", "h3", "h4", "h5", "h6"][(*level as usize).clamp(1, 6) - 1], &b.html)
            }
            Kind::Quote => {
                out.push_str("<blockquote>");
                push_tag(&mut out, "p", &b.html);
                out.push_str("</blockquote>\n");
            }
            Kind::Pre => push_tag(&mut out, "pre", &b.html),
            Kind::Item { ordered, .. } => {
                if open_list.is_none() {
                    out.push_str(if *ordered { "<ol>\n" } else { "<ul>\n" });
                    open_list = item;
                }
                push_tag(&mut out, "li", &b.html);
            }
            Kind::Figure(img) => {
                out.push_str("<figure><img src=\"");
                emit::escape_into(&mut out, &img.url);
                out.push('"');
                if let Some(alt) = &img.alt {
                    out.push_str(" alt=\"");
                    emit::escape_into(&mut out, alt);
                    out.push('"');
                }
                // The contract's tag set has no `figcaption`: the caption is in `images`.
                out.push_str("></figure>\n");
            }
        }
    }
    if let Some((ordered, _)) = open_list {
        out.push_str(if ordered { "</ol>\n" } else { "</ul>\n" });
    }
    out.truncate(out.trim_end().len());
    out
}

fn push_tag(out: &mut String, tag: &str, inner: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    out.push_str(inner);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

/// The selected containers with their class names, for tuning (see `examples/debug.rs`).
pub fn describe(dom: &Dom) -> Vec<String> {
    let stats = score::stats(dom);
    score::select(dom, &stats, &score::unlikely(dom, &stats))
        .into_iter()
        .map(|id| {
            let e = dom.node(id).element();
            format!(
                "root {id} {:?} class={:?} chars={}",
                e.map(|e| e.tag),
                e.map(|e| e.class_id.as_str()),
                stats[id as usize].chars
            )
        })
        .collect()
}

/// The ancestors of the first text node containing `needle`, with their scores' inputs, for
/// tuning (see `examples/debug.rs`).
pub fn explain(dom: &Dom, needle: &str) -> Vec<String> {
    let stats = score::stats(dom);
    let unlikely = score::unlikely(dom, &stats);
    let Some(mut id) = (0..dom.nodes.len() as crate::dom::Id)
        .find(|&i| matches!(&dom.node(i).data, crate::dom::Data::Text(t) if t.contains(needle)))
    else {
        return vec!["not found".into()];
    };
    let mut out = Vec::new();
    while id != ROOT {
        let n = dom.node(id);
        if let Some(e) = n.element() {
            let s = stats[id as usize];
            out.push(format!(
                "{id} {:?} {:?} chars={} own={} ld={:.2} unlikely={} weight={}",
                e.tag,
                e.class_id,
                s.chars,
                s.own_chars,
                s.link_density(),
                unlikely[id as usize],
                s.class.weight()
            ));
        }
        id = n.parent;
    }
    out
}
