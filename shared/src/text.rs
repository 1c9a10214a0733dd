//! Text identity: normalization, the content hash, SimHash, word counts and excerpts.
//!
//! # The normalization behind `content_hash`
//!
//! [`normalize`] maps the article text to the string that is hashed:
//!
//! 1. Unicode NFKC (full-width letters and digits become ASCII, compatibility forms fold);
//! 2. lower case (Unicode simple lowercase);
//! 3. every run of whitespace (Unicode `White_Space`, including U+3000 and line breaks) becomes
//!    one space, and the ends are trimmed.
//!
//! Paragraph breaks therefore do not matter, nor do indentation or case. Punctuation does.
//! `content_hash` = `sha256:` + lowercase hex of SHA-256 over the UTF-8 of the normalized text.
//!
//! # SimHash
//!
//! 64-bit SimHash (Charikar) over shingles of the normalized text's tokens: each Han, Kana or
//! Hangul character is a token, and so is each run of other alphanumerics. Shingles are 4
//! consecutive tokens when most tokens are CJK characters (character shingles), else 3 (word
//! shingles). Each shingle is hashed with FNV-1a 64 and a SplitMix64 finalizer; both are fixed
//! here, so fingerprints stay comparable across releases.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// Most characters an excerpt may have.
pub const EXCERPT_MAX_CHARS: usize = 300;

/// Han (with extensions and compatibility), Kana and Hangul: scripts written without spaces
/// between words, where each character counts as a word.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The normalized form of `text` that `content_hash` is computed over (see the module docs).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// An article's identity, computed from one normalization of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `sha256:<64 hex>` of the normalized text.
    pub content_hash: String,
    /// The bare hex digest: the article id.
    pub id: String,
    /// 64-bit SimHash.
    pub simhash: u64,
}

impl Fingerprint {
    pub fn of(text: &str) -> Fingerprint {
        let normalized = normalize(text);
        let id = to_hex(&Sha256::digest(normalized.as_bytes()));
        Fingerprint { content_hash: format!("sha256:{id}"), id, simhash: simhash_normalized(&normalized) }
    }

    /// SimHash as the contract writes it: 16 lowercase hex digits.
    pub fn simhash_hex(&self) -> String {
        format!("{:016x}", self.simhash)
    }
}

/// `sha256:<64 hex>` of the normalized text, and the bare hex (the article id).
pub fn content_hash(text: &str) -> (String, String) {
    let f = Fingerprint::of(text);
    (f.content_hash, f.id)
}

/// Lowercase hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Splits normalized text into tokens: single CJK characters and runs of other alphanumerics.
pub fn tokens(normalized: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in normalized.char_indices() {
        if is_cjk(c) {
            if let Some(s) = start.take() {
                out.push(&normalized[s..i]);
            }
            out.push(&normalized[i..i + c.len_utf8()]);
        } else if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(&normalized[s..i]);
        }
    }
    if let Some(s) = start {
        out.push(&normalized[s..]);
    }
    out
}

/// The shingle size for a token stream: 4 for mostly-CJK text, 3 for word text.
fn shingle_size(tokens: &[&str]) -> usize {
    let cjk = tokens.iter().filter(|t| t.chars().next().is_some_and(is_cjk)).count();
    if cjk * 2 > tokens.len() { 4 } else { 3 }
}

