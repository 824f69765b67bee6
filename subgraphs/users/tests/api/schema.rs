use std::path::PathBuf;

use serde_json::json;

use crate::helpers::{Store, spawn_app};

/// `_service { sdl }` is the contract the router composes; it must match the committed
/// `schema.graphql`. Run with `UPDATE_SNAPSHOTS=1` to accept a deliberate change.
#[tokio::test]
async fn federation_sdl_matches_the_committed_snapshot() {
    let app = spawn_app(Store::Sqlite).await;
    let body = app.graphql("{ _service { sdl } }", json!({}), None).await;
    let sdl = body["data"]["_service"]["sdl"]
        .as_str()
        .expect("sdl")
        .to_owned();
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    assert!(
        sdl.contains("specs.apollo.dev/federation/v2"),
        "Federation 2 SDL expected"
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &sdl).expect("write snapshot");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "subgraphs/users/schema.graphql is out of date; rerun with UPDATE_SNAPSHOTS=1 and commit it"
    );
}
