//! The dedup stage's I/O shell. An article is never lost to the dedup store:
//!
//! 1. claim the article's key as pending (`SET NX`, with a short TTL);
//! 2. publish the event and wait for the broker's confirm;
//! 3. mark the key done for the dedup window.
//!
//! A failed publish releases the claim and retries. A crash between 2 and 3 leaves the claim to
//! expire; the job is redelivered and the event published again with the same `message_id`,
//! which is the one repeat a consumer may see.

use std::time::Duration;

use shared::amqp::{Broker, Failure, Handler, Incoming, Outcome};
use shared::message::ArticleEvent;
use shared::metrics::Metrics;
use shared::redis::{DONE, Redis};
use std::sync::Arc;
use tracing::warn;

use crate::stage::{self, Decision};

pub struct DedupHandler {
    pub redis: Redis,
    pub prefix: String,
    pub pending_ttl: Duration,
    pub dedup_ttl: Duration,
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
        if !stage::valid_id(&head.id) {
            return Outcome::Reject(Failure::new(
                "bad_event",
                format!("article id `{}` is not 64 hex digits", head.id),
            ));
        }
        let key = stage::exact_key(&self.prefix, &head.id);
        let token = format!("pending:{:016x}", fastrand::u64(..));
        let asked = std::time::Instant::now();
        let claimed = self.redis.claim(&key, &token, self.pending_ttl).await;
        self.metrics.observe("copydesk_redis_duration_seconds", &[("command", "claim")], asked.elapsed());
        let claim = match claimed {
            Ok(c) => c,
            Err(error) => return Outcome::Retry(Failure::new("redis", error.to_string())),
        };
        let source = format!("copydesk/{}", self.prefix);
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        match stage::decide(&claim) {
            Decision::Wait => {
                let left = match claim {
                    shared::redis::Claim::Pending(left) => left,
                    _ => self.pending_ttl,
                };
                // A claim normally resolves within the publish's confirm (milliseconds); it lasts
                // its whole TTL only when its worker died. Look again soon, not at its expiry.
                let delay = left.min(Duration::from_secs(1)) + Duration::from_millis(100);
                Outcome::Retry(Failure::wait("claimed", "another worker is publishing this article", delay))
            }
            Decision::Duplicate => {
                let mut event: ArticleEvent = match serde_json::from_slice(&message.body) {
                    Ok(e) => e,
                    Err(error) => {
                        return Outcome::Reject(Failure::new("bad_event", error.to_string()));
                    }
                };
                event.duplicate_of = Some(event.id.clone());
                let body = serde_json::to_vec(&event).expect("an event serializes");
                let properties = stage::properties(&event.id, &event.processed_at, &source, now);
                // Nobody need be bound to duplicates: a returned duplicate is fine.
                match broker.publish(&broker.names.articles(), &event.routing_key(), &body, properties, false).await {
                    Ok(()) => {
                        self.metrics.inc("copydesk_duplicates_total", &[("kind", "exact")]);
                        Outcome::Done
                    }
                    Err(error) => Outcome::Retry(Failure::new("publish", error.to_string())),
                }
            }
            Decision::Publish => {
                let properties = stage::properties(&head.id, &head.processed_at, &source, now);
                let routing_key = stage::routing_key("article", head.language.as_deref(), head.site.as_deref());
                let published =
                    broker.publish(&broker.names.articles(), &routing_key, &message.body, properties, true).await;
                if let Err(error) = published {
                    let _ = self.redis.release(&key, &token).await;
                    return Outcome::Retry(Failure::new("publish", error.to_string()));
                }
                self.metrics.inc("copydesk_articles_total", &[]);
                // The article is out and confirmed: the input can be acked now. Marking it done
                // runs beside the ack; if the process dies first, the claim expires and a later
                // copy is published again with the same message_id: a repeat, never a loss.
                let (redis, ttl) = (self.redis.clone(), self.dedup_ttl);
                tokio::spawn(async move {
                    for attempt in 0..3 {
                        match redis.complete(&key, DONE, ttl).await {
                            Ok(()) => return,
                            Err(error) if attempt == 2 => {
                                warn!(error = %error, "Published, but could not mark the article done; a copy may be published again after its claim expires.");
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                });
                Outcome::Done
            }
        }
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
