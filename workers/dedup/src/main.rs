//! `copydesk-dedup`: the dedup worker. Consumes `P.dedup` until SIGTERM or SIGINT.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = shared::config::Settings::from_env().context("invalid configuration")?;
    shared::telemetry::init(settings.log_json);
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shared::shutdown::signal_received().await;
            stop.cancel();
        }
    });
    copydesk_dedup::run(settings, stop).await
}
