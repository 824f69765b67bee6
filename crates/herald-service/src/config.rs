//! Layered configuration: built-in defaults, then an optional TOML file (`herald.toml`, or the
//! path in `HERALD_CONFIG`), then `HERALD_`-prefixed environment variables, with `__` nesting
//! (`HERALD_USERS__PORT=9001` sets `users.port`).

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Keys every service reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonSettings {
    pub env: Environment,
    pub log_format: LogFormat,
    pub redis_url: String,
    pub amqp_url: String,
    pub jwks_url: String,
}

impl Default for CommonSettings {
    fn default() -> Self {
        Self {
            env: Environment::Dev,
            log_format: LogFormat::Text,
            redis_url: "redis://127.0.0.1:6379".into(),
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            jwks_url: "http://127.0.0.1:8001/.well-known/jwks.json".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Dev,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The configuration sources, in order of precedence (last wins).
#[derive(Debug, Clone)]
pub struct ConfigSources {
    figment: Figment,
}

/// A configuration error, worded for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl ConfigSources {
    /// Defaults, the config file (if present), and the process environment.
    pub fn from_env() -> Self {
        let file = std::env::var_os("HERALD_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("herald.toml"));
        Self::layered(Some(file), Env::prefixed("HERALD_").split("__"))
    }

    /// For tests and tools: defaults plus explicit key/value overrides, nothing from the process.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Serialize,
    {
        let mut figment = Figment::new();
        for (key, value) in pairs {
            figment = figment.merge(Serialized::default(&key.into(), value));
        }
        Self { figment }
    }

    fn layered(file: Option<PathBuf>, env: Env) -> Self {
        let mut figment = Figment::new();
        if let Some(file) = file {
            // A missing file is fine (Toml::file ignores it); a malformed one is an error.
            figment = figment.merge(Toml::file(file));
        }
        Self {
            figment: figment.merge(env.ignore(&["config", "test_mongodb_url"])),
        }
    }

    /// Overrides one key (dotted path), e.g. to pin a test's port or database.
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.figment = self.figment.merge(Serialized::default(key, value));
        self
    }

    pub fn common(&self) -> Result<CommonSettings, ConfigError> {
        Figment::from(Serialized::defaults(CommonSettings::default()))
            .merge(self.figment.clone())
            .extract()
            .map_err(|e| ConfigError(e.to_string()))
    }

    /// A service's own section (`[users]`, `[notifications]`, ...), over its defaults.
    pub fn section<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        Figment::from(Serialized::default(name, T::default()))
            .merge(self.figment.clone())
            .extract_inner(name)
            .map_err(|e| ConfigError(format!("[{name}] {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error by design.
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Section {
        port: u16,
        database_url: String,
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                "log_format = \"json\"\n[users]\nport = 9000\n",
            )?;
            jail.set_env("HERALD_USERS__DATABASE_URL", "postgres://x/y");
            jail.set_env("HERALD_ENV", "production");
            let sources = ConfigSources::from_env();
            let common = sources.common().expect("common");
            assert_eq!(common.env, Environment::Production);
            assert_eq!(common.log_format, LogFormat::Json);
            assert_eq!(common.redis_url, "redis://127.0.0.1:6379");
            let section: Section = sources.section("users").expect("section");
            assert_eq!(
                section,
                Section {
                    port: 9000,
                    database_url: "postgres://x/y".into()
                }
            );
            Ok(())
        });
    }

    #[test]
    fn invalid_values_are_reported_with_their_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HERALD_USERS__PORT", "not-a-port");
            let err = ConfigSources::from_env()
                .section::<Section>("users")
                .expect_err("invalid");
            assert!(err.to_string().contains("port"), "{err}");
            Ok(())
        });
    }
}
