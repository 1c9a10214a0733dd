//! The contract's topology under `COPYDESK_PREFIX`, declared idempotently by every worker.
//!
//! | name | what |
//! |---|---|
//! | `P.jobs` | direct exchange; routing key = stage |
//! | `P.fetch`, `P.clean`, `P.dedup` | quorum queues bound to `P.jobs` |
//! | `P.articles` | topic exchange, the output |
//! | `P.dead` | fanout exchange and quorum queue: messages that failed for good |
//! | `P.retry.<stage>.<n>` | our delay queues: no consumer; a message waits out its per-message TTL, then is dead-lettered back to `P.jobs` with its stage's routing key |
//!
//! Stage queues dead-letter to `P.dead` after [`Settings::delivery_limit`] deliveries (poison
//! messages) with the at-least-once strategy, so nothing is dropped on the way. Delay queues use
//! the same strategy towards `P.jobs`.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::config::Settings;

/// The stages, which are also the routing keys on `P.jobs`.
pub const STAGES: [&str; 3] = ["fetch", "clean", "dedup"];

/// Delay queues per stage: attempt n waits in queue min(n, LEVELS) - 1.
pub const RETRY_LEVELS: u32 = 8;

/// Names under one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Names {
        Names { prefix: prefix.to_owned() }
    }

    pub fn jobs(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    pub fn articles(&self) -> String {
        format!("{}.articles", self.prefix)
    }

    pub fn dead(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub fn queue(&self, stage: &str) -> String {
        format!("{}.{stage}", self.prefix)
    }

    pub fn retry(&self, stage: &str, level: u32) -> String {
        format!("{}.retry.{stage}.{level}", self.prefix)
    }

    /// A Redis key under the prefix.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

fn string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() }
}

/// Declares every exchange, queue and binding; safe to repeat.
///
/// # Errors
///
/// When the broker refuses a declaration (for instance a queue that exists with other
/// arguments); the channel is closed by the broker then.
pub async fn declare(channel: &Channel, settings: &Settings) -> lapin::Result<()> {
    let names = Names::new(&settings.prefix);
    let jobs: ShortString = names.jobs().into();
    let dead: ShortString = names.dead().into();
    channel.exchange_declare(jobs.clone(), ExchangeKind::Direct, durable_exchange(), FieldTable::default()).await?;
    channel
        .exchange_declare(names.articles().into(), ExchangeKind::Topic, durable_exchange(), FieldTable::default())
        .await?;
    channel.exchange_declare(dead.clone(), ExchangeKind::Fanout, durable_exchange(), FieldTable::default()).await?;

    let mut quorum = FieldTable::default();
    quorum.insert("x-queue-type".into(), string("quorum"));
    channel.queue_declare(dead.clone(), durable_queue(), quorum.clone()).await?;
    channel
        .queue_bind(dead.clone(), dead.clone(), "".into(), QueueBindOptions::default(), FieldTable::default())
        .await?;

    for stage in STAGES {
        let mut args = quorum.clone();
        args.insert("x-delivery-limit".into(), AMQPValue::LongInt(settings.delivery_limit as i32));
        args.insert("x-dead-letter-exchange".into(), string(dead.as_str()));
        args.insert("x-dead-letter-strategy".into(), string("at-least-once"));
        args.insert("x-overflow".into(), string("reject-publish"));
        let queue: ShortString = names.queue(stage).into();
        channel.queue_declare(queue.clone(), durable_queue(), args).await?;
        channel
            .queue_bind(queue, jobs.clone(), stage.into(), QueueBindOptions::default(), FieldTable::default())
            .await?;

        for level in 0..RETRY_LEVELS {
            let mut args = quorum.clone();
            args.insert("x-dead-letter-exchange".into(), string(jobs.as_str()));
            args.insert("x-dead-letter-routing-key".into(), string(stage));
            args.insert("x-dead-letter-strategy".into(), string("at-least-once"));
            args.insert("x-overflow".into(), string("reject-publish"));
            channel.queue_declare(names.retry(stage, level).into(), durable_queue(), args).await?;
        }
    }
    Ok(())
}
