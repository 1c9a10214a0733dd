//! Finding the article's container: per-node text statistics and a Readability-style score.
//!
//! Every paragraph-like node scores by its length and punctuation (commas and the CJK `，、。`
//! count alike), and passes the score to its ancestors with a decay. The best-scoring node,
//! discounted by its link density, is the container; siblings that score close to it, or look
//! like paragraphs on their own, join it. The statistics are computed in one reverse pass over the
//! arena, which works because [`Dom`](crate::dom::Dom) ids are assigned in document pre-order, so
//! every node's descendants have larger ids than the node itself.

use crate::dom::{Data, Dom, Id, Tag};
use crate::extract::patterns;

/// Text statistics of one subtree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Non-whitespace characters.
    pub chars: u32,
    /// Non-whitespace characters inside links.
    pub link_chars: u32,
    /// Commas, enumeration commas and full stops: a cheap sign of prose.
    pub punct: u32,
    /// Non-whitespace characters in direct text children (text not wrapped in an element).
    pub own_chars: u32,
    /// `<p>` descendants.
    pub paragraphs: u32,
    /// What the node's class and id say (see [`Class`]).
    pub class: Class,
}

/// What an element's class and id names say about it, matched once per distinct name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Class(u8);

impl Class {
    pub const UNLIKELY: u8 = 1;
    pub const MAYBE: u8 = 2;
    pub const STRONG_UNLIKELY: u8 = 4;
    pub const NEGATIVE: u8 = 8;
    pub const POSITIVE: u8 = 16;

    fn of(class_id: &str) -> Class {
        let mut bits = 0;
        for (flag, re) in [
            (Class::UNLIKELY, &patterns::UNLIKELY),
            (Class::MAYBE, &patterns::MAYBE_CONTENT),
            (Class::STRONG_UNLIKELY, &patterns::STRONG_UNLIKELY),
            (Class::NEGATIVE, &patterns::NEGATIVE_CLASS),
            (Class::POSITIVE, &patterns::POSITIVE_CLASS),
        ] {
            if re.is_match(class_id) {
                bits |= flag;
            }
        }
        Class(bits)
    }

    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// Furniture by name, and not also named like content.
    pub fn unlikely(self) -> bool {
        self.has(Class::UNLIKELY) && !self.has(Class::MAYBE)
    }

    /// Readability's class weight: -25 for boilerplate names, +25 for article names.
    pub fn weight(self) -> f32 {
        let mut w = 0.0;
        if self.has(Class::NEGATIVE) {
            w -= 25.0;
        }
        if self.has(Class::POSITIVE) {
            w += 25.0;
        }
        w
    }
}

impl Stats {
    pub fn link_density(&self) -> f32 {
        if self.chars == 0 { 0.0 } else { self.link_chars as f32 / self.chars as f32 }
    }
}

pub fn stats(dom: &Dom) -> Vec<Stats> {
    let mut stats = vec![Stats::default(); dom.nodes.len()];
    let mut classes: std::collections::HashMap<&str, Class> = std::collections::HashMap::new();
    for id in (1..dom.nodes.len()).rev() {
        let node = &dom.nodes[id];
        let mut s = stats[id];
        match &node.data {
            Data::Text(t) => {
                for c in t.chars() {
                    if !c.is_whitespace() {
                        s.chars += 1;
                        if matches!(c, ',' | '，' | '、' | '。' | '；' | ';') || (c == '.' && s.chars > 1) {
                            s.punct += 1;
                        }
                    }
                }
            }
            Data::Element(e) => {
                if !e.class_id.is_empty() {
                    s.class = *classes.entry(e.class_id.as_str()).or_insert_with(|| Class::of(&e.class_id));
                }
                if e.tag == Tag::A {
                    s.link_chars = s.chars;
                }
                if e.tag == Tag::P {
                    s.paragraphs += 1;
                }
            }
            Data::Root => {}
        }
        stats[id] = s;
        let parent = &mut stats[node.parent as usize];
        parent.chars += s.chars;
        parent.link_chars += s.link_chars;
        parent.punct += s.punct;
        parent.paragraphs += s.paragraphs;
        if matches!(node.data, Data::Text(_)) {
            parent.own_chars += s.chars;
        }
    }
    stats
}

