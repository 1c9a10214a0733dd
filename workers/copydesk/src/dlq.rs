//! `copydesk dlq`: the dead letters of `P.dead`, for operators: list, show, replay, purge.

use std::process::ExitCode;

use anyhow::Context;
use shared::amqp::Broker;
use shared::amqp::dlq::{self, Filter};
use shared::config::Settings;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Args, Clone)]
struct Select {
    /// Only dead letters of this error kind (`http_5xx`, `not_json`, ...).
    #[arg(long)]
    kind: Option<String>,
    /// Only dead letters of this stage (`fetch`, `clean`, `dedup`).
    #[arg(long)]
    stage: Option<String>,
    /// At most this many dead letters.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

#[derive(clap::Subcommand)]
enum Action {
    /// One line per dead letter: position, stage, error kind, attempts, reason.
    List(Select),
    /// Every header and the body of the dead letter at POSITION (from `list`).
    Show { position: usize },
    /// Publish the selected dead letters again to their stage's queue (after fixing the cause).
    Replay(Select),
    /// Drop the selected dead letters.
    Purge(Select),
}

fn filter(s: &Select) -> Filter {
    Filter { kind: s.kind.clone(), stage: s.stage.clone() }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env().context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let broker = Broker::connect(&settings, "copydesk-dlq")
            .await
            .with_context(|| format!("connecting to RabbitMQ at {}", Settings::host_of(&settings.amqp_url)))?;
        match args.action {
            Action::List(s) => {
                let letters = dlq::list(&broker, &filter(&s), s.limit).await?;
                for (i, l) in letters.iter().enumerate() {
                    let reason: String = l.error.chars().take(120).collect();
                    println!("{:>5}  {:<6} {:<24} attempts {:<3} {reason}", i + 1, l.stage, l.kind, l.attempts);
                }
                eprintln!("{} dead letters", letters.len());
            }
            Action::Show { position } => {
                let letters = dlq::list(&broker, &Filter::default(), position.max(1)).await?;
                let l = letters
                    .get(position.saturating_sub(1))
                    .with_context(|| format!("no dead letter at position {position}"))?;
                println!("stage: {}\nkind: {}\nerror: {}\nattempts: {}", l.stage, l.kind, l.error, l.attempts);
                if let Some(id) = &l.message_id {
                    println!("message_id: {id}");
                }
                for (k, v) in &l.headers {
                    println!("header {k}: {v}");
                }
                println!("body ({} bytes):\n{}", l.body.len(), String::from_utf8_lossy(&l.body));
            }
            Action::Replay(s) => {
                let n = dlq::replay(&broker, &filter(&s), s.limit).await?;
                eprintln!("replayed {n} dead letters");
            }
            Action::Purge(s) => {
                let n = dlq::purge(&broker, &filter(&s), s.limit).await?;
                eprintln!("purged {n} dead letters");
            }
        }
        broker.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
