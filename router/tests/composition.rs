//! Composition of the real, committed subgraph schemas, and what the engine makes of it.

use std::path::PathBuf;

use herald_router::compose::{compose, join_root_types};
use herald_router::supergraph_config::{SubgraphSdl, SupergraphConfig};
use hive_router::graphql_tools::parser::{parse_query, parse_schema};
use hive_router::query_planner::ast::normalization::normalize_operation;
use hive_router::query_planner::graph::PlannerOverrideContext;
use hive_router::query_planner::planner::{Planner, QueryPlannerOptions};
use hive_router::query_planner::utils::cancellation::CancellationToken;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

async fn committed_subgraphs() -> Vec<SubgraphSdl> {
    let path = workspace_root().join("supergraph.yaml");
    let config = SupergraphConfig::load(&path).expect("supergraph.yaml");
    config
        .fetch_sdls(&path, &Default::default())
        .await
        .expect("every schema file in supergraph.yaml exists")
}

/// The query plan for `query` on `supergraph_sdl`, as the engine would build it.
fn plan(supergraph_sdl: &str, query: &str) -> Result<String, String> {
    let schema = parse_schema::<String>(supergraph_sdl)
        .map_err(|e| e.to_string())?
        .into_static();
    let planner = Planner::new_from_supergraph(&schema, QueryPlannerOptions::default())
        .map_err(|e| e.to_string())?;
    let document = parse_query::<String>(query)
        .map_err(|e| e.to_string())?
        .into_static();
    let normalized =
        normalize_operation(&planner.supergraph, &document, None).map_err(|e| e.to_string())?;
    planner
        .plan_from_normalized_operation(
            normalized.executable_operation(),
            PlannerOverrideContext::default(),
            &CancellationToken::new(),
        )
        .map(|plan| plan.to_string())
        .map_err(|e| e.to_string())
}

fn has_recommendations(subgraphs: &[SubgraphSdl]) -> bool {
    subgraphs.iter().any(|s| s.name == "recommendations")
}

/// The query the router's end-to-end test sends, spanning every subgraph in supergraph.yaml.
fn federated_query(subgraphs: &[SubgraphSdl]) -> String {
    let recommendations = if has_recommendations(subgraphs) {
        "recommendations(first: 3) { product { name } reason }"
    } else {
        ""
    };
    format!(
        "{{ me {{ name unreadNotificationCount \
         notifications(first: 5) {{ edges {{ node {{ title category }} }} }} {recommendations} }} }}"
    )
}

#[tokio::test]
async fn committed_subgraphs_compose_and_a_query_across_all_of_them_plans() {
    let subgraphs = committed_subgraphs().await;
    let supergraph = compose(&subgraphs).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan(&supergraph, &federated_query(&subgraphs)).unwrap_or_else(|e| panic!("{e}"));
    println!("{plan}");
    for subgraph in &subgraphs {
        assert!(
            plan.contains(&format!("\"{}\"", subgraph.name)),
            "the plan should fetch from {}:\n{plan}",
            subgraph.name
        );
    }
    assert!(
        plan.contains("Flatten"),
        "entity fetches join the subgraphs:\n{plan}"
    );
}

