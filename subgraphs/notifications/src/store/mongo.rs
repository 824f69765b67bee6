//! The inbox on MongoDB: one document per notification in `notifications`, with the indexes
//! the inbox queries need created at start-up.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::TryStreamExt;
use herald_service::preferences::Category;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use serde::{Deserialize, Serialize};

use super::{NotificationStore, StoreError, StoreResult};
use crate::model::{
    self, ListFilter, NewNotification, Notification, Page, PageRequest, RecipientProfile,
    WebhookEndpoint,
};

const COLLECTION: &str = "notifications";
const PROFILES: &str = "recipient_profiles";
const WEBHOOKS: &str = "webhook_endpoints";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProfileDoc {
    #[serde(rename = "_id")]
    user_id: String,
    preferences: herald_service::preferences::Preferences,
    email: Option<String>,
    updated_at: bson::DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WebhookDoc {
    #[serde(rename = "_id")]
    id: String,
    url: String,
    categories: Vec<String>,
    secret: String,
    created_at: bson::DateTime,
}
const DUPLICATE_KEY: i32 = 11000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NotificationDoc {
    #[serde(rename = "_id")]
    id: String,
    recipient_id: String,
    category: String,
    title: String,
    body: String,
    data: serde_json::Value,
    idempotency_key: String,
    created_at: bson::DateTime,
    read_at: Option<bson::DateTime>,
    archived_at: Option<bson::DateTime>,
}

fn to_bson_time(time: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(time.timestamp_millis())
}

fn from_bson_time(time: bson::DateTime) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(time.timestamp_millis())
        .single()
        .unwrap_or_default()
}

impl NotificationDoc {
    fn into_domain(self) -> StoreResult<Notification> {
        Ok(Notification {
            category: Category::parse(&self.category).ok_or_else(|| {
                StoreError::Database(format!("unknown category {}", self.category))
            })?,
            id: self.id,
            recipient_id: self.recipient_id,
            title: self.title,
            body: self.body,
            data: self.data,
            idempotency_key: self.idempotency_key,
            created_at: from_bson_time(self.created_at),
            read_at: self.read_at.map(from_bson_time),
            archived_at: self.archived_at.map(from_bson_time),
        })
    }
}

fn db_error(err: mongodb::error::Error) -> StoreError {
    StoreError::Database(err.to_string())
}

fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY
    )
}

pub struct MongoStore {
    client: Client,
    collection: Collection<NotificationDoc>,
    profiles: Collection<ProfileDoc>,
    webhooks: Collection<WebhookDoc>,
}

impl MongoStore {
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url).await?;
        options
            .app_name
            .get_or_insert_with(|| "herald-notifications".into());
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options)?;
        let db = client.database(database);
        let store = Self {
            collection: db.collection(COLLECTION),
            profiles: db.collection(PROFILES),
            webhooks: db.collection(WEBHOOKS),
            client,
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        let named = |name: &str| IndexOptions::builder().name(name.to_owned()).build();
        let unique = IndexOptions::builder()
            .name("ux_recipient_idempotency".to_owned())
            .unique(true)
            .build();
        self.collection
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! {"recipient_id": 1, "idempotency_key": 1})
                    .options(unique)
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"recipient_id": 1, "created_at": -1, "_id": -1})
                    .options(named("ix_inbox"))
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"recipient_id": 1, "read_at": 1, "archived_at": 1})
                    .options(named("ix_unread"))
                    .build(),
            ])
            .await?;
        Ok(())
    }

    async fn find_one(&self, filter: Document) -> StoreResult<Option<Notification>> {
        self.collection
            .find_one(filter)
            .await
            .map_err(db_error)?
            .map(NotificationDoc::into_domain)
            .transpose()
    }

    async fn set_timestamp(
        &self,
        recipient_id: &str,
        id: &str,
        field: &str,
        value: Option<DateTime<Utc>>,
    ) -> StoreResult<Option<Notification>> {
        let mut filter = doc! {"_id": id, "recipient_id": recipient_id};
        let update = match value {
            // Setting keeps the first time; clearing always clears.
            Some(time) => {
                filter.insert(field, Bson::Null);
                doc! {"$set": {field: to_bson_time(time)}}
            }
            None => doc! {"$set": {field: Bson::Null}},
        };
        self.collection
            .update_one(filter, update)
            .await
            .map_err(db_error)?;
        self.get(recipient_id, id).await
    }
}

fn unread_filter(recipient_id: &str, category: Option<Category>) -> Document {
    // `null` matches both a null field and a missing one.
    let mut filter =
        doc! {"recipient_id": recipient_id, "read_at": Bson::Null, "archived_at": Bson::Null};
    if let Some(category) = category {
        filter.insert("category", category.as_str());
    }
    filter
}

#[async_trait::async_trait]
impl NotificationStore for MongoStore {
    async fn create(&self, new: NewNotification) -> StoreResult<(Notification, bool)> {
        let now = model::now_millis();
        let doc = NotificationDoc {
            id: uuid::Uuid::now_v7().to_string(),
            recipient_id: new.recipient_id.clone(),
            category: new.category.as_str().to_owned(),
            title: new.title.trim().to_owned(),
            body: new.body,
            data: if new.data.is_null() {
                serde_json::json!({})
            } else {
                new.data
            },
            idempotency_key: new.idempotency_key.clone(),
            created_at: to_bson_time(now),
            read_at: new.read.then(|| to_bson_time(now)),
            archived_at: None,
        };
        match self.collection.insert_one(&doc).await {
            Ok(_) => Ok((doc.into_domain()?, true)),
            Err(err) if is_duplicate_key(&err) => {
                let filter = doc! {"recipient_id": &new.recipient_id, "idempotency_key": &new.idempotency_key};
                let existing = self.find_one(filter).await?;
                existing.map(|n| (n, false)).ok_or_else(|| db_error(err))
            }
            Err(err) => Err(db_error(err)),
        }
    }

