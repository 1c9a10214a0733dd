//! The dedup stage's I/O shell. An article is never lost to the dedup store, and published once:
//!
//! 1. decide it in Redis ([`Store::check`]): claim its record as pending, and find earlier copies,
//!    exact or near;
//! 2. record the decision (an original, marked with the input message's token, or a duplicate);
//! 3. publish the event (article or duplicate) and ack the input in one AMQP transaction
//!    ([`Handler::transactional`]).
//!
//! A crash before 3 commits leaves neither the event nor the ack: the message is redelivered,
//! takes over its own claim or finds its own record, and publishes the event (once). Only a
//! broker that dies in the middle of a commit can apply the event without the ack; the event is
//! then published again with the same `message_id`, the one repeat a consumer may see.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::amqp::{Broker, Failure, Handler, Incoming, Outcome, Output, header_str};
use shared::message::ArticleEvent;
use shared::metrics::Metrics;
use shared::neardup::Sketch;

use crate::stage::{self, Decision};
use crate::store::Store;

pub struct DedupHandler {
    pub store: Store,
    pub prefix: String,
    pub metrics: Arc<Metrics>,
}

impl Handler for DedupHandler {
    fn stage(&self) -> &'static str {
        "dedup"
    }

    async fn handle(&self, message: &Incoming, broker: &Broker) -> Outcome {
        // Only the fields the decision and the routing need; the body is passed on as it is.
        let head: EventHead<'_> = match serde_json::from_slice(&message.body) {
            Ok(h) => h,
            Err(error) => return Outcome::Reject(Failure::new("bad_event", error.to_string())),
        };
        let Some(id) = stage::id_bytes(&head.id) else {
            return Outcome::Reject(Failure::new(
                "bad_event",
                format!("article id `{}` is not 64 hex digits", head.id),
            ));
        };
        // The clean stage hands the sketch over; an event from elsewhere has its text read.
        let sketch = match header_str(message.headers(), shared::neardup::HEADER).and_then(Sketch::from_hex) {
            Some(s) => s,
            None => match serde_json::from_slice::<EventText<'_>>(&message.body) {
                Ok(e) => Sketch::of(&e.text),
                Err(error) => return Outcome::Reject(Failure::new("bad_event", error.to_string())),
            },
        };
        // Which handing-over of the article this is: the clean stage names each; otherwise the body.
        let token = match header_str(message.headers(), shared::amqp::INPUT_HEADER) {
            Some(input) => stage::input_token(input.as_bytes()),
            None => stage::input_token(&message.body),
        };
        let asked = Instant::now();
        let checked = self.store.check(&id, token, &sketch, message.waits).await;
        self.metrics.observe("copydesk_redis_duration_seconds", &[("command", "decide")], asked.elapsed());
        let check = match checked {
            Ok(c) => c,
            Err(error) => return Outcome::Retry(Failure::new("redis", error.to_string())),
        };
        let rounds = if check.rounds == 1 { "1" } else { "2" };
        self.metrics.inc("copydesk_dedup_redis_rounds_total", &[("rounds", rounds)]);
        let source = format!("copydesk/{}", self.prefix);
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let output = match &check.decision {
            Decision::Wait { ms } => {
                return Outcome::Retry(Failure::wait(
                    "claimed",
                    "another worker is publishing this article or a near copy",
                    Duration::from_millis(*ms),
                ));
            }
            Decision::Duplicate { original, .. } => {
                let mut event: ArticleEvent = match serde_json::from_slice(&message.body) {
                    Ok(e) => e,
                    Err(error) => return Outcome::Reject(Failure::new("bad_event", error.to_string())),
                };
                event.duplicate_of = Some(original.clone());
                Output {
                    exchange: broker.names.articles(),
                    routing_key: event.routing_key(),
                    body: serde_json::to_vec(&event).expect("an event serializes"),
                    properties: stage::properties(&event.id, &event.processed_at, &source, now),
                    // Nobody need be bound to duplicates.
                    must_route: false,
                }
            }
            Decision::Publish => Output {
                exchange: broker.names.articles(),
                routing_key: stage::routing_key("article", head.language.as_deref(), head.site.as_deref()),
                body: message.body.clone(),
                properties: stage::properties(&head.id, &head.processed_at, &source, now),
                must_route: true,
            },
        };
        // Our decision is recorded before the event is committed: a crash before the commit
        // redelivers this message, which finds its own record and publishes the event again.
        if let Some(claim) = &check.claim
            && let Err(error) = self.store.complete(claim, &id, &check.decision, &sketch.compact()).await
        {
            self.store.release(claim).await;
            return Outcome::Retry(Failure::new("redis", error.to_string()));
        }
        match &check.decision {
            Decision::Duplicate { near, .. } => {
                let kind = if *near { "near" } else { "exact" };
                self.metrics.inc("copydesk_duplicates_total", &[("kind", kind)]);
            }
            _ => self.metrics.inc("copydesk_articles_total", &[]),
        }
        Outcome::Publish(vec![output])
    }

    /// The event and the ack are one transaction: a crash never leaves an event out with its
    /// input unacked (which would publish it twice).
    fn transactional(&self) -> bool {
        true
    }
}

/// The fields of an article event the dedup stage reads.
#[derive(serde::Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    language: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    site: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    processed_at: std::borrow::Cow<'a, str>,
}

/// The text of an article event, read only when no sketch came with it.
#[derive(serde::Deserialize)]
struct EventText<'a> {
    #[serde(borrow, default)]
    text: std::borrow::Cow<'a, str>,
}
