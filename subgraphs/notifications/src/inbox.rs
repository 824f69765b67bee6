//! Inbox operations shared by GraphQL, the seed REST routes and the delivery worker: every
//! write goes to the store, then its live updates go to the shopper's open subscriptions.

use std::sync::Arc;

use herald_service::ApiError;
use herald_service::preferences::Category;

use crate::live::{LiveEvent, LiveUpdates};
use crate::model::{ListFilter, NewNotification, Notification, Page, PageRequest};
use crate::store::NotificationStore;

pub struct Inbox {
    store: Arc<dyn NotificationStore>,
    live: Arc<LiveUpdates>,
}

impl Inbox {
    pub fn new(store: Arc<dyn NotificationStore>, live: Arc<LiveUpdates>) -> Self {
        Self { store, live }
    }

    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    pub fn live(&self) -> &Arc<LiveUpdates> {
        &self.live
    }

    /// Creates a notification exactly once per (recipient, idempotency key); only the call that
    /// created it pushes it live. Returns the notification and whether it is new.
    pub async fn create(&self, new: NewNotification) -> Result<(Notification, bool), ApiError> {
        new.validate()?;
        let recipient = new.recipient_id.clone();
        let (notification, created) = self.store.create(new).await?;
        if created {
            self.live
                .publish(
                    &recipient,
                    LiveEvent::Created {
                        notification: Box::new(notification.clone()),
                    },
                )
                .await;
            self.publish_count(&recipient).await;
        }
        Ok((notification, created))
    }

    pub async fn get(&self, recipient: &str, id: &str) -> Result<Option<Notification>, ApiError> {
        Ok(self.store.get(recipient, id).await?)
    }

    pub async fn list(
        &self,
        recipient: &str,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page, ApiError> {
        Ok(self.store.list(recipient, filter, page).await?)
    }

    pub async fn unread_count(
        &self,
        recipient: &str,
        category: Option<Category>,
    ) -> Result<u64, ApiError> {
        Ok(self.store.count_unread(recipient, category).await?)
    }

    /// Someone else's id and a missing id are the same `NOT_FOUND`.
    pub async fn set_read(
        &self,
        recipient: &str,
        id: &str,
        read: bool,
    ) -> Result<Notification, ApiError> {
        let notification = self
            .store
            .set_read(recipient, id, read)
            .await?
            .ok_or_else(|| ApiError::not_found("notification"))?;
        self.publish_count(recipient).await;
        Ok(notification)
    }

    pub async fn mark_all_read(
        &self,
        recipient: &str,
        category: Option<Category>,
    ) -> Result<u64, ApiError> {
        let changed = self.store.mark_all_read(recipient, category).await?;
        if changed > 0 {
            self.publish_count(recipient).await;
        }
        Ok(changed)
    }

    pub async fn archive(&self, recipient: &str, id: &str) -> Result<Notification, ApiError> {
        let notification = self
            .store
            .archive(recipient, id)
            .await?
            .ok_or_else(|| ApiError::not_found("notification"))?;
        self.publish_count(recipient).await;
        Ok(notification)
    }

    /// Counts are recomputed from the store after each change rather than adjusted in memory,
    /// so concurrent writers can never drift them.
    async fn publish_count(&self, recipient: &str) {
        match self.store.count_unread(recipient, None).await {
            Ok(unread) => {
                self.live
                    .publish(recipient, LiveEvent::UnreadCount { unread })
                    .await
            }
            Err(e) => tracing::warn!(error = %e, "unread count not published"),
        }
    }
}
