//! The recommendations service's typed settings: the shared keys plus `[recommendations]`.

use herald_service::config::{CommonSettings, ConfigError, ConfigSources};
use serde::{Deserialize, Serialize};

use crate::engine::EngineConfig;
use crate::recommender::PublishPolicy;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub recommendations: RecommendationsSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecommendationsSettings {
    pub host: String,
    pub port: u16,
    /// The SQL store (`sqlite://...` embedded default, or `postgres://...`); unused when
    /// `mongodb_url` is set.
    pub database_url: String,
    /// When set, the store is MongoDB.
    pub mongodb_url: Option<String>,
    pub mongodb_database: String,
    /// JSON lines, one product each, upserted at API and worker start-up; a missing file is
    /// an error, an empty path skips loading.
    pub catalog_path: String,
    /// The RabbitMQ queue the worker consumes (bound to `herald.events`).
    pub events_queue: String,
    /// Delete the events queue after this long without consumers (for ephemeral setups such
    /// as tests); unset in production.
    pub events_queue_expires_ms: Option<u32>,
    pub prefetch: u16,
    /// BullMQ key prefix (`bull` is what BullMQ's dashboards expect).
    pub queue_prefix: String,
    /// When the full recompute runs (BullMQ cron, seconds optional); default daily at 03:00.
    pub recompute_cron: String,
    pub recompute_timezone: Option<String>,
    /// A shopper's refresh after a purchase waits this long, so that the rest of a burst
    /// (an order's other lines, a second order) is in the store first.
    pub refresh_delay_ms: u64,
    /// The worker also rebuilds the model this often when purchases arrived since the last
    /// rebuild (0: only the scheduled recompute rebuilds it).
    pub model_refresh_secs: u64,
    pub worker_host: String,
    pub worker_port: u16,
    pub engine: EngineConfig,
    pub publish: PublishPolicy,
}

impl Default for RecommendationsSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8003,
            database_url: "sqlite://data/recommendations.db?mode=rwc".into(),
            mongodb_url: None,
            mongodb_database: "herald".into(),
            catalog_path: "subgraphs/recommendations/catalog/products.jsonl".into(),
            events_queue: "recommendations.events".into(),
            events_queue_expires_ms: None,
            prefetch: 64,
            queue_prefix: "bull".into(),
            recompute_cron: "0 0 3 * * *".into(),
            recompute_timezone: None,
            refresh_delay_ms: 1000,
            model_refresh_secs: 300,
            worker_host: "0.0.0.0".into(),
            worker_port: 9103,
            engine: EngineConfig::default(),
            publish: PublishPolicy::default(),
        }
    }
}

impl Settings {
    pub fn load(sources: &ConfigSources) -> Result<Self, ConfigError> {
        let settings = Settings {
            common: sources.common()?,
            recommendations: sources.section("recommendations")?,
        };
        let r = &settings.recommendations;
        if !(r.database_url.starts_with("sqlite:") || r.database_url.starts_with("postgres")) {
            return Err(ConfigError::new(
                "recommendations.database_url must be a sqlite: or postgres:// URL",
            ));
        }
        if let Some(url) = &r.mongodb_url
            && !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://"))
        {
            return Err(ConfigError::new(
                "recommendations.mongodb_url must be a mongodb:// URL",
            ));
        }
        if r.queue_prefix.is_empty() || r.queue_prefix.contains(':') {
            return Err(ConfigError::new(
                "recommendations.queue_prefix must be non-empty, without ':'",
            ));
        }
        if r.prefetch == 0 {
            return Err(ConfigError::new(
                "recommendations.prefetch must be positive",
            ));
        }
        if r.recompute_cron.split_whitespace().count() < 5 {
            return Err(ConfigError::new(
                "recommendations.recompute_cron must be a cron pattern (5 or 6 fields)",
            ));
        }
        r.engine
            .validate()
            .map_err(|e| ConfigError::new(format!("recommendations.engine: {e}")))?;
        let p = &r.publish;
        if p.top_n == 0 || p.top_n > 50 {
            return Err(ConfigError::new(
                "recommendations.publish.top_n must be between 1 and 50",
            ));
        }
        if !(0.0..=1.0).contains(&p.change_threshold) {
            return Err(ConfigError::new(
                "recommendations.publish.change_threshold must be between 0 and 1",
            ));
        }
        if p.active_days <= 0 || p.model_window_days <= 0 {
            return Err(ConfigError::new(
                "recommendations.publish.active_days and model_window_days must be positive",
            ));
        }
        Ok(settings)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_shared_contract() {
        let settings =
            Settings::load(&ConfigSources::from_pairs(Vec::<(&str, String)>::new())).unwrap();
        let r = settings.recommendations;
        assert_eq!(r.port, 8003);
        assert_eq!(r.worker_port, 9103);
        assert_eq!(r.events_queue, "recommendations.events");
        assert_eq!(r.queue_prefix, "bull");
        assert_eq!(r.mongodb_database, "herald");
        assert_eq!(r.database_url, "sqlite://data/recommendations.db?mode=rwc");
        assert_eq!(
            r.catalog_path,
            "subgraphs/recommendations/catalog/products.jsonl"
        );
    }

    #[test]
    fn nested_engine_keys_and_bad_values() {
        let settings = Settings::load(&ConfigSources::from_pairs([(
            "recommendations.engine.half_life_days",
            14.0,
        )]))
        .unwrap();
        assert!((settings.recommendations.engine.half_life_days - 14.0).abs() < 1e-12);
        for (key, value) in [
            (
                "recommendations.engine.purchase_weight",
                serde_json::json!(0.5),
            ),
            (
                "recommendations.publish.change_threshold",
                serde_json::json!(2),
            ),
            ("recommendations.recompute_cron", serde_json::json!("daily")),
            ("recommendations.queue_prefix", serde_json::json!("a:b")),
            (
                "recommendations.database_url",
                serde_json::json!("mysql://x"),
            ),
        ] {
            let err = Settings::load(&ConfigSources::from_pairs([(key, value)])).unwrap_err();
            assert!(err.to_string().contains("recommendations"), "{key}: {err}");
        }
    }
}
