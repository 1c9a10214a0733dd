//! Turning the article's container into blocks: paragraphs, headings, list items, quotes,
//! preformatted text and figures, each with its plain text and its minimal inline HTML.
//!
//! The walk is iterative and skips furniture on the way in: navigation, forms, headers and
//! footers, elements whose class names boilerplate, and link-heavy containers (related-story
//! lists, tag clouds). A container whose whole text is a promo line goes with its images, so a QR
//! code never outlives its caption.

use shared::message::Image;
use url::Url;

use crate::dom::{Data, Dom, Element, Id, Tag};
use crate::extract::patterns;
use crate::extract::score::{Class, Stats};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    Heading(u8),
    /// A list item; `list` identifies its list so that rendering can group items.
    Item {
        ordered: bool,
        list: Id,
    },
    Quote,
    Pre,
    Figure(Image),
}

#[derive(Debug, Clone)]
pub struct Block {
    pub kind: Kind,
    pub text: String,
    /// Inline HTML of the block's content (escaped text and `<a href>`), without the block tag.
    pub html: String,
    pub chars: u32,
    pub link_chars: u32,
}

impl Block {
    pub fn link_density(&self) -> f32 {
        if self.chars == 0 { 0.0 } else { self.link_chars as f32 / self.chars as f32 }
    }
}

enum Step {
    Enter(Id),
    Exit(Id),
}

struct Walker<'a> {
    dom: &'a Dom,
    stats: &'a [Stats],
    base: Option<&'a Url>,
    blocks: Vec<Block>,
    context: Vec<Kind>,
    text: String,
    html: String,
    chars: u32,
    link_chars: u32,
    links_open: u32,
    pending_space: bool,
    /// Depth of `<pre>` elements we are in: whitespace is kept there.
    pre: u32,
    /// Caption of the `<figure>` we are in, given to its images.
    caption: Vec<Option<String>>,
    /// Characters of the container being walked: furniture is judged relative to it.
    root_chars: u32,
    strict: bool,
}

/// The blocks of the subtrees `roots`, in document order. `strict` leaves out every subtree whose
/// class names furniture; otherwise only small ones are left out.
pub fn blocks(dom: &Dom, stats: &[Stats], roots: &[Id], base: Option<&Url>, strict: bool) -> Vec<Block> {
    let mut w = Walker {
        strict,
        dom,
        stats,
        base,
        blocks: Vec::new(),
        context: vec![Kind::Paragraph],
        text: String::new(),
        html: String::new(),
        chars: 0,
        link_chars: 0,
        links_open: 0,
        pending_space: false,
        pre: 0,
        caption: Vec::new(),
        root_chars: 0,
    };
    for &root in roots {
        w.root_chars = stats[root as usize].chars;
        w.walk(root);
        w.flush();
    }
    w.blocks
}

