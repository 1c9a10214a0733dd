//! The dedup stage: recognises articles already seen (exact content hash, in Redis) and
//! publishes one normalized article event per new article to `P.articles`, a duplicate event for
//! the others.
//!
//! - [`stage`]: pure rules (keys, decisions, event properties);
//! - [`handler`]: the I/O shell (Redis claim, publish, confirm).

pub mod handler;
pub mod stage;

use std::sync::Arc;

use anyhow::Context;
use shared::config::Settings;
use shared::metrics::Metrics;
use shared::redis::Redis;
use tokio_util::sync::CancellationToken;

/// Runs the dedup worker until `stop` is cancelled. Starts (and reports live) even while Redis is
/// down: it connects on first use, and messages that find it away are retried.
///
/// # Errors
///
/// When the health endpoint cannot be bound.
pub async fn run(settings: Settings, stop: CancellationToken) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let redis = Redis::new(&settings.redis_url).context("invalid COPYDESK_REDIS_URL")?;
    let handler = handler::DedupHandler {
        redis: redis.clone(),
        prefix: settings.prefix.clone(),
        pending_ttl: settings.pending_ttl,
        dedup_ttl: settings.dedup_ttl,
        metrics: metrics.clone(),
    };
    shared::worker::run(settings, Arc::new(handler), Some(redis), metrics, stop).await.context("dedup worker")
}
