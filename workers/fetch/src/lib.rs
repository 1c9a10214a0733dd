//! The fetch stage: downloads the page a fetch job names and hands it, decoded, to the clean
//! stage as a clean job.
//!
//! - [`guard`]: the SSRF guard (pure);
//! - [`handler`]: the HTTP client and the I/O shell.

pub mod guard;
pub mod handler;

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
    let handler = handler::FetchHandler::new(settings.fetch.clone(), metrics.clone())
        .context("building the HTTP client")?;
    shared::worker::run(settings, Arc::new(handler), None, metrics, stop).await
}
