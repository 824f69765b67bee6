//! Where things are: the sibling service binaries and the checkout's committed files.

use std::path::{Path, PathBuf};

use anyhow::Context;

pub const USERS: &str = "herald-users";
pub const NOTIFICATIONS: &str = "herald-notifications";
pub const RECOMMENDATIONS: &str = "herald-recommendations";
pub const ROUTER: &str = "herald-router";

/// The launcher builds nothing: it runs binaries that `cargo build` put beside it.
pub fn binaries(bin_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match bin_dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_exe()
            .context("locating the herald executable")?
            .parent()
            .map(Path::to_path_buf)
            .context("the herald executable has no parent directory")?,
    };
    let missing: Vec<&str> = [USERS, NOTIFICATIONS, RECOMMENDATIONS, ROUTER]
        .into_iter()
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{} not found in {}. `herald dev` runs the binaries built beside it: build them all \
             first with `cargo build --release --workspace` (then run target/release/herald), \
             or point --bin-dir at the directory that holds them",
            missing.join(", "),
            dir.display()
        );
    }
    std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display()))
}

/// The checkout's root: the nearest directory holding `supergraph.yaml`, looked for from the
/// working directory up, then from the executable up (`target/release/herald` in a checkout).
/// The router's composition inputs and the sample catalog are committed files found from here.
pub fn project_root() -> Option<PathBuf> {
    let from_cwd = std::env::current_dir().ok();
    let from_exe = std::env::current_exe().ok();
    [from_cwd, from_exe]
        .into_iter()
        .flatten()
        .find_map(|start| {
            start
                .ancestors()
                .find(|dir| dir.join("supergraph.yaml").is_file())
                .map(Path::to_path_buf)
        })
}
