//! The notifications service's typed settings: the shared keys plus `[notifications]`.

use herald_service::config::{CommonSettings, ConfigError, ConfigSources};
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
}

impl Default for NotificationsSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8002,
            database_url: "sqlite://data/notifications.db?mode=rwc".into(),
            mongodb_url: None,
            mongodb_database: "herald".into(),
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
        Ok(settings)
    }
}
