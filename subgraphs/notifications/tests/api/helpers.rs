use std::path::PathBuf;
use std::time::Duration;

use herald_notifications::settings::Settings;
use herald_notifications::startup::Application;
use herald_service::config::ConfigSources;
use herald_service::testing::TestIssuer;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub fn postgres_base() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("HERALD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "herald-notifications-test-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub async fn fresh_postgres() -> String {
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("{}/postgres", postgres_base()))
        .await
        .expect("PostgreSQL must be running for these tests");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create db");
    admin.close().await.ok();
    format!("{}/{name}", postgres_base())
}

pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}/notifications.db?mode=rwc", dir.display())
}

pub struct TestApp {
    pub address: String,
    pub ws_address: String,
    pub client: reqwest::Client,
    pub issuer: TestIssuer,
    pub data_dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The API on a random port with an SQLite inbox and tokens from a test issuer.
pub async fn spawn_app() -> TestApp {
    herald_service::telemetry::init(herald_service::config::LogFormat::Text);
    let data_dir = temp_dir();
    let issuer = TestIssuer::new(&data_dir);
    let sources = ConfigSources::from_pairs([
        ("notifications.database_url", json!(sqlite_url(&data_dir))),
        ("redis_url", json!(redis_url())),
        ("jwks_url", json!(issuer.jwks_path())),
    ]);
    let settings = Settings::load(&sources).expect("settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::build(settings, Some(listener))
        .await
        .expect("build");
    let port = app.port();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let test_app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        ws_address: format!("ws://127.0.0.1:{port}/graphql"),
        client,
        issuer,
        data_dir,
    };
    test_app.wait_ready().await;
    test_app
}

impl TestApp {
    /// Waits for `/ready` (store reachable, Redis subscription live), as a load balancer would.
    async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(r) = self
                .client
                .get(format!("{}/ready", self.address))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the notifications app never became ready (is Redis running?)");
    }

    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("GraphQL JSON")
    }

    pub fn service_token(&self) -> String {
        self.issuer
            .token("service:shop-backend", &[herald_service::Role::Service])
    }

    /// Creates a notification through the service-only mutation; returns its id.
    pub async fn notify(&self, user_id: &str, title: &str, category: &str) -> String {
        let body = self
            .graphql(
                "mutation($input: CreateNotificationInput!) {
                    createNotification(input: $input) { created notification { id } } }",
                json!({"input": {"recipientId": user_id, "category": category, "title": title,
                                  "body": format!("{title} body"), "data": {"orderId": "o-1"},
                                  "idempotencyKey": uuid::Uuid::new_v4().to_string()}}),
                Some(&self.service_token()),
            )
            .await;
        body["data"]["createNotification"]["notification"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createNotification failed: {body}"))
            .to_owned()
    }
}

pub fn new_user() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

pub const INBOX: &str = "query($reps: [_Any!]!) { _entities(representations: $reps) {
    ... on User { id unreadNotificationCount
        notifications(first: 10) { edges { cursor node { id title category read } } pageInfo { hasNextPage endCursor } } } } }";

pub fn user_rep(id: &str) -> Value {
    json!({"reps": [{"__typename": "User", "id": id}]})
}
