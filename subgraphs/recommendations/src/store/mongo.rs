//! The recommendations store on MongoDB. Without multi-document transactions (a standalone
//! server has none), a model rebuild writes its rows under a new version first and then moves
//! the `model` counter to it: the counter is the commit point, and readers only read rows of
//! the version the counter names.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, IndexModel};
use serde::{Deserialize, Serialize};

use super::{RecommendationStore, StoreError, StoreResult};
use crate::model::{
    Activity, ActivityKind, Model, Neighbour, Product, ProductModel, Published,
    RecommendationReason, Versions,
};

const DUPLICATE_KEY: i32 = 11000;
const CHUNK: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProductDoc {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    category: String,
    price_cents: i64,
    in_stock: bool,
    updated_at: bson::DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActivityDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    product_id: String,
    kind: String,
    occurred_at: bson::DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProductModelDoc {
    /// `<version>:<product id>`.
    #[serde(rename = "_id")]
    id: String,
    version: i64,
    product_id: String,
    popularity: f64,
    neighbours: Vec<Neighbour>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CounterDoc {
    #[serde(rename = "_id")]
    name: String,
    value: i64,
    updated_at: Option<bson::DateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InterestDoc {
    #[serde(rename = "_id")]
    user_id: String,
    categories: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PublishedDoc {
    #[serde(rename = "_id")]
    user_id: String,
    product_ids: Vec<String>,
    reasons: Vec<String>,
    published_at: bson::DateTime,
}

fn to_bson_time(time: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(time.timestamp_millis())
}

fn from_bson_time(time: bson::DateTime) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(time.timestamp_millis())
        .single()
        .unwrap_or_default()
}

fn db_error(err: mongodb::error::Error) -> StoreError {
    StoreError::Database(err.to_string())
}

fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().all(|e| e.code == DUPLICATE_KEY)),
        _ => false,
    }
}

fn to_product(d: ProductDoc) -> Product {
    Product {
        id: d.id,
        name: d.name,
        category: d.category,
        price_cents: d.price_cents,
        in_stock: d.in_stock,
    }
}

fn to_activity(d: ActivityDoc) -> StoreResult<Activity> {
    Ok(Activity {
        kind: ActivityKind::parse(&d.kind)
            .ok_or_else(|| StoreError::Database(format!("unknown activity kind {}", d.kind)))?,
        id: d.id,
        user_id: d.user_id,
        product_id: d.product_id,
        occurred_at: from_bson_time(d.occurred_at),
    })
}

pub struct MongoStore {
    client: Client,
    products: Collection<ProductDoc>,
    activity: Collection<ActivityDoc>,
    models: Collection<ProductModelDoc>,
    counters: Collection<CounterDoc>,
    interests: Collection<InterestDoc>,
    published: Collection<PublishedDoc>,
}

impl MongoStore {
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url).await?;
        options
            .app_name
            .get_or_insert_with(|| "herald-recommendations".into());
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options)?;
        let db = client.database(database);
        let store = Self {
            products: db.collection("rec_products"),
            activity: db.collection("rec_activity"),
            models: db.collection("rec_product_models"),
            counters: db.collection("rec_counters"),
            interests: db.collection("rec_interests"),
            published: db.collection("rec_published"),
            client,
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        let named = |name: &str| IndexOptions::builder().name(name.to_owned()).build();
        self.products
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"category": 1, "_id": 1})
                    .options(named("ix_category"))
                    .build(),
            )
            .await?;
        self.activity
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! {"user_id": 1, "occurred_at": -1})
                    .options(named("ix_user"))
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"occurred_at": 1})
                    .options(named("ix_time"))
                    .build(),
            ])
            .await?;
        self.models
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"version": 1, "product_id": 1})
                    .options(named("ix_version"))
                    .build(),
            )
            .await?;
        Ok(())
    }

    async fn counter(&self, name: &str) -> StoreResult<Option<CounterDoc>> {
        self.counters
            .find_one(doc! {"_id": name})
            .await
            .map_err(db_error)
    }

    /// Atomically adds one to a counter (creating it) and returns the new value.
    async fn increment(&self, name: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        let doc = self
            .counters
            .find_one_and_update(
                doc! {"_id": name},
                doc! {"$inc": {"value": 1i64}, "$set": {"updated_at": to_bson_time(now)}},
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_error)?;
        Ok(doc.map(|d| d.value).unwrap_or(1))
    }
}

