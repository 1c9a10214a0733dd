//! The consume loop of every worker, and the one place that maps an [`Outcome`] to ack, retry
//! or dead letter.
//!
//! Settlement rules:
//! - [`Outcome::Done`]: the handler's outputs are confirmed by the broker; ack.
//! - [`Outcome::Retry`]: publish the message, unchanged but for an attempt counter, to a delay
//!   queue (never sleep on a held delivery: RabbitMQ's consumer timeout would kill the channel);
//!   after `max_attempts`, dead-letter it instead. Ack only once that publish is confirmed.
//! - [`Outcome::Reject`]: dead-letter at once with the reason, then ack.
//! - If the retry or dead-letter publish itself fails, nack with requeue: the broker keeps the
//!   message, and the quorum queue's delivery limit bounds a message that fails forever.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use super::topology::RETRY_LEVELS;
use super::{Broker, header_str, header_u64};
use crate::config::Settings;
use crate::http::Health;
use crate::metrics::Metrics;

/// Our attempt counter, carried through the delay queues.
pub const ATTEMPTS_HEADER: &str = "x-copydesk-attempts";
/// How many times the message waited (retries that did not count as attempts).
pub const WAITS_HEADER: &str = "x-copydesk-waits";
/// Longest delay between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(300);

/// A delivery as handlers see it.
pub struct Incoming {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    pub routing_key: String,
    /// Attempts already made (0 on the first delivery).
    pub attempts: u32,
    /// Waits already made ([`Failure::wait`]).
    pub waits: u32,
    /// The broker delivered this message before (to a consumer that died or gave it back).
    pub redelivered: bool,
}

impl Incoming {
    pub fn headers(&self) -> Option<&FieldTable> {
        self.properties.headers().as_ref()
    }
}

/// Why a message was not handled.
#[derive(Debug, Clone)]
pub struct Failure {
    /// A short, stable name for metrics and the dead-letter header (`not_json`, `http_503`).
    pub kind: &'static str,
    pub message: String,
    /// For retries: wait at least this long (a claim held by another worker, `Retry-After`).
    pub delay: Option<Duration>,
    /// For retries: whether this try counts towards `max_attempts`. Waiting for another
    /// worker's claim to resolve is not a failed attempt.
    pub counts: bool,
}

impl Failure {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure { kind, message: message.into(), delay: None, counts: true }
    }

    /// A retry that waits `delay` and does not count as an attempt.
    pub fn wait(kind: &'static str, message: impl Into<String>, delay: Duration) -> Failure {
        Failure { kind, message: message.into(), delay: Some(delay), counts: false }
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// Handled; every output confirmed.
    Done,
    /// A transient failure: try again later.
    Retry(Failure),
    /// A permanent failure: dead-letter now.
    Reject(Failure),
}

/// A stage's message handler: the I/O shell around a pure stage.
pub trait Handler: Send + Sync + 'static {
    /// The stage name: queue suffix, metric label and dead-letter header.
    fn stage(&self) -> &'static str;

    /// Handles one message; publishes its outputs through `broker` and waits for their confirms.
    fn handle(&self, message: &Incoming, broker: &Broker) -> impl Future<Output = Outcome> + Send;
}

/// How a consume session ended.
enum End {
    Stopped,
    Lost(String),
}