    async fn get(&self, recipient_id: &str, id: &str) -> StoreResult<Option<Notification>> {
        self.find_one(doc! {"_id": id, "recipient_id": recipient_id})
            .await
    }

    async fn get_many(&self, ids: &[String]) -> StoreResult<HashMap<String, Notification>> {
        let docs: Vec<NotificationDoc> = self
            .collection
            .find(doc! {"_id": {"$in": ids}})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        docs.into_iter()
            .map(|d| d.into_domain().map(|n| (n.id.clone(), n)))
            .collect()
    }

    async fn list(
        &self,
        recipient_id: &str,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> StoreResult<Page> {
        let mut query = doc! {"recipient_id": recipient_id, "archived_at": Bson::Null};
        if filter.unread_only {
            query.insert("read_at", Bson::Null);
        }
        if let Some(category) = filter.category {
            query.insert("category", category.as_str());
        }
        if let Some(after) = &page.after {
            let at = to_bson_time(after.created_at);
            query.insert(
                "$or",
                vec![
                    doc! {"created_at": {"$lt": at}},
                    doc! {"created_at": at, "_id": {"$lt": &after.id}},
                ],
            );
        }
        let limit = i64::try_from(page.first + 1).unwrap_or(i64::MAX);
        let docs: Vec<NotificationDoc> = self
            .collection
            .find(query)
            .sort(doc! {"created_at": -1, "_id": -1})
            .limit(limit)
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        let has_next_page = docs.len() > page.first;
        let items = docs
            .into_iter()
            .take(page.first)
            .map(NotificationDoc::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page {
            items,
            has_next_page,
        })
    }

    async fn count_unread(
        &self,
        recipient_id: &str,
        category: Option<Category>,
    ) -> StoreResult<u64> {
        self.collection
            .count_documents(unread_filter(recipient_id, category))
            .await
            .map_err(db_error)
    }

    async fn set_read(
        &self,
        recipient_id: &str,
        id: &str,
        read: bool,
    ) -> StoreResult<Option<Notification>> {
        let value = read.then(model::now_millis);
        self.set_timestamp(recipient_id, id, "read_at", value).await
    }

    async fn mark_all_read(
        &self,
        recipient_id: &str,
        category: Option<Category>,
    ) -> StoreResult<u64> {
        let result = self
            .collection
            .update_many(
                unread_filter(recipient_id, category),
                doc! {"$set": {"read_at": to_bson_time(model::now_millis())}},
            )
            .await
            .map_err(db_error)?;
        Ok(result.modified_count)
    }

    async fn archive(&self, recipient_id: &str, id: &str) -> StoreResult<Option<Notification>> {
        self.set_timestamp(recipient_id, id, "archived_at", Some(model::now_millis()))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn upsert_profile(&self, p: &RecipientProfile) -> StoreResult<bool> {
        let at = to_bson_time(p.updated_at);
        let preferences =
            bson::to_bson(&p.preferences).map_err(|e| StoreError::Database(e.to_string()))?;
        // Matches only an older (or no) profile; when a newer one exists the upsert's insert
        // collides with it on _id, which means "not newer".
        let result = self
            .profiles
            .update_one(
                doc! {"_id": &p.user_id, "updated_at": {"$lte": at}},
                doc! {"$set": {"preferences": preferences, "email": p.email.clone(), "updated_at": at}},
            )
            .upsert(true)
            .await;
        match result {
            Ok(r) => Ok(r.matched_count > 0 || r.upserted_id.is_some()),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn get_profile(&self, user_id: &str) -> StoreResult<Option<RecipientProfile>> {
        let found = self
            .profiles
            .find_one(doc! {"_id": user_id})
            .await
            .map_err(db_error)?;
        Ok(found.map(|d| RecipientProfile {
            user_id: d.user_id,
            preferences: d.preferences,
            email: d.email,
            updated_at: from_bson_time(d.updated_at),
        }))
    }

    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        let doc = WebhookDoc {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            categories: endpoint
                .categories
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            secret: endpoint.secret.clone(),
            created_at: to_bson_time(endpoint.created_at),
        };
        self.webhooks.insert_one(doc).await.map_err(db_error)?;
        Ok(())
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        let docs: Vec<WebhookDoc> = self
            .webhooks
            .find(doc! {})
            .sort(doc! {"created_at": 1})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        Ok(docs
            .into_iter()
            .map(|d| WebhookEndpoint {
                categories: d
                    .categories
                    .iter()
                    .filter_map(|c| Category::parse(c))
                    .collect(),
                id: d.id,
                url: d.url,
                secret: d.secret,
                created_at: from_bson_time(d.created_at),
            })
            .collect())
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let result = self
            .webhooks
            .delete_one(doc! {"_id": id})
            .await
            .map_err(db_error)?;
        Ok(result.deleted_count > 0)
    }
}
