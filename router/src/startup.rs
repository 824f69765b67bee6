//! Start-up: compose (failing loudly), then hand over to the embedded Hive Router engine.
//!
//! The engine's public entry point, `router_entrypoint`, takes its settings from the process
//! environment (`ROUTER_CONFIG_FILE_PATH`, `PORT`, `HOST`, and the `from_env` placeholders in
//! `router.yaml`). Setting environment variables inside a running process is `unsafe` in Rust
//! 2024 (and forbidden in this workspace), so `serve` composes, then replaces itself (`exec`,
//! same process id, same signals) with `herald-router engine` under the derived environment.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use herald_service::config::LogFormat;
use hive_router::ntex;
use hive_router::{PluginRegistry, init_rustls_crypto_provider, router_entrypoint};

use crate::edge_auth::RejectUnverifiedTokens;
use crate::recompose::{compose_from_config, spawn_watcher, write_if_changed};
use crate::settings::Settings;

/// Environment variables `router.yaml` reads through `from_env`.
pub const SUPERGRAPH_FILE_ENV: &str = "HERALD_ROUTER_SUPERGRAPH_FILE";
pub const SUPERGRAPH_POLL_ENV: &str = "HERALD_ROUTER_SUPERGRAPH_POLL_INTERVAL";
pub const JWKS_URL_ENV: &str = "HERALD_JWKS_URL";

fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Composes from `supergraph.yaml` and writes the result; the composer's messages on failure.
pub fn compose_once(settings: &Settings) -> anyhow::Result<PathBuf> {
    let sdl = current_thread_runtime()?.block_on(compose_from_config(&settings.router))?;
    write_if_changed(&settings.router.supergraph_output, &sdl)?;
    Ok(settings.router.supergraph_output.clone())
}

pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let output = compose_once(&settings)?;
    let router = &settings.router;
    let exe = std::env::current_exe().context("locating the herald-router executable")?;
    let error = Command::new(exe)
        .arg("engine")
        .env("ROUTER_CONFIG_FILE_PATH", absolute(&router.config)?)
        .env("HOST", &router.host)
        .env("PORT", router.port.to_string())
        .env(SUPERGRAPH_FILE_ENV, absolute(&output)?)
        .env(
            SUPERGRAPH_POLL_ENV,
            format!("{}s", router.poll_interval_secs),
        )
        .env(JWKS_URL_ENV, &settings.common.jwks_url)
        // HERALD_LOG_FORMAT, in the engine's terms (its values are the same words).
        .env("LOG_FORMAT", log_format(settings.common.log_format))
        .exec();
    Err(error).context("starting the router engine")
}

fn log_format(format: LogFormat) -> &'static str {
    match format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// The engine role: the recomposition watcher on its own thread, Hive Router on this one.
pub fn run_engine(settings: Settings) -> anyhow::Result<()> {
    if std::env::var_os("ROUTER_CONFIG_FILE_PATH").is_none() {
        anyhow::bail!("`engine` is started by `herald-router serve`; run that instead");
    }
    spawn_watcher(settings.router.clone(), settings.router.poll_interval())?;
    init_rustls_crypto_provider();
    engine().map_err(|e| anyhow::anyhow!("{e}"))
}

#[hive_router::main]
async fn engine() -> Result<(), hive_router::error::RouterInitError> {
    router_entrypoint(PluginRegistry::new().register::<RejectUnverifiedTokens>()).await
}

pub fn healthcheck(url: &str) -> anyhow::Result<bool> {
    Ok(current_thread_runtime()?.block_on(herald_service::http::healthcheck(url)))
}
