//! What `order.placed` and `product.viewed` mean for the recommender: activity rows, and for
//! a purchase the shopper's refresh job. The queue, acks, dead letters and reconnection are
//! `herald_service::consumer`'s; a message is acked only once its activity is stored (and,
//! for a purchase, the refresh is on the queue).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use herald_service::consumer::{EventHandler, Handled};
use herald_service::events::{Envelope, routing};
use serde::Deserialize;

use super::jobs::Jobs;
use crate::model::{Activity, ActivityKind, validate_id};
use crate::store::RecommendationStore;

pub const BINDINGS: [&str; 2] = [routing::ORDER_PLACED, routing::PRODUCT_VIEWED];
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

pub struct Events {
    pub store: Arc<dyn RecommendationStore>,
    pub jobs: Jobs,
    /// Set when a purchase arrives, so the worker knows the model is behind.
    pub dirty: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl EventHandler for Events {
    async fn handle(&self, routing_key: &str, body: &[u8]) -> Handled {
        match decode(routing_key, body) {
            Err(reason) => Handled::Poison(reason),
            Ok(decoded) => match self.apply(&decoded).await {
                Ok(outcome) => Handled::Done(outcome),
                Err(e) => Handled::Retry(e),
            },
        }
    }
}

impl Events {
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