impl Walker<'_> {
    fn walk(&mut self, root: Id) {
        let mut stack = vec![Step::Enter(root)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(id) => {
                    let node = self.dom.node(id);
                    match &node.data {
                        Data::Text(t) => self.push_text(t),
                        Data::Root => stack.extend(node.children.iter().rev().map(|&c| Step::Enter(c))),
                        Data::Element(e) => {
                            if id != root && self.skip(id, e) {
                                continue;
                            }
                            if self.enter(id, e) {
                                stack.push(Step::Exit(id));
                                stack.extend(node.children.iter().rev().map(|&c| Step::Enter(c)));
                            }
                        }
                    }
                }
                Step::Exit(id) => {
                    if let Some(e) = self.dom.node(id).element() {
                        self.exit(e);
                    }
                }
            }
        }
    }

    /// Whether an element inside the container is furniture to leave out, subtree and all.
    fn skip(&self, id: Id, e: &Element) -> bool {
        let r = self.skip_inner(id, e);
        if r && std::env::var_os("CD_DEBUG").is_some() {
            eprintln!("skip {id} {:?} {:?}", e.tag, e.class_id);
        }
        r
    }

    fn skip_inner(&self, id: Id, e: &Element) -> bool {
        if matches!(
            e.tag,
            Tag::Nav | Tag::Aside | Tag::Footer | Tag::Form | Tag::Menu | Tag::Header | Tag::H1 | Tag::Dialog
        ) {
            return true;
        }
        if e.tag == Tag::Figcaption {
            return true; // its text is the figure's caption
        }
        let s = self.stats[id as usize];
        let class = s.class;
        if self.strict && class.unlikely() {
            return true;
        }
        if s.chars * 10 < self.root_chars * 4 && class.has(Class::STRONG_UNLIKELY) {
            return true;
        }
        if class.weight() < 0.0 && (s.link_density() > 0.2 || s.chars < 200) {
            return true;
        }
        if !matches!(
            e.tag,
            Tag::Div | Tag::Section | Tag::Ul | Tag::Ol | Tag::Table | Tag::Dl | Tag::Tbody | Tag::Td | Tag::Center
        ) {
            return false;
        }
        if s.chars == 0 {
            return false; // image-only wrappers are judged by their images
        }
        let ld = s.link_density();
        if ld > 0.5 || (ld > 0.25 && s.punct < 3 && s.chars < 300) {
            return true;
        }
        if matches!(e.tag, Tag::Ul | Tag::Ol) && ld > 0.3 {
            // A list of links is furniture; a list of linked sentences is prose.
            let items =
                self.dom.node(id).children.iter().filter(|&&c| self.dom.node(c).tag() == Some(Tag::Li)).count().max(1);
            if (s.chars as usize) / items < 80 {
                return true;
            }
        }
        s.chars < 100 && {
            let text = self.subtree_text(id);
            patterns::FURNITURE_LINE.is_match(&text) || patterns::FURNITURE_PREFIX.is_match(&text)
        }
    }

    fn subtree_text(&self, id: Id) -> String {
        let mut out = String::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            let node = self.dom.node(n);
            if let Data::Text(t) = &node.data {
                out.push_str(t);
            }
            stack.extend(node.children.iter().rev());
        }
        out
    }

    /// Opens an element; false when its children are not to be visited.
    fn enter(&mut self, id: Id, e: &Element) -> bool {
        match e.tag {
            Tag::Br | Tag::Hr => {
                self.flush();
                return false;
            }
            Tag::Img => {
                self.image(id, e);
                return false;
            }
            Tag::A => {
                let inline_only =
                    self.dom.node(id).children.iter().all(|&c| self.dom.node(c).tag().is_none_or(|t| !t.is_block()));
                match e.attr("href").and_then(|h| self.absolute(h)).filter(|_| inline_only) {
                    Some(href) => {
                        if self.pending_space {
                            // The space before a link belongs before its tag.
                            self.text.push(' ');
                            self.html.push(' ');
                            self.pending_space = false;
                        }
                        self.html.push_str("<a href=\"");
                        escape_into(&mut self.html, &href);
                        self.html.push_str("\">");
                        self.links_open += 1;
                    }
                    None => self.links_open += 1 << 16, // counts link text, writes no tag
                }
                return true;
            }
            Tag::Figure => {
                let caption =
                    self.dom.node(id).children.iter().find(|&&c| self.dom.node(c).tag() == Some(Tag::Figcaption));
                let caption = caption.map(|&c| collapse(&self.subtree_text(c))).filter(|c| !c.is_empty());
                self.caption.push(caption);
            }
            _ => {}
        }
        if e.tag.is_block() {
            self.flush();
            let kind = match e.tag {
                Tag::Li => {
                    let list = self.dom.node(id).parent;
                    Some(Kind::Item { ordered: self.dom.node(list).tag() == Some(Tag::Ol), list })
                }
                Tag::Blockquote => Some(Kind::Quote),
                Tag::Pre => {
                    self.pre += 1;
                    Some(Kind::Pre)
                }
                t => t.heading_level().map(Kind::Heading),
            };
            if let Some(kind) = kind {
                self.context.push(kind);
            } else {
                self.context.push(self.context.last().cloned().unwrap_or(Kind::Paragraph));
            }
        }
        true
    }

    fn exit(&mut self, e: &Element) {
        if e.tag == Tag::A {
            if self.links_open >= 1 << 16 {
                self.links_open -= 1 << 16;
            } else if self.links_open > 0 {
                self.links_open -= 1;
                self.html.push_str("</a>");
            }
            return;
        }
        if e.tag == Tag::Figure {
            self.caption.pop();
        }
        if e.tag.is_block() {
            self.flush();
            if e.tag == Tag::Pre {
                self.pre -= 1;
            }
            if self.context.len() > 1 {
                self.context.pop();
            }
        }
    }

    fn push_text(&mut self, t: &str) {
        for c in t.chars() {
            if c.is_whitespace() && self.pre == 0 {
                self.pending_space = !self.text.is_empty();
                continue;
            }
            if self.pending_space {
                self.text.push(' ');
                self.html.push(' ');
                self.pending_space = false;
            }
            self.text.push(c);
            escape_char(&mut self.html, c);
            if !c.is_whitespace() {
                self.chars += 1;
                if self.links_open > 0 {
                    self.link_chars += 1;
                }
            }
        }
    }

    /// Ends the current block, if it has text.
    fn flush(&mut self) {
        self.pending_space = false;
        if self.chars > 0 {
            let kind = self.context.last().cloned().unwrap_or(Kind::Paragraph);
            let text =
                if kind == Kind::Pre { self.text.trim_matches('\n').to_owned() } else { self.text.trim().to_owned() };
            let mut html = std::mem::take(&mut self.html);
            // Links still open continue in the next block; close them here to keep the HTML whole.
            for _ in 0..(self.links_open & 0xFFFF) {
                html.push_str("</a>");
            }
            self.blocks.push(Block {
                kind,
                text,
                html: html.trim().to_owned(),
                chars: self.chars,
                link_chars: self.link_chars,
            });
        }
        self.text.clear();
        self.html.clear();
        self.chars = 0;
        self.link_chars = 0;
    }

    fn image(&mut self, id: Id, e: &Element) {
        let src = ["data-src", "data-original", "data-lazy-src", "data-url", "src"]
            .iter()
            .filter_map(|a| e.attr(a))
            .map(str::trim)
            .find(|s| !s.is_empty() && !s.starts_with("data:"))
            .or_else(|| {
                e.attr("srcset")
                    .or(e.attr("data-srcset"))
                    .and_then(|s| s.split(',').next())
                    .and_then(|s| s.split_whitespace().next())
            });
        let Some(url) = src.and_then(|s| self.absolute(s)) else {
            return;
        };
        let tiny = |a: &str| {
            e.attr(a).and_then(|v| v.trim_end_matches("px").trim().parse::<u32>().ok()).is_some_and(|v| v < 100)
        };
        if tiny("width")
            || tiny("height")
            || patterns::FURNITURE_IMAGE.is_match(&url)
            || self.stats[id as usize].class.has(Class::NEGATIVE)
        {
            return;
        }
        let alt = e.attr("alt").map(collapse).filter(|a| !a.is_empty());
        let caption = self.caption.last().cloned().flatten();
        self.flush();
        self.blocks.push(Block {
            kind: Kind::Figure(Image { url, alt, caption }),
            text: String::new(),
            html: String::new(),
            chars: 0,
            link_chars: 0,
        });
    }

    /// An absolute `http(s)` URL for `href`, resolved against the page's address.
    fn absolute(&self, href: &str) -> Option<String> {
        let href = href.trim();
        let url = match self.base {
            Some(base) => base.join(href).ok()?,
            None => Url::parse(href).ok()?,
        };
        matches!(url.scheme(), "http" | "https").then(|| url.into())
    }
}

pub fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        _ => out.push(c),
    }
}

pub fn escape_into(out: &mut String, s: &str) {
    s.chars().for_each(|c| escape_char(out, c));
}
