//! The dedup stage: recognises articles already seen (the same content hash, or a near copy by
//! MinHash, in Redis) and publishes one normalized article event per new article to `P.articles`,
//! a duplicate event for the others.
//!
//! - [`stage`]: pure rules (record layout, keys, decisions, event properties);
//! - [`store`]: the Redis scripts that claim, look up and record articles;
//! - [`handler`]: the I/O shell (decide, publish, confirm, record).

pub mod handler;
pub mod stage;
pub mod store;

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
    let store = store::Store {
        redis: redis.clone(),
        layout: stage::Layout::new(&settings.prefix, settings.dedup_ttl.as_secs(), settings.dedup_capacity),
        pending_ttl: settings.pending_ttl,
    };
    let marks = store::Marker::start(store.clone());
    let unmarked = Arc::new(tokio::sync::Semaphore::new(usize::from(settings.dedup_max_unmarked)));
    let handler =
        handler::DedupHandler { store, marks, unmarked, prefix: settings.prefix.clone(), metrics: metrics.clone() };
    shared::worker::run(settings, Arc::new(handler), Some(redis), metrics, stop).await.context("dedup worker")
}
