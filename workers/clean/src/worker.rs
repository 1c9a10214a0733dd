//! The clean stage on the broker: a clean job in, a cleaned article out to the dedup stage.

use chrono::{DateTime, Utc};
use shared::amqp::{Broker, Failure, Handler, Incoming, Outcome, header_str, json_properties};
use shared::message::{Job, Stage};

use crate::{Input, clean};

/// Header on a clean job carrying when the fetch stage received the page (RFC 3339).
pub const FETCHED_AT_HEADER: &str = "x-copydesk-fetched-at";
/// Headers on a clean job carrying the HTTP response's `Last-Modified` and `Date`: the page's
/// date when it states none (Last-Modified first).
pub const LAST_MODIFIED_HEADER: &str = "x-copydesk-last-modified";
pub const HTTP_DATE_HEADER: &str = "x-copydesk-http-date";

pub struct CleanHandler {
    /// Largest event passed on (`COPYDESK_MAX_EVENT_BYTES`): RabbitMQ closes the channel on a
    /// message over its limit, so a bigger one is refused here with a reason instead.
    pub max_event_bytes: usize,
}

impl Handler for CleanHandler {
    fn stage(&self) -> &'static str {
        "clean"
    }

    async fn handle(&self, message: &Incoming, broker: &Broker) -> Outcome {
        let job = match Job::parse(&message.body, Stage::Clean) {
            Ok(job) => job,
            Err(error) => return Outcome::Reject(Failure::new(error.kind(), error.to_string())),
        };
        let fetched_at = header_str(message.headers(), FETCHED_AT_HEADER)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let http_date = [LAST_MODIFIED_HEADER, HTTP_DATE_HEADER]
            .iter()
            .find_map(|h| header_str(message.headers(), h).and_then(|v| DateTime::parse_from_rfc2822(v.trim()).ok()))
            .map(|t| t.with_timezone(&Utc));
        // Cleaning is CPU work (milliseconds per page): off the async threads.
        let cleaned = tokio::task::spawn_blocking(move || {
            let content = job.content.as_deref().unwrap_or_default();
            let input = Input {
                bytes: content.as_bytes(),
                content_type: job.content_type.as_deref(),
                url: job.url.as_deref(),
                job_id: job.id.as_deref(),
                metadata: Some(&job.metadata),
                fetched_at,
                http_date,
                ..Input::default()
            };
            let event = clean(&input, Utc::now()).map_err(|e| Failure::new(e.kind(), e.to_string()))?;
            let sketch = shared::neardup::Sketch::of(&event.text);
            Ok((event, sketch))
        })
        .await;
        let (event, sketch) = match cleaned {
            Ok(Ok(cleaned)) => cleaned,
            Ok(Err(failure)) => return Outcome::Reject(failure),
            Err(panic) => {
                return Outcome::Reject(Failure::new("clean_panicked", panic.to_string()));
            }
        };
        let body = match serde_json::to_vec(&event) {
            Ok(b) if b.len() <= self.max_event_bytes => b,
            Ok(b) => {
                return Outcome::Reject(Failure::new(
                    "event_too_large",
                    format!("the article event is {} bytes, more than {}", b.len(), self.max_event_bytes),
                ));
            }
            Err(e) => return Outcome::Reject(Failure::new("serialize", e.to_string())),
        };
        let mut headers = shared::amqp::FieldTable::default();
        headers.insert(
            shared::neardup::HEADER.into(),
            shared::amqp::AMQPValue::LongString(sketch.to_hex().as_str().into()),
        );
        headers.insert(
            shared::amqp::INPUT_HEADER.into(),
            shared::amqp::AMQPValue::LongString(shared::amqp::input_id().as_str().into()),
        );
        let properties = json_properties().with_message_id(event.id.as_str().into()).with_headers(headers);
        match broker.publish(&broker.names.jobs(), "dedup", &body, properties, true).await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Retry(Failure::new("publish", error.to_string())),
        }
    }
}

/// Runs the clean worker until `stop` is cancelled.
///
/// # Errors
///
/// When the health endpoint cannot be bound.
pub async fn run(settings: shared::config::Settings, stop: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    let metrics = std::sync::Arc::new(shared::metrics::Metrics::default());
    let handler = CleanHandler { max_event_bytes: settings.max_event_bytes };
    shared::worker::run(settings, std::sync::Arc::new(handler), None, metrics, stop).await
}
