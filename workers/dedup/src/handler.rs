//! The dedup stage's I/O shell. An article is never lost to the dedup store:
//!
//! 1. decide it in Redis ([`Store::check`]): claim its record as pending, and find earlier copies,
//!    exact or near;
//! 2. publish the event (article or duplicate) and wait for the broker's confirm;
//! 3. record the article as decided for the dedup window.
//!
//! A failed publish releases the claim and retries. A crash between 2 and 3 leaves the claim to
//! expire; the job is redelivered and the event published again with the same `message_id`,
//! which is the one repeat a consumer may see.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::amqp::{Broker, Failure, Handler, Incoming, Outcome, header_str};
use shared::message::ArticleEvent;
use shared::metrics::Metrics;
use shared::neardup::Sketch;
use tracing::warn;

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
        let asked = Instant::now();
        let checked = self.store.check(&id, &sketch, message.waits).await;
        self.metrics.observe("copydesk_redis_duration_seconds", &[("command", "decide")], asked.elapsed());
        let check = match checked {
            Ok(c) => c,
            Err(error) => return Outcome::Retry(Failure::new("redis", error.to_string())),
        };
        let rounds = if check.rounds == 1 { "1" } else { "2" };
        self.metrics.inc("copydesk_dedup_redis_rounds_total", &[("rounds", rounds)]);
        let source = format!("copydesk/{}", self.prefix);
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let published = match &check.decision {
            Decision::Wait { ms } => {
                return Outcome::Retry(Failure::wait(
                    "claimed",
                    "another worker is publishing this article or a near copy",
                    Duration::from_millis(*ms),
                ));
            }
            Decision::Duplicate { original, near } => {
                let mut event: ArticleEvent = match serde_json::from_slice(&message.body) {
                    Ok(e) => e,
                    Err(error) => return Outcome::Reject(Failure::new("bad_event", error.to_string())),
                };
                event.duplicate_of = Some(original.clone());
                let body = serde_json::to_vec(&event).expect("an event serializes");
                let properties = stage::properties(&event.id, &event.processed_at, &source, now);
                // Nobody need be bound to duplicates: a returned duplicate is fine.
                let published =
                    broker.publish(&broker.names.articles(), &event.routing_key(), &body, properties, false).await;
                if published.is_ok() {
                    let kind = if *near { "near" } else { "exact" };
                    self.metrics.inc("copydesk_duplicates_total", &[("kind", kind)]);
                }
                published
            }
            Decision::Publish => {
                let properties = stage::properties(&head.id, &head.processed_at, &source, now);
                let routing_key = stage::routing_key("article", head.language.as_deref(), head.site.as_deref());
                let published =
                    broker.publish(&broker.names.articles(), &routing_key, &message.body, properties, true).await;
                if published.is_ok() {
                    self.metrics.inc("copydesk_articles_total", &[]);
                }
                published
            }
        };
        let Some(claim) = check.claim else {
            // An exact copy: nothing of ours to record.
            return match published {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::Retry(Failure::new("publish", error.to_string())),
            };
        };
        if let Err(error) = published {
            self.store.release(&claim).await;
            return Outcome::Retry(Failure::new("publish", error.to_string()));
        }
        // The event is out and confirmed: the input can be acked now. Recording the decision runs
        // beside the ack; if the process dies first, the claim expires and a later copy is
        // published again with the same message_id: a repeat, never a loss.
        let (store, decision) = (self.store.clone(), check.decision);
        let compact = sketch.compact();
        tokio::spawn(async move {
            for attempt in 0..3 {
                match store.complete(&claim, &id, &decision, &compact).await {
                    Ok(()) => return,
                    Err(error) if attempt == 2 => {
                        warn!(error = %error, "Published, but could not record the article; a copy may be published again after its claim expires.");
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Outcome::Done
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
