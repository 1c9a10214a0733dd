//! `copydesk`: the command line for people and scripts, as a library so that tests and
//! benchmarks run exactly what the binary runs.
//!
//! # Layout
//!
//! - [`process`]: the embedded pipeline (`copydesk process`), with [`store`], its dedup state,
//!   and [`inputs`], which finds and reads the documents.
//! - [`eval`]: extraction quality with the Article Extraction Benchmark's metric.
//! - [`submit`]: jobs to the broker, as a crawler sends them; [`dlq`]: dead letters for operators.

pub mod dlq;
pub mod eval;
pub mod inputs;
pub mod neardup_eval;
pub mod process;
pub mod store;
pub mod submit;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "copydesk", version, about = "Clean, deduplicated news articles from what crawlers bring in.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole pipeline in this process, with no broker and no Redis: clean documents and
    /// deduplicate them against a local state folder, writing one article event per new article
    /// per line (JSONL).
    Process(process::Args),
    /// Clean one document and print its article event (JSON); nothing is stored.
    Clean {
        /// The document (`.gz` too), or `-` for standard input.
        file: PathBuf,
        /// The page's address, for resolving links and images and naming the site.
        #[arg(long)]
        url: Option<String>,
        /// `text/html` or `text/markdown`; guessed from the name and content when not given.
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Publish jobs to the broker as a crawler would: URLs as fetch jobs, files and folders as
    /// clean jobs, `--jsonl` for JSON jobs. Exit 2 when some input was refused.
    Submit(submit::Args),
    /// Precision and recall of near-duplicate detection on pairs built from corpora with ground
    /// truth (syndicated variants of each article, and its most similar other article).
    NeardupEval(neardup_eval::Args),
    /// Dead letters in `P.dead`: list, show, replay to their stage, purge.
    Dlq(dlq::Args),
    /// Score extraction on a corpus with ground truth (`ground-truth.json` and `html/`), with the
    /// Article Extraction Benchmark's metric.
    Eval(eval::Args),
}

/// Runs one command; `Err` when it could not run at all.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Process(args) => process::run(args),
        Command::Clean { file, url, content_type } => clean(&file, url.as_deref(), content_type.as_deref()),
        Command::Eval(args) => eval::run(args),
        Command::Submit(args) => submit::run(args),
        Command::Dlq(args) => dlq::run(args),
        Command::NeardupEval(args) => neardup_eval::run(args),
    }
}

fn clean(file: &std::path::Path, url: Option<&str>, content_type: Option<&str>) -> anyhow::Result<ExitCode> {
    let bytes = inputs::read_path(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.to_str();
    let input = copydesk_clean::Input { bytes: &bytes, content_type, name, url, job_id: name, ..Default::default() };
    let event =
        copydesk_clean::clean(&input, chrono::Utc::now()).with_context(|| format!("cleaning {}", file.display()))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &event)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