/// Consumes the handler's stage queue until `stop` is cancelled, reconnecting with backoff
/// whenever the broker is away. Returns after in-flight messages finished or the grace period
/// ran out (the broker redelivers what was not acked).
///
/// # Errors
///
/// Never for broker trouble, which is retried forever; the `Result` is for the caller's `?`.
pub async fn consume<H: Handler>(
    settings: Settings,
    handler: Arc<H>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let name = format!("copydesk-{}", handler.stage());
    let host = Settings::host_of(&settings.amqp_url).to_owned();
    let mut backoff = Duration::from_millis(200);
    let mut connected_before = false;
    while !stop.is_cancelled() {
        let connected = tokio::select! {
            () = stop.cancelled() => break,
            c = tokio::time::timeout(Duration::from_secs(15), Broker::connect(&settings, &name)) => c,
        };
        let broker = match connected {
            Ok(Ok(b)) => Arc::new(b),
            Ok(Err(error)) => {
                warn!(broker = %host, error = %error, retry_in = ?backoff, "Cannot connect to RabbitMQ.");
                health.set_broker(false, &metrics);
                sleep_or_stop(jitter(backoff), &stop).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(_) => {
                warn!(broker = %host, retry_in = ?backoff, "Connecting to RabbitMQ timed out.");
                sleep_or_stop(jitter(backoff), &stop).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if connected_before {
            metrics.inc("copydesk_reconnects_total", &[("service", "amqp")]);
        }
        connected_before = true;
        backoff = Duration::from_millis(200);
        info!(broker = %host, queue = %broker.names.queue(handler.stage()), "Connected to RabbitMQ.");
        health.set_broker(true, &metrics);
        let end = session(&settings, &handler, &broker, &health, &metrics, &stop).await;
        health.set_broker(false, &metrics);
        broker.close().await;
        match end {
            End::Stopped => break,
            End::Lost(reason) => warn!(error = %reason, "Lost the broker; reconnecting."),
        }
    }
    info!("Stopped consuming.");
    Ok(())
}

async fn sleep_or_stop(d: Duration, stop: &CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(d) => {}
    }
}

/// ±20% jitter, so that replicas do not retry in step.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + 0.4 * fastrand::f64())
}

async fn session<H: Handler>(
    settings: &Settings,
    handler: &Arc<H>,
    broker: &Arc<Broker>,
    health: &Arc<Health>,
    metrics: &Arc<Metrics>,
    stop: &CancellationToken,
) -> End {
    let stage = handler.stage();
    let opened = async {
        let channel = broker.connection.create_channel().await?;
        channel.basic_qos(settings.prefetch, BasicQosOptions::default()).await?;
        let consumer = channel
            .basic_consume(
                broker.names.queue(stage).into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((channel, consumer))
    };
    let (channel, mut consumer) = match opened.await {
        Ok(c) => c,
        Err(e) => return End::Lost(e.to_string()),
    };
    let in_flight = TaskTracker::new();
    let end = loop {
        tokio::select! {
            () = stop.cancelled() => break End::Stopped,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let (handler, broker, metrics, settings) = (handler.clone(), broker.clone(), metrics.clone(), settings.clone());
                    in_flight.spawn(async move { handle(&settings, &*handler, &broker, &metrics, delivery).await });
                }
                Some(Err(error)) => {
                    health.set_broker(false, metrics);
                    match channel.wait_for_recovery(error).await {
                        Ok(()) => {
                            metrics.inc("copydesk_reconnects_total", &[("service", "amqp")]);
                            health.set_broker(true, metrics);
                            info!("RabbitMQ connection recovered; consuming again.");
                        }
                        Err(error) => break End::Lost(error.to_string()),
                    }
                }
                None => break End::Lost("the broker cancelled the consumer".to_owned()),
            },
        }
    };
    if matches!(end, End::Stopped) {
        info!(grace = ?settings.grace, "Draining: no new messages; finishing those in flight.");
        let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
    }
    in_flight.close();
    if tokio::time::timeout(settings.grace, in_flight.wait()).await.is_err() {
        warn!(grace = ?settings.grace, "In-flight messages did not finish; the broker will redeliver them.");
    }
    // Unacked deliveries return to the queue when the channel closes.
    let _ = channel.close(200, "worker stopping".into()).await;
    end
}

async fn handle<H: Handler>(settings: &Settings, handler: &H, broker: &Broker, metrics: &Metrics, delivery: Delivery) {
    let stage = handler.stage();
    let started = Instant::now();
    metrics.gauge_add("copydesk_in_flight", &[("stage", stage)], 1.0);
    let headers = delivery.properties.headers().as_ref();
    let attempts = header_u64(headers, ATTEMPTS_HEADER).unwrap_or(0) as u32;
    let waits = header_u64(headers, WAITS_HEADER).unwrap_or(0) as u32;
    let incoming = Incoming {
        body: delivery.data.clone(),
        properties: delivery.properties.clone(),
        routing_key: delivery.routing_key.to_string(),
        attempts,
        waits,
        redelivered: delivery.redelivered,
    };
    // One span per message, a child of the span that published it (the OpenTelemetry
    // messaging conventions for RabbitMQ).
    let queue = broker.names.queue(stage);
    let span = tracing::info_span!(
        "process",
        otel.name = %format!("process {queue}"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "rabbitmq",
        messaging.operation.name = "process",
        messaging.operation.type = "process",
        messaging.destination.name = %queue,
        messaging.rabbitmq.destination.routing_key = %incoming.routing_key,
        messaging.message.id = incoming.properties.message_id().as_ref().map(|m| m.to_string()).unwrap_or_default(),
        outcome = tracing::field::Empty,
        error.type = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let _ =
        tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, crate::telemetry::extract(incoming.headers()));
    // The ids in the span's fields, so that JSON log lines inside it carry them.
    {
        use opentelemetry::trace::TraceContextExt as _;
        let cx = tracing_opentelemetry::OpenTelemetrySpanExt::context(&span);
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            span.record("trace_id", sc.trace_id().to_string());
            span.record("span_id", sc.span_id().to_string());
        }
    }
    let outcome = handler.handle(&incoming, broker).instrument(span.clone()).await;
    if let Outcome::Retry(f) | Outcome::Reject(f) = &outcome {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", f.kind);
    }
    let label = settle(settings, stage, broker, metrics, &delivery, &incoming, outcome).instrument(span.clone()).await;
    span.record("outcome", label);
    metrics.inc("copydesk_messages_total", &[("stage", stage), ("outcome", label)]);
    metrics.observe("copydesk_stage_duration_seconds", &[("stage", stage)], started.elapsed());
    metrics.gauge_add("copydesk_in_flight", &[("stage", stage)], -1.0);
}

