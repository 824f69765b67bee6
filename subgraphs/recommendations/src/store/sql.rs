//! The recommendations store on SQL (SQLite or PostgreSQL) through sea-orm.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use herald_service::sql;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::{RecommendationStore, StoreError, StoreResult, migrations};
use crate::model::{
    Activity, ActivityKind, Model, Neighbour, Product, ProductModel, Published,
    RecommendationReason, Versions,
};

mod product {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub category: String,
        pub price_cents: i64,
        pub in_stock: bool,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod activity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "activity")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub product_id: String,
        pub kind: String,
        pub occurred_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod product_model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "product_models")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: String,
        pub popularity: f64,
        /// JSON array of neighbours.
        pub neighbours: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod counter {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "counters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: i64,
        pub updated_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod interest {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "interests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// JSON array of category names.
        pub categories: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod published {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "published")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub product_ids: String,
        pub reasons: String,
        pub published_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const CATALOG: &str = "catalog";
const MODEL: &str = "model";
/// Rows per multi-row insert: well under SQLite's and PostgreSQL's bind-parameter limits.
const CHUNK: usize = 500;

fn db_error(err: DbErr) -> StoreError {
    StoreError::Database(err.to_string())
}

fn json_error(err: serde_json::Error) -> StoreError {
    StoreError::Database(err.to_string())
}

fn to_product(row: product::Model) -> Product {
    Product {
        id: row.id,
        name: row.name,
        category: row.category,
        price_cents: row.price_cents,
        in_stock: row.in_stock,
    }
}

fn to_activity(row: activity::Model) -> StoreResult<Activity> {
    Ok(Activity {
        kind: ActivityKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Database(format!("unknown activity kind {}", row.kind)))?,
        id: row.id,
        user_id: row.user_id,
        product_id: row.product_id,
        occurred_at: row.occurred_at,
    })
}

pub struct SqlStore {
    db: DatabaseConnection,
}

impl SqlStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let db = sql::connect(url).await?;
        // The API and the worker often start together on a fresh database; `migrate` lets
        // one migrate while the other waits.
        sql::migrate::<migrations::Migrator>(&db, "recommendations").await?;
        Ok(Self { db })
    }

    async fn bump<C: sea_orm::ConnectionTrait>(
        &self,
        connection: &C,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        counter::Entity::update_many()
            .col_expr(
                counter::Column::Value,
                Expr::col(counter::Column::Value).add(1),
            )
            .col_expr(counter::Column::UpdatedAt, Expr::value(now))
            .filter(counter::Column::Name.eq(name))
            .exec(connection)
            .await
            .map_err(db_error)?;
        let row = counter::Entity::find_by_id(name.to_owned())
            .one(connection)
            .await
            .map_err(db_error)?;
        Ok(row.map(|r| r.value).unwrap_or_default())
    }
}

