//! The recommender as the API and the worker use it: the engine over the store, with the
//! catalog and model cached in memory until the store says they changed, plus the rules for
//! when a shopper's new recommendations are worth publishing.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use herald_service::ApiError;
use herald_service::events::{Envelope, Publisher, routing};
use herald_service::metrics::RECOMMENDATIONS as METRICS;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::engine::{self, EngineConfig, Index, Scored, Shopper};
use crate::model::{Activity, Product, Published, RecommendationReason, Versions};
use crate::store::{RecommendationStore, StoreResult};

/// When recommendations are published, and which shoppers a recompute visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishPolicy {
    /// How many products a `recommendation.generated` event carries.
    pub top_n: usize,
    /// Publish again only when the Jaccard similarity of the new and the last published
    /// product ids falls below this.
    pub change_threshold: f64,
    /// Shoppers with activity in this many days are "active" and rescored by a recompute.
    pub active_days: i64,
    /// Activity this old no longer feeds the model (decay has made it negligible anyway).
    pub model_window_days: i64,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        Self {
            top_n: 5,
            change_threshold: 0.5,
            active_days: 30,
            model_window_days: 365,
        }
    }
}

/// `recommendation.generated`'s data, as the notifications pipeline reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationGenerated {
    pub user_id: String,
    pub product_ids: Vec<String>,
    pub reasons: Vec<RecommendationReason>,
    pub product_names: Vec<String>,
}

struct Cached {
    versions: Versions,
    index: Arc<Index>,
}

pub struct Recommender {
    store: Arc<dyn RecommendationStore>,
    config: EngineConfig,
    policy: PublishPolicy,
    cache: RwLock<Option<Cached>>,
    /// One reload at a time: a burst of queries after a rebuild loads the model once.
    reload: Mutex<()>,
}

/// What a refresh of one shopper did.
#[derive(Debug, Clone, PartialEq)]
pub enum Refresh {
    Published(RecommendationGenerated),
    Unchanged,
    Empty,
}

impl Recommender {
    pub fn new(
        store: Arc<dyn RecommendationStore>,
        config: EngineConfig,
        policy: PublishPolicy,
    ) -> Self {
        Self {
            store,
            config,
            policy,
            cache: RwLock::new(None),
            reload: Mutex::new(()),
        }
    }

    pub fn store(&self) -> &Arc<dyn RecommendationStore> {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current catalog and model. Checking the two version counters costs one small
    /// read; the reload only happens after `upsertProducts` or a rebuild (on any replica).
    pub async fn index(&self) -> StoreResult<Arc<Index>> {
        let versions = self.store.versions().await?;
        if let Some(cached) = self.cache.read().await.as_ref()
            && cached.versions == versions
        {
            return Ok(cached.index.clone());
        }
        let _guard = self.reload.lock().await;
        if let Some(cached) = self.cache.read().await.as_ref()
            && cached.versions == versions
        {
            return Ok(cached.index.clone());
        }
        let model = self.store.load_model().await?;
        let catalog = self.store.all_products().await?;
        let index = Arc::new(Index::new(&model, catalog));
        // The versions read before loading: a change during the load is seen next time.
        *self.cache.write().await = Some(Cached {
            versions,
            index: index.clone(),
        });
        Ok(index)
    }

    /// A shopper's recommendations right now.
    pub async fn recommend(
        &self,
        user_id: &str,
        first: usize,
        category: Option<&str>,
    ) -> Result<(Vec<Scored>, Arc<Index>), ApiError> {
        let started = Instant::now();
        let index = self.index().await?;
        let limit = self.config.history_limit as u64;
        let (activity, interests) = tokio::try_join!(
            self.store.user_activity(user_id, limit),
            self.store.interests(user_id)
        )?;
        let scored = engine::recommend(
            &index,
            &Shopper {
                activity: &activity,
                interests: &interests,
            },
            first,
            category,
            Utc::now(),
            &self.config,
        );
        METRICS
            .query_duration
            .observe(started.elapsed().as_secs_f64());
        Ok((scored, index))
    }

    /// Records one activity; returns whether it was new.
    pub async fn record(&self, activity: &Activity) -> StoreResult<bool> {
        self.store.record_activity(activity).await
    }

    pub async fn product(&self, id: &str) -> StoreResult<Option<Product>> {
        Ok(self.index().await?.product(id).cloned())
    }

    /// Rebuilds every neighbour list from the activity window; returns the new version.
    pub async fn rebuild_model(&self) -> StoreResult<i64> {
        let started = Instant::now();
        let now = Utc::now();
        let since = now - Duration::days(self.policy.model_window_days);
        let activity = self.store.activity_since(since).await?;
        let config = self.config.clone();
        // CPU-bound; keep it off the async workers.
        let models =
            tokio::task::spawn_blocking(move || engine::build_model(&activity, now, &config))
                .await
                .map_err(|e| {
                    crate::store::StoreError::Database(format!("model build failed: {e}"))
                })?;
        let version = self.store.replace_model(&models, now).await?;
        METRICS
            .model_products
            .set(i64::try_from(models.len()).unwrap_or(i64::MAX));
        METRICS
            .rebuild_duration
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            version,
            products = models.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "recommendation model rebuilt"
        );
        Ok(version)
    }

    pub async fn active_users(&self, now: DateTime<Utc>) -> StoreResult<Vec<String>> {
        self.store
            .active_users(now - Duration::days(self.policy.active_days))
            .await
    }

    /// Rescores one shopper and publishes `recommendation.generated` when their top products
    /// changed meaningfully since the last publication, or unconditionally right after a
    /// purchase (`after_purchase`). The publication is remembered only once the broker has
    /// confirmed it, so a failure is retried by the caller's job.
    pub async fn refresh_user(
        &self,
        user_id: &str,
        after_purchase: bool,
        publisher: &Publisher,
    ) -> anyhow::Result<Refresh> {
        let (scored, index) = self
            .recommend(user_id, self.policy.top_n, None)
            .await
            .map_err(|e| anyhow::anyhow!("scoring failed: {}", e.message))?;
        METRICS.users_scored.inc();
        if scored.is_empty() {
            return Ok(Refresh::Empty);
        }
        let product_ids: Vec<String> = scored.iter().map(|s| s.product_id.clone()).collect();
        let previous = self.store.last_published(user_id).await?;
        let changed = match &previous {
            None => true,
            Some(p) => engine::jaccard(&p.product_ids, &product_ids) < self.policy.change_threshold,
        };
        if !(changed || after_purchase) {
            return Ok(Refresh::Unchanged);
        }
        let data = RecommendationGenerated {
            user_id: user_id.to_owned(),
            reasons: scored.iter().map(|s| s.reason).collect(),
            product_names: scored
                .iter()
                .map(|s| {
                    index
                        .product(&s.product_id)
                        .map(|p| p.name.clone())
                        .unwrap_or_default()
                })
                .collect(),
            product_ids,
        };
        publisher
            .publish(&Envelope::new(routing::RECOMMENDATION_GENERATED, &data))
            .await?;
        self.store
            .save_published(&Published {
                user_id: user_id.to_owned(),
                product_ids: data.product_ids.clone(),
                reasons: data.reasons.clone(),
                published_at: Utc::now(),
            })
            .await?;
        METRICS.published.inc();
        Ok(Refresh::Published(data))
    }
}
