//! The inbox on SQL (SQLite or PostgreSQL) through sea-orm.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use herald_service::preferences::Category;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};

use super::{NotificationStore, StoreError, StoreResult, migrations};
use crate::model::{
    self, ListFilter, NewNotification, Notification, Page, PageRequest, RecipientProfile,
    WebhookEndpoint,
};

mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub recipient_id: String,
        pub category: String,
        pub title: String,
        pub body: String,
        /// JSON object text.
        pub data: String,
        pub idempotency_key: String,
        pub created_at: DateTimeUtc,
        pub read_at: Option<DateTimeUtc>,
        pub archived_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod profile {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recipient_profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub preferences: String,
        pub email: Option<String>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod webhook {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub url: String,
        /// Comma-separated category names.
        pub categories: String,
        pub secret: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column, Entity};

fn db_error(err: DbErr) -> StoreError {
    StoreError::Database(err.to_string())
}

fn to_domain(row: entity::Model) -> StoreResult<Notification> {
    Ok(Notification {
        category: Category::parse(&row.category)
            .ok_or_else(|| StoreError::Database(format!("unknown category {}", row.category)))?,
        data: serde_json::from_str(&row.data).map_err(|e| StoreError::Database(e.to_string()))?,
        id: row.id,
        recipient_id: row.recipient_id,
        title: row.title,
        body: row.body,
        idempotency_key: row.idempotency_key,
        created_at: row.created_at,
        read_at: row.read_at,
        archived_at: row.archived_at,
    })
}

pub struct SqlStore {
    db: DatabaseConnection,
}

impl SqlStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let db = herald_service::sql::connect(url).await?;
        herald_service::sql::migrate::<migrations::Migrator>(&db, "notifications").await?;
        Ok(Self { db })
    }

    fn owned(recipient_id: &str, id: &str) -> Condition {
        Condition::all()
            .add(Column::RecipientId.eq(recipient_id))
            .add(Column::Id.eq(id))
    }

    async fn find_by_key(
        &self,
        recipient_id: &str,
        key: &str,
    ) -> StoreResult<Option<Notification>> {
        Entity::find()
            .filter(Column::RecipientId.eq(recipient_id))
            .filter(Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn set_timestamp(
        &self,
        recipient_id: &str,
        id: &str,
        column: Column,
        value: Option<DateTime<Utc>>,
    ) -> StoreResult<Option<Notification>> {
        let mut update = Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(Self::owned(recipient_id, id));
        // Setting keeps the first time; clearing always clears.
        if value.is_some() {
            update = update.filter(column.is_null());
        }
        update.exec(&self.db).await.map_err(db_error)?;
        self.get(recipient_id, id).await
    }
}

#[async_trait::async_trait]
impl NotificationStore for SqlStore {
    async fn create(&self, new: NewNotification) -> StoreResult<(Notification, bool)> {
        let now = model::now_millis();
        let row = entity::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            recipient_id: Set(new.recipient_id.clone()),
            category: Set(new.category.as_str().to_owned()),
            title: Set(new.title.trim().to_owned()),
            body: Set(new.body),
            data: Set(if new.data.is_null() {
                "{}".into()
            } else {
                new.data.to_string()
            }),
            idempotency_key: Set(new.idempotency_key.clone()),
            created_at: Set(now),
            read_at: Set(new.read.then_some(now)),
            archived_at: Set(None),
        };
        match row.insert(&self.db).await {
            Ok(row) => Ok((to_domain(row)?, true)),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let existing = self
                    .find_by_key(&new.recipient_id, &new.idempotency_key)
                    .await?;
                existing.map(|n| (n, false)).ok_or_else(|| db_error(err))
            }
            Err(err) => Err(db_error(err)),
        }
    }

    async fn get(&self, recipient_id: &str, id: &str) -> StoreResult<Option<Notification>> {
        Entity::find()
            .filter(Self::owned(recipient_id, id))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn get_many(&self, ids: &[String]) -> StoreResult<HashMap<String, Notification>> {
        let rows = Entity::find()
            .filter(Column::Id.is_in(ids.iter().cloned()))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .map(|row| to_domain(row).map(|n| (n.id.clone(), n)))
            .collect()
    }

    async fn list(
        &self,
        recipient_id: &str,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> StoreResult<Page> {
        let mut query = Entity::find()
            .filter(Column::RecipientId.eq(recipient_id))
            .filter(Column::ArchivedAt.is_null());
        if filter.unread_only {
            query = query.filter(Column::ReadAt.is_null());
        }
        if let Some(category) = filter.category {
            query = query.filter(Column::Category.eq(category.as_str()));
        }
        if let Some(after) = &page.after {
            query = query.filter(
                Condition::any()
                    .add(Column::CreatedAt.lt(after.created_at))
                    .add(
                        Condition::all()
                            .add(Column::CreatedAt.eq(after.created_at))
                            .add(Column::Id.lt(after.id.as_str())),
                    ),
            );
        }
        let rows = query
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(page.first as u64 + 1)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let has_next_page = rows.len() > page.first;
        let items = rows
            .into_iter()
            .take(page.first)
            .map(to_domain)
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
        let mut query = Entity::find()
            .filter(Column::RecipientId.eq(recipient_id))
            .filter(Column::ReadAt.is_null())
            .filter(Column::ArchivedAt.is_null());
        if let Some(category) = category {
            query = query.filter(Column::Category.eq(category.as_str()));
        }
        query.count(&self.db).await.map_err(db_error)
    }

    async fn set_read(
        &self,
        recipient_id: &str,
        id: &str,
        read: bool,
    ) -> StoreResult<Option<Notification>> {
        let value = read.then(model::now_millis);
        self.set_timestamp(recipient_id, id, Column::ReadAt, value)
            .await
    }

    async fn mark_all_read(
        &self,
        recipient_id: &str,
        category: Option<Category>,
    ) -> StoreResult<u64> {
        let mut update = Entity::update_many()
            .col_expr(Column::ReadAt, Expr::value(Some(model::now_millis())))
            .filter(Column::RecipientId.eq(recipient_id))
            .filter(Column::ReadAt.is_null())
            .filter(Column::ArchivedAt.is_null());
        if let Some(category) = category {
            update = update.filter(Column::Category.eq(category.as_str()));
        }
        Ok(update.exec(&self.db).await.map_err(db_error)?.rows_affected)
    }

    async fn archive(&self, recipient_id: &str, id: &str) -> StoreResult<Option<Notification>> {
        self.set_timestamp(
            recipient_id,
            id,
            Column::ArchivedAt,
            Some(model::now_millis()),
        )
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await.map_err(db_error)
    }

    async fn upsert_profile(&self, p: &RecipientProfile) -> StoreResult<bool> {
        use sea_orm::sea_query::{Alias, ExprTrait, OnConflict};
        let row = profile::ActiveModel {
            user_id: Set(p.user_id.clone()),
            preferences: Set(serde_json::to_string(&p.preferences)
                .map_err(|e| StoreError::Database(e.to_string()))?),
            email: Set(p.email.clone()),
            updated_at: Set(p.updated_at),
        };
        // One statement, so concurrent consumers cannot interleave a read and a write.
        let newer_only = Expr::col((profile::Entity, profile::Column::UpdatedAt)).lte(Expr::col((
            Alias::new("excluded"),
            profile::Column::UpdatedAt,
        )));
        let upsert = OnConflict::column(profile::Column::UserId)
            .update_columns([
                profile::Column::Preferences,
                profile::Column::Email,
                profile::Column::UpdatedAt,
            ])
            .action_and_where(newer_only)
            .to_owned();
        let rows = profile::Entity::insert(row)
            .on_conflict(upsert)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows > 0)
    }

    async fn get_profile(&self, user_id: &str) -> StoreResult<Option<RecipientProfile>> {
        let Some(row) = profile::Entity::find_by_id(user_id.to_owned())
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        Ok(Some(RecipientProfile {
            preferences: serde_json::from_str(&row.preferences)
                .map_err(|e| StoreError::Database(e.to_string()))?,
            user_id: row.user_id,
            email: row.email,
            updated_at: row.updated_at,
        }))
    }

    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        webhook::ActiveModel {
            id: Set(endpoint.id.clone()),
            url: Set(endpoint.url.clone()),
            categories: Set(endpoint
                .categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(",")),
            secret: Set(endpoint.secret.clone()),
            created_at: Set(endpoint.created_at),
        }
        .insert(&self.db)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        let rows = webhook::Entity::find()
            .order_by_asc(webhook::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| WebhookEndpoint {
                categories: row
                    .categories
                    .split(',')
                    .filter_map(Category::parse)
                    .collect(),
                id: row.id,
                url: row.url,
                secret: row.secret,
                created_at: row.created_at,
            })
            .collect())
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let result = webhook::Entity::delete_by_id(id.to_owned())
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected > 0)
    }
}