#[async_trait::async_trait]
impl RecommendationStore for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await.map_err(db_error)
    }

    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64> {
        if products.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        let txn = sql::begin_write(&self.db).await.map_err(db_error)?;
        for chunk in products.chunks(CHUNK) {
            let rows = chunk.iter().map(|p| product::ActiveModel {
                id: Set(p.id.clone()),
                name: Set(p.name.clone()),
                category: Set(p.category.clone()),
                price_cents: Set(p.price_cents),
                in_stock: Set(p.in_stock),
                updated_at: Set(now),
            });
            let upsert = OnConflict::column(product::Column::Id)
                .update_columns([
                    product::Column::Name,
                    product::Column::Category,
                    product::Column::PriceCents,
                    product::Column::InStock,
                    product::Column::UpdatedAt,
                ])
                .to_owned();
            product::Entity::insert_many(rows)
                .on_conflict(upsert)
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        self.bump(&txn, CATALOG, now).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(products.len() as u64)
    }

    async fn get_products(&self, ids: &[String]) -> StoreResult<HashMap<String, Product>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = product::Entity::find()
            .filter(product::Column::Id.is_in(ids.iter().cloned()))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.id.clone(), to_product(row)))
            .collect())
    }

    async fn list_products(
        &self,
        category: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Vec<Product>> {
        let mut query = product::Entity::find();
        if let Some(category) = category {
            query = query.filter(product::Column::Category.eq(category));
        }
        if let Some(after) = after {
            query = query.filter(product::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(product::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(to_product).collect())
    }

    async fn all_products(&self) -> StoreResult<Vec<Product>> {
        let rows = product::Entity::find()
            .order_by_asc(product::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(to_product).collect())
    }

    async fn record_activity(&self, a: &Activity) -> StoreResult<bool> {
        let row = activity::ActiveModel {
            id: Set(a.id.clone()),
            user_id: Set(a.user_id.clone()),
            product_id: Set(a.product_id.clone()),
            kind: Set(a.kind.as_str().to_owned()),
            occurred_at: Set(a.occurred_at),
        };
        // One statement: a redelivered event racing its first delivery still writes once.
        let inserted = activity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(activity::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(inserted > 0)
    }

    async fn record_activities(&self, activities: &[Activity]) -> StoreResult<u64> {
        if activities.is_empty() {
            return Ok(0);
        }
        let txn = sql::begin_write(&self.db).await.map_err(db_error)?;
        let mut inserted = 0;
        for chunk in activities.chunks(CHUNK) {
            let rows = chunk.iter().map(|a| activity::ActiveModel {
                id: Set(a.id.clone()),
                user_id: Set(a.user_id.clone()),
                product_id: Set(a.product_id.clone()),
                kind: Set(a.kind.as_str().to_owned()),
                occurred_at: Set(a.occurred_at),
            });
            inserted += activity::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(activity::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)?;
        Ok(inserted)
    }

    async fn user_activity(&self, user_id: &str, limit: u64) -> StoreResult<Vec<Activity>> {
        let recent = activity::Entity::find()
            .filter(activity::Column::UserId.eq(user_id))
            .order_by_desc(activity::Column::OccurredAt)
            .order_by_asc(activity::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let purchases = activity::Entity::find()
            .filter(activity::Column::UserId.eq(user_id))
            .filter(activity::Column::Kind.eq(ActivityKind::Purchased.as_str()))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut seen: std::collections::HashSet<String> =
            recent.iter().map(|r| r.id.clone()).collect();
        let mut out = Vec::with_capacity(recent.len());
        for row in recent {
            out.push(to_activity(row)?);
        }
        for row in purchases {
            if seen.insert(row.id.clone()) {
                out.push(to_activity(row)?);
            }
        }
        Ok(out)
    }

    async fn activity_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Activity>> {
        let rows = activity::Entity::find()
            .filter(activity::Column::OccurredAt.gte(since))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(to_activity).collect()
    }

    async fn active_users(&self, since: DateTime<Utc>) -> StoreResult<Vec<String>> {
        let users: Vec<String> = activity::Entity::find()
            .select_only()
            .column(activity::Column::UserId)
            .distinct()
            .filter(activity::Column::OccurredAt.gte(since))
            .order_by_asc(activity::Column::UserId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(users)
    }

    async fn replace_model(
        &self,
        products: &[ProductModel],
        built_at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut rows = Vec::with_capacity(products.len());
        for p in products {
            rows.push(product_model::ActiveModel {
                product_id: Set(p.product_id.clone()),
                popularity: Set(p.popularity),
                neighbours: Set(serde_json::to_string(&p.neighbours).map_err(json_error)?),
            });
        }
        let txn = sql::begin_write(&self.db).await.map_err(db_error)?;
        product_model::Entity::delete_many()
            .exec(&txn)
            .await
            .map_err(db_error)?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
            product_model::Entity::insert_many(chunk)
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        let version = self.bump(&txn, MODEL, built_at).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(version)
    }

    async fn load_model(&self) -> StoreResult<Model> {
        // The version first: under PostgreSQL's read committed each statement sees its own
        // snapshot, so rows read after it are at least that new, and a cache keyed by the
        // version can only be stale for one reload, never stuck.
        let txn = self.db.begin().await.map_err(db_error)?;
        let meta = counter::Entity::find_by_id(MODEL.to_owned())
            .one(&txn)
            .await
            .map_err(db_error)?;
        let rows = product_model::Entity::find()
            .order_by_asc(product_model::Column::ProductId)
            .all(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        let mut products = Vec::with_capacity(rows.len());
        for row in rows {
            let neighbours: Vec<Neighbour> =
                serde_json::from_str(&row.neighbours).map_err(json_error)?;
            products.push(ProductModel {
                product_id: row.product_id,
                popularity: row.popularity,
                neighbours,
            });
        }
        Ok(Model {
            version: meta.as_ref().map(|m| m.value).unwrap_or_default(),
            built_at: meta.and_then(|m| m.updated_at),
            products,
        })
    }

    async fn versions(&self) -> StoreResult<Versions> {
        let rows = counter::Entity::find()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut versions = Versions::default();
        for row in rows {
            match row.name.as_str() {
                CATALOG => versions.catalog = row.value,
                MODEL => versions.model = row.value,
                _ => {}
            }
        }
        Ok(versions)
    }

    async fn set_interests(&self, user_id: &str, categories: &[String]) -> StoreResult<()> {
        let row = interest::ActiveModel {
            user_id: Set(user_id.to_owned()),
            categories: Set(serde_json::to_string(categories).map_err(json_error)?),
            updated_at: Set(Utc::now()),
        };
        interest::Entity::insert(row)
            .on_conflict(
                OnConflict::column(interest::Column::UserId)
                    .update_columns([interest::Column::Categories, interest::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn interests(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let row = interest::Entity::find_by_id(user_id.to_owned())
            .one(&self.db)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => serde_json::from_str(&row.categories).map_err(json_error),
            None => Ok(Vec::new()),
        }
    }

    async fn last_published(&self, user_id: &str) -> StoreResult<Option<Published>> {
        let Some(row) = published::Entity::find_by_id(user_id.to_owned())
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let reasons: Vec<String> = serde_json::from_str(&row.reasons).map_err(json_error)?;
        Ok(Some(Published {
            product_ids: serde_json::from_str(&row.product_ids).map_err(json_error)?,
            reasons: reasons
                .iter()
                .filter_map(|r| RecommendationReason::parse(r))
                .collect(),
            user_id: row.user_id,
            published_at: row.published_at,
        }))
    }

    async fn save_published(&self, p: &Published) -> StoreResult<()> {
        let reasons: Vec<&str> = p.reasons.iter().map(|r| r.as_str()).collect();
        let row = published::ActiveModel {
            user_id: Set(p.user_id.clone()),
            product_ids: Set(serde_json::to_string(&p.product_ids).map_err(json_error)?),
            reasons: Set(serde_json::to_string(&reasons).map_err(json_error)?),
            published_at: Set(p.published_at),
        };
        published::Entity::insert(row)
            .on_conflict(
                OnConflict::column(published::Column::UserId)
                    .update_columns([
                        published::Column::ProductIds,
                        published::Column::Reasons,
                        published::Column::PublishedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
