//! What the pipeline does with one message from `notifications.events`: parse the envelope,
//! validate the data for its routing key, and decide. Anything that cannot be decided is a
//! poison message with a reason, and goes to the dead-letter queue.

use chrono::{DateTime, Utc};
use herald_service::events::{Envelope, routing};
use herald_service::preferences::Preferences;
use serde::de::DeserializeOwned;

use super::templates::{self, Rendered};

#[derive(Debug)]
pub enum Decision {
    /// Deliver one notification; the job id (the event id) makes a repeated event a no-op.
    Deliver { job_id: String, rendered: Rendered },
    /// Refresh the local preference replica, and for a registration deliver a welcome.
    Profile {
        user_id: String,
        preferences: Preferences,
        email: Option<String>,
        occurred_at: DateTime<Utc>,
        welcome: Option<(String, Rendered)>,
    },
}

fn data<T: DeserializeOwned>(envelope: &Envelope) -> Result<T, String> {
    serde_json::from_value(envelope.data.clone())
        .map_err(|e| format!("invalid data for {}: {e}", envelope.kind))
}

pub fn decide(routing_key: &str, body: &[u8]) -> Result<(Envelope, Decision), String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not a Herald event envelope: {e}"))?;
    if envelope.version != 1 {
        return Err(format!("unsupported envelope version {}", envelope.version));
    }
    if envelope.kind != routing_key {
        return Err(format!(
            "type {} does not match routing key {routing_key}",
            envelope.kind
        ));
    }
    let job_id = envelope.id.to_string();
    let deliver = |rendered: Result<Rendered, String>| {
        rendered.map(|rendered| Decision::Deliver {
            job_id: job_id.clone(),
            rendered,
        })
    };
    let decision = match envelope.kind.as_str() {
        routing::USER_REGISTERED => {
            let event: templates::UserRegistered = data(&envelope)?;
            let welcome = templates::user_registered(&event)?;
            Decision::Profile {
                user_id: event.user_id,
                preferences: event.preferences.unwrap_or_default(),
                email: event.email,
                occurred_at: envelope.occurred_at,
                welcome: Some((job_id.clone(), welcome)),
            }
        }
        routing::USER_PREFERENCES_UPDATED => {
            let event: templates::PreferencesUpdated = data(&envelope)?;
            if event.user_id.trim().is_empty() {
                return Err("user_id must not be empty".into());
            }
            Decision::Profile {
                user_id: event.user_id,
                preferences: event.preferences,
                email: event.email,
                occurred_at: envelope.occurred_at,
                welcome: None,
            }
        }
        routing::ORDER_PLACED => deliver(templates::order_placed(&data(&envelope)?))?,
        routing::ORDER_SHIPPED => deliver(templates::order_shipped(&data(&envelope)?))?,
        routing::ORDER_DELIVERED => deliver(templates::order_delivered(&data(&envelope)?))?,
        routing::ORDER_CANCELLED => deliver(templates::order_cancelled(&data(&envelope)?))?,
        routing::RECOMMENDATION_GENERATED => {
            deliver(templates::recommendation_generated(&data(&envelope)?))?
        }
        other => return Err(format!("no notification is defined for {other}")),
    };
    Ok((envelope, decision))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(kind: &str, data: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&Envelope::new(kind, data)).expect("json")
    }

    #[test]
    fn shipped_orders_become_deliveries_keyed_by_event_id() {
        let raw = body(
            "order.shipped",
            json!({"order_id": "A-1", "user_id": "u1", "carrier": "UPS", "tracking_number": "1Z"}),
        );
        let (envelope, decision) = decide("order.shipped", &raw).expect("valid");
        match decision {
            Decision::Deliver { job_id, rendered } => {
                assert_eq!(job_id, envelope.id.to_string());
                assert_eq!(rendered.recipient_id, "u1");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn poison_messages_have_reasons() {
        assert!(
            decide("order.shipped", b"{not json")
                .expect_err("poison")
                .contains("envelope")
        );
        let missing = body("order.shipped", json!({"order_id": "A-1"}));
        assert!(
            decide("order.shipped", &missing)
                .expect_err("poison")
                .contains("invalid data")
        );
        let mismatch = body("order.placed", json!({}));
        assert!(
            decide("order.shipped", &mismatch)
                .expect_err("poison")
                .contains("does not match")
        );
        let unknown = body("order.refunded", json!({}));
        assert!(decide("order.refunded", &unknown).is_err());
    }
}