/// FNV-1a 64 over the shingle's tokens (separated by 0x1F), then SplitMix64's finalizer so that
/// every output bit depends on every input bit.
fn shingle_hash(shingle: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, token) in shingle.iter().enumerate() {
        if i > 0 {
            h ^= 0x1F;
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        for b in token.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// 64-bit SimHash of `text` (see the module docs); 0 for a text with no tokens.
pub fn simhash(text: &str) -> u64 {
    simhash_normalized(&normalize(text))
}

fn simhash_normalized(normalized: &str) -> u64 {
    let tokens = tokens(normalized);
    if tokens.is_empty() {
        return 0;
    }
    let n = shingle_size(&tokens).min(tokens.len());
    let mut weights = [0i32; 64];
    for shingle in tokens.windows(n) {
        let h = shingle_hash(shingle);
        for (bit, w) in weights.iter_mut().enumerate() {
            if h >> bit & 1 == 1 { *w += 1 } else { *w -= 1 }
        }
    }
    weights.iter().enumerate().fold(0u64, |acc, (bit, w)| if *w > 0 { acc | 1 << bit } else { acc })
}

/// SimHash as the contract writes it: 16 lowercase hex digits.
pub fn simhash_hex(text: &str) -> String {
    format!("{:016x}", simhash(text))
}

/// Words in `text`: each CJK character counts as one, and so does each run of other
/// alphanumerics.
pub fn word_count(text: &str) -> u64 {
    let mut count = 0u64;
    let mut in_word = false;
    for c in text.chars() {
        if is_cjk(c) {
            count += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                count += 1;
            }
            in_word = true;
        } else {
            in_word = false;
        }
    }
    count
}

/// The first sentences of `text`, at most [`EXCERPT_MAX_CHARS`] characters. Whole sentences
/// when they fit; otherwise the first sentence cut at a word boundary, ending in `…`.
pub fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_MAX_CHARS {
        return flat;
    }
    // Byte offset just after each sentence end that lies within the limit.
    let mut best_end = 0;
    let mut chars = 0;
    let mut iter = flat.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        chars += 1;
        if chars > EXCERPT_MAX_CHARS {
            break;
        }
        let end = i + c.len_utf8();
        let is_end = match c {
            '。' | '！' | '？' | '…' => true,
            '.' | '!' | '?' => iter.peek().is_none_or(|(_, n)| n.is_whitespace()),
            _ => false,
        };
        if is_end {
            best_end = end;
        }
    }
    if best_end > 0 {
        return flat[..best_end].to_owned();
    }
    // One long sentence: cut before the limit, at a space when there is one, and mark the cut.
    let cut: String = flat.chars().take(EXCERPT_MAX_CHARS - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > cut.len() / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_folds_width_case_and_whitespace() {
        assert_eq!(normalize("　　Ｈｅｌｌｏ\n\n  World１ "), "hello world1");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn content_hash_ignores_layout_but_not_words() {
        let (a, id) = content_hash("First paragraph.\n\nSecond one.");
        let (b, _) = content_hash("  first paragraph. second one.");
        let (c, _) = content_hash("First paragraph. Second two.");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, format!("sha256:{id}"));
        assert_eq!(id.len(), 64);
    }

    #[test]
    fn tokens_split_cjk_per_character() {
        assert_eq!(tokens("新浪abc 12,x"), ["新", "浪", "abc", "12", "x"]);
    }

    #[test]
    fn simhash_is_close_for_near_copies_and_far_for_different_text() {
        let base = "河曲县大刀阔斧改革，将36个党政机构精简为22个、135名领导职数精简为114名；\
                    将186个涉改事业单位整合为40个、1964名事业编制核减为659名，大部制目标基本实现。\
                    改革中，有903名事业人员超编。河曲县委改革办介绍，对超编人员，采取到对口党政部门跟班学习锻炼。";
        let near = format!("{base}海量资讯尽在新浪财经APP");
        let other = "The quick brown fox jumps over the lazy dog while the committee debates the budget \
                     for the next fiscal year and the mayor promises new parks in every district.";
        let d_near = (simhash(base) ^ simhash(&near)).count_ones();
        let d_other = (simhash(base) ^ simhash(other)).count_ones();
        assert!(d_near <= 10, "near copy differs by {d_near} bits");
        assert!(d_other >= 20, "unrelated text differs by only {d_other} bits");
        assert_eq!(simhash_hex(base).len(), 16);
        assert_eq!(simhash(""), 0);
    }

    #[test]
    fn word_count_counts_cjk_characters_and_words() {
        assert_eq!(word_count("新浪财经 reports 2 things."), 7);
    }

    #[test]
    fn excerpt_keeps_whole_sentences_within_the_limit() {
        let text = format!("{} {}", "Short first sentence.", "word ".repeat(100));
        assert_eq!(excerpt(&text), "Short first sentence.");
        let long = "a".repeat(50) + " " + &"b ".repeat(400);
        let e = excerpt(&long);
        assert!(e.chars().count() <= EXCERPT_MAX_CHARS && e.ends_with('…'));
        assert_eq!(excerpt("Tiny.\n\nText."), "Tiny. Text.");
        let cjk = "这是第一句。".repeat(80);
        let e = excerpt(&cjk);
        assert!(e.chars().count() <= EXCERPT_MAX_CHARS && e.ends_with('。'));
    }
}
