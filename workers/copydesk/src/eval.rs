//! `copydesk eval`: extraction quality on a corpus with ground truth, with the Article Extraction
//! Benchmark's metric, computed exactly as `../shared/tools/extract-eval/eval.py` does:
//!
//! - tokens are `\w+` runs (`official`), or every Han/Kana character alone and `\w+` runs of the
//!   rest (`cjk`); `auto` picks `cjk` for a page when Han/Kana make up at least 30% of the ground
//!   truth's word characters;
//! - 4-token shingles (a text shorter than that is one shingle), counted as multisets;
//! - per page, TP, FP and FN normalized to sum 1;
//! - precision is the mean over pages with a non-empty prediction, recall the mean over pages with
//!   a non-empty truth, and F1 the harmonic mean of the two means.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Instant;

use anyhow::Context;
use regex::Regex;
use serde::Deserialize;

#[derive(clap::Args)]
pub struct Args {
    /// A folder with `ground-truth.json` (id -> {articleBody, url}) and `html/<id>.html[.gz]`.
    corpus: PathBuf,
    /// `auto`, `official` or `cjk`.
    #[arg(long, default_value = "auto")]
    tokenizer: String,
    /// Print the N worst pages by F1.
    #[arg(long, default_value_t = 0)]
    worst: usize,
    /// Write the predictions in the benchmark's format (id -> {articleBody}).
    #[arg(long)]
    save_predictions: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Truth {
    #[serde(rename = "articleBody", default)]
    article_body: String,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tokenizer {
    Official,
    Cjk,
}

/// The result of scoring a corpus.
pub struct Report {
    pub metrics: Metrics,
    /// Per page: id and (tp, fp, fn), in id order.
    pub pages: Vec<(String, (f64, f64, f64))>,
    /// Per page: id and the extracted text.
    pub predictions: Vec<(String, String)>,
    /// Seconds spent in the clean stage, all pages, one thread.
    pub seconds: f64,
}

/// Cleans every page of `corpus` and scores the text against its ground truth. `tokenizer` is
/// `auto`, `official` or `cjk`.
///
/// # Errors
///
/// When the corpus cannot be read.
pub fn evaluate(corpus: &Path, tokenizer: &str) -> anyhow::Result<Report> {
    let truth_path = corpus.join("ground-truth.json");
    let truths: HashMap<String, Truth> = serde_json::from_slice(
        &std::fs::read(&truth_path).with_context(|| format!("reading {}", truth_path.display()))?,
    )
    .with_context(|| format!("parsing {}", truth_path.display()))?;
    let mut ids: Vec<&String> = truths.keys().collect();
    ids.sort();

    let mut pages = Vec::with_capacity(ids.len());
    let mut predictions = Vec::with_capacity(ids.len());
    let mut seconds = 0.0;
    for id in ids {
        let truth = &truths[id];
        let bytes = read_page(corpus, id)?;
        let input = copydesk_clean::Input {
            bytes: &bytes,
            content_type: Some("text/html"),
            url: truth.url.as_deref(),
            ..Default::default()
        };
        let start = Instant::now();
        let text = copydesk_clean::clean(&input, chrono::Utc::now()).map(|e| e.text).unwrap_or_default();
        seconds += start.elapsed().as_secs_f64();
        let tokenizer = match tokenizer {
            "official" => Tokenizer::Official,
            "cjk" => Tokenizer::Cjk,
            _ => page_tokenizer(&truth.article_body),
        };
        pages.push((id.clone(), score_page(&truth.article_body, &text, tokenizer)));
        predictions.push((id.clone(), text));
    }
    Ok(Report { metrics: metrics(pages.iter().map(|(_, s)| *s)), pages, predictions, seconds })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = evaluate(&args.corpus, &args.tokenizer)?;
    let m = &report.metrics;
    println!(
        "{:<28} F1 {:.3}  P {:.3}  R {:.3}  pages {}  {:.1} pages/s (clean stage only, one thread)",
        args.corpus.file_name().and_then(|n| n.to_str()).unwrap_or("corpus"),
        m.f1,
        m.precision,
        m.recall,
        report.pages.len(),
        report.pages.len() as f64 / report.seconds.max(1e-9),
    );
    if args.worst > 0 {
        let mut worst: Vec<_> = report.pages.iter().collect();
        worst.sort_by(|a, b| page_f1(a.1).total_cmp(&page_f1(b.1)));
        for (id, s) in worst.iter().take(args.worst) {
            println!("  {id}  F1 {:.3}  P {:.3}  R {:.3}", page_f1(*s), precision(*s), recall(*s));
        }
    }
    if let Some(path) = args.save_predictions {
        let map: serde_json::Map<String, serde_json::Value> =
            report.predictions.into_iter().map(|(id, text)| (id, serde_json::json!({ "articleBody": text }))).collect();
        std::fs::write(&path, serde_json::to_vec_pretty(&map)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_page(corpus: &Path, id: &str) -> anyhow::Result<Vec<u8>> {
    let html = corpus.join("html");
    for name in [format!("{id}.html.gz"), format!("{id}.html")] {
        let path = html.join(&name);
        if path.exists() {
            // Gzip is undone by the clean stage itself, as for any document.
            return std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
        }
    }
    anyhow::bail!("no html file for ground-truth id {id}")
}

/// The Han and Kana ranges of the reference scorer (no Hangul there).
fn is_han_kana(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Python's `\w` for `str` patterns: letters (`L*`), numbers (`N*`) and the underscore. Rust's
/// `char::is_alphanumeric` differs: it also takes combining vowel signs (`Other_Alphabetic`),
/// which would split Hindi or Thai words differently from the reference scorer.
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\p{L}\p{N}_]+").expect("static regex"));

fn tokenize(text: &str, tokenizer: Tokenizer) -> Vec<&str> {
    let mut out = Vec::new();
    for m in WORD.find_iter(text) {
        let word = m.as_str();
        if tokenizer == Tokenizer::Official {
            out.push(word);
            continue;
        }
        // `cjk`: every Han/Kana character alone, the runs between them as words.
        let mut start = 0;
        for (i, c) in word.char_indices() {
            if is_han_kana(c) {
                if start < i {
                    out.push(&word[start..i]);
                }
                out.push(&word[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < word.len() {
            out.push(&word[start..]);
        }
    }
    out
}

fn page_tokenizer(truth: &str) -> Tokenizer {
    let words: usize = tokenize(truth, Tokenizer::Official).iter().map(|t| t.chars().count()).sum();
    let cjk = truth.chars().filter(|c| is_han_kana(*c)).count();
    if words > 0 && cjk as f64 / words as f64 >= 0.3 { Tokenizer::Cjk } else { Tokenizer::Official }
}

fn shingles<'a>(tokens: &[&'a str]) -> HashMap<Vec<&'a str>, usize> {
    let mut out = HashMap::new();
    if tokens.is_empty() {
        return out;
    }
    let n = 4;
    for i in 0..tokens.len().saturating_sub(n - 1).max(1) {
        let sh = tokens[i..(i + n).min(tokens.len())].to_vec();
        *out.entry(sh).or_insert(0) += 1;
    }
    out
}

/// Per-page (tp, fp, fn), normalized to sum 1 when any is non-zero.
fn score_page(truth: &str, prediction: &str, tokenizer: Tokenizer) -> (f64, f64, f64) {
    let t = shingles(&tokenize(truth, tokenizer));
    let p = shingles(&tokenize(prediction, tokenizer));
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for key in t.keys().chain(p.keys().filter(|k| !t.contains_key(*k))) {
        let tc = *t.get(key).unwrap_or(&0) as f64;
        let pc = *p.get(key).unwrap_or(&0) as f64;
        tp += tc.min(pc);
        fp += (pc - tc).max(0.0);
        fn_ += (tc - pc).max(0.0);
    }
    let s = tp + fp + fn_;
    if s > 0.0 { (tp / s, fp / s, fn_ / s) } else { (tp, fp, fn_) }
}

fn precision((tp, fp, fn_): (f64, f64, f64)) -> f64 {
    if fp == 0.0 && fn_ == 0.0 {
        1.0
    } else if tp == 0.0 && fp == 0.0 {
        0.0
    } else {
        tp / (tp + fp)
    }
}

fn recall((tp, fp, fn_): (f64, f64, f64)) -> f64 {
    if fp == 0.0 && fn_ == 0.0 {
        1.0
    } else if tp == 0.0 && fn_ == 0.0 {
        0.0
    } else {
        tp / (tp + fn_)
    }
}

fn page_f1(s: (f64, f64, f64)) -> f64 {
    let (p, r) = (precision(s), recall(s));
    if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }
}

pub struct Metrics {
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
}

pub fn metrics(scores: impl Iterator<Item = (f64, f64, f64)> + Clone) -> Metrics {
    let mean = |v: Vec<f64>| {
        if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
    };
    let p = mean(scores.clone().filter(|s| s.0 + s.1 > 0.0).map(precision).collect());
    let r = mean(scores.filter(|s| s.0 + s.2 > 0.0).map(recall).collect());
    Metrics { f1: if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }, precision: p, recall: r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_text_scores_one_and_disjoint_zero() {
        let s = score_page("one two three four five", "one two three four five", Tokenizer::Official);
        assert_eq!((precision(s), recall(s)), (1.0, 1.0));
        let s = score_page("one two three four five", "six seven eight nine", Tokenizer::Official);
        assert_eq!((precision(s), recall(s)), (0.0, 0.0));
    }

    #[test]
    fn partial_overlap_matches_the_reference_arithmetic() {
        // truth shingles: (a b c d), (b c d e); prediction: (a b c d), (b c d x)
        let s = score_page("a b c d e", "a b c d x", Tokenizer::Official);
        assert!((s.0 - 1.0 / 3.0).abs() < 1e-12 && (s.1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((precision(s) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn cjk_tokenizer_splits_han_and_auto_picks_it() {
        assert_eq!(tokenize("新浪abc 财经", Tokenizer::Cjk), ["新", "浪", "abc", "财", "经"]);
        assert_eq!(tokenize("新浪abc 财经", Tokenizer::Official), ["新浪abc", "财经"]);
        assert!(page_tokenizer("山西河曲人口小县") == Tokenizer::Cjk);
        assert!(page_tokenizer("plain English words") == Tokenizer::Official);
    }

    #[test]
    fn means_skip_empty_sides() {
        let m = metrics([(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)].into_iter());
        assert_eq!(m.precision, 1.0); // the empty prediction is not in the precision mean
        assert_eq!(m.recall, 0.5);
    }
}
