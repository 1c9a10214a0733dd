//! `copydesk submit`: publish jobs to the broker as a crawler would. URLs become fetch jobs,
//! files become clean jobs (their content decoded to UTF-8), and JSON jobs are passed on as they
//! are, to `fetch` when they have only a URL and to `clean` when they carry content.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use shared::amqp::{Broker, json_properties};
use shared::config::Settings;
use shared::message::{Job, Stage};

use crate::inputs;

#[derive(clap::Args)]
pub struct Args {
    /// URLs (fetch jobs) and document files or folders (clean jobs).
    inputs: Vec<String>,
    /// A file of JSON jobs, one per line, or `-` for standard input.
    #[arg(long)]
    jsonl: Option<PathBuf>,
}

/// A job ready to publish: its stage and its body.
type Prepared = (&'static str, Vec<u8>);

fn prepare(args: &Args) -> anyhow::Result<(Vec<Prepared>, Vec<String>)> {
    let mut jobs = Vec::new();
    let mut refused = Vec::new();
    let mut paths = Vec::new();
    for input in &args.inputs {
        if input.starts_with("http://") || input.starts_with("https://") {
            jobs.push(("fetch", serde_json::to_vec(&json!({ "url": input, "id": input }))?));
        } else {
            paths.push(PathBuf::from(input));
        }
    }
    for source in inputs::collect(&paths) {
        let inputs::Source::File(path) = source else {
            continue;
        };
        let label = path.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                refused.push(format!("{label}: {e}"));
                continue;
            }
        };
        let bytes = match copydesk_clean::document::read(&bytes) {
            Ok(b) => b.into_owned(),
            Err(e) => {
                refused.push(format!("{label}: {e}"));
                continue;
            }
        };
        let content_type = match copydesk_clean::document::Type::guess(path.to_str(), &bytes) {
            copydesk_clean::document::Type::Html => "text/html",
            copydesk_clean::document::Type::Markdown => "text/markdown",
        };
        let content = copydesk_clean::charset::decode(&bytes, None, None).text.into_owned();
        jobs.push((
            "clean",
            serde_json::to_vec(&json!({ "id": label, "content": content, "content_type": content_type }))?,
        ));
    }
    if let Some(path) = &args.jsonl {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            ))
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            // Route by what the job holds; check it against that stage's rules before sending.
            let stage = if Job::parse(line.as_bytes(), Stage::Clean).is_ok() { Stage::Clean } else { Stage::Fetch };
            match Job::parse(line.as_bytes(), stage) {
                Ok(_) => jobs.push((if stage == Stage::Clean { "clean" } else { "fetch" }, line.into_bytes())),
                Err(e) => refused.push(format!("line {}: {e}", i + 1)),
            }
        }
    }
    Ok((jobs, refused))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env().context("invalid configuration")?;
    let (jobs, refused) = prepare(&args)?;
    for r in &refused {
        eprintln!("not submitted: {r}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (fetch, clean) = runtime.block_on(async {
        let broker = Broker::connect(&settings, "copydesk-submit")
            .await
            .with_context(|| format!("connecting to RabbitMQ at {}", Settings::host_of(&settings.amqp_url)))?;
        let (mut fetch, mut clean) = (0, 0);
        for (stage, body) in &jobs {
            broker
                .publish(&broker.names.jobs(), stage, body, json_properties(), true)
                .await
                .context("publishing a job")?;
            if *stage == "fetch" { fetch += 1 } else { clean += 1 }
        }
        broker.close().await;
        Ok::<_, anyhow::Error>((fetch, clean))
    })?;
    eprintln!("submitted {} jobs (fetch {fetch}, clean {clean}), refused {}", fetch + clean, refused.len());
    Ok(if refused.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
