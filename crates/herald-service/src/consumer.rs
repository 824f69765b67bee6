//! Consuming `herald.events`, the same way in every worker: a durable quorum queue bound to
//! the routing keys a service cares about, manual acks once the handler has made the event
//! durable, poison messages parked in `<queue>.dead` with the reason in a header (so they
//! never block the queue), and reconnection with back-off when RabbitMQ goes away. What an
//! event means is the service's [`EventHandler`]; everything else lives here.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use crate::events::{DEAD_LETTER_EXCHANGE, EXCHANGE, declare_exchanges};
use crate::metrics::EVENTS;

/// Why a message was parked in `<queue>.dead`.
pub const DEAD_REASON_HEADER: &str = "x-herald-dead-reason";

/// A message that keeps killing its consumer is dead-lettered by the broker after this many
/// deliveries.
const DELIVERY_LIMIT: i32 = 20;

/// What became of one event.
pub enum Handled {
    /// Durable (or deliberately ignored): ack, and count it under this outcome label.
    Done(&'static str),
    /// It can never be handled (unparseable, invalid): park it with this reason.
    Poison(String),
    /// A store or broker the handler needs is unavailable: requeue and try again shortly.
    Retry(anyhow::Error),
}

#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, routing_key: &str, body: &[u8]) -> Handled;
}

pub struct EventConsumer {
    /// The `service` label of `herald_events_consumed_total`, and the consumer tag's prefix.
    pub service: &'static str,
    pub amqp_url: String,
    pub queue: String,
    /// Lets throwaway queues (tests, dev runs) disappear once unused.
    pub queue_expires_ms: Option<u32>,
    pub prefetch: u16,
    pub bindings: &'static [&'static str],
    pub handler: Arc<dyn EventHandler>,
}

/// Declares the queue, its dead-letter queue and the bindings; idempotent.
pub async fn declare_topology(
    channel: &Channel,
    queue: &str,
    expires_ms: Option<u32>,
    bindings: &[&str],
) -> lapin::Result<()> {
    declare_exchanges(channel).await?;
    let dead = format!("{queue}.dead");
    let mut arguments = quorum();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(DEAD_LETTER_EXCHANGE.into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.clone().into()),
    );
    arguments.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(DELIVERY_LIMIT),
    );
    let mut dead_arguments = quorum();
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
    bind(channel, &dead, DEAD_LETTER_EXCHANGE, &dead).await?;
    for key in bindings {
        bind(channel, queue, EXCHANGE, key).await?;
    }
    Ok(())
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

impl EventConsumer {
    /// Consumes until `stop`, reconnecting with back-off (up to 15 s) whenever the
    /// connection is lost.
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
        declare_topology(&channel, &self.queue, self.queue_expires_ms, self.bindings).await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await?;
        // Dead letters are published with confirms on a channel of their own, so a parked
        // message is acked only once the broker holds its copy.
        let dead_channel = connection.create_channel().await?;
        dead_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let tag = format!("herald-{}-{}", self.service, uuid::Uuid::new_v4());
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

    async fn handle(&self, delivery: Delivery, dead_channel: &Channel) {
        let routing_key = delivery.routing_key.as_str().to_owned();
        match self.handler.handle(&routing_key, &delivery.data).await {
            Handled::Done(outcome) => {
                self.consumed(&routing_key, outcome);
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
            Handled::Poison(reason) => {
                tracing::warn!(%routing_key, %reason, "dead-lettering a poison message");
                match self.dead_letter(dead_channel, &delivery, &reason).await {
                    Ok(()) => {
                        self.consumed(&routing_key, "dead_lettered");
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
            Handled::Retry(e) => {
                tracing::warn!(error = %e, %routing_key, "event not handled; requeueing");
                self.consumed(&routing_key, "requeued");
                // A short pause, so an outage does not turn into a hot redelivery loop.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
            }
        }
    }

    fn consumed(&self, routing_key: &str, outcome: &str) {
        EVENTS
            .consumed
            .with_label_values(&[self.service, routing_key, outcome])
            .inc();
    }

    async fn dead_letter(
        &self,
        channel: &Channel,
        delivery: &Delivery,
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