/// For each node, whether it lies in a furniture subtree ([`patterns::UNLIKELY`] and not
/// [`patterns::MAYBE_CONTENT`]): comments, sidebars, share bars. Their text never scores, as in
/// Readability, which removes such subtrees before scoring. Parents precede children in the arena,
/// so one forward pass suffices.
pub fn unlikely(dom: &Dom, stats: &[Stats]) -> Vec<bool> {
    let mut flags = vec![false; dom.nodes.len()];
    for id in 1..dom.nodes.len() {
        let node = &dom.nodes[id];
        flags[id] = flags[node.parent as usize]
            || node.parent != 0
                && stats[id].class.unlikely()
                && node.element().is_some_and(|e| !matches!(e.tag, Tag::Body | Tag::A | Tag::Article | Tag::Main));
    }
    flags
}

fn tag_bonus(tag: Tag) -> f32 {
    match tag {
        Tag::Div | Tag::Article | Tag::Main => 5.0,
        Tag::Section | Tag::Pre | Tag::Td | Tag::Blockquote => 3.0,
        Tag::Address | Tag::Ol | Tag::Ul | Tag::Dl | Tag::Dd | Tag::Dt | Tag::Li | Tag::Form => -3.0,
        Tag::H1 | Tag::H2 | Tag::H3 | Tag::H4 | Tag::H5 | Tag::H6 | Tag::Th => -5.0,
        _ => 0.0,
    }
}

/// Containers that never hold the article.
fn never_candidate(tag: Tag) -> bool {
    matches!(tag, Tag::Nav | Tag::Footer | Tag::Aside | Tag::Header | Tag::Form | Tag::Menu | Tag::A)
}

