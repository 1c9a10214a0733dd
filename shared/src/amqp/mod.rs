//! RabbitMQ: the connection, the topology, confirmed publishing, and the one consume loop every
//! worker runs ([`consume`]).
//!
//! lapin 4 with automatic recovery: after a connection error the channel waits for recovery and
//! the consumer carries on; if recovery is impossible the loop reconnects from scratch. Acks are
//! tied to the channel that delivered them; lapin poisons the ackers of a failed channel, so an
//! old delivery tag is never acked on a recovered channel (the broker redelivers that message).

mod consume;
pub mod dlq;
pub mod topology;

use std::time::Duration;

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Connection, ConnectionProperties};
use tracing::Instrument;

pub use consume::{ATTEMPTS_HEADER, Failure, Handler, Incoming, Outcome, consume};
pub use lapin::BasicProperties;
pub use lapin::types::{AMQPValue, FieldTable, LongString};
pub use topology::{Names, STAGES};

use crate::config::Settings;

/// The header naming one handing-over of an article from the clean stage to the dedup stage:
/// 16 random hex digits, the same on every redelivery and retry of that message, new when the
/// clean stage hands the article over again. The dedup stage tells its own earlier attempt from
/// another copy of the article by it.
pub const INPUT_HEADER: &str = "x-copydesk-input";

/// A fresh value for [`INPUT_HEADER`].
pub fn input_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// `delivery_mode` of a persistent message.
pub const PERSISTENT: u8 = 2;
pub const JSON: &str = "application/json";

/// Why a publish did not land.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker connection: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not confirm the publish within {0:?}")]
    Timeout(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for {exchange} / {routing_key}: the message was returned")]
    Unroutable { exchange: String, routing_key: String },
}

/// A connection with a confirm-mode channel for publishing, and the topology declared.
pub struct Broker {
    pub connection: Connection,
    publisher: Channel,
    pub names: Names,
    confirm_timeout: Duration,
}

impl Broker {
    /// Connects, declares the topology and opens the publishing channel.
    ///
    /// # Errors
    ///
    /// When the broker cannot be reached or refuses the topology.
    pub async fn connect(settings: &Settings, name: &str) -> lapin::Result<Broker> {
        let properties =
            ConnectionProperties::default().with_connection_name(LongString::from(name)).enable_auto_recover();
        let connection = Connection::connect(&settings.amqp_url, properties).await?;
        let setup = connection.create_channel().await?;
        topology::declare(&setup, settings).await?;
        let _ = setup.close(200, "topology declared".into()).await;
        let publisher = connection.create_channel().await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(Broker {
            connection,
            publisher,
            names: Names::new(&settings.prefix),
            confirm_timeout: settings.confirm_timeout,
        })
    }

    /// Publishes with `mandatory` set and waits for the broker's confirm. `must_route`: an
    /// unroutable message is an error (the publish did not deliver anything); otherwise a
    /// returned message is accepted (events nobody subscribed to).
    ///
    /// # Errors
    ///
    /// See [`PublishError`].
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        must_route: bool,
    ) -> Result<(), PublishError> {
        let destination = if exchange.is_empty() { routing_key } else { exchange };
        let span = tracing::info_span!(
            "publish",
            otel.name = %format!("publish {destination}"),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.operation.name = "publish",
            messaging.operation.type = "send",
            messaging.destination.name = %destination,
            messaging.rabbitmq.destination.routing_key = %routing_key,
            messaging.message.id = properties.message_id().as_ref().map(|m| m.to_string()).unwrap_or_default(),
        );
        // The message carries its publish span's context: the consumer's span is its child.
        let mut headers = properties.headers().clone().unwrap_or_default();
        crate::telemetry::inject(&tracing_opentelemetry::OpenTelemetrySpanExt::context(&span), &mut headers);
        let properties = properties.with_headers(headers);
        self.publish_inner(exchange, routing_key, body, properties, must_route).instrument(span).await
    }

    async fn publish_inner(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        must_route: bool,
    ) -> Result<(), PublishError> {
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let send = async {
            let confirm =
                self.publisher.basic_publish(exchange.into(), routing_key.into(), options, body, properties).await?;
            confirm.await
        };
        // A publish can hang while a quorum queue has lost its majority: always bound the wait.
        let confirmation = tokio::time::timeout(self.confirm_timeout, send)
            .await
            .map_err(|_| PublishError::Timeout(self.confirm_timeout))??;
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            // lapin reports a returned mandatory message as an ack carrying it: not delivered.
            Confirmation::Ack(Some(_)) if !must_route => Ok(()),
            Confirmation::Ack(Some(_)) => {
                Err(PublishError::Unroutable { exchange: exchange.to_owned(), routing_key: routing_key.to_owned() })
            }
            Confirmation::Nack(_) => Err(PublishError::Nacked),
        }
    }

    /// Closes the channels and the connection cleanly.
    pub async fn close(&self) {
        let _ = self.publisher.close(200, "worker stopping".into()).await;
        let _ = self.connection.close(200, "worker stopping".into()).await;
    }
}

/// Properties of a persistent JSON message.
pub fn json_properties() -> BasicProperties {
    BasicProperties::default().with_content_type(JSON.into()).with_delivery_mode(PERSISTENT)
}

/// A header's value as text, if it is a string.
pub fn header_str<'a>(headers: Option<&'a FieldTable>, name: &str) -> Option<&'a str> {
    match headers?.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

/// A header's value as a number, if it is an integer of any width.
pub fn header_u64(headers: Option<&FieldTable>, name: &str) -> Option<u64> {
    match headers?.inner().get(&ShortString::from(name))? {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Some(u64::from(*n)),
        _ => None,
    }
}
