//! What every worker binary does around its handler: the health endpoint, the Redis watch, the
//! consume loop, and a clean stop.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::amqp::{self, Handler};
use crate::config::Settings;
use crate::http::{self, Health};
use crate::metrics::Metrics;
use crate::redis::Redis;

/// Runs `handler` on its stage's queue until `stop` is cancelled. `redis` is watched for the
/// readiness probe when the stage uses it.
///
/// # Errors
///
/// When the health endpoint's address cannot be bound.
pub async fn run<H: Handler>(
    settings: Settings,
    handler: Arc<H>,
    redis: Option<Redis>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let health = Arc::new(Health::new(redis.is_some()));
    metrics.set("copydesk_ready", &[], 0.0);
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("binding the health endpoint on {}", settings.http_addr))?;
    info!(stage = handler.stage(), addr = %listener.local_addr()?, "Worker starting.");
    let http_task = tokio::spawn(http::serve(listener, health.clone(), metrics.clone(), stop.clone()));
    let watch_task = redis.map(|r| tokio::spawn(watch_redis(r, health.clone(), metrics.clone(), stop.clone())));
    amqp::consume(settings, handler, health, metrics, stop.clone()).await?;
    stop.cancel();
    let _ = http_task.await;
    if let Some(t) = watch_task {
        let _ = t.await;
    }
    info!("Worker stopped.");
    Ok(())
}

/// Pings Redis every second, for `/readyz`.
async fn watch_redis(redis: Redis, health: Arc<Health>, metrics: Arc<Metrics>, stop: CancellationToken) {
    let mut was_up = None;
    while !stop.is_cancelled() {
        let up = redis.ping().await.is_ok();
        if was_up != Some(up) {
            if up {
                info!("Redis reachable.");
                if was_up == Some(false) {
                    metrics.inc("copydesk_reconnects_total", &[("service", "redis")]);
                }
            } else {
                warn!("Redis unreachable.");
            }
            was_up = Some(up);
        }
        health.set_redis(up, &metrics);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The whole `main` of a worker binary: settings from the environment, logs and traces, a stop token
/// cancelled by SIGTERM or SIGINT, then `run` until it returns.
///
/// # Errors
///
/// Invalid settings, or what `run` returns.
pub async fn main<F, Fut>(service: &str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Settings, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    // Logging is not up yet: a configuration error goes to stderr through the returned error.
    let settings = Settings::from_env().context("invalid configuration")?;
    // Dropped after `run` returns: the last spans are flushed before the process exits.
    let _telemetry = crate::telemetry::init(service, settings.log_json);
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            crate::shutdown::signal_received().await;
            stop.cancel();
        }
    });
    run(settings, stop).await
}
