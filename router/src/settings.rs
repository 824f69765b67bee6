//! The router's typed settings: the shared keys plus `[router]` (`HERALD_ROUTER__*`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use herald_service::config::{CommonSettings, ConfigError, ConfigSources};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub router: RouterSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterSettings {
    pub host: String,
    pub port: u16,
    /// rover's `supergraph.yaml`: which subgraphs, where their SDL is, where they are served.
    pub supergraph_config: PathBuf,
    /// Per subgraph name, a routing URL that replaces the one in `supergraph.yaml` (tests and
    /// the launcher run the subgraphs on other ports).
    pub subgraph_urls: BTreeMap<String, String>,
    /// The Hive Router engine's own configuration (`router.yaml`).
    pub config: PathBuf,
    /// Where the composed supergraph is written; the engine serves (and watches) this file.
    pub supergraph_output: PathBuf,
    /// How often the subgraph schemas are re-read (and the engine re-reads the output).
    pub poll_interval_secs: u64,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 4000,
            supergraph_config: "supergraph.yaml".into(),
            subgraph_urls: BTreeMap::new(),
            config: "router/router.yaml".into(),
            supergraph_output: "data/supergraph.graphql".into(),
            poll_interval_secs: 10,
        }
    }
}

impl RouterSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }
}

impl Settings {
    pub fn load(sources: &ConfigSources) -> Result<Self, ConfigError> {
        let settings = Settings {
            common: sources.common()?,
            router: sources.section("router")?,
        };
        let r = &settings.router;
        if r.poll_interval_secs == 0 {
            return Err(ConfigError::new(
                "router.poll_interval_secs must be at least 1",
            ));
        }
        for (name, url) in &r.subgraph_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(format!(
                    "router.subgraph_urls.{name} must be an http(s):// URL"
                )));
            }
        }
        Ok(settings)
    }
}
