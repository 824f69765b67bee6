//! What an event on `herald.events` means for delivery: a job on the BullMQ queue, or a
//! refreshed preference replica. The queue, acks, dead letters and reconnection are
//! `herald_service::consumer`'s; a message is acked only once its job is in Redis (or its
//! profile is stored).

use std::sync::Arc;

use herald_service::consumer::{EventHandler, Handled};
use herald_service::events::routing;

use super::decide::{Decision, decide};
use super::jobs::{DeliverJob, Jobs};
use crate::model::RecipientProfile;
use crate::store::NotificationStore;

pub const BINDINGS: [&str; 7] = [
    routing::USER_REGISTERED,
    routing::USER_PREFERENCES_UPDATED,
    routing::RECOMMENDATION_GENERATED,
    routing::ORDER_PLACED,
    routing::ORDER_SHIPPED,
    routing::ORDER_DELIVERED,
    routing::ORDER_CANCELLED,
];

pub struct Events {
    pub store: Arc<dyn NotificationStore>,
    pub jobs: Jobs,
}

#[async_trait::async_trait]
impl EventHandler for Events {
    async fn handle(&self, routing_key: &str, body: &[u8]) -> Handled {
        match decide(routing_key, body) {
            Err(reason) => Handled::Poison(reason),
            Ok((envelope, decision)) => {
                match self
                    .apply(decision, envelope.occurred_at.timestamp_millis())
                    .await
                {
                    Ok(outcome) => Handled::Done(outcome),
                    Err(e) => Handled::Retry(e),
                }
            }
        }
    }
}

impl Events {
    async fn apply(&self, decision: Decision, occurred_at_ms: i64) -> anyhow::Result<&'static str> {
        match decision {
            Decision::Deliver { job_id, rendered } => {
                let job = DeliverJob {
                    key: job_id,
                    recipient_id: rendered.recipient_id,
                    category: rendered.category,
                    title: rendered.title,
                    body: rendered.body,
                    data: rendered.data,
                    requested_at_ms: occurred_at_ms,
                    replays: 0,
                };
                self.jobs.enqueue(&job, None).await?;
                Ok("enqueued")
            }
            Decision::Profile {
                user_id,
                preferences,
                email,
                occurred_at,
                welcome,
            } => {
                let profile = RecipientProfile {
                    user_id,
                    preferences,
                    email,
                    updated_at: occurred_at,
                };
                self.store.upsert_profile(&profile).await?;
                if let Some((key, rendered)) = welcome {
                    let job = DeliverJob {
                        key,
                        recipient_id: rendered.recipient_id,
                        category: rendered.category,
                        title: rendered.title,
                        body: rendered.body,
                        data: rendered.data,
                        requested_at_ms: occurred_at_ms,
                        replays: 0,
                    };
                    self.jobs.enqueue(&job, None).await?;
                }
                Ok("profile")
            }
        }
    }
}
