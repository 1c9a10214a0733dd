//! Transactional settlement, for a stage whose outputs must appear exactly when its input is
//! acked (the dedup stage: an article event published but not acked is published again after a
//! crash, which downstream sees as a repeat).
//!
//! The consumer's channel is put in AMQP transaction mode (`tx.select`); every settled message
//! hands its ack and its outputs to one committer task, which sends them on that channel and
//! commits them together with whatever else was settled meanwhile (group commit: while one
//! `tx.commit` is on the wire, the next batch gathers). If the worker dies before the commit-ok,
//! the broker drops the uncommitted acks and publishes with the channel: the inputs are
//! redelivered and nothing was published. A broker that dies in the middle of a commit can still
//! apply part of it (RabbitMQ's transactions are not atomic across queues).
//!
//! A mandatory output that no queue takes is returned by the broker during its commit; as its input
//! is acked by then, the committer dead-letters the returned message at once (kind
//! `unroutable`), in a commit of its own.

use std::time::Duration;

use futures_util::future::join_all;
use lapin::message::BasicReturnMessage;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, LongString};
use lapin::{Acker, Channel};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::consume::Output;

/// Most settlements in one commit.
const MAX_BATCH: usize = 512;

struct Settlement {
    acker: Acker,
    outputs: Vec<Output>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The handle of a session's committer task.
#[derive(Clone)]
pub(super) struct Committer {
    queue: mpsc::UnboundedSender<Settlement>,
}

impl Committer {
    /// Starts committing on `channel` (already in transaction mode). `lost` is cancelled when a
    /// commit fails: the session must then end, so that the broker redelivers what was not
    /// committed; and nothing is sent once it is cancelled (after a connection recovery the
    /// channel would no longer be transactional).
    /// A commit that takes longer than `timeout` (a quorum queue without its majority) fails.
    pub(super) fn start(
        channel: Channel,
        dead_exchange: String,
        stage: &'static str,
        timeout: Duration,
        lost: CancellationToken,
    ) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(channel, receiver, dead_exchange, stage, timeout, lost));
        Committer { queue }
    }

    /// Acks the input and publishes its outputs in the next commit; returns once it is committed.
    ///
    /// # Errors
    ///
    /// When the commit failed: nothing of it took effect, or (a broker crash mid-commit) part
    /// of it; the input will be redelivered.
    pub(super) async fn settle(&self, acker: Acker, outputs: Vec<Output>) -> Result<(), String> {
        let (done, committed) = oneshot::channel();
        self.queue.send(Settlement { acker, outputs, done }).map_err(|_| "the committer stopped".to_owned())?;
        committed.await.unwrap_or_else(|_| Err("the committer stopped".to_owned()))
    }
}

async fn run(
    channel: Channel,
    mut receiver: mpsc::UnboundedReceiver<Settlement>,
    dead_exchange: String,
    stage: &'static str,
    timeout: Duration,
    lost: CancellationToken,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        let committed = async {
            if lost.is_cancelled() {
                return Err("the broker connection was lost".to_owned());
            }
            let returned = commit(&channel, &batch).await?;
            if returned.is_empty() {
                Ok(())
            } else {
                dead_letter_returned(&channel, &dead_exchange, stage, returned).await
            }
        };
        let result = tokio::time::timeout(timeout, committed)
            .await
            .unwrap_or_else(|_| Err(format!("the broker did not commit within {timeout:?}")));
        if let Err(error) = &result {
            if !lost.is_cancelled() {
                warn!(stage, error = %error, "A commit failed; the uncommitted messages will be redelivered.");
            }
            lost.cancel();
        }
        for s in batch {
            let _ = s.done.send(result.clone());
        }
    }
}

/// One transaction: the inputs' acks, then their outputs, then the commit. Returns the messages
/// the broker returned as unroutable.
///
/// Each step is sent as a whole and awaited before the next: lapin queues content frames behind
/// method frames, so every publish must be written before the `tx.commit` is queued.
async fn commit(channel: &Channel, batch: &[Settlement]) -> Result<Vec<BasicReturnMessage>, String> {
    // An acker refuses when its channel failed: then none of the outputs may be sent either.
    let acks = join_all(batch.iter().map(|s| s.acker.ack(BasicAckOptions::default()))).await;
    for ack in acks {
        match ack {
            Ok(true) => {}
            Ok(false) => return Err("the delivering channel failed".to_owned()),
            Err(error) => return Err(error.to_string()),
        }
    }
    let publishes = join_all(batch.iter().flat_map(|s| &s.outputs).map(|o| {
        let options = BasicPublishOptions { mandatory: o.must_route, ..BasicPublishOptions::default() };
        channel.basic_publish(
            o.exchange.as_str().into(),
            o.routing_key.as_str().into(),
            options,
            &o.body,
            o.properties.clone(),
        )
    }))
    .await;
    for published in publishes {
        published.map_err(|e| e.to_string())?;
    }
    channel.tx_commit().await.map_err(|e| e.to_string())?;
    // The broker returns unroutable messages before the commit-ok; outside confirm mode lapin
    // keeps them until asked.
    channel.wait_for_confirms().await.map_err(|e| e.to_string())
}

/// Dead-letters outputs the broker returned (their inputs are acked already), in a commit of
/// their own.
async fn dead_letter_returned(
    channel: &Channel,
    dead_exchange: &str,
    stage: &'static str,
    returned: Vec<BasicReturnMessage>,
) -> Result<(), String> {
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    for r in returned {
        let d = &r.delivery;
        warn!(stage, exchange = %d.exchange, routing_key = %d.routing_key, "No queue took an output; dead-lettering it.");
        let mut headers = d.properties.headers().clone().unwrap_or_default();
        headers.insert("x-copydesk-stage".into(), text(stage));
        headers.insert("x-copydesk-error-kind".into(), text("unroutable"));
        let reason =
            format!("{} {}: no queue is bound for {} / {}", r.reply_code, r.reply_text, d.exchange, d.routing_key);
        headers.insert("x-copydesk-error".into(), text(&reason));
        headers.insert("x-copydesk-routing-key".into(), text(d.routing_key.as_str()));
        let properties = d.properties.clone().with_headers(headers).with_delivery_mode(super::PERSISTENT);
        let options = BasicPublishOptions { mandatory: false, ..BasicPublishOptions::default() };
        channel
            .basic_publish(dead_exchange.into(), stage.into(), options, &d.data, properties)
            .await
            .map_err(|e| e.to_string())?;
    }
    channel.tx_commit().await.map_err(|e| e.to_string())
}
