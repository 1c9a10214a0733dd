//! `copydesk process`: the embedded pipeline. Documents are cleaned in parallel, a chunk at a
//! time, then deduplicated and written in input order, so the output does not depend on the
//! number of threads. A document that fails is counted with its reason and never stops the batch.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use shared::message::ArticleEvent;

use crate::inputs::{self, Source};
use crate::store::{Seen, Store};
use shared::neardup::Sketch;

/// A document's outcome: its event and near-duplicate sketch, or why it failed.
type Cleaned = Result<(ArticleEvent, Sketch), String>;

/// Documents cleaned between two store commits.
const CHUNK: usize = 256;

#[derive(clap::Args)]
pub struct Args {
    /// Documents (`.html`, `.htm`, `.md`, `.txt`, each also `.gz`), folders (recursively), or `-`
    /// for JSON jobs on standard input, one per line.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The folder of the dedup state, kept between runs.
    #[arg(long, default_value = ".copydesk")]
    state: PathBuf,
    /// Write the events here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write `duplicate` events (with `duplicate_of` set).
    #[arg(long)]
    with_duplicates: bool,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
}

#[derive(Default)]
struct Summary {
    read: usize,
    new: usize,
    duplicate: usize,
    failed: Vec<(String, String)>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(&args.state)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let sources = inputs::collect(&args.paths);
    let progress = ProgressBar::with_draw_target(Some(sources.len() as u64), ProgressDrawTarget::stderr());
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {msg}").expect("static template"));

    let mut summary = Summary::default();
    for chunk in sources.chunks(CHUNK) {
        let results: Vec<(String, Cleaned)> = pool.install(|| {
            chunk
                .par_iter()
                .map(|s| {
                    (
                        s.label(),
                        clean_one(s).map(|e| {
                            let sketch = Sketch::of(&e.text);
                            (e, sketch)
                        }),
                    )
                })
                .collect()
        });
        summary.read += results.len();
        let ok: Vec<(&str, &Sketch)> =
            results.iter().filter_map(|(_, r)| r.as_ref().ok().map(|(e, s)| (e.id.as_str(), s))).collect();
        let mut seen = store.record(&ok)?.into_iter();
        for (label, result) in results {
            match result {
                Err(reason) => summary.failed.push((label, reason)),
                Ok((mut event, _)) => {
                    let original = match seen.next().expect("one answer per recorded id") {
                        Seen::New => None,
                        Seen::Exact(original) | Seen::Near(original) => Some(original),
                    };
                    if let Some(original) = original {
                        summary.duplicate += 1;
                        if !args.with_duplicates {
                            continue;
                        }
                        event.duplicate_of = Some(original);
                    } else {
                        summary.new += 1;
                    }
                    serde_json::to_writer(&mut out, &event)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        progress.inc(chunk.len() as u64);
    }
    out.flush().context("writing the events")?;
    progress.finish_and_clear();
    print_summary(&summary);
    Ok(ExitCode::SUCCESS)
}

fn clean_one(source: &Source) -> Result<ArticleEvent, String> {
    let now = Utc::now();
    match source {
        Source::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
            let name = path.to_str();
            let input = copydesk_clean::Input { bytes: &bytes, name, job_id: name, ..Default::default() };
            copydesk_clean::clean(&input, now).map_err(|e| e.to_string())
        }
        Source::Job(_, job) => {
            let job = job.as_ref().as_ref().map_err(Clone::clone)?;
            let content = job.content.as_deref().unwrap_or_default();
            let input = copydesk_clean::Input {
                bytes: content.as_bytes(),
                content_type: job.content_type.as_deref(),
                url: job.url.as_deref(),
                job_id: job.id.as_deref(),
                metadata: Some(&job.metadata),
                ..Default::default()
            };
            copydesk_clean::clean(&input, now).map_err(|e| e.to_string())
        }
    }
}

fn print_summary(s: &Summary) {
    eprintln!("read {}, new {}, duplicate {}, failed {}", s.read, s.new, s.duplicate, s.failed.len());
    if s.failed.is_empty() {
        return;
    }
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, reason) in &s.failed {
        *by_reason.entry(reason.as_str()).or_default() += 1;
    }
    eprintln!("failed by reason:");
    for (reason, n) in &by_reason {
        eprintln!("  {n:>6}  {reason}");
    }
    for (label, reason) in s.failed.iter().take(20) {
        eprintln!("  {label}: {reason}");
    }
    if s.failed.len() > 20 {
        eprintln!("  … and {} more", s.failed.len() - 20);
    }
}
