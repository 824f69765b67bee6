//! Composing on start-up and again whenever a subgraph's schema changes.
//!
//! The engine watches the supergraph file it serves (`supergraph.poll_interval` in
//! `router.yaml`) and swaps to a new one between requests. So hot-swapping comes down to
//! writing a new file only when a new composition succeeded: a failed one is logged and the
//! file, and with it the served supergraph, stays as it was.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::compose::compose;
use crate::settings::RouterSettings;
use crate::supergraph_config::SupergraphConfig;

/// Reads `supergraph.yaml` and every subgraph's SDL, and composes them.
pub async fn compose_from_config(settings: &RouterSettings) -> anyhow::Result<String> {
    let config = SupergraphConfig::load(&settings.supergraph_config)?;
    let subgraphs = config
        .fetch_sdls(&settings.supergraph_config, &settings.subgraph_urls)
        .await?;
    Ok(compose(&subgraphs)?)
}

/// Writes `sdl` to `path` unless it already holds exactly that; returns whether it wrote.
/// The write goes through a temporary file and a rename, so the engine never reads half a
/// supergraph.
pub fn write_if_changed(path: &Path, sdl: &str) -> anyhow::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|current| current == sdl) {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, sdl).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(true)
}

/// Recomposes every `interval` for as long as the process lives, on its own thread (the
/// engine owns the main one).
pub fn spawn_watcher(settings: RouterSettings, interval: Duration) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("recompose".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut last_error: Option<String> = None;
                loop {
                    tokio::time::sleep(interval).await;
                    let outcome = compose_from_config(&settings)
                        .await
                        .and_then(|sdl| write_if_changed(&settings.supergraph_output, &sdl));
                    match outcome {
                        Ok(true) => {
                            tracing::info!(
                                path = %settings.supergraph_output.display(),
                                "a subgraph schema changed: wrote the recomposed supergraph"
                            );
                            last_error = None;
                        }
                        Ok(false) => last_error = None,
                        Err(e) => {
                            let message = format!("{e:#}");
                            // Once per distinct failure, not once per poll.
                            if last_error.as_ref() != Some(&message) {
                                tracing::error!(
                                    error = %message,
                                    "recomposition failed; still serving the previous supergraph"
                                );
                                last_error = Some(message);
                            }
                        }
                    }
                }
            })
        })?;
    Ok(())
}
