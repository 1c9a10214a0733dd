//! `copydesk neardup-eval`: precision and recall of near-duplicate detection on a labelled set
//! built from corpora with ground truth.
//!
//! Positive pairs: each article body (at least three paragraphs and 300 characters) against five
//! syndicated variants of it: a promo line and a source line added; a few words edited in two
//! places; the last paragraph removed; an editor's paragraph added; the headline added on top
//! with a site suffix. Negative pairs: each article against the most similar other article of the
//! set (by exact Jaccard: same site or same topic, the hard cases) and against one other at
//! random. A pair counts as detected when the two sketches share an LSH band and agree on at least
//! the threshold of their positions, exactly the decision `process` and the dedup stage make.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use shared::neardup::{Sketch, THRESHOLD, jaccard};
use shared::text::is_cjk;

#[derive(clap::Args)]
pub struct Args {
    /// Corpus folders with a `ground-truth.json` (id -> {articleBody}).
    #[arg(required = true)]
    corpora: Vec<PathBuf>,
}

fn variants(text: &str, title: &str) -> Vec<String> {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count() * 3 > text.chars().count();
    let paragraphs: Vec<&str> = text.split("\n\n").filter(|p| !p.trim().is_empty()).collect();
    let (promo, source, note) = if cjk {
        (
            "海量资讯、精准解读，尽在新浪财经APP",
            "（来源：某某日报）",
            "编者按：本文经授权转载，内容有删节，观点仅代表作者本人。",
        )
    } else {
        (
            "Download our app for the latest news, wherever you are.",
            "Source: Example Wire",
            "Editor's note: this story has been updated with additional reporting from our correspondents.",
        )
    };
    let edited: String = if cjk {
        text.chars().enumerate().map(|(i, c)| if i % 97 == 50 && is_cjk(c) { '变' } else { c }).collect()
    } else {
        text.split(' ').enumerate().map(|(i, w)| if i % 41 == 20 { "changed" } else { w }).collect::<Vec<_>>().join(" ")
    };
    vec![
        format!("{source}\n\n{text}\n\n{promo}"),
        edited,
        paragraphs[..paragraphs.len() - 1].join("\n\n"),
        format!("{text}\n\n{note}"),
        format!("{title} - Example News\n\n{text}"),
    ]
}

fn detected(a: &Sketch, b: &Sketch, threshold: f64) -> bool {
    a.bands().iter().zip(b.bands()).any(|(x, y)| *x == y) && a.similarity(b) >= threshold
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut texts: Vec<String> = Vec::new();
    for corpus in &args.corpora {
        let path = corpus.join("ground-truth.json");
        let truth: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
        let mut ids: Vec<&String> = truth.keys().collect();
        ids.sort();
        for id in ids {
            let body = truth[id]["articleBody"].as_str().unwrap_or("").trim().to_owned();
            let paragraphs = body.split("\n\n").filter(|p| !p.trim().is_empty()).count();
            if paragraphs >= 3 && body.chars().count() >= 300 {
                texts.push(body);
            }
        }
    }
    let sketches: Vec<Sketch> = texts.iter().map(|t| Sketch::of(t)).collect();
    // (sketch a, sketch b, exact Jaccard, is a duplicate)
    let mut pairs: Vec<(Sketch, Sketch, f64, bool)> = Vec::new();
    let mut rng = fastrand::Rng::with_seed(7);
    for (i, text) in texts.iter().enumerate() {
        let title: String = text.chars().take(30).collect();
        for v in variants(text, &title) {
            pairs.push((sketches[i], Sketch::of(&v), jaccard(text, &v), true));
        }
        let nearest = (0..texts.len())
            .filter(|&j| j != i)
            .max_by(|&a, &b| sketches[i].similarity(&sketches[a]).total_cmp(&sketches[i].similarity(&sketches[b])));
        let random = loop {
            let j = rng.usize(..texts.len());
            if j != i {
                break j;
            }
        };
        for j in nearest.into_iter().chain([random]) {
            pairs.push((sketches[i], sketches[j], jaccard(text, &texts[j]), false));
        }
    }
    let positives = pairs.iter().filter(|p| p.3).count();
    let negatives = pairs.len() - positives;
    println!("{} articles; {positives} duplicate pairs, {negatives} different pairs", texts.len());
    let min_pos = pairs.iter().filter(|p| p.3).map(|p| p.2).fold(1.0, f64::min);
    let max_neg = pairs.iter().filter(|p| !p.3).map(|p| p.2).fold(0.0, f64::max);
    println!("exact Jaccard of 4-gram shingles: duplicates ≥ {min_pos:.3}, different articles ≤ {max_neg:.3}");
    println!(
        "threshold  precision  recall   (LSH: {} bands of {} rows)",
        shared::neardup::BANDS,
        shared::neardup::ROWS
    );
    for t in [0.4, 0.5, THRESHOLD, 0.7, 0.8] {
        let (mut tp, mut fp, mut fneg) = (0, 0, 0);
        for (a, b, _, dup) in &pairs {
            match (detected(a, b, t), dup) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fneg += 1,
                _ => {}
            }
        }
        let precision = if tp + fp == 0 { 1.0 } else { tp as f64 / (tp + fp) as f64 };
        let recall = tp as f64 / (tp + fneg).max(1) as f64;
        let mark = if (t - THRESHOLD).abs() < 1e-9 { "  <- default" } else { "" };
        println!("{t:>9.2}  {precision:>9.4}  {recall:>6.4}{mark}");
    }
    Ok(ExitCode::SUCCESS)
}
