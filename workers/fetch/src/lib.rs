//! The fetch stage: downloads the page a fetch job names and hands it, decoded, to the clean
//! stage as a clean job.
//!
//! - [`guard`]: the SSRF guard (pure);
//! - [`robots`]: robots.txt rules (pure);
//! - [`handler`]: the HTTP client and the I/O shell, with the per-host rate shared by all
//!   replicas through Redis, cached robots.txt, and conditional GET.

pub mod guard;
pub mod handler;
pub mod robots;

use std::sync::Arc;

use anyhow::Context;
use shared::config::Settings;
use shared::metrics::Metrics;
use tokio_util::sync::CancellationToken;

/// Runs the fetch worker until `stop` is cancelled.
///
/// # Errors
///
/// When the HTTP client or the health endpoint cannot be set up.
pub async fn run(settings: Settings, stop: CancellationToken) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let redis = shared::redis::Redis::new(&settings.redis_url).context("invalid COPYDESK_REDIS_URL")?;
    let handler = handler::FetchHandler::new(settings.fetch.clone(), metrics.clone(), redis.clone(), &settings.prefix)
        .context("building the HTTP client")?;
    shared::worker::run(settings, Arc::new(handler), Some(redis), metrics, stop).await
}
