//! RabbitMQ in: the durable quorum queue bound to `herald.events` for `order.placed` and
//! `product.viewed`, consumed with manual acks. A message is acknowledged only once its
//! activity is stored (and, for a purchase, the shopper's refresh is on the queue); poison
//! messages go to `<queue>.dead` with the reason in a header and never block the queue; the
//! connection is re-established with back-off when RabbitMQ goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use herald_service::events::{
    DEAD_LETTER_EXCHANGE, EXCHANGE, Envelope, declare_exchanges, routing,
};
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::jobs::Jobs;
use crate::model::{Activity, ActivityKind, validate_id};
use crate::store::RecommendationStore;

pub const BINDINGS: [&str; 2] = [routing::ORDER_PLACED, routing::PRODUCT_VIEWED];
pub const DEAD_REASON_HEADER: &str = "x-herald-dead-reason";
/// More lines than any real order has; a bigger one is a bug upstream, not a purchase.
const MAX_ORDER_ITEMS: usize = 500;

#[derive(Debug, Deserialize)]
struct OrderPlaced {
    user_id: String,
    items: Vec<OrderItem>,
}

#[derive(Debug, Deserialize)]
struct OrderItem {
    product_id: String,
}

#[derive(Debug, Deserialize)]
struct ProductViewed {
    user_id: String,
    product_id: String,
}

/// What one event means for the store: its activities, and whether it was a purchase.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub event_id: String,
    pub user_id: String,
    pub activities: Vec<Activity>,
    pub purchase: bool,
}

/// Parses and validates an event; an `Err` is the reason it is poison.
pub fn decode(routing_key: &str, body: &[u8]) -> Result<Decoded, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not an envelope: {e}"))?;
    if envelope.kind != routing_key {
        return Err(format!(
            "type {} does not match routing key {routing_key}",
            envelope.kind
        ));
    }
    let event_id = envelope.id.to_string();
    let at = envelope.occurred_at;
    match routing_key {
        routing::ORDER_PLACED => {
            let data: OrderPlaced =
                serde_json::from_value(envelope.data).map_err(|e| format!("invalid data: {e}"))?;
            validate_id("user_id", &data.user_id).map_err(|e| format!("user_id {}", e.message))?;
            if data.items.is_empty() || data.items.len() > MAX_ORDER_ITEMS {
                return Err(format!("an order needs 1 to {MAX_ORDER_ITEMS} items"));
            }
            let mut activities = Vec::with_capacity(data.items.len());
            for item in &data.items {
                validate_id("product_id", &item.product_id)
                    .map_err(|e| format!("product_id {}", e.message))?;
                // One row per product: an order listing a product twice bought it once more.
                let id = format!("evt/{event_id}/{}", item.product_id);
                if activities.iter().any(|a: &Activity| a.id == id) {
                    continue;
                }
                activities.push(Activity {
                    id,
                    user_id: data.user_id.clone(),
                    product_id: item.product_id.clone(),
                    kind: ActivityKind::Purchased,
                    occurred_at: at,
                });
            }
            Ok(Decoded {
                event_id,
                user_id: data.user_id,
                activities,
                purchase: true,
            })
        }
        routing::PRODUCT_VIEWED => {
            let data: ProductViewed =
                serde_json::from_value(envelope.data).map_err(|e| format!("invalid data: {e}"))?;
            validate_id("user_id", &data.user_id).map_err(|e| format!("user_id {}", e.message))?;
            validate_id("product_id", &data.product_id)
                .map_err(|e| format!("product_id {}", e.message))?;
            Ok(Decoded {
                activities: vec![Activity {
                    id: format!("evt/{event_id}"),
                    user_id: data.user_id.clone(),
                    product_id: data.product_id,
                    kind: ActivityKind::Viewed,
                    occurred_at: at,
                }],
                event_id,
                user_id: data.user_id,
                purchase: false,
            })
        }
        other => Err(format!("unexpected routing key {other}")),
    }
}

