//! Live inbox updates across processes. Whoever writes an inbox (this API, the delivery worker
//! in another process) publishes on Redis; every API process keeps one pattern subscription and
//! fans the messages out to its websocket subscribers in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, broadcast};
use tokio_util::sync::CancellationToken;

use crate::model::Notification;

const CHANNEL_PREFIX: &str = "herald:inbox:";
/// Messages a slow subscriber may fall behind by before it skips ahead.
const FAN_OUT_BUFFER: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    Created { notification: Box<Notification> },
    UnreadCount { unread: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Envelope {
    user_id: String,
    event: LiveEvent,
}

pub struct LiveUpdates {
    client: redis::Client,
    connection: Mutex<Option<redis::aio::ConnectionManager>>,
    local: broadcast::Sender<Arc<Envelope>>,
    subscribed: AtomicBool,
}

impl LiveUpdates {
    pub fn new(redis_url: &str) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(redis_url)?;
        let (local, _) = broadcast::channel(FAN_OUT_BUFFER);
        Ok(Arc::new(Self {
            client,
            connection: Mutex::new(None),
            local,
            subscribed: AtomicBool::new(false),
        }))
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection =
            tokio::time::timeout(Duration::from_secs(3), self.client.get_connection_manager())
                .await
                .map_err(|_| {
                    redis::RedisError::from((redis::ErrorKind::Io, "connect timed out"))
                })??;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Publishes to every API process. A failure loses only the live push, never the
    /// notification (it is already stored), so it is logged and not returned.
    pub async fn publish(&self, user_id: &str, event: LiveEvent) {
        let envelope = Envelope {
            user_id: user_id.to_owned(),
            event,
        };
        let payload = match serde_json::to_string(&envelope) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize a live update");
                return;
            }
        };
        let result = match self.connection().await {
            Ok(mut connection) => {
                connection
                    .publish::<_, _, ()>(format!("{CHANNEL_PREFIX}{user_id}"), payload)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "live update not published (Redis unavailable)");
        }
    }

    /// One shopper's live updates, from any process.
    pub fn subscribe(&self, user_id: String) -> impl Stream<Item = LiveEvent> + Send + use<> {
        let receiver = self.local.subscribe();
        futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(envelope) => return Some((envelope, receiver)),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "a live subscriber fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter_map(move |envelope| {
            let event = (envelope.user_id == user_id).then(|| envelope.event.clone());
            async move { event }
        })
    }

    /// Keeps the pattern subscription up, reconnecting with back-off, until `stop`.
    pub async fn run_subscriber(self: Arc<Self>, stop: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            let session = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.psubscribe(format!("{CHANNEL_PREFIX}*")).await?;
                self.subscribed.store(true, Ordering::Release);
                tracing::info!("subscribed to live inbox updates");
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    match serde_json::from_str::<Envelope>(&payload) {
                        Ok(envelope) => {
                            let _ = self.local.send(Arc::new(envelope));
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring a malformed live update"),
                    }
                }
                Ok::<(), redis::RedisError>(())
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                result = session => {
                    // A session that got as far as subscribing was a working connection: start
                    // the back-off over.
                    if self.subscribed.swap(false, Ordering::AcqRel) {
                        delay = Duration::from_millis(200);
                    }
                    match result {
                        Ok(()) => tracing::warn!("live update subscription ended; reconnecting"),
                        Err(e) => tracing::warn!(error = %e, "live update subscription failed; retrying"),
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    /// Whether this process currently receives live updates (for `/ready`).
    pub async fn check(&self) -> Result<(), String> {
        let mut connection = self.connection().await.map_err(|e| e.to_string())?;
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        if self.subscribed.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err("not subscribed to live updates".into())
        }
    }
}
