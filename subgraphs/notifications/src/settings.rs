//! The notifications service's typed settings: the shared keys plus `[notifications]`.

use herald_service::config::{CommonSettings, ConfigError, ConfigSources};
use herald_service::preferences::Category;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub notifications: NotificationsSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsSettings {
    pub host: String,
    pub port: u16,
    /// The SQL store (`sqlite://...` embedded default, or `postgres://...`); unused when
    /// `mongodb_url` is set.
    pub database_url: String,
    /// When set, inboxes live in MongoDB.
    pub mongodb_url: Option<String>,
    pub mongodb_database: String,
    /// The RabbitMQ queue the worker consumes (bound to `herald.events`).
    pub events_queue: String,
    /// Delete the events queue after this long without consumers (for ephemeral setups such
    /// as tests); unset in production.
    pub events_queue_expires_ms: Option<u32>,
    /// Unacknowledged messages a worker holds at once.
    pub prefetch: u16,
    /// BullMQ key prefix (`bull` is what BullMQ's dashboards expect).
    pub queue_prefix: String,
    /// Delivery attempts before a job goes to the dead-letter queue.
    pub attempts: u32,
    /// First retry delay; doubled each attempt, with ±25 % jitter.
    pub backoff_base_ms: u64,
    /// Jobs one worker processes at once.
    pub concurrency: usize,
    /// How often the dead-letter queue is retried automatically, and how many times per job.
    pub dlq_retry_interval_secs: u64,
    pub dlq_max_replays: u32,
    pub webhook_timeout_ms: u64,
    /// At most this many notifications of a category per user per UTC day; extra ones are
    /// dropped. Transactional categories are best left uncapped.
    pub frequency_caps: std::collections::BTreeMap<Category, u32>,
    /// The EMAIL channel (SMTP); off by default.
    pub email: crate::pipeline::email::EmailSettings,
    /// Where to fetch a profile the local replica does not have (with a `service` token).
    pub users_url: String,
    pub users_service_token: Option<String>,
    /// The worker's own `/health`, `/ready` and `/metrics`.
    pub worker_host: String,
    pub worker_port: u16,
}

impl Default for NotificationsSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8002,
            database_url: "sqlite://data/notifications.db?mode=rwc".into(),
            mongodb_url: None,
            mongodb_database: "herald".into(),
            events_queue: "notifications.events".into(),
            events_queue_expires_ms: None,
            prefetch: 64,
            queue_prefix: "bull".into(),
            attempts: 5,
            backoff_base_ms: 1000,
            concurrency: 16,
            dlq_retry_interval_secs: 900,
            dlq_max_replays: 3,
            webhook_timeout_ms: 10_000,
            frequency_caps: [(Category::Promotions, 5), (Category::Recommendations, 3)].into(),
            email: Default::default(),
            users_url: "http://127.0.0.1:8001".into(),
            users_service_token: None,
            worker_host: "0.0.0.0".into(),
            worker_port: 9102,
        }
    }
}

impl Settings {
    pub fn load(sources: &ConfigSources) -> Result<Self, ConfigError> {
        let settings = Settings {
            common: sources.common()?,
            notifications: sources.section("notifications")?,
        };
        let n = &settings.notifications;
        if !(n.database_url.starts_with("sqlite:") || n.database_url.starts_with("postgres")) {
            return Err(ConfigError::new(
                "notifications.database_url must be a sqlite: or postgres:// URL",
            ));
        }
        if let Some(url) = &n.mongodb_url
            && !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://"))
        {
            return Err(ConfigError::new(
                "notifications.mongodb_url must be a mongodb:// URL",
            ));
        }
        if n.attempts == 0 || n.attempts > 30 {
            return Err(ConfigError::new(
                "notifications.attempts must be between 1 and 30",
            ));
        }
        if n.prefetch == 0 || n.concurrency == 0 {
            return Err(ConfigError::new(
                "notifications.prefetch and concurrency must be positive",
            ));
        }
        if n.queue_prefix.is_empty() || n.queue_prefix.contains(':') {
            return Err(ConfigError::new(
                "notifications.queue_prefix must be non-empty, without ':'",
            ));
        }
        Ok(settings)
    }
}