pub struct Consumer {
    pub amqp_url: String,
    pub queue: String,
    pub queue_expires_ms: Option<u32>,
    pub prefetch: u16,
    pub store: Arc<dyn RecommendationStore>,
    pub jobs: Jobs,
    /// Set when a purchase arrives, so the worker knows the model is behind.
    pub dirty: Arc<AtomicBool>,
}

/// Declares the queue, its dead-letter queue and the bindings; idempotent.
pub async fn declare_topology(
    channel: &Channel,
    queue: &str,
    expires_ms: Option<u32>,
) -> lapin::Result<()> {
    declare_exchanges(channel).await?;
    let dead = format!("{queue}.dead");
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(DEAD_LETTER_EXCHANGE.into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.clone().into()),
    );
    // A message that keeps killing its consumer is dead-lettered by the broker after this
    // many deliveries.
    arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(20));
    let mut dead_arguments = FieldTable::default();
    dead_arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if let Some(expires) = expires_ms {
        let expires = AMQPValue::LongUInt(expires);
        arguments.insert("x-expires".into(), expires.clone());
        dead_arguments.insert("x-expires".into(), expires);
    }
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), durable, arguments)
        .await?;
    channel
        .queue_declare(dead.clone().into(), durable, dead_arguments)
        .await?;
    channel
        .queue_bind(
            dead.clone().into(),
            DEAD_LETTER_EXCHANGE.into(),
            dead.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for key in BINDINGS {
        channel
            .queue_bind(
                queue.into(),
                EXCHANGE.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

fn consumed(routing_key: &str, outcome: &str) {
    herald_service::metrics::EVENTS
        .consumed
        .with_label_values(&["recommendations", routing_key, outcome])
        .inc();
}

impl Consumer {
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.clone().session(stop.clone()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "RabbitMQ consumer lost its connection; reconnecting")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(15));
        }
    }

    /// One connection's worth of consuming; returns Ok only when asked to stop.
    async fn session(self: Arc<Self>, stop: CancellationToken) -> anyhow::Result<()> {
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&self.amqp_url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
        let channel = connection.create_channel().await?;
        declare_topology(&channel, &self.queue, self.queue_expires_ms).await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await?;
        let dead_channel = connection.create_channel().await?;
        dead_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let tag = format!("herald-recommendations-{}", uuid::Uuid::new_v4());
        let consumer = channel
            .basic_consume(
                self.queue.clone().into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.queue, "consuming events");
        let dead_channel = &dead_channel;
        consumer
            .take_until(stop.cancelled())
            .for_each_concurrent(usize::from(self.prefetch.max(1)), |delivery| {
                let this = self.clone();
                async move {
                    match delivery {
                        Ok(delivery) => this.handle(delivery, dead_channel).await,
                        Err(e) => tracing::warn!(error = %e, "delivery error"),
                    }
                }
            })
            .await;
        if stop.is_cancelled() {
            let _ = connection.close(200, "shutting down".into()).await;
            return Ok(());
        }
        anyhow::bail!("the consumer stream ended")
    }

    async fn handle(&self, delivery: AmqpDelivery, dead_channel: &Channel) {
        let routing_key = delivery.routing_key.as_str().to_owned();
        match decode(&routing_key, &delivery.data) {
            Err(reason) => {
                tracing::warn!(%routing_key, %reason, "dead-lettering a poison message");
                match self.dead_letter(dead_channel, &delivery, &reason).await {
                    Ok(()) => {
                        consumed(&routing_key, "dead_lettered");
                        let _ = delivery.ack(BasicAckOptions::default()).await;
                    }
                    // Could not park it: let the broker dead-letter it (reason header lost).
                    Err(e) => {
                        tracing::error!(error = %e, "cannot publish to the dead-letter queue");
                        let _ = delivery
                            .nack(BasicNackOptions {
                                requeue: false,
                                ..Default::default()
                            })
                            .await;
                    }
                }
            }
            Ok(decoded) => match self.apply(&decoded).await {
                Ok(outcome) => {
                    consumed(&routing_key, outcome);
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                Err(e) => {
                    // The store or Redis is unavailable: keep the message, try again shortly.
                    tracing::warn!(error = %e, %routing_key, "event not handled; requeueing");
                    consumed(&routing_key, "requeued");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let _ = delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await;
                }
            },
        }
    }

    async fn apply(&self, decoded: &Decoded) -> anyhow::Result<&'static str> {
        let new = self.store.record_activities(&decoded.activities).await?;
        if decoded.purchase {
            self.dirty.store(true, Ordering::Relaxed);
            // Also for a redelivery: the first delivery may have died before this line; the
            // job id makes it a no-op otherwise.
            self.jobs
                .refresh_after_purchase(&decoded.user_id, &format!("evt/{}", decoded.event_id))
                .await?;
        }
        Ok(if new == 0 { "duplicate" } else { "recorded" })
    }

    async fn dead_letter(
        &self,
        channel: &Channel,
        delivery: &AmqpDelivery,
        reason: &str,
    ) -> anyhow::Result<()> {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        let reason: String = reason.chars().take(1000).collect();
        headers.insert(
            DEAD_REASON_HEADER.into(),
            AMQPValue::LongString(reason.into()),
        );
        headers.insert(
            "x-herald-original-routing-key".into(),
            AMQPValue::LongString(delivery.routing_key.as_str().into()),
        );
        headers.insert(
            "x-herald-dead-at".into(),
            AMQPValue::LongString(Utc::now().to_rfc3339().into()),
        );
        let mut properties = BasicProperties::default()
            .with_headers(headers)
            .with_delivery_mode(2);
        if let Some(id) = delivery.properties.message_id() {
            properties = properties.with_message_id(id.clone());
        }
        if let Some(kind) = delivery.properties.content_type() {
            properties = properties.with_content_type(kind.clone());
        }
        let dead: ShortString = format!("{}.dead", self.queue).into();
        let confirm = channel
            .basic_publish(
                DEAD_LETTER_EXCHANGE.into(),
                dead,
                BasicPublishOptions::default(),
                &delivery.data,
                properties,
            )
            .await?
            .await?;
        anyhow::ensure!(confirm.is_ack(), "the broker refused the dead letter");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn envelope(kind: &str, data: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&Envelope::new(kind, data)).unwrap()
    }

    #[test]
    fn an_order_is_one_purchase_per_product() {
        let body = envelope(
            routing::ORDER_PLACED,
            serde_json::json!({"order_id": "o1", "user_id": "u1", "total": 3, "currency": "EUR",
                "items": [{"product_id": "p1", "quantity": 1, "unit_price": 1},
                          {"product_id": "p2", "quantity": 2, "unit_price": 1},
                          {"product_id": "p1", "quantity": 1, "unit_price": 1}]}),
        );
        let decoded = decode(routing::ORDER_PLACED, &body).unwrap();
        assert!(decoded.purchase);
        assert_eq!(decoded.activities.len(), 2);
        assert!(
            decoded
                .activities
                .iter()
                .all(|a| a.kind == ActivityKind::Purchased)
        );
    }

    #[test]
    fn poison_is_explained() {
        assert!(
            decode(routing::ORDER_PLACED, b"nope")
                .unwrap_err()
                .contains("envelope")
        );
        let body = envelope(
            routing::PRODUCT_VIEWED,
            serde_json::json!({"user_id": "u1"}),
        );
        assert!(
            decode(routing::PRODUCT_VIEWED, &body)
                .unwrap_err()
                .contains("invalid data")
        );
        let body = envelope(
            routing::ORDER_PLACED,
            serde_json::json!({"user_id": "u1", "items": []}),
        );
        assert!(decode(routing::ORDER_PLACED, &body).is_err());
        let body = envelope(
            routing::PRODUCT_VIEWED,
            serde_json::json!({"user_id": "u 1", "product_id": "p"}),
        );
        assert!(decode(routing::PRODUCT_VIEWED, &body).is_err());
    }
}
