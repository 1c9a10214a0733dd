//! The page as a compact tree for extraction, built in one walk over scraper's parse.
//!
//! The walk drops what can never be article content (scripts, styles, forms, embeds, hidden
//! elements) and collects the head's metadata on the way (`<title>`, `<meta>`, canonical link,
//! JSON-LD, `<time datetime>`), so the rest of the stage works on plain indices and small enums
//! and never touches the parser's tree again. The walk is iterative: the nesting depth has been
//! capped by [`crate::prescan`], but our stack is not the place to find that out.

use scraper::{Html, Node as ParsedNode};

pub type Id = u32;

/// Element names extraction distinguishes; everything else is [`Tag::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    A,
    Address,
    Article,
    Aside,
    B,
    Blockquote,
    Body,
    Br,
    Center,
    Code,
    Dd,
    Details,
    Div,
    Dl,
    Dt,
    Em,
    Figcaption,
    Figure,
    Font,
    Footer,
    Form,
    H1,
    H2,
    H3,
    H4,
    H5,
    H6,
    Header,
    Hr,
    I,
    Img,
    Li,
    Main,
    Menu,
    Nav,
    Ol,
    P,
    Picture,
    Pre,
    Section,
    Small,
    Span,
    Strong,
    Table,
    Tbody,
    Td,
    Th,
    Thead,
    Tr,
    Ul,
    Time,
    Label,
    Dialog,
    Other,
}

impl Tag {
    fn from_name(name: &str) -> Tag {
        match name {
            "a" => Tag::A,
            "address" => Tag::Address,
            "article" => Tag::Article,
            "aside" => Tag::Aside,
            "b" => Tag::B,
            "blockquote" => Tag::Blockquote,
            "body" => Tag::Body,
            "br" => Tag::Br,
            "center" => Tag::Center,
            "code" => Tag::Code,
            "dd" => Tag::Dd,
            "details" => Tag::Details,
            "div" => Tag::Div,
            "dl" => Tag::Dl,
            "dt" => Tag::Dt,
            "em" => Tag::Em,
            "figcaption" => Tag::Figcaption,
            "figure" => Tag::Figure,
            "font" => Tag::Font,
            "footer" => Tag::Footer,
            "form" => Tag::Form,
            "h1" => Tag::H1,
            "h2" => Tag::H2,
            "h3" => Tag::H3,
            "h4" => Tag::H4,
            "h5" => Tag::H5,
            "h6" => Tag::H6,
            "header" => Tag::Header,
            "hr" => Tag::Hr,
            "i" => Tag::I,
            "img" => Tag::Img,
            "li" => Tag::Li,
            "main" => Tag::Main,
            "menu" => Tag::Menu,
            "nav" => Tag::Nav,
            "ol" => Tag::Ol,
            "p" => Tag::P,
            "picture" => Tag::Picture,
            "pre" => Tag::Pre,
            "section" => Tag::Section,
            "small" => Tag::Small,
            "span" => Tag::Span,
            "strong" => Tag::Strong,
            "table" => Tag::Table,
            "tbody" => Tag::Tbody,
            "td" => Tag::Td,
            "th" => Tag::Th,
            "thead" => Tag::Thead,
            "tr" => Tag::Tr,
            "ul" => Tag::Ul,
            "time" => Tag::Time,
            "label" => Tag::Label,
            "dialog" => Tag::Dialog,
            _ => Tag::Other,
        }
    }

    /// Elements that start a new block of text (a paragraph boundary) in the output.
    pub fn is_block(self) -> bool {
        !matches!(
            self,
            Tag::A
                | Tag::B
                | Tag::Em
                | Tag::I
                | Tag::Span
                | Tag::Strong
                | Tag::Font
                | Tag::Small
                | Tag::Code
                | Tag::Time
                | Tag::Label
                | Tag::Img
                | Tag::Picture
                | Tag::Other
        )
    }

    pub fn heading_level(self) -> Option<u8> {
        match self {
            Tag::H1 => Some(1),
            Tag::H2 => Some(2),
            Tag::H3 => Some(3),
            Tag::H4 => Some(4),
            Tag::H5 => Some(5),
            Tag::H6 => Some(6),
            _ => None,
        }
    }
}

/// Subtrees that are never article text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed", "canvas", "input", "select",
    "textarea", "button", "option", "audio", "video", "map", "link", "meta", "base", "title", "frameset", "frame",
    "applet", "dialog",
];

/// Attributes extraction reads; the rest are not kept.
const KEPT_ATTRS: &[&str] = &[
    "href",
    "src",
    "data-src",
    "data-original",
    "data-lazy-src",
    "data-url",
    "srcset",
    "data-srcset",
    "alt",
    "title",
    "width",
    "height",
    "itemprop",
    "role",
    "content",
    "datetime",
    "rel",
    "lang",
];

#[derive(Debug)]
pub struct Element {
    pub tag: Tag,
    /// `class` and `id` joined by a space, lower case: what the boilerplate patterns look at.
    pub class_id: String,
    attrs: Vec<(&'static str, String)>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub enum Data {
    Root,
    Element(Element),
    Text(String),
}

#[derive(Debug)]
pub struct Node {
    pub parent: Id,
    pub children: Vec<Id>,
    pub data: Data,
}

impl Node {
    pub fn element(&self) -> Option<&Element> {
        match &self.data {
            Data::Element(e) => Some(e),
            _ => None,
        }
    }

