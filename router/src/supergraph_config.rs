//! rover's `supergraph.yaml`, and fetching each subgraph's SDL from where it names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// The subset of rover's format Herald uses: a file or a live `_service { sdl }` per subgraph.
#[derive(Debug, Clone, Deserialize)]
pub struct SupergraphConfig {
    /// Kept for rover; composition here is always Federation 2.
    #[serde(default)]
    pub federation_version: Option<serde_yaml_ng::Value>,
    pub subgraphs: BTreeMap<String, SubgraphEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubgraphEntry {
    pub routing_url: String,
    pub schema: SchemaSource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SchemaSource {
    File { file: PathBuf },
    Live { subgraph_url: String },
}

/// One subgraph ready to compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubgraphSdl {
    pub name: String,
    pub routing_url: String,
    pub sdl: String,
}

impl SupergraphConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Self = serde_yaml_ng::from_str(&text).with_context(|| {
            format!(
                "parsing {} (rover's supergraph.yaml format)",
                path.display()
            )
        })?;
        if config.subgraphs.is_empty() {
            anyhow::bail!("{} lists no subgraphs", path.display());
        }
        Ok(config)
    }

    /// Every subgraph's SDL, with `overrides` replacing routing URLs. Relative schema files are
    /// resolved against the config file's folder, as rover does.
    pub async fn fetch_sdls(
        &self,
        config_path: &Path,
        overrides: &BTreeMap<String, String>,
    ) -> anyhow::Result<Vec<SubgraphSdl>> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        let mut out = Vec::with_capacity(self.subgraphs.len());
        for (name, entry) in &self.subgraphs {
            let sdl = match &entry.schema {
                SchemaSource::File { file } => {
                    let path = base.join(file);
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("subgraph {name}: reading {}", path.display()))?
                }
                SchemaSource::Live { subgraph_url } => {
                    fetch_live_sdl(subgraph_url).await.with_context(|| {
                        format!("subgraph {name}: _service {{ sdl }} from {subgraph_url}")
                    })?
                }
            };
            let routing_url = overrides
                .get(name)
                .cloned()
                .unwrap_or_else(|| entry.routing_url.clone());
            out.push(SubgraphSdl {
                name: name.clone(),
                routing_url,
                sdl,
            });
        }
        for name in overrides.keys() {
            if !self.subgraphs.contains_key(name) {
                anyhow::bail!(
                    "router.subgraph_urls names '{name}', which supergraph.yaml does not list"
                );
            }
        }
        Ok(out)
    }
}

async fn fetch_live_sdl(url: &str) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Response {
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        _service: Service,
    }
    #[derive(Deserialize)]
    struct Service {
        sdl: String,
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let response: Response = client
        .post(url)
        .json(&serde_json::json!({ "query": "{ _service { sdl } }" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    response
        .data
        .map(|d| d._service.sdl)
        .context("the response has no data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rovers_format_with_files_and_live_urls() {
        let config: SupergraphConfig = serde_yaml_ng::from_str(
            r#"
federation_version: =2.5.0
subgraphs:
  users:
    routing_url: http://127.0.0.1:8001/graphql
    schema:
      file: ./subgraphs/users/schema.graphql
  live:
    routing_url: http://127.0.0.1:9000/graphql
    schema:
      subgraph_url: http://127.0.0.1:9000/graphql
"#,
        )
        .expect("valid");
        assert!(matches!(
            config.subgraphs["users"].schema,
            SchemaSource::File { .. }
        ));
        assert!(matches!(
            config.subgraphs["live"].schema,
            SchemaSource::Live { .. }
        ));
    }
}
