//! Dead letters for operators: look at them, replay them to the stage that failed, or purge
//! them. Browsing takes messages off `P.dead` unacknowledged and closes the channel, so the
//! broker keeps every one it was not told to drop.

use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use super::{ATTEMPTS_HEADER, Broker, PublishError, header_str, header_u64};

/// How long to wait for the next dead letter before deciding the queue is drained.
const IDLE: Duration = Duration::from_millis(700);

/// Which dead letters an operation applies to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub kind: Option<String>,
    pub stage: Option<String>,
}

/// A dead letter as an operator reads it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub stage: String,
    pub kind: String,
    pub error: String,
    pub attempts: u64,
    pub message_id: Option<String>,
    pub body: Vec<u8>,
    /// Every header, as text.
    pub headers: Vec<(String, String)>,
}

impl DeadLetter {
    fn from(d: &Delivery) -> DeadLetter {
        let h = d.properties.headers().as_ref();
        let text = |name: &str| header_str(h, name).unwrap_or("").to_owned();
        let headers =
            h.map(|t| t.inner().iter().map(|(k, v)| (k.to_string(), format!("{v:?}"))).collect()).unwrap_or_default();
        DeadLetter {
            stage: text("x-copydesk-stage"),
            kind: text("x-copydesk-error-kind"),
            error: text("x-copydesk-error"),
            attempts: header_u64(h, ATTEMPTS_HEADER).unwrap_or(0),
            message_id: d.properties.message_id().as_ref().map(|m| m.to_string()),
            body: d.data.clone(),
            headers,
        }
    }

    fn matches(&self, filter: &Filter) -> bool {
        filter.kind.as_ref().is_none_or(|k| *k == self.kind) && filter.stage.as_ref().is_none_or(|s| *s == self.stage)
    }
}

/// Takes up to `limit` dead letters off the queue, unacked, in order.
async fn take(broker: &Broker, limit: usize) -> lapin::Result<(lapin::Channel, Vec<Delivery>)> {
    let channel = broker.connection.create_channel().await?;
    channel.basic_qos(limit.clamp(1, u16::MAX as usize) as u16, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(broker.names.dead().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    let mut out = Vec::new();
    while out.len() < limit {
        match tokio::time::timeout(IDLE, consumer.next()).await {
            Ok(Some(Ok(d))) => out.push(d),
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) | Err(_) => break,
        }
    }
    Ok((channel, out))
}

/// Up to `limit` dead letters, left in the queue.
///
/// # Errors
///
/// When the broker cannot be reached.
pub async fn list(broker: &Broker, filter: &Filter, limit: usize) -> lapin::Result<Vec<DeadLetter>> {
    let (channel, deliveries) = take(broker, limit).await?;
    let letters = deliveries.iter().map(DeadLetter::from).filter(|l| l.matches(filter)).collect();
    // Closing the channel returns every unacked message to the queue.
    let _ = channel.close(200, "browsed".into()).await;
    Ok(letters)
}

/// Republishes the matching dead letters to `P.jobs` with their stage's routing key (the
/// original body and properties, the error headers and attempt count removed), each acked only
/// once its replay is confirmed. Returns how many were replayed.
///
/// # Errors
///
/// When the broker cannot be reached or a replay is not confirmed; what was not replayed stays.
pub async fn replay(broker: &Broker, filter: &Filter, limit: usize) -> Result<usize, PublishError> {
    let (channel, deliveries) = take(broker, limit).await?;
    let mut replayed = 0;
    for d in &deliveries {
        let letter = DeadLetter::from(d);
        if !letter.matches(filter) || letter.stage.is_empty() {
            continue;
        }
        let mut headers = d.properties.headers().clone().unwrap_or_default();
        let kept: FieldTable = {
            let mut t = FieldTable::default();
            for (k, v) in headers.inner() {
                if !k.as_str().starts_with("x-copydesk-") {
                    t.insert(k.clone(), v.clone());
                }
            }
            t
        };
        headers = kept;
        let properties = d.properties.clone().with_headers(headers);
        broker.publish(&broker.names.jobs(), &letter.stage, &d.data, properties, true).await?;
        d.acker.ack(BasicAckOptions::default()).await?;
        replayed += 1;
    }
    let _ = channel.close(200, "replayed".into()).await;
    Ok(replayed)
}

/// Drops the matching dead letters. Returns how many.
///
/// # Errors
///
/// When the broker cannot be reached.
pub async fn purge(broker: &Broker, filter: &Filter, limit: usize) -> lapin::Result<usize> {
    let (channel, deliveries) = take(broker, limit).await?;
    let mut purged = 0;
    for d in &deliveries {
        if DeadLetter::from(d).matches(filter) {
            d.acker.ack(BasicAckOptions::default()).await?;
            purged += 1;
        }
    }
    let _ = channel.close(200, "purged".into()).await;
    Ok(purged)
}
