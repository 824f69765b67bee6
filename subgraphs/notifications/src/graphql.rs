//! The notifications subgraph's GraphQL API: it owns `Notification` and adds the inbox to the
//! federated `User`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    Context, ID, InputObject, Json, MergedObject, Object, Schema, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use herald_service::ApiError;
use herald_service::auth::Role;
use herald_service::graphql::caller;
use herald_service::metrics::GraphqlMetricsExtension;
use herald_service::preferences::Category;

use crate::admin::{AdminMutation, AdminQuery};
use crate::inbox::Inbox;
use crate::live::LiveEvent;
use crate::model::{self, ListFilter, NewNotification, PageRequest};
use crate::pipeline::jobs::Jobs;

pub type NotificationsSchema = Schema<Query, Mutation, Subscription>;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query(InboxQuery, AdminQuery);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct Mutation(InboxMutation, AdminMutation);

pub fn build_schema(inbox: Arc<Inbox>, jobs: Jobs) -> NotificationsSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .enable_federation()
        // Without this the federation SDL leaves `Subscription` out, and the router, which
        // composes from that SDL, cannot pass subscriptions through to this subgraph.
        .enable_subscription_in_federation()
        .extension(GraphqlMetricsExtension::new("notifications"))
        .data(DataLoader::new(
            NotificationLoader {
                inbox: inbox.clone(),
            },
            tokio::spawn,
        ))
        .data(inbox)
        .data(jobs)
        .limit_depth(12)
        .limit_complexity(500)
        .finish()
}

fn inbox<'a>(ctx: &Context<'a>) -> &'a Arc<Inbox> {
    ctx.data_unchecked::<Arc<Inbox>>()
}

/// A message in a shopper's in-app inbox.
pub struct Notification(pub(crate) model::Notification);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn category(&self) -> Category {
        self.0.category
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Free payload: product ids, an order id, a link...
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }

    async fn read(&self) -> bool {
        self.0.is_read()
    }

    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }

    async fn recipient(&self) -> User {
        User {
            id: ID(self.0.recipient_id.clone()),
        }
    }
}

/// The inbox side of the federated user.
pub struct User {
    id: ID,
}

#[Object(name = "User")]
impl User {
    async fn id(&self) -> &ID {
        &self.id
    }