#[async_trait::async_trait]
impl RecommendationStore for MongoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64> {
        if products.is_empty() {
            return Ok(0);
        }
        let now = to_bson_time(Utc::now());
        for p in products {
            let doc = ProductDoc {
                id: p.id.clone(),
                name: p.name.clone(),
                category: p.category.clone(),
                price_cents: p.price_cents,
                in_stock: p.in_stock,
                updated_at: now,
            };
            self.products
                .replace_one(doc! {"_id": &p.id}, doc)
                .upsert(true)
                .await
                .map_err(db_error)?;
        }
        self.increment("catalog", Utc::now()).await?;
        Ok(products.len() as u64)
    }

    async fn get_products(&self, ids: &[String]) -> StoreResult<HashMap<String, Product>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let docs: Vec<ProductDoc> = self
            .products
            .find(doc! {"_id": {"$in": ids}})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        Ok(docs
            .into_iter()
            .map(|d| (d.id.clone(), to_product(d)))
            .collect())
    }

    async fn list_products(
        &self,
        category: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Vec<Product>> {
        let mut filter = Document::new();
        if let Some(category) = category {
            filter.insert("category", category);
        }
        if let Some(after) = after {
            filter.insert("_id", doc! {"$gt": after});
        }
        let docs: Vec<ProductDoc> = self
            .products
            .find(filter)
            .sort(doc! {"_id": 1})
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        Ok(docs.into_iter().map(to_product).collect())
    }

    async fn all_products(&self) -> StoreResult<Vec<Product>> {
        let docs: Vec<ProductDoc> = self
            .products
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        Ok(docs.into_iter().map(to_product).collect())
    }

    async fn record_activity(&self, a: &Activity) -> StoreResult<bool> {
        let doc = ActivityDoc {
            id: a.id.clone(),
            user_id: a.user_id.clone(),
            product_id: a.product_id.clone(),
            kind: a.kind.as_str().to_owned(),
            occurred_at: to_bson_time(a.occurred_at),
        };
        match self.activity.insert_one(doc).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn record_activities(&self, activities: &[Activity]) -> StoreResult<u64> {
        let mut inserted = 0;
        for chunk in activities.chunks(CHUNK) {
            let attempted = chunk.len() as u64;
            let docs: Vec<ActivityDoc> = chunk
                .iter()
                .map(|a| ActivityDoc {
                    id: a.id.clone(),
                    user_id: a.user_id.clone(),
                    product_id: a.product_id.clone(),
                    kind: a.kind.as_str().to_owned(),
                    occurred_at: to_bson_time(a.occurred_at),
                })
                .collect();
            // Unordered: a duplicate does not stop the rest of the batch.
            match self.activity.insert_many(docs).ordered(false).await {
                Ok(result) => inserted += result.inserted_ids.len() as u64,
                Err(e) if is_duplicate_key(&e) => {
                    if let ErrorKind::InsertMany(failure) = e.kind.as_ref() {
                        let duplicates = failure.write_errors.as_ref().map_or(0, Vec::len) as u64;
                        inserted += attempted.saturating_sub(duplicates);
                    }
                }
                Err(e) => return Err(db_error(e)),
            }
        }
        Ok(inserted)
    }

    async fn user_activity(&self, user_id: &str, limit: u64) -> StoreResult<Vec<Activity>> {
        let recent: Vec<ActivityDoc> = self
            .activity
            .find(doc! {"user_id": user_id})
            .sort(doc! {"occurred_at": -1, "_id": 1})
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        let purchases: Vec<ActivityDoc> = self
            .activity
            .find(doc! {"user_id": user_id, "kind": ActivityKind::Purchased.as_str()})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        let mut seen: std::collections::HashSet<String> =
            recent.iter().map(|d| d.id.clone()).collect();
        let mut out = Vec::with_capacity(recent.len());
        for d in recent {
            out.push(to_activity(d)?);
        }
        for d in purchases {
            if seen.insert(d.id.clone()) {
                out.push(to_activity(d)?);
            }
        }
        Ok(out)
    }

    async fn activity_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Activity>> {
        let docs: Vec<ActivityDoc> = self
            .activity
            .find(doc! {"occurred_at": {"$gte": to_bson_time(since)}})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        docs.into_iter().map(to_activity).collect()
    }

    async fn active_users(&self, since: DateTime<Utc>) -> StoreResult<Vec<String>> {
        let values = self
            .activity
            .distinct(
                "user_id",
                doc! {"occurred_at": {"$gte": to_bson_time(since)}},
            )
            .await
            .map_err(db_error)?;
        let mut users: Vec<String> = values
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        users.sort();
        Ok(users)
    }

    async fn replace_model(
        &self,
        products: &[ProductModel],
        built_at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let version = self.increment("model_next", built_at).await?;
        let docs: Vec<ProductModelDoc> = products
            .iter()
            .map(|p| ProductModelDoc {
                id: format!("{version}:{}", p.product_id),
                version,
                product_id: p.product_id.clone(),
                popularity: p.popularity,
                neighbours: p.neighbours.clone(),
            })
            .collect();
        for chunk in docs.chunks(CHUNK) {
            self.models
                .insert_many(chunk.to_vec())
                .await
                .map_err(db_error)?;
        }
        // The commit point; a concurrent rebuild with a later version wins.
        self.counters
            .update_one(
                doc! {"_id": "model"},
                doc! {"$max": {"value": version}, "$set": {"updated_at": to_bson_time(built_at)}},
            )
            .upsert(true)
            .await
            .map_err(db_error)?;
        let current = self
            .counter("model")
            .await?
            .map(|c| c.value)
            .unwrap_or(version);
        // The previous version stays until the next rebuild: a reader that read the counter
        // just before the commit still finds all of its rows.
        self.models
            .delete_many(doc! {"version": {"$lt": current - 1}})
            .await
            .map_err(db_error)?;
        Ok(current)
    }

    async fn load_model(&self) -> StoreResult<Model> {
        let Some(meta) = self.counter("model").await? else {
            return Ok(Model::default());
        };
        let docs: Vec<ProductModelDoc> = self
            .models
            .find(doc! {"version": meta.value})
            .sort(doc! {"product_id": 1})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        Ok(Model {
            version: meta.value,
            built_at: meta.updated_at.map(from_bson_time),
            products: docs
                .into_iter()
                .map(|d| ProductModel {
                    product_id: d.product_id,
                    popularity: d.popularity,
                    neighbours: d.neighbours,
                })
                .collect(),
        })
    }

    async fn versions(&self) -> StoreResult<Versions> {
        let docs: Vec<CounterDoc> = self
            .counters
            .find(doc! {"_id": {"$in": ["catalog", "model"]}})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        let mut versions = Versions::default();
        for d in docs {
            match d.name.as_str() {
                "catalog" => versions.catalog = d.value,
                "model" => versions.model = d.value,
                _ => {}
            }
        }
        Ok(versions)
    }

    async fn set_interests(&self, user_id: &str, categories: &[String]) -> StoreResult<()> {
        self.interests
            .replace_one(
                doc! {"_id": user_id},
                InterestDoc {
                    user_id: user_id.to_owned(),
                    categories: categories.to_vec(),
                },
            )
            .upsert(true)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn interests(&self, user_id: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .interests
            .find_one(doc! {"_id": user_id})
            .await
            .map_err(db_error)?
            .map(|d| d.categories)
            .unwrap_or_default())
    }

    async fn last_published(&self, user_id: &str) -> StoreResult<Option<Published>> {
        Ok(self
            .published
            .find_one(doc! {"_id": user_id})
            .await
            .map_err(db_error)?
            .map(|d| Published {
                user_id: d.user_id,
                product_ids: d.product_ids,
                reasons: d
                    .reasons
                    .iter()
                    .filter_map(|r| RecommendationReason::parse(r))
                    .collect(),
                published_at: from_bson_time(d.published_at),
            }))
    }

    async fn save_published(&self, p: &Published) -> StoreResult<()> {
        let doc = PublishedDoc {
            user_id: p.user_id.clone(),
            product_ids: p.product_ids.clone(),
            reasons: p.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
            published_at: to_bson_time(p.published_at),
        };
        self.published
            .replace_one(doc! {"_id": &p.user_id}, doc)
            .upsert(true)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
