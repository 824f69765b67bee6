//! The transactional outbox. An event is inserted in the same transaction as the change it
//! describes, so a committed registration always has its event; the relay then publishes
//! pending events with publisher confirms and marks them. Publication is at-least-once
//! (a crash between confirm and mark republishes), which consumers absorb by deduplicating
//! on the envelope id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use herald_service::events::{Envelope, OutgoingMessage, Publisher};
use herald_service::{metrics, sql};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::entities::outbox_event;

const BATCH: u64 = 100;
const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

fn pending_batch() -> sea_orm::Select<outbox_event::Entity> {
    outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .order_by_asc(outbox_event::Column::CreatedAt)
        .limit(BATCH)
}

/// Adds `envelope` to the outbox within the caller's transaction.
pub async fn enqueue<C: ConnectionTrait, T: Serialize>(
    txn: &C,
    envelope: &Envelope<T>,
) -> Result<(), sea_orm::DbErr> {
    let payload =
        serde_json::to_string(envelope).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    outbox_event::ActiveModel {
        id: Set(envelope.id.to_string()),
        routing_key: Set(envelope.kind.clone()),
        payload: Set(payload),
        created_at: Set(envelope.occurred_at),
        published_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Publishes what the outbox holds. Several replicas may run one each: on PostgreSQL they
/// share the work through `FOR UPDATE SKIP LOCKED`.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    publisher: Arc<Publisher>,
    wake: Arc<Notify>,
    poll: Duration,
}

impl Relay {
    pub fn new(db: DatabaseConnection, publisher: Arc<Publisher>, poll: Duration) -> Self {
        Self {
            db,
            publisher,
            wake: Arc::new(Notify::new()),
            poll,
        }
    }

    /// Called after a commit that enqueued events, so they go out without waiting for a poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut last_prune = Instant::now();
        let mut failures: u32 = 0;
        loop {
            match self.relay_once().await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    // Say it once per outage, not once per poll.
                    if failures == 1 {
                        tracing::warn!(error = %e, "outbox relay cannot publish yet; will retry");
                    }
                }
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = Instant::now();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "outbox prune failed");
                }
            }
            // Back off while the broker is down, up to 30 s; otherwise wait for a wake-up.
            let wait = if failures == 0 {
                self.poll
            } else {
                (self.poll * 2u32.saturating_pow(failures.min(5))).min(Duration::from_secs(30))
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified(), if failures == 0 => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Publishes up to one batch of pending events; returns how many were confirmed.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let (confirmed, first_error) = if self.db.get_database_backend() == DbBackend::Postgres {
            // Replicas share the work: each claims its batch with SKIP LOCKED and holds the
            // claim until the outcome is written.
            let txn = self.db.begin().await?;
            let pending = pending_batch()
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(&txn)
                .await?;
            let outcome = self.publish_and_mark(&txn, pending).await?;
            txn.commit().await?;
            outcome
        } else {
            // SQLite has one writer and one relay per file. Holding its write lock across a
            // broker round-trip would stall registrations, so the outcome is written in a
            // short write transaction of its own.
            let pending = pending_batch().all(&self.db).await?;
            let txn = sql::begin_write(&self.db).await?;
            let outcome = self.publish_and_mark(&txn, pending).await?;
            txn.commit().await?;
            outcome
        };
        let remaining = outbox_event::Entity::find()
            .filter(outbox_event::Column::PublishedAt.is_null())
            .count(&self.db)
            .await?;
        metrics::EVENTS
            .outbox_pending
            .with_label_values(&["users"])
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
        match first_error {
            Some(e) if confirmed == 0 => Err(e.into()),
            _ => Ok(confirmed),
        }
    }

    async fn publish_and_mark<C: ConnectionTrait>(
        &self,
        conn: &C,
        pending: Vec<outbox_event::Model>,
    ) -> Result<(usize, Option<herald_service::events::PublishError>), sea_orm::DbErr> {
        if pending.is_empty() {
            return Ok((0, None));
        }
        let messages: Vec<OutgoingMessage> = pending
            .iter()
            .map(|row| OutgoingMessage {
                routing_key: row.routing_key.clone(),
                id: row.id.clone(),
                payload: row.payload.clone().into_bytes(),
            })
            .collect();
        let results = self.publisher.publish_batch(&messages).await;
        let mut confirmed = 0;
        let mut first_error = None;
        let now = Utc::now();
        for (row, result) in pending.into_iter().zip(results) {
            let attempts = row.attempts + 1;
            let mut active: outbox_event::ActiveModel = row.into();
            active.attempts = Set(attempts);
            match result {
                Ok(()) => {
                    active.published_at = Set(Some(now));
                    active.last_error = Set(None);
                    confirmed += 1;
                }
                Err(e) => {
                    active.last_error = Set(Some(e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
            active.update(conn).await?;
        }
        Ok((confirmed, first_error))
    }

    /// Forgets published events past the retention window.
    async fn prune(&self) -> Result<u64, sea_orm::DbErr> {
        let cutoff = Utc::now() - RETENTION;
        let result = outbox_event::Entity::delete_many()
            .filter(outbox_event::Column::PublishedAt.lt(cutoff))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
