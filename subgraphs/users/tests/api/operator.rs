use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::{PASSWORD, Store, TestApp, error_code, spawn_app, unique_email};

/// Runs the users binary against the app's database and key, as an operator would.
fn cli(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-users"))
        .args(args)
        .env("HERALD_USERS__DATABASE_URL", &app.database_url)
        .env("HERALD_USERS__DATA_DIR", &app.data_dir)
        .env("HERALD_AMQP_URL", crate::helpers::amqp_url())
        .env("HERALD_CONFIG", app.data_dir.join("absent.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herald-users");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

#[tokio::test]
async fn create_admin_makes_an_admin_who_can_read_others() {
    let app = spawn_app(Store::Postgres).await;
    let admin_email = unique_email("root");
    let output = cli(
        &app,
        &["create-admin", "--email", &admin_email],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let token = app.login(&admin_email, PASSWORD).await["data"]["login"]["accessToken"]
        .as_str()
        .expect("admin can log in")
        .to_owned();
    let (shopper, _) = app.shopper("customer").await;
    let body = app
        .graphql(
            "query($id: ID!) { user(id: $id) { id } me { roles } }",
            json!({"id": shopper}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["user"]["id"], shopper.as_str(), "{body}");
    assert_eq!(body["data"]["me"]["roles"], json!(["USER", "ADMIN"]));
}

#[tokio::test]
async fn issue_token_prints_a_service_token_the_service_accepts() {
    let app = spawn_app(Store::Sqlite).await;
    let output = cli(
        &app,
        &[
            "issue-token",
            "--role",
            "service",
            "--name",
            "shop-backend",
            "--ttl",
            "30d",
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_owned();

    let verifier = herald_service::TokenVerifier::new(herald_service::auth::KeySource::Url(
        format!("{}/.well-known/jwks.json", app.address),
    ));
    let claims = verifier.verify(&token).await.expect("valid service token");
    assert_eq!(claims.sub, "service:shop-backend");
    assert_eq!(claims.roles, vec![herald_service::Role::Service]);
    let days = (claims.exp - claims.iat) / 86_400;
    assert_eq!(days, 30);

    // A service is not a shopper: it has no `me`.
    let body = app.graphql("{ me { id } }", json!({}), Some(&token)).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");

    let bad = cli(
        &app,
        &["issue-token", "--role", "superuser", "--name", "x"],
        None,
    );
    assert!(!bad.status.success());
}

// Multi-threaded: the healthcheck subcommand below blocks this thread while the app answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics_are_served() {
    let app = spawn_app(Store::Sqlite).await;
    let health = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(
        ready["checks"][0],
        json!({"name": "database", "required": true, "ok": true})
    );

    app.shopper("metrics").await;
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "http_server_requests_total{method=\"POST\",route=\"/graphql\",service=\"users\",status=\"200\"}",
        "http_server_request_duration_seconds_bucket",
        "graphql_server_operations_total{",
        "operation_type=\"mutation\"",
        "graphql_server_operation_duration_seconds_bucket",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    let graphiql = app
        .client
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .expect("graphiql");
    assert!(graphiql.text().await.expect("html").contains("graphiql"));
    let healthcheck = std::process::Command::new(env!("CARGO_BIN_EXE_herald-users"))
        .args(["healthcheck", "--url", &format!("{}/health", app.address)])
        .env("HERALD_CONFIG", app.data_dir.join("absent.toml"))
        .status()
        .expect("healthcheck");
    assert!(healthcheck.success());
}
