//! Near-duplicate detection: MinHash sketches of character 4-gram shingles, found through LSH
//! bands and verified by their estimated Jaccard similarity on a compact form of the sketch.
//!
//! A syndicated copy (another promo line, a paragraph more or less, a few words edited) shares
//! most of its 4-grams with the original, while two different stories, even on the same topic,
//! share few. The sketch keeps [`HASHES`] minimum hashes; two sketches agree at a position with
//! probability equal to the Jaccard similarity of the shingle sets. Candidates are the articles
//! that agree on every row of at least one of [`BANDS`] bands (a copy at Jaccard 0.8 is a
//! candidate with probability 1 − (1 − 0.8⁴)⁸ ≈ 0.985); a candidate is a duplicate when the
//! sketches agree on at least [`THRESHOLD`] of their positions. Stores keep only the [`Compact`]
//! sketch (one byte per position, 32 bytes), and every comparison, in memory or against a store,
//! is made on that form, so both stores decide alike. The figures behind these choices are in
//! BENCHMARKS.md (`copydesk neardup-eval`).
//!
//! Everything here is fixed by constants: changing them changes which articles match, so stores
//! built with other values must be rebuilt.

use crate::text::normalize;

/// Minimum hashes per sketch.
pub const HASHES: usize = 32;
/// LSH bands, of [`ROWS`] hashes each.
pub const BANDS: usize = 8;
pub const ROWS: usize = HASHES / BANDS;
/// Estimated Jaccard similarity at or above which a candidate is a duplicate.
pub const THRESHOLD: f64 = 0.6;
/// Characters per shingle.
pub const SHINGLE: usize = 4;
/// The AMQP header in which the clean stage hands an article's sketch to the dedup stage (hex,
/// [`Sketch::to_hex`]), so that the dedup stage need not read the text again.
pub const HEADER: &str = "x-copydesk-minhash";

/// A MinHash sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sketch(pub [u32; HASHES]);

/// The stored form of a sketch: the low byte of each minimum hash (uniform, unlike the high bytes
/// of a minimum, which are mostly zero). Two unrelated positions agree by chance with probability
/// 1/256, which moves an estimated similarity by under 0.4%.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compact(pub [u8; HASHES]);

impl Compact {
    /// The estimated Jaccard similarity of two texts' shingle sets.
    pub fn similarity(&self, other: &Compact) -> f64 {
        let same = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        same as f64 / HASHES as f64
    }