#[tokio::test]
async fn mutations_from_different_subgraphs_plan() {
    let subgraphs = committed_subgraphs().await;
    let supergraph = compose(&subgraphs).unwrap_or_else(|e| panic!("{e}"));
    plan(
        &supergraph,
        r#"mutation { login(email: "a@b.c", password: "x") { accessToken } }"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    plan(&supergraph, "mutation { markAllNotificationsRead }").unwrap_or_else(|e| panic!("{e}"));
}

/// What the fix in `join_root_types` is for: the composer's own output loads, but nothing on
/// it plans.
#[tokio::test]
async fn without_root_join_types_the_engine_cannot_plan() {
    let subgraphs = committed_subgraphs().await;
    let mut ingested = graphql_composition::Subgraphs::default();
    for s in &subgraphs {
        ingested
            .ingest_str(&s.sdl, &s.name, Some(&s.routing_url))
            .expect("ingest");
    }
    let graph = graphql_composition::compose(&mut ingested)
        .into_result()
        .expect("composes");
    let raw = graphql_composition::render_federated_sdl(&graph).expect("renders");

    let error = plan(&raw, "{ me { name } }").expect_err("the unpatched supergraph plans");
    assert!(error.contains("me"), "{error}");

    let fixed = join_root_types(&raw).expect("fix");
    plan(&fixed, "{ me { name } }").unwrap_or_else(|e| panic!("{e}"));
    assert!(fixed.contains("@join__type(graph: USERS)"), "{fixed}");
}

#[test]
fn root_types_get_one_join_type_per_contributing_subgraph_and_nothing_else_changes() {
    let input = r#"
schema { query: Query }
type Query {
  a: Int @join__field(graph: A)
  b: Int @join__field(graph: B)
  b2: Int @join__field(graph: B)
}
type Thing @join__type(graph: A) { id: ID! }
"#;
    let output = join_root_types(input).expect("fix");
    let query = output
        .split("type Query")
        .nth(1)
        .and_then(|rest| rest.split('{').next())
        .expect("Query");
    assert_eq!(
        query.matches("@join__type(graph: A)").count(),
        1,
        "{output}"
    );
    assert_eq!(
        query.matches("@join__type(graph: B)").count(),
        1,
        "{output}"
    );
    assert_eq!(
        output.matches("@join__type(graph: A)").count(),
        2,
        "{output}"
    );

    // Idempotent: already-joined roots are left as they are.
    assert_eq!(join_root_types(&output).expect("again"), output);
}

#[test]
fn conflicting_subgraphs_fail_with_the_composers_messages() {
    let link =
        r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])"#;
    let subgraphs = [
        SubgraphSdl {
            name: "one".into(),
            routing_url: "http://127.0.0.1:1/graphql".into(),
            sdl: format!(
                "{link}\ntype Query {{ thing: Thing }}\ntype Thing @key(fields: \"id\") {{ id: ID! size: Int }}"
            ),
        },
        SubgraphSdl {
            name: "two".into(),
            routing_url: "http://127.0.0.1:2/graphql".into(),
            sdl: format!("{link}\ntype Thing @key(fields: \"id\") {{ id: ID! size: String }}"),
        },
    ];
    let errors = compose(&subgraphs).expect_err("conflicting field types must not compose");
    assert!(!errors.0.is_empty());
    let text = errors.to_string();
    assert!(text.contains("size"), "{text}");
}

#[test]
fn router_yaml_is_a_valid_engine_configuration() {
    let text = std::fs::read_to_string(workspace_root().join("router/router.yaml"))
        .expect("router/router.yaml");
    // The engine insists that the supergraph file exists; point it at a stand-in.
    let stand_in = std::env::temp_dir().join(format!(
        "herald-router-config-test-{}.graphql",
        std::process::id()
    ));
    std::fs::write(&stand_in, "type Query { a: Int }").expect("stand-in supergraph");
    let default = "default: ../data/supergraph.graphql";
    assert!(text.contains(default));
    let text = text.replace(default, &format!("default: {}", stand_in.display()));
    let config = hive_router::config::parse_yaml_config(text).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.jwt.is_jwt_auth_enabled());
    assert_eq!(config.jwt.require_authentication, Some(false));
    assert!(
        config
            .plugins
            .get("herald_reject_unverified_tokens")
            .is_some_and(|p| p.enabled)
    );
    assert_eq!(config.limits.max_depth.as_ref().map(|d| d.n), Some(10));
    assert!(config.limits.max_aliases.is_some() && config.limits.max_tokens.is_some());
    assert!(config.cors.enabled);
    assert!(config.subscriptions.enabled && config.websocket.enabled);
    assert!(config.telemetry.metrics.is_enabled());
    let _ = std::fs::remove_file(stand_in);
}
