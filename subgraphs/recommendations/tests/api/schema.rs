use std::path::PathBuf;

use serde_json::json;

use crate::helpers::spawn_app;

/// `_service { sdl }` must match the committed `schema.graphql`; run with
/// `UPDATE_SNAPSHOTS=1` to accept a deliberate change.
#[tokio::test]
async fn federation_sdl_matches_the_committed_snapshot() {
    let app = spawn_app().await;
    let body = app.graphql("{ _service { sdl } }", json!({}), None).await;
    let sdl = body["data"]["_service"]["sdl"]
        .as_str()
        .expect("sdl")
        .to_owned();
    assert!(sdl.contains("type Product @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("first: Int = 10"), "{sdl}");
    assert!(sdl.contains("): [Recommendation!]!"), "{sdl}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &sdl).expect("write snapshot");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "subgraphs/recommendations/schema.graphql is out of date; rerun with UPDATE_SNAPSHOTS=1 and commit it"
    );
}