    /// This user's inbox, newest first, archived notifications left out. Only the user
    /// themself or an admin may read it.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size; default 20, at most 100.")] first: Option<i32>,
        after: Option<String>,
        #[graphql(default = false)] unread_only: bool,
        category: Option<Category>,
    ) -> Result<NotificationConnection, ApiError> {
        caller(ctx)?.ensure_can_access_user(&self.id)?;
        let page = PageRequest::new(first, after.as_deref())?;
        let filter = ListFilter {
            unread_only,
            category,
        };
        let result = inbox(ctx).list(&self.id, &filter, &page).await?;
        let edges: Vec<NotificationEdge> = result
            .items
            .into_iter()
            .map(|n| NotificationEdge {
                cursor: n.cursor().encode(),
                node: Notification(n),
            })
            .collect();
        Ok(NotificationConnection {
            page_info: PageInfo {
                has_next_page: result.has_next_page,
                has_previous_page: page.after.is_some(),
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// Unread, unarchived notifications. Only the user themself or an admin may read it.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        caller(ctx)?.ensure_can_access_user(&self.id)?;
        let count = inbox(ctx).unread_count(&self.id, None).await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }
}

#[derive(SimpleObject)]
pub struct NotificationConnection {
    edges: Vec<NotificationEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct NotificationEdge {
    cursor: String,
    node: Notification,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

#[derive(Default)]
pub struct InboxQuery;

#[Object]
impl InboxQuery {
    /// One of the caller's own notifications; `null` for any other id.
    async fn notification(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Notification>, ApiError> {
        let caller = caller(ctx)?;
        Ok(inbox(ctx)
            .get(&caller.subject, &id)
            .await?
            .map(Notification))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }

    /// Resolves only the caller's own notifications (an admin's: anyone's); others are null.
    #[graphql(entity)]
    async fn find_notification_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Notification>, ApiError> {
        let caller = caller(ctx)?;
        let loader = ctx.data_unchecked::<DataLoader<NotificationLoader>>();
        let found = loader.load_one(id.to_string()).await?;
        Ok(found
            .filter(|n| caller.can_access_user(&n.recipient_id))
            .map(Notification))
    }
}

#[derive(InputObject)]
pub struct CreateNotificationInput {
    recipient_id: ID,
    category: Category,
    title: String,
    #[graphql(default)]
    body: String,
    data: Option<Json<serde_json::Value>>,
    /// Repeating a create with the same key returns the first notification instead of a copy.
    idempotency_key: String,
}

#[derive(SimpleObject)]
pub struct CreateNotificationPayload {
    notification: Notification,
    /// False when the idempotency key had been used: nothing new was written.
    created: bool,
}

#[derive(Default)]
pub struct InboxMutation;

#[Object]
impl InboxMutation {
    async fn mark_notification_read(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Notification, ApiError> {
        let caller = caller(ctx)?;
        Ok(Notification(
            inbox(ctx).set_read(&caller.subject, &id, true).await?,
        ))
    }

    async fn mark_notification_unread(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Notification, ApiError> {
        let caller = caller(ctx)?;
        Ok(Notification(
            inbox(ctx).set_read(&caller.subject, &id, false).await?,
        ))
    }

    /// Marks all unread notifications (of one category, if given) read; returns how many.
    async fn mark_all_notifications_read(
        &self,
        ctx: &Context<'_>,
        category: Option<Category>,
    ) -> Result<i64, ApiError> {
        let caller = caller(ctx)?;
        let changed = inbox(ctx).mark_all_read(&caller.subject, category).await?;
        Ok(i64::try_from(changed).unwrap_or(i64::MAX))
    }

    /// Moves a notification out of the default listing and the unread count.
    async fn archive_notification(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Notification, ApiError> {
        let caller = caller(ctx)?;
        Ok(Notification(
            inbox(ctx).archive(&caller.subject, &id).await?,
        ))
    }

    /// Writes straight into a user's inbox. For the shop's backend (`service`) and admins.
    async fn create_notification(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationInput,
    ) -> Result<CreateNotificationPayload, ApiError> {
        caller(ctx)?.ensure_any_role(&[Role::Service, Role::Admin])?;
        let (notification, created) = inbox(ctx)
            .create(NewNotification {
                recipient_id: input.recipient_id.to_string(),
                category: input.category,
                title: input.title,
                body: input.body,
                data: input.data.map(|j| j.0).unwrap_or(serde_json::Value::Null),
                idempotency_key: input.idempotency_key,
                read: false,
            })
            .await?;
        Ok(CreateNotificationPayload {
            notification: Notification(notification),
            created,
        })
    }
}

pub struct Subscription;

#[Subscription(name = "Subscription")]
impl Subscription {
    /// Each new notification in the caller's inbox, as it arrives.
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Notification> + use<>, ApiError> {
        let caller = caller(ctx)?;
        let stream = inbox(ctx).live().subscribe(caller.subject.clone());
        Ok(stream.filter_map(|event| async move {
            match event {
                LiveEvent::Created { notification } => Some(Notification(*notification)),
                LiveEvent::UnreadCount { .. } => None,
            }
        }))
    }

    /// The caller's unread count: the current value first, then every change.
    async fn unread_notification_count_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = i64> + use<>, ApiError> {
        let caller = caller(ctx)?;
        let inbox = inbox(ctx).clone();
        // Subscribe before reading the current value, so no change can fall in between.
        let changes = inbox.live().subscribe(caller.subject.clone());
        let current = inbox.unread_count(&caller.subject, None).await?;
        let changes = changes.filter_map(|event| async move {
            match event {
                LiveEvent::UnreadCount { unread } => Some(unread),
                LiveEvent::Created { .. } => None,
            }
        });
        Ok(futures::stream::once(async move { current })
            .chain(changes)
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

/// Batches the notification look-ups of one `_entities` call.
pub struct NotificationLoader {
    inbox: Arc<Inbox>,
}

impl Loader<String> for NotificationLoader {
    type Value = model::Notification;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, model::Notification>, ApiError> {
        Ok(self.inbox.store().get_many(keys).await?)
    }
}