    pub fn tag(&self) -> Option<Tag> {
        self.element().map(|e| e.tag)
    }
}

/// What the page says about itself outside its body text.
#[derive(Debug, Default)]
pub struct Head {
    pub title: Option<String>,
    /// `<meta>` keys (`property`, `name`, `itemprop` or `http-equiv`, lower case) with their content.
    pub metas: Vec<(String, String)>,
    pub canonical: Option<String>,
    pub base: Option<String>,
    pub lang: Option<String>,
    pub json_ld: Vec<String>,
    /// `datetime` of `<time>` elements and of `itemprop=datePublished` elements, in page order.
    pub times: Vec<String>,
    /// Text of the page's `<h1>` elements, in order.
    pub h1: Vec<String>,
    /// The first short byline (`rel=author`, `itemprop=author`, a `byline` class), as written.
    pub byline: Option<String>,
}

impl Head {
    /// The first non-empty content of any of `keys`, in the order the keys are given.
    pub fn meta(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.metas.iter().find(|(m, c)| m == k && !c.trim().is_empty()).map(|(_, c)| c.trim()))
    }
}

pub struct Dom {
    pub nodes: Vec<Node>,
    pub head: Head,
}

pub const ROOT: Id = 0;

impl Dom {
    pub fn parse_document(html: &str) -> Dom {
        Dom::build(&Html::parse_document(html))
    }

    pub fn parse_fragment(html: &str) -> Dom {
        Dom::build(&Html::parse_fragment(html))
    }

    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id as usize]
    }

    fn build(parsed: &Html) -> Dom {
        let mut dom =
            Dom { nodes: vec![Node { parent: ROOT, children: Vec::new(), data: Data::Root }], head: Head::default() };
        let mut stack = vec![(parsed.tree.root(), ROOT)];
        while let Some((node, parent)) = stack.pop() {
            let id = match node.value() {
                ParsedNode::Text(text) => {
                    dom.push(parent, Data::Text(text.to_string()));
                    continue;
                }
                ParsedNode::Element(e) => {
                    let name = e.name();
                    if !dom.visit_element(name, e, node) {
                        continue;
                    }
                    let class_id = match (e.attr("class"), e.attr("id")) {
                        (Some(c), Some(i)) => format!("{c} {i}").to_lowercase(),
                        (Some(s), None) | (None, Some(s)) => s.to_lowercase(),
                        (None, None) => String::new(),
                    };
                    let attrs = KEPT_ATTRS.iter().filter_map(|k| e.attr(k).map(|v| (*k, v.to_owned()))).collect();
                    dom.push(parent, Data::Element(Element { tag: Tag::from_name(name), class_id, attrs }))
                }
                ParsedNode::Document | ParsedNode::Fragment => parent,
                _ => continue,
            };
            // Reverse, so the stack pops children in document order.
            let children: Vec<_> = node.children().collect();
            stack.extend(children.into_iter().rev().map(|c| (c, id)));
        }
        dom
    }

    fn push(&mut self, parent: Id, data: Data) -> Id {
        let id = self.nodes.len() as Id;
        self.nodes.push(Node { parent, children: Vec::new(), data });
        self.nodes[parent as usize].children.push(id);
        id
    }

    /// Records what an element says about the page; false when its subtree is to be skipped.
    fn visit_element(
        &mut self,
        name: &str,
        e: &scraper::node::Element,
        node: ego_tree::NodeRef<'_, ParsedNode>,
    ) -> bool {
        let head = &mut self.head;
        match name {
            "html" => head.lang = e.attr("lang").or(e.attr("xml:lang")).map(str::to_owned),
            "title" if head.title.is_none() => head.title = Some(text_of(node)),
            "meta" => {
                let key = e.attr("property").or(e.attr("name")).or(e.attr("itemprop")).or(e.attr("http-equiv"));
                if let (Some(key), Some(content)) = (key, e.attr("content")) {
                    head.metas.push((key.trim().to_ascii_lowercase(), content.to_owned()));
                }
            }
            "link" => {
                let rel = e.attr("rel").unwrap_or("").to_ascii_lowercase();
                if rel.split_whitespace().any(|r| r == "canonical") && head.canonical.is_none() {
                    head.canonical = e.attr("href").map(str::to_owned);
                }
            }
            "base" if head.base.is_none() => head.base = e.attr("href").map(str::to_owned),
            "script" if e.attr("type").is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) => {
                head.json_ld.push(text_of(node));
            }
            "time" => {
                if let Some(dt) = e.attr("datetime") {
                    head.times.push(dt.to_owned());
                }
            }
            "h1" => head.h1.push(text_of(node)),
            _ => {}
        }
        if e.attr("itemprop").is_some_and(|p| p.eq_ignore_ascii_case("datepublished"))
            && let Some(v) = e.attr("datetime").or(e.attr("content"))
        {
            head.times.insert(0, v.to_owned());
        }
        if head.byline.is_none() {
            let class = e.attr("class").unwrap_or("");
            if e.attr("rel") == Some("author")
                || e.attr("itemprop").is_some_and(|p| p.eq_ignore_ascii_case("author"))
                || class.contains("byline")
                || class.contains("author-name")
            {
                let text = text_of(node);
                if !text.is_empty() && text.chars().count() < 80 {
                    head.byline = Some(text);
                }
            }
        }
        if SKIPPED.contains(&name) || e.attr("hidden").is_some() || e.attr("aria-hidden") == Some("true") {
            return false;
        }
        !e.attr("style").is_some_and(is_hidden_style)
    }
}

fn is_hidden_style(style: &str) -> bool {
    let compact: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    compact.contains("display:none") || compact.contains("visibility:hidden")
}

/// All text under a parsed node, whitespace collapsed.
fn text_of(node: ego_tree::NodeRef<'_, ParsedNode>) -> String {
    let mut out = String::new();
    for d in node.descendants() {
        if let ParsedNode::Text(t) = d.value() {
            out.push_str(t);
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
