//! The dedup stage's I/O shell. An article is never lost to the dedup store:
//!
//! 1. decide it in Redis ([`Store::check`]): claim its record, and find earlier copies, exact or
//!    near;
//! 2. record the decision (an original, marked with the input message's token, or a duplicate);
//!    on one Redis a new article's record is written by step 1 itself;
//! 3. publish the event (article or duplicate) and wait for the broker's confirm;
//! 4. mark the original confirmed ([`Store::confirm`], with the marks of other articles
//!    confirmed meanwhile: [`Marker`]), then ack.
//!
//! A crash before 4 redelivers the message, which finds its own record and publishes the event
//! again with the same `message_id`: a repeat, never a loss. A crash after 4 repeats nothing
//! (the redelivery finds the mark). So an event repeats only when its worker (or the broker)
//! dies between the broker storing it and the mark: the confirm's way back and one call to Redis
//! (`copydesk_dedup_unmarked_seconds`). A worker killed with many messages in flight repeats
//! every event inside that window at that instant: about the article rate times the window.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::amqp::{Broker, Failure, Handler, Incoming, Outcome, PublishError, header_str};
use shared::message::ArticleEvent;
use shared::metrics::Metrics;
use shared::neardup::Sketch;
use tracing::{debug, info, warn};

use crate::stage::{self, Decision};
use crate::store::{Marker, Store};

pub struct DedupHandler {
    pub store: Store,
    /// Writes the confirmed marks, many at a time.
    pub marks: Marker,
    /// One permit per article event out and not yet marked (`COPYDESK_DEDUP_MAX_UNMARKED`): a
    /// crash repeats at most that many.
    pub unmarked: Arc<tokio::sync::Semaphore>,
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
        let input = header_str(message.headers(), shared::amqp::INPUT_HEADER);
        let token = stage::input_token(input.map_or(message.body.as_slice(), str::as_bytes));
        let input = input.unwrap_or("(none: the body's hash)");
        let asked = Instant::now();
        let checked = self.store.check(&id, token, &sketch, message.waits).await;
        self.metrics.observe("copydesk_redis_duration_seconds", &[("command", "decide")], asked.elapsed());
        let check = match checked {
            Ok(c) => c,
            Err(error) => return Outcome::Retry(Failure::new("redis", error.to_string())),
        };
        if check.again {
            // Expected only after a crash or a lost confirm: the event may be out already.
            self.metrics.inc("copydesk_dedup_published_again_total", &[]);
            info!(
                id = %head.id,
                input,
                attempts = message.attempts,
                waits = message.waits,
                "This message recorded the article before and its event is not marked confirmed: publishing it again (same message_id)."
            );
        }
        let rounds = if check.rounds == 1 { "1" } else { "2" };
        self.metrics.inc("copydesk_dedup_redis_rounds_total", &[("rounds", rounds)]);
        let source = format!("copydesk/{}", self.prefix);
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        // The event to publish: routing key, body, properties, whether a queue must take it.
        let (routing_key, body, properties, must_route) = match &check.decision {
            Decision::Wait { ms } => {
                return Outcome::Retry(Failure::wait(
                    "claimed",
                    "another worker is publishing this article or a near copy",
                    Duration::from_millis(*ms),
                ));
            }
            // A redelivery of a message whose event is out and confirmed.
            Decision::Published => return Outcome::Done,
            Decision::Duplicate { original, .. } => {
                let mut event: ArticleEvent = match serde_json::from_slice(&message.body) {
                    Ok(e) => e,
                    Err(error) => return Outcome::Reject(Failure::new("bad_event", error.to_string())),
                };
                event.duplicate_of = Some(original.clone());
                let body = serde_json::to_vec(&event).expect("an event serializes");
                // Nobody need be bound to duplicates.
                (
                    event.routing_key(),
                    Cow::Owned(body),
                    stage::properties(&event.id, &event.processed_at, &source, now),
                    false,
                )
            }
            Decision::Publish => (
                stage::routing_key("article", head.language.as_deref(), head.site.as_deref()),
                Cow::Borrowed(message.body.as_slice()),
                stage::properties(&head.id, &head.processed_at, &source, now),
                true,
            ),
        };
        // The decision is recorded before the event is published: a crash in between redelivers
        // this message, which finds its own record and publishes the event again.
        if let Some(claim) = &check.claim {
            match self.store.complete(claim, &id, &check.decision, &sketch.compact()).await {
                Ok(true) => {}
                // Our claim was released or taken over meanwhile: the copy holding it decides.
                Ok(false) => {
                    return Outcome::Retry(Failure::wait(
                        "claimed",
                        "the claim on this article was taken over before it was recorded",
                        Duration::from_millis(stage::look_again_ms(message.waits, 0)),
                    ));
                }
                Err(error) => {
                    self.store.release(claim).await;
                    return Outcome::Retry(Failure::new("redis", error.to_string()));
                }
            }
        }
        debug!(
            id = %head.id,
            input,
            routing_key,
            attempts = message.attempts,
            waits = message.waits,
            redelivered = message.redelivered,
            "Publishing the event."
        );
        // Only article events are marked: only they can repeat as articles.
        let _out = match check.decision {
            Decision::Publish => Some(self.unmarked.acquire().await.expect("the semaphore is never closed")),
            _ => None,
        };
        let sent = Instant::now();
        if let Err(error) = broker.publish(&broker.names.articles(), &routing_key, &body, properties, must_route).await
        {
            let kind = if matches!(error, PublishError::Unroutable { .. }) { "unroutable" } else { "publish" };
            return Outcome::Retry(Failure::new(kind, error.to_string()));
        }
        match &check.decision {
            Decision::Duplicate { near, .. } => {
                let kind = if *near { "near" } else { "exact" };
                self.metrics.inc("copydesk_duplicates_total", &[("kind", kind)]);
            }
            _ => {
                self.metrics.inc("copydesk_articles_total", &[]);
                // Confirmed: a redelivery of this message (its ack lost to a crash) publishes
                // nothing. If this mark is lost, the redelivery publishes the event again.
                // From the publish to the mark, a crash repeats the event: the exposure window.
                let marked = self.marks.mark(&id, token).await;
                self.metrics.observe("copydesk_dedup_unmarked_seconds", &[], sent.elapsed());
                if let Err(error) = marked {
                    warn!(id = %head.id, error = %error, "Published, but could not mark the article confirmed; a redelivery would publish it again.");
                }
            }
        }
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
