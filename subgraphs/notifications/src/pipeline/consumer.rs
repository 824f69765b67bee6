//! RabbitMQ in: the durable quorum queue bound to `herald.events`, consumed with manual acks.
//! A message is acknowledged only once its job is in Redis (or its profile is stored); poison
//! messages go to `<queue>.dead` with the reason in a header and never block the queue; the
//! connection is re-established with back-off when RabbitMQ goes away.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use herald_service::events::{DEAD_LETTER_EXCHANGE, EXCHANGE, declare_exchanges, routing};
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use super::decide::{Decision, decide};
use super::jobs::{DeliverJob, Jobs};
use super::metrics;
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
pub const DEAD_REASON_HEADER: &str = "x-herald-dead-reason";

pub struct Consumer {
    pub amqp_url: String,
    pub queue: String,
    pub queue_expires_ms: Option<u32>,
    pub prefetch: u16,
    pub store: Arc<dyn NotificationStore>,
    pub jobs: Jobs,
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
    // A message that keeps failing to be handled (the consumer dies on it) is dead-lettered by
    // the broker after this many deliveries.
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

impl Consumer {
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            let session = self.clone().session(stop.clone());
            match session.await {
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
        let tag = format!("herald-notifications-{}", uuid::Uuid::new_v4());
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
        let handled = consumer.take_until(stop.cancelled()).for_each_concurrent(
            usize::from(self.prefetch.max(1)),
            |delivery| {
                let this = self.clone();
                async move {
                    match delivery {
                        Ok(delivery) => this.handle(delivery, dead_channel).await,
                        Err(e) => tracing::warn!(error = %e, "delivery error"),
                    }
                }
            },
        );
        handled.await;
        if stop.is_cancelled() {
            let _ = connection.close(200, "shutting down".into()).await;
            return Ok(());
        }
        anyhow::bail!("the consumer stream ended")
    }

    async fn handle(&self, delivery: AmqpDelivery, dead_channel: &Channel) {
        let routing_key = delivery.routing_key.as_str().to_owned();
        match decide(&routing_key, &delivery.data) {
            Err(reason) => {
                tracing::warn!(%routing_key, %reason, "dead-lettering a poison message");
                match self.dead_letter(dead_channel, &delivery, &reason).await {
                    Ok(()) => {
                        metrics::consumed(&routing_key, "dead_lettered");
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
            Ok((envelope, decision)) => match self
                .apply(decision, envelope.occurred_at.timestamp_millis())
                .await
            {
                Ok(outcome) => {
                    metrics::consumed(&routing_key, outcome);
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                Err(e) => {
                    // Redis or the store is unavailable: keep the message, try again shortly.
                    tracing::warn!(error = %e, %routing_key, "event not handled; requeueing");
                    metrics::consumed(&routing_key, "requeued");
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