/// The node ids whose content is the article, in document order; empty when nothing scores.
/// `unlikely` marks the subtrees whose text does not score (see [`unlikely`]).
pub fn select(dom: &Dom, stats: &[Stats], unlikely: &[bool]) -> Vec<Id> {
    let n = dom.nodes.len();
    let mut score = vec![0f32; n];
    let mut initialized = vec![false; n];
    let mut candidates: Vec<Id> = Vec::new();

    let mut add = |start: Id, own: f32, score: &mut Vec<f32>, candidates: &mut Vec<Id>| {
        let mut ancestor = start;
        let mut level = 0;
        while ancestor != 0 && level < 5 {
            let a = dom.node(ancestor);
            let Some(ae) = a.element() else { break };
            if !initialized[ancestor as usize] {
                initialized[ancestor as usize] = true;
                score[ancestor as usize] = tag_bonus(ae.tag) + stats[ancestor as usize].class.weight();
                candidates.push(ancestor);
            }
            let divider = match level {
                0 => 1.0,
                1 => 2.0,
                l => l as f32 * 3.0,
            };
            score[ancestor as usize] += own / divider;
            ancestor = a.parent;
            level += 1;
        }
    };
    let paragraph_score = |chars: u32, punct: u32| 1.0 + punct.min(50) as f32 + (chars as f32 / 100.0).min(3.0);

    for id in 1..n as Id {
        let node = dom.node(id);
        let Some(e) = node.element() else { continue };
        if unlikely[id as usize] {
            continue;
        }
        let s = stats[id as usize];
        let has_br = || node.children.iter().any(|&c| dom.node(c).tag() == Some(Tag::Br));
        let is_paragraph =
            matches!(e.tag, Tag::P | Tag::Pre | Tag::Dd) || (matches!(e.tag, Tag::Td | Tag::Blockquote) && !has_br());
        match e.tag {
            _ if is_paragraph && s.chars >= 20 => {
                add(node.parent, paragraph_score(s.chars, s.punct), &mut score, &mut candidates);
            }
            _ if s.own_chars >= 20 => {
                // Text written straight into a container (`<div>text<br>text</div>`, `<td>` layouts):
                // each run between line breaks and blocks is a paragraph of this container.
                let (mut chars, mut punct) = (0u32, 0u32);
                let children = &node.children;
                for (i, &c) in children.iter().enumerate() {
                    let child = dom.node(c);
                    let breaks = child.tag().is_some_and(|t| t == Tag::Br || t.is_block());
                    if !breaks {
                        chars += stats[c as usize].chars;
                        punct += stats[c as usize].punct;
                    }
                    if (breaks || i + 1 == children.len()) && chars > 0 {
                        if chars >= 20 {
                            add(id, paragraph_score(chars, punct), &mut score, &mut candidates);
                        }
                        chars = 0;
                        punct = 0;
                    }
                }
            }
            _ => {}
        }
    }

    let final_score = |id: Id| score[id as usize] * (1.0 - stats[id as usize].link_density());
    let mut best: Option<(Id, f32)> = None;
    for &id in &candidates {
        if unlikely[id as usize] || dom.node(id).tag().is_some_and(never_candidate) {
            continue;
        }
        let f = final_score(id);
        if best.is_none_or(|(_, b)| f > b) {
            best = Some((id, f));
        }
    }
    let Some((mut top, top_score)) = best else {
        return Vec::new();
    };

    // Readability's alternative candidates: when several strong candidates (paragraphs each in its
    // own wrapper, say) share an ancestor, the article is that ancestor.
    let mut ranked: Vec<(Id, f32)> = candidates
        .iter()
        .filter(|&&id| !unlikely[id as usize] && !dom.node(id).tag().is_some_and(never_candidate))
        .map(|&id| (id, final_score(id)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let alternatives: Vec<Id> =
        ranked.iter().skip(1).take(4).filter(|(_, s)| *s >= top_score * 0.75).map(|(id, _)| *id).collect();
    if alternatives.len() >= 3 {
        let mut ancestor = dom.node(top).parent;
        while ancestor != 0 && dom.node(ancestor).tag() != Some(Tag::Body) {
            let contained = alternatives.iter().filter(|&&a| is_ancestor(dom, ancestor, a)).count();
            if contained >= 3 {
                top = ancestor;
                break;
            }
            ancestor = dom.node(ancestor).parent;
        }
    }

    // Climb while the parent scores at least as well: the article is often split over several
    // sibling wrappers whose common parent collects their scores.
    let mut last = top_score;
    let threshold = top_score / 3.0;
    let mut parent = dom.node(top).parent;
    while parent != 0 && dom.node(parent).tag() != Some(Tag::Body) {
        if !initialized[parent as usize] {
            parent = dom.node(parent).parent;
            continue;
        }
        let p = final_score(parent);
        if p < threshold {
            break;
        }
        if p > last {
            top = parent;
        }
        last = p;
        parent = dom.node(parent).parent;
    }
    // A lone child wrapper adds nothing: take its parent, which may hold siblings we want.
    while let Some(p) = Some(dom.node(top).parent).filter(|&p| p != 0) {
        let pn = dom.node(p);
        if pn.tag() == Some(Tag::Body) || pn.element().is_none() || significant_children(dom, stats, p) != 1 {
            break;
        }
        top = p;
    }

    siblings(dom, stats, &score, &initialized, top, final_score(top))
}

fn is_ancestor(dom: &Dom, ancestor: Id, mut node: Id) -> bool {
    while node != 0 {
        if node == ancestor {
            return true;
        }
        node = dom.node(node).parent;
    }
    false
}

fn significant_children(dom: &Dom, stats: &[Stats], id: Id) -> usize {
    dom.node(id).children.iter().filter(|&&c| stats[c as usize].chars > 0).count()
}

/// The top candidate and those of its siblings that belong to the article.
fn siblings(dom: &Dom, stats: &[Stats], score: &[f32], initialized: &[bool], top: Id, top_score: f32) -> Vec<Id> {
    let parent = dom.node(top).parent;
    if parent == 0 {
        return vec![top];
    }
    let threshold = (top_score * 0.2).max(10.0);
    let top_class = dom.node(top).element().map_or("", |e| e.class_id.as_str());
    let mut out = Vec::new();
    for &sib in &dom.node(parent).children {
        if sib == top {
            out.push(sib);
            continue;
        }
        let node = dom.node(sib);
        let Some(e) = node.element() else { continue };
        if never_candidate(e.tag) {
            continue;
        }
        let s = stats[sib as usize];
        let mut bonus = 0.0;
        if !top_class.is_empty() && e.class_id == top_class {
            bonus += top_score * 0.2;
        }
        let sib_score = if initialized[sib as usize] { score[sib as usize] * (1.0 - s.link_density()) } else { 0.0 };
        // The lead photo sits beside the body as often as inside it.
        let keep = if sib_score + bonus >= threshold || matches!(e.tag, Tag::Figure | Tag::Picture) {
            true
        } else if e.tag == Tag::P {
            let ld = s.link_density();
            (s.chars > 80 && ld < 0.25) || (s.chars > 0 && ld == 0.0 && s.punct > 0)
        } else {
            false
        };
        if keep {
            out.push(sib);
        }
    }
    out
}