/// Acks, retries or dead-letters; returns the outcome's metric label.
async fn settle(
    settings: &Settings,
    stage: &'static str,
    broker: &Broker,
    metrics: &Metrics,
    delivery: &Delivery,
    incoming: &Incoming,
    outcome: Outcome,
) -> &'static str {
    let (label, forwarded) = match outcome {
        Outcome::Done => ("done", Ok(())),
        Outcome::Retry(failure) => {
            let attempts = incoming.attempts + u32::from(failure.counts);
            if attempts >= settings.max_attempts {
                warn!(stage, kind = failure.kind, error = %failure.message, attempts, "Giving up after the last attempt; dead-lettering.");
                metrics.inc("copydesk_dead_letters_total", &[("stage", stage), ("kind", failure.kind)]);
                ("dead_lettered", dead_letter(broker, stage, incoming, &failure, attempts).await)
            } else {
                let delay = failure.delay.unwrap_or_else(|| jitter(backoff(settings.retry_base, attempts)));
                metrics.inc("copydesk_retries_total", &[("stage", stage), ("kind", failure.kind)]);
                info!(stage, kind = failure.kind, error = %failure.message, attempts, retry_in = ?delay, "Transient failure; retrying later.");
                let waits = incoming.waits + u32::from(!failure.counts);
                ("retried", retry(broker, stage, incoming, attempts, waits, delay).await)
            }
        }
        Outcome::Reject(failure) => {
            warn!(stage, kind = failure.kind, error = %failure.message, "Permanent failure; dead-lettering.");
            metrics.inc("copydesk_dead_letters_total", &[("stage", stage), ("kind", failure.kind)]);
            ("dead_lettered", dead_letter(broker, stage, incoming, &failure, incoming.attempts + 1).await)
        }
    };
    match forwarded {
        Ok(()) => {
            // A failed ack means the channel is gone: the broker will redeliver, and the
            // stages are idempotent.
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            label
        }
        Err(error) => {
            warn!(stage, error = %error, "Could not hand the message on; returning it to the queue.");
            let _ = delivery.acker.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await;
            "requeued"
        }
    }
}

/// `base · 2^(attempt-1)`, at most [`MAX_DELAY`].
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_DELAY)
}

fn with_header(properties: &BasicProperties, extra: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    for (k, v) in extra {
        headers.insert((*k).into(), v.clone());
    }
    properties.clone().with_headers(headers)
}

async fn retry(
    broker: &Broker,
    stage: &str,
    incoming: &Incoming,
    attempts: u32,
    waits: u32,
    delay: Duration,
) -> Result<(), super::PublishError> {
    let level = attempts.clamp(1, RETRY_LEVELS) - 1;
    let counters = [
        (ATTEMPTS_HEADER, AMQPValue::LongLongInt(i64::from(attempts))),
        (WAITS_HEADER, AMQPValue::LongLongInt(i64::from(waits))),
    ];
    let properties = with_header(&incoming.properties, &counters)
        .with_expiration(delay.as_millis().to_string().into())
        .with_delivery_mode(super::PERSISTENT);
    broker.publish("", &broker.names.retry(stage, level), &incoming.body, properties, true).await
}

async fn dead_letter(
    broker: &Broker,
    stage: &str,
    incoming: &Incoming,
    failure: &Failure,
    attempts: u32,
) -> Result<(), super::PublishError> {
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    let message: String = failure.message.chars().take(2000).collect();
    let trace_id =
        header_str(incoming.headers(), "traceparent").and_then(|t| t.split('-').nth(1)).unwrap_or("").to_owned();
    let properties = with_header(
        &incoming.properties,
        &[
            ("x-copydesk-stage", text(stage)),
            ("x-copydesk-error-kind", text(failure.kind)),
            ("x-copydesk-error", text(&message)),
            (ATTEMPTS_HEADER, AMQPValue::LongLongInt(i64::from(attempts))),
            ("x-copydesk-worker-version", text(env!("CARGO_PKG_VERSION"))),
            ("x-copydesk-trace-id", text(&trace_id)),
            ("x-copydesk-routing-key", text(&incoming.routing_key)),
        ],
    )
    .with_delivery_mode(super::PERSISTENT);
    broker.publish(&broker.names.dead(), stage, &incoming.body, properties, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 1), Duration::from_secs(1));
        assert_eq!(backoff(base, 2), Duration::from_secs(2));
        assert_eq!(backoff(base, 4), Duration::from_secs(8));
        assert_eq!(backoff(base, 30), MAX_DELAY);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12));
        }
    }
}
