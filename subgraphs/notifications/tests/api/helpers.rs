use std::path::PathBuf;
use std::time::Duration;

use herald_notifications::settings::Settings;
use herald_notifications::startup::Application;
use herald_service::config::ConfigSources;
use herald_service::testing::TestIssuer;
use serde_json::{Value, json};

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
    herald_service::testing::fresh_postgres_database().await
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
    spawn_with(Vec::new()).await.0
}

/// The API and, in the same process, the delivery worker, on one SQLite inbox, with a
/// RabbitMQ queue and BullMQ prefix of their own so that parallel tests do not share jobs.
pub async fn spawn_pipeline(extra: Vec<(&str, Value)>) -> (TestApp, Settings) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut pairs = vec![
        (
            "notifications.events_queue",
            json!(format!("notifications.events.test-{run}")),
        ),
        ("notifications.events_queue_expires_ms", json!(600_000)),
        ("notifications.queue_prefix", json!(format!("test{run}"))),
        ("notifications.attempts", json!(3)),
        ("notifications.backoff_base_ms", json!(100)),
        ("notifications.webhook_timeout_ms", json!(2000)),
        ("notifications.dlq_retry_interval_secs", json!(3600)),
    ];
    pairs.extend(extra);
    let (app, settings) = spawn_with(pairs).await;
    let worker = herald_notifications::pipeline::PipelineWorker::build(
        settings.clone(),
        Some(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        ),
    )
    .await
    .expect("worker");
    tokio::spawn(worker.run_until(std::future::pending()));
    wait_for_queue(&settings.notifications.events_queue).await;
    (app, settings)
}

/// Events published before the worker has declared and bound its queue would be dropped by
/// the exchange, so tests start publishing only once the queue exists.
pub async fn wait_for_queue(queue: &str) {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running for the pipeline tests");
    for _ in 0..200 {
        // A passive declare fails (and closes the channel) while the queue does not exist.
        let channel = connection.create_channel().await.expect("channel");
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if channel
            .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
            .await
            .is_ok()
        {
            // Bindings follow the declaration; give them a moment to be in place.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the worker never declared {queue}");
}

pub async fn spawn_with(extra: Vec<(&str, Value)>) -> (TestApp, Settings) {
    herald_service::telemetry::init(herald_service::config::LogFormat::Text);
    let data_dir = temp_dir();
    let issuer = TestIssuer::new(&data_dir);
    let mut pairs: Vec<(&str, Value)> = vec![
        ("notifications.database_url", json!(sqlite_url(&data_dir))),
        ("redis_url", json!(redis_url())),
        ("amqp_url", json!(amqp_url())),
        ("jwks_url", json!(issuer.jwks_path())),
    ];
    pairs.extend(extra);
    let settings = Settings::load(&ConfigSources::from_pairs(pairs)).expect("settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::build(settings.clone(), Some(listener))
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
    (test_app, settings)
}

pub fn amqp_url() -> String {
    std::env::var("HERALD_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
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
