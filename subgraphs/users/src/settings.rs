//! The users service's typed settings: the shared keys plus the `[users]` section.

use std::path::PathBuf;

use herald_service::config::{CommonSettings, ConfigError, ConfigSources, Environment};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub users: UsersSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersSettings {
    pub host: String,
    pub port: u16,
    /// `sqlite://...` (the embedded default) or `postgres://...`.
    pub database_url: String,
    /// Where dev-mode state lives (the SQLite file, the generated signing key).
    pub data_dir: PathBuf,
    /// The active Ed25519 signing key, PKCS#8 PEM. Required in production (this or the file).
    pub signing_key: Option<String>,
    pub signing_key_file: Option<PathBuf>,
    /// Public keys (SPKI PEM text, or paths to PEM files) of retired signing keys, still
    /// published in the JWKS so that tokens they signed verify until they expire.
    pub previous_public_keys: Vec<String>,
    pub access_token_ttl_secs: u64,
    /// Login attempts allowed per email and client address per minute.
    pub login_attempts_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// How often the outbox relay looks for events it has not been woken up for.
    pub outbox_poll_ms: u64,
}

impl Default for UsersSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8001,
            database_url: "sqlite://data/users.db?mode=rwc".into(),
            data_dir: PathBuf::from("data"),
            signing_key: None,
            signing_key_file: None,
            previous_public_keys: Vec::new(),
            access_token_ttl_secs: 3600,
            login_attempts_per_minute: 10,
            trust_forwarded_for: false,
            outbox_poll_ms: 1000,
        }
    }
}

impl Settings {
    pub fn load(sources: &ConfigSources) -> Result<Self, ConfigError> {
        let settings = Settings {
            common: sources.common()?,
            users: sources.section("users")?,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let users = &self.users;
        if !(users.database_url.starts_with("sqlite:")
            || users.database_url.starts_with("postgres"))
        {
            return Err(ConfigError::new(
                "users.database_url must be a sqlite: or postgres:// URL",
            ));
        }
        if users.access_token_ttl_secs < 60 || users.access_token_ttl_secs > 86_400 {
            return Err(ConfigError::new(
                "users.access_token_ttl_secs must be between 60 and 86400",
            ));
        }
        if users.login_attempts_per_minute == 0 {
            return Err(ConfigError::new(
                "users.login_attempts_per_minute must be at least 1",
            ));
        }
        if self.common.env == Environment::Production
            && users.signing_key.is_none()
            && users.signing_key_file.is_none()
        {
            return Err(ConfigError::new(
                "production needs a signing key: set users.signing_key or users.signing_key_file \
                 (HERALD_USERS__SIGNING_KEY_FILE); dev mode generates one under users.data_dir",
            ));
        }
        Ok(())
    }
}
