//! Logs: `tracing` to stdout, JSON when `COPYDESK_LOG_FORMAT=json`, filtered by `RUST_LOG`
//! (default `info`). OpenTelemetry export joins here with the observability issue.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}
