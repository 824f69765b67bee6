//! Herald's events on RabbitMQ: the `herald.events` topic exchange, the envelope every message
//! carries, and a publisher that only reports success once the broker has confirmed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::metrics;

pub const EXCHANGE: &str = "herald.events";
pub const DEAD_LETTER_EXCHANGE: &str = "herald.events.dlx";
pub const ENVELOPE_VERSION: u32 = 1;

/// The routing keys of `shared/DESIGN.md`.
pub mod routing {
    pub const USER_REGISTERED: &str = "user.registered";
    pub const USER_PREFERENCES_UPDATED: &str = "user.preferences_updated";
    pub const ORDER_PLACED: &str = "order.placed";
    pub const ORDER_SHIPPED: &str = "order.shipped";
    pub const ORDER_DELIVERED: &str = "order.delivered";
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    pub const PRODUCT_VIEWED: &str = "product.viewed";
    pub const RECOMMENDATION_GENERATED: &str = "recommendation.generated";
    pub const NOTIFICATION_DELIVERED: &str = "notification.delivered";
    pub const NOTIFICATION_FAILED: &str = "notification.failed";
}

/// `{"id", "type", "occurred_at", "version", "data"}`; consumers deduplicate on `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T = serde_json::Value> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub version: u32,
    pub data: T,
}

impl<T: Serialize> Envelope<T> {
    pub fn new(kind: &str, data: T) -> Self {
        Self {
            id: Uuid::new_v4(),
            kind: kind.to_owned(),
            occurred_at: Utc::now(),
            version: ENVELOPE_VERSION,
            data,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot reach RabbitMQ: {0}")]
    Connect(String),
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("RabbitMQ refused the message (nack)")]
    Nacked,
}

/// One message to publish: the routing key, the envelope id, the serialized envelope.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub routing_key: String,
    pub id: String,
    pub payload: Vec<u8>,
}

struct Link {
    // Held so the connection lives as long as its channel.
    _connection: Connection,
    channel: Channel,
}

/// Publishes to `herald.events` with publisher confirms. Connects lazily, and after any failure
/// drops the connection so that the next call reconnects: callers retry, nothing here blocks.
pub struct Publisher {
    url: String,
    service: &'static str,
    link: tokio::sync::Mutex<Option<Link>>,
}

impl Publisher {
    pub fn new(url: impl Into<String>, service: &'static str) -> Self {
        Self {
            url: url.into(),
            service,
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// Publishes a batch and returns one result per message, in order. Messages are sent
    /// back to back and their confirms awaited afterwards, so a batch costs one round trip.
    pub async fn publish_batch(
        &self,
        messages: &[OutgoingMessage],
    ) -> Vec<Result<(), PublishError>> {
        let mut guard = self.link.lock().await;
        if guard.is_none() {
            match connect(&self.url).await {
                Ok(link) => *guard = Some(link),
                Err(e) => {
                    let text = e.to_string();
                    return messages
                        .iter()
                        .map(|_| Err(PublishError::Connect(text.clone())))
                        .collect();
                }
            }
        }
        let Some(link) = guard.as_ref() else {
            return messages
                .iter()
                .map(|_| Err(PublishError::Connect("no link".into())))
                .collect();
        };
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            let properties = BasicProperties::default()
                .with_message_id(message.id.clone().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_app_id(self.service.into());
            let sent = link
                .channel
                .basic_publish(
                    EXCHANGE.into(),
                    message.routing_key.clone().into(),
                    BasicPublishOptions::default(),
                    &message.payload,
                    properties,
                )
                .await;
            pending.push(sent);
        }
        let mut results = Vec::with_capacity(messages.len());
        let mut broken = false;
        for (sent, message) in pending.into_iter().zip(messages) {
            let result = match sent {
                Ok(confirm) => match confirm.await {
                    Ok(confirmation) if confirmation.is_ack() => Ok(()),
                    Ok(_) => Err(PublishError::Nacked),
                    Err(e) => Err(PublishError::Publish(e.to_string())),
                },
                Err(e) => Err(PublishError::Publish(e.to_string())),
            };
            if matches!(result, Err(PublishError::Publish(_))) {
                broken = true;
            }
            let outcome = if result.is_ok() {
                "confirmed"
            } else {
                "failed"
            };
            metrics::EVENTS
                .published
                .with_label_values(&[self.service, &message.routing_key, outcome])
                .inc();
            results.push(result);
        }
        if broken {
            *guard = None;
        }
        results
    }

    /// Publishes one envelope.
    pub async fn publish<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<(), PublishError> {
        let payload =
            serde_json::to_vec(envelope).map_err(|e| PublishError::Publish(e.to_string()))?;
        let message = OutgoingMessage {
            routing_key: envelope.kind.clone(),
            id: envelope.id.to_string(),
            payload,
        };
        self.publish_batch(std::slice::from_ref(&message))
            .await
            .pop()
            .unwrap_or(Err(PublishError::Publish("no result".into())))
    }

    /// For `/ready`: connects if needed.
    pub async fn check(&self) -> Result<(), String> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref()
            && link.channel.status().connected()
        {
            return Ok(());
        }
        *guard = Some(connect(&self.url).await.map_err(|e| e.to_string())?);
        Ok(())
    }
}

async fn connect(url: &str) -> Result<Link, PublishError> {
    let connect = Connection::connect(url, ConnectionProperties::default());
    let connection = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| PublishError::Connect("timed out".into()))?
        .map_err(|e| PublishError::Connect(e.to_string()))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| PublishError::Connect(e.to_string()))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| PublishError::Connect(e.to_string()))?;
    declare_exchanges(&channel)
        .await
        .map_err(|e| PublishError::Connect(e.to_string()))?;
    Ok(Link {
        _connection: connection,
        channel,
    })
}

/// Declares `herald.events` and its dead-letter exchange; idempotent, so every publisher and
/// consumer declares them on connect and none depends on start-up order.
pub async fn declare_exchanges(channel: &Channel) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            DEAD_LETTER_EXCHANGE.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_shared_shape() {
        let envelope = Envelope::new(
            routing::USER_REGISTERED,
            serde_json::json!({"user_id": "u1"}),
        );
        let json = serde_json::to_value(&envelope).expect("json");
        assert_eq!(json["type"], "user.registered");
        assert_eq!(json["version"], 1);
        assert_eq!(json["data"]["user_id"], "u1");
        assert!(
            json["id"]
                .as_str()
                .is_some_and(|id| Uuid::parse_str(id).is_ok())
        );
        assert!(
            json["occurred_at"]
                .as_str()
                .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok())
        );
    }
}
