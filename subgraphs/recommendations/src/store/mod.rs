//! Where the catalog, activity, the precomputed model and the last publications live. Two
//! real adapters behind one trait: MongoDB, and SQL through sea-orm (SQLite embedded by
//! default, or PostgreSQL). Both pass the same conformance suite (`tests/api/conformance.rs`).
//! Keeping the model in the store is what lets several API replicas and the worker share it.

mod migrations;
pub mod mongo;
pub mod sql;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::{Activity, Model, Product, ProductModel, Published, Versions};

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

#[async_trait::async_trait]
pub trait RecommendationStore: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts or replaces products by id and bumps the catalog version; returns how many.
    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64>;

    async fn get_products(&self, ids: &[String]) -> StoreResult<HashMap<String, Product>>;

    /// By id, after `after` (exclusive), optionally within one category.
    async fn list_products(
        &self,
        category: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Vec<Product>>;

    async fn all_products(&self) -> StoreResult<Vec<Product>>;

    /// Records the activity unless one with the same id exists; returns whether it did.
    async fn record_activity(&self, activity: &Activity) -> StoreResult<bool>;

    /// Records many at once (an order's lines, imports); returns how many were new.
    async fn record_activities(&self, activities: &[Activity]) -> StoreResult<u64>;

    /// One shopper's activity, newest first, at most `limit` events, plus every purchase
    /// however old (purchased products are never recommended again).
    async fn user_activity(&self, user_id: &str, limit: u64) -> StoreResult<Vec<Activity>>;

    /// Every event since `since`, for rebuilding the model.
    async fn activity_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Activity>>;

    /// Shoppers with any activity since `since`, sorted.
    async fn active_users(&self, since: DateTime<Utc>) -> StoreResult<Vec<String>>;

    /// Replaces the whole model with a new version (readers never see half of one).
    async fn replace_model(
        &self,
        products: &[ProductModel],
        built_at: DateTime<Utc>,
    ) -> StoreResult<i64>;

    async fn load_model(&self) -> StoreResult<Model>;

    async fn versions(&self) -> StoreResult<Versions>;

    /// Stated category interests, lower-case; empty when none were stated.
    async fn set_interests(&self, user_id: &str, categories: &[String]) -> StoreResult<()>;

    async fn interests(&self, user_id: &str) -> StoreResult<Vec<String>>;

    async fn last_published(&self, user_id: &str) -> StoreResult<Option<Published>>;

    async fn save_published(&self, published: &Published) -> StoreResult<()>;
}

/// Opens the store the settings name: MongoDB when `mongodb_url` is set, else SQL.
pub async fn open(
    database_url: &str,
    mongodb_url: Option<&str>,
    mongodb_database: &str,
) -> anyhow::Result<Arc<dyn RecommendationStore>> {
    Ok(match mongodb_url {
        Some(url) => Arc::new(mongo::MongoStore::connect(url, mongodb_database).await?),
        None => Arc::new(sql::SqlStore::connect(database_url).await?),
    })
}