    pub fn is_near_duplicate_of(&self, other: &Compact) -> bool {
        self.similarity(other) >= THRESHOLD
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads a stored sketch: the compact form, or the full one (four bytes per position, little
    /// endian) that earlier versions stored.
    pub fn from_bytes(bytes: &[u8]) -> Option<Compact> {
        let mut out = [0u8; HASHES];
        if bytes.len() == HASHES {
            out.copy_from_slice(bytes);
        } else if bytes.len() == HASHES * 4 {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = c[0];
            }
        } else {
            return None;
        }
        Some(Compact(out))
    }
}

fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Calls `f` with the hash of each character 4-gram shingle of the text (over the normalized
/// text, whitespace removed, so that layout never matters); repeats included.
fn for_each_shingle(text: &str, mut f: impl FnMut(u64)) {
    let normalized = normalize(text);
    let mut window = [0u32; SHINGLE];
    let mut filled = 0usize;
    for c in normalized.chars().filter(|c| !c.is_whitespace()) {
        window.copy_within(1.., 0);
        window[SHINGLE - 1] = c as u32;
        filled += 1;
        if filled >= SHINGLE {
            f(shingle_hash(&window));
        }
    }
    if (1..SHINGLE).contains(&filled) {
        f(shingle_hash(&window[SHINGLE - filled..])); // a text shorter than one shingle
    }
}

fn shingle_hash(chars: &[u32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chars {
        h ^= u64::from(*c);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// The distinct shingle hashes of a text, sorted.
pub fn shingle_hashes(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for_each_shingle(text, |h| out.push(h));
    out.sort_unstable();
    out.dedup();
    out
}

impl Sketch {
    pub fn of(text: &str) -> Sketch {
        let mut mins = [u32::MAX; HASHES];
        // Repeated shingles cannot change a minimum: no need to collect and deduplicate.
        for_each_shingle(text, |h| {
            // The positions' hashes as h1 + i·h2 (Kirsch and Mitzenmacher): two mixes per
            // shingle instead of one per position, with the same estimates.
            let (h1, h2) = (h, mix(h ^ 0x9e37_79b9_7f4a_7c15) | 1);
            for (i, m) in mins.iter_mut().enumerate() {
                let v = (h1.wrapping_add((i as u64).wrapping_mul(h2)) >> 32) as u32;
                *m = (*m).min(v);
            }
        });
        Sketch(mins)
    }

    pub fn compact(&self) -> Compact {
        Compact(self.0.map(|v| v as u8))
    }

    /// The estimated Jaccard similarity of two texts' shingle sets, as the stores see it.
    pub fn similarity(&self, other: &Sketch) -> f64 {
        self.compact().similarity(&other.compact())
    }

    /// The key of each band: a copy shares at least one with its original, very likely.
    pub fn bands(&self) -> [u64; BANDS] {
        let mut out = [0u64; BANDS];
        for (b, key) in out.iter_mut().enumerate() {
            let mut h = b as u64;
            for v in &self.0[b * ROWS..(b + 1) * ROWS] {
                h = mix(h ^ u64::from(*v)).wrapping_add(0x9e37_79b9);
            }
            *key = h;
        }
        out
    }

    pub fn is_near_duplicate_of(&self, other: &Sketch) -> bool {
        self.similarity(other) >= THRESHOLD
    }

    /// 256 hex digits: the minimum hashes in order, eight digits each.
    pub fn to_hex(&self) -> String {
        let bytes: Vec<u8> = self.0.iter().flat_map(|v| v.to_be_bytes()).collect();
        crate::text::to_hex(&bytes)
    }

    pub fn from_hex(hex: &str) -> Option<Sketch> {
        if hex.len() != HASHES * 8 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u32; HASHES];
        for (o, i) in out.iter_mut().zip((0..hex.len()).step_by(8)) {
            *o = u32::from_str_radix(&hex[i..i + 8], 16).ok()?;
        }
        Some(Sketch(out))
    }
}

/// The exact Jaccard similarity of two texts' shingle sets (for evaluation).
pub fn jaccard(a: &str, b: &str) -> f64 {
    let (x, y) = (shingle_hashes(a), shingle_hashes(b));
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both as f64 / (x.len() + y.len() - both) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORY: &str = "河曲县大刀阔斧改革，将36个党政机构精简为22个、135名领导职数精简为114名；\
        将186个涉改事业单位整合为40个、1964名事业编制核减为659名，大部制目标基本实现。\n\n\
        改革中，有903名事业人员超编。河曲县委改革办介绍，对超编人员，采取到对口党政部门跟班学习锻炼、\
        担任村社区两委主干和综治网格员等多种方式，重新调整配备，优化了人员结构，强化了工作力量。\n\n\
        此次改革还减少科级职数75个。河曲县委改革办称，干部晋升空间收窄，着力用足用活公务员职务职级并行和事业人员等级晋升制度。";

    #[test]
    fn a_copy_with_a_promo_line_is_a_near_duplicate() {
        let copy = format!("{STORY}\n\n海量资讯、精准解读，尽在新浪财经APP");
        let (a, b) = (Sketch::of(STORY), Sketch::of(&copy));
        assert!(a.is_near_duplicate_of(&b), "similarity {}", a.similarity(&b));
        assert!(a.bands().iter().zip(b.bands()).any(|(x, y)| *x == y), "they share a band");
    }

    #[test]
    fn long_different_texts_share_few_compact_positions() {
        // Minimum hashes of long texts are small numbers: their high bytes would agree.
        let text = |seed: u64| {
            let mut state = seed;
            (0..400)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    format!("w{}", state >> 54)
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (a, b) = (Sketch::of(&text(1)), Sketch::of(&text(2)));
        assert!(a.similarity(&b) < 0.3, "similarity {}", a.similarity(&b));
    }

    #[test]
    fn a_different_story_is_not() {
        let other = "The city council voted on Tuesday to approve a new budget for parks and schools, \
                     after a long debate about taxes and the cost of public transport in the region.";
        assert!(!Sketch::of(STORY).is_near_duplicate_of(&Sketch::of(other)));
        assert!(jaccard(STORY, other) < 0.05);
    }

    #[test]
    fn compact_sketches_round_trip_through_bytes() {
        let c = Sketch::of(STORY).compact();
        assert_eq!(c.as_bytes().len(), HASHES);
        assert_eq!(Compact::from_bytes(c.as_bytes()), Some(c));
        let full: Vec<u8> = Sketch::of(STORY).0.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(Compact::from_bytes(&full), Some(c), "the full form of earlier versions is read");
        assert_eq!(Compact::from_bytes(b"short"), None);
    }

    #[test]
    fn sketches_round_trip_through_hex() {
        let s = Sketch::of(STORY);
        assert_eq!(Sketch::from_hex(&s.to_hex()), Some(s));
        assert_eq!(Sketch::from_hex("00"), None);
        assert_eq!(Sketch::from_hex(&"zz".repeat(128)), None);
    }
}
