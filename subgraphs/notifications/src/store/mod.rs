//! Where inboxes live. Two real adapters behind one trait: MongoDB (the production default in
//! docker-compose) and SQL through sea-orm (SQLite embedded by default, or PostgreSQL). Both
//! pass the same conformance suite (`tests/api/conformance.rs`).

mod migrations;
pub mod mongo;
pub mod sql;

use std::collections::HashMap;
use std::sync::Arc;

use herald_service::preferences::Category;

use crate::model::{
    ListFilter, NewNotification, Notification, Page, PageRequest, RecipientProfile, WebhookEndpoint,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
}

impl From<StoreError> for herald_service::ApiError {
    fn from(err: StoreError) -> Self {
        herald_service::ApiError::internal(err.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Every read and write is scoped by recipient, so no call can touch another shopper's inbox.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync {
    /// Creates the notification unless one with the same (recipient, idempotency key) exists;
    /// returns the stored notification and whether this call created it.
    async fn create(&self, new: NewNotification) -> StoreResult<(Notification, bool)>;

    async fn get(&self, recipient_id: &str, id: &str) -> StoreResult<Option<Notification>>;

    /// By id regardless of recipient, for the entity loader (which then authorizes each one).
    async fn get_many(&self, ids: &[String]) -> StoreResult<HashMap<String, Notification>>;

    /// Newest first, archived ones left out.
    async fn list(
        &self,
        recipient_id: &str,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> StoreResult<Page>;

    /// Unread and not archived.
    async fn count_unread(
        &self,
        recipient_id: &str,
        category: Option<Category>,
    ) -> StoreResult<u64>;

    /// Marks read (`read = true`) or unread; `None` when there is no such notification.
    async fn set_read(
        &self,
        recipient_id: &str,
        id: &str,
        read: bool,
    ) -> StoreResult<Option<Notification>>;

    /// Marks every unread notification (of one category, if given) read; returns how many.
    async fn mark_all_read(
        &self,
        recipient_id: &str,
        category: Option<Category>,
    ) -> StoreResult<u64>;

    async fn archive(&self, recipient_id: &str, id: &str) -> StoreResult<Option<Notification>>;

    async fn ping(&self) -> StoreResult<()>;

    /// Stores the profile unless a newer one is already there; returns whether it was stored.
    async fn upsert_profile(&self, profile: &RecipientProfile) -> StoreResult<bool>;

    async fn get_profile(&self, user_id: &str) -> StoreResult<Option<RecipientProfile>>;

    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> StoreResult<()>;

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>>;

    /// Returns whether an endpoint was removed.
    async fn delete_webhook(&self, id: &str) -> StoreResult<bool>;
}

/// Opens the store the settings name: MongoDB when `mongodb_url` is set, else SQL.
pub async fn open(
    database_url: &str,
    mongodb_url: Option<&str>,
    mongodb_database: &str,
) -> anyhow::Result<Arc<dyn NotificationStore>> {
    Ok(match mongodb_url {
        Some(url) => Arc::new(mongo::MongoStore::connect(url, mongodb_database).await?),
        None => Arc::new(sql::SqlStore::connect(database_url).await?),
    })
}
