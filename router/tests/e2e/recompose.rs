//! A subgraph's schema changes while the router runs: the new supergraph is served without a
//! restart, and a schema that does not compose leaves the working one in place.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{DEADLINE, Platform, Subgraphs, workspace_root};

const CREATED_AT: &str = "{ me { name createdAt } }";

fn write_config(dir: &Path, users_sdl: &str) {
    std::fs::write(dir.join("users.graphql"), users_sdl).expect("users schema");
    let notifications = workspace_root().join("subgraphs/notifications/schema.graphql");
    std::fs::write(
        dir.join("supergraph.yaml"),
        format!(
            "federation_version: =2.5.0\nsubgraphs:\n  users:\n    routing_url: http://127.0.0.1:8001/graphql\n    schema:\n      file: ./users.graphql\n  notifications:\n    routing_url: http://127.0.0.1:8002/graphql\n    schema:\n      file: {}\n",
            notifications.display()
        ),
    )
    .expect("supergraph.yaml");
}

#[tokio::test]
async fn a_changed_schema_is_served_without_a_restart_and_a_broken_one_is_not() {
    let users_sdl =
        std::fs::read_to_string(workspace_root().join("subgraphs/users/schema.graphql"))
            .expect("users schema");
    // The router starts from a users schema that does not have `createdAt` yet.
    let without = users_sdl.replace("\tcreatedAt: DateTime!\n", "");
    assert_ne!(without, users_sdl, "the users schema has a createdAt field");
    let dir = std::env::temp_dir().join(format!("herald-e2e-schemas-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    write_config(&dir, &without);

    let platform = Platform::start_with(
        Subgraphs::UsersAndNotifications,
        dir.join("supergraph.yaml"),
    )
    .await;
    let (_, token) = platform.register_and_login("Ada").await;
    let body = platform.graphql(CREATED_AT, json!({}), Some(&token)).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("createdAt")),
        "createdAt is not in the supergraph yet: {body}"
    );

    // The subgraph's schema gains the field: the router picks it up on its own.
    write_config(&dir, &users_sdl);
    let body = platform
        .poll(CREATED_AT, &token, |b| {
            b["data"]["me"]["createdAt"].is_string()
        })
        .await;
    assert_eq!(body["data"]["me"]["name"], json!("Ada"));

    // A schema that does not compose (the same field with another type in two subgraphs).
    let broken =
        format!("{users_sdl}\ntype Notification @key(fields: \"id\") {{ id: ID! title: Int }}\n");
    write_config(&dir, &broken);
    let log = platform.dir.join("router.log");
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("recomposition failed")
    {
        assert!(
            started.elapsed() < DEADLINE,
            "the router never reported the failed composition:\n{}",
            platform.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Still serving the last good supergraph.
    let body = platform.graphql(CREATED_AT, json!({}), Some(&token)).await;
    assert!(body["data"]["me"]["createdAt"].is_string(), "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `supergraph.yaml` entry may name a running subgraph instead of a file: its SDL is fetched
/// with `_service { sdl }`, and composes to the same supergraph as the committed files.
#[tokio::test]
async fn live_subgraph_sdl_composes_like_the_committed_files() {
    let platform = Platform::start(Subgraphs::UsersAndNotifications).await;
    let config = platform.dir.join("live-supergraph.yaml");
    std::fs::write(
        &config,
        format!(
            "federation_version: =2.5.0\nsubgraphs:\n  users:\n    routing_url: {u}/graphql\n    schema:\n      subgraph_url: {u}/graphql\n  notifications:\n    routing_url: {n}/graphql\n    schema:\n      subgraph_url: {n}/graphql\n",
            u = platform.users_url,
            n = platform.notifications_url
        ),
    )
    .expect("supergraph.yaml");
    let compose = |config: &Path, output: &Path| {
        let status = std::process::Command::new(crate::helpers::binary("herald-router"))
            .arg("compose")
            .current_dir(&platform.dir)
            .env("HERALD_ROUTER__SUPERGRAPH_CONFIG", config)
            .env("HERALD_ROUTER__SUPERGRAPH_OUTPUT", output)
            .status()
            .expect("herald-router compose");
        assert!(status.success(), "compose from {}", config.display());
        std::fs::read_to_string(output).expect("composed supergraph")
    };
    let live = compose(&config, &platform.dir.join("live.graphql"));

    let files = platform.dir.join("files-supergraph.yaml");
    std::fs::write(
        &files,
        format!(
            "subgraphs:\n  users:\n    routing_url: {u}/graphql\n    schema:\n      file: {uf}\n  notifications:\n    routing_url: {n}/graphql\n    schema:\n      file: {nf}\n",
            u = platform.users_url,
            n = platform.notifications_url,
            uf = workspace_root().join("subgraphs/users/schema.graphql").display(),
            nf = workspace_root()
                .join("subgraphs/notifications/schema.graphql")
                .display(),
        ),
    )
    .expect("supergraph.yaml");
    let from_files = compose(&files, &platform.dir.join("files.graphql"));
    assert_eq!(live, from_files);
}
