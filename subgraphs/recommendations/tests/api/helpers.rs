use std::path::PathBuf;
use std::time::Duration;

use herald_recommendations::settings::Settings;
use herald_recommendations::startup::Application;
use herald_recommendations::worker::RecommendationsWorker;
use herald_service::config::ConfigSources;
use herald_service::testing::TestIssuer;
use serde_json::{Value, json};

pub fn redis_url() -> String {
    std::env::var("HERALD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn amqp_url() -> String {
    std::env::var("HERALD_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "herald-recommendations-test-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}/recommendations.db?mode=rwc", dir.display())
}

pub fn catalog_path() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/products.jsonl").into()
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub issuer: TestIssuer,
    pub data_dir: PathBuf,
    pub settings: Settings,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The API on a random port with an SQLite store (holding the shipped catalog), tokens
/// from a test issuer, and a RabbitMQ queue and BullMQ prefix of its own.
pub async fn spawn_app() -> TestApp {
    spawn_with(Vec::new()).await
}

pub async fn spawn_with(extra: Vec<(&str, Value)>) -> TestApp {
    herald_service::telemetry::init(herald_service::config::LogFormat::Text);
    let data_dir = temp_dir();
    let issuer = TestIssuer::new(&data_dir);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut pairs: Vec<(&str, Value)> = vec![
        ("recommendations.database_url", json!(sqlite_url(&data_dir))),
        ("recommendations.catalog_path", json!(catalog_path())),
        (
            "recommendations.events_queue",
            json!(format!("recommendations.events.test-{run}")),
        ),
        ("recommendations.events_queue_expires_ms", json!(600_000)),
        ("recommendations.queue_prefix", json!(format!("test{run}"))),
        ("recommendations.refresh_delay_ms", json!(100)),
        // Far away: tests trigger recomputes themselves.
        ("recommendations.recompute_cron", json!("0 0 3 1 1 *")),
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
        client,
        issuer,
        data_dir,
        settings,
    };
    test_app.wait_ready(&test_app.address).await;
    test_app
}

impl TestApp {
    async fn wait_ready(&self, address: &str) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(format!("{address}/ready")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{address} never became ready (are Redis and RabbitMQ running?)");
    }

    /// Starts the worker in this process on the app's store, queue and prefix; returns its
    /// address and once its RabbitMQ queue exists.
    pub async fn spawn_worker(&self) -> String {
        let worker = RecommendationsWorker::build(
            self.settings.clone(),
            Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind"),
            ),
        )
        .await
        .expect("worker");
        let address = format!("http://127.0.0.1:{}", worker.port());
        tokio::spawn(worker.run_until(std::future::pending()));
        self.wait_ready(&address).await;
        wait_for_queue(&self.settings.recommendations.events_queue).await;
        address
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

    pub fn admin_token(&self) -> String {
        self.issuer.token(
            &new_user(),
            &[herald_service::Role::User, herald_service::Role::Admin],
        )
    }

    /// Records one activity through GraphQL as `user`.
    pub async fn record(&self, user: &str, product: &str, kind: &str) {
        let body = self
            .graphql(
                "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { recorded } }",
                json!({"input": {"productId": product, "kind": kind}}),
                Some(&self.issuer.user_token(user)),
            )
            .await;
        assert_eq!(
            body["data"]["recordActivity"]["recorded"], true,
            "recordActivity failed: {body}"
        );
    }

    /// `user`'s recommendations as (product id, reason) pairs.
    pub async fn recommendations(&self, user: &str, first: usize) -> Vec<(String, String)> {
        let body = self
            .graphql(
                RECOMMENDATIONS,
                json!({"reps": [{"__typename": "User", "id": user}], "first": first}),
                Some(&self.issuer.user_token(user)),
            )
            .await;
        body["data"]["_entities"][0]["recommendations"]
            .as_array()
            .unwrap_or_else(|| panic!("no recommendations in {body}"))
            .iter()
            .map(|r| {
                (
                    r["product"]["id"].as_str().unwrap_or_default().to_owned(),
                    r["reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

pub const RECOMMENDATIONS: &str = "query($reps: [_Any!]!, $first: Int) { _entities(representations: $reps) {
    ... on User { id recommendations(first: $first) { score reason product { id name category price inStock } } } } }";

/// Events published before the worker has declared and bound its queue would be dropped by
/// the exchange, so tests start publishing only once the queue exists.
pub async fn wait_for_queue(queue: &str) {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running for the pipeline tests");
    for _ in 0..200 {
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
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the worker never declared {queue}");
}

pub fn new_user() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// Polls `check` until it returns `Some`, for at most a generous minute.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The fixed small dataset of the engine tests, through the real API: camera buyers also
/// buy a lens (three of them) and a tripod (two); one bought a flash, now out of stock;
/// three shoppers only looked at the camera and a bag; two book buyers never meet them.
pub struct Fixture {
    pub camera_buyers: Vec<String>,
}

pub const FIXTURE_PRODUCTS: &str = r#"[
    {"id": "camera", "name": "Mirrorless Camera", "category": "photo", "price": 899.0, "inStock": true},
    {"id": "lens", "name": "50mm Lens", "category": "photo", "price": 199.0, "inStock": true},
    {"id": "tripod", "name": "Carbon Tripod", "category": "photo", "price": 149.5, "inStock": true},
    {"id": "bag", "name": "Camera Bag", "category": "photo", "price": 59.0, "inStock": true},
    {"id": "flash", "name": "Speedlight Flash", "category": "photo", "price": 129.0, "inStock": false},
    {"id": "novel", "name": "A Mystery Novel", "category": "books", "price": 14.99, "inStock": true},
    {"id": "cookbook", "name": "Weeknight Cookbook", "category": "books", "price": 24.0, "inStock": true}
]"#;

impl TestApp {
    pub async fn seed_fixture(&self) -> Fixture {
        let products: Value = serde_json::from_str(FIXTURE_PRODUCTS).expect("fixture");
        let body = self
            .graphql(
                "mutation($products: [ProductInput!]!) { upsertProducts(products: $products) { upserted } }",
                json!({"products": products}),
                Some(&self.service_token()),
            )
            .await;
        assert_eq!(body["data"]["upsertProducts"]["upserted"], 7, "{body}");
        let users: Vec<String> = (0..9).map(|_| new_user()).collect();
        for user in &users[0..3] {
            self.record(user, "camera", "PURCHASED").await;
            self.record(user, "lens", "PURCHASED").await;
        }
        self.record(&users[0], "flash", "PURCHASED").await;
        self.record(&users[0], "tripod", "PURCHASED").await;
        self.record(&users[3], "camera", "PURCHASED").await;
        self.record(&users[3], "tripod", "PURCHASED").await;
        for user in &users[4..7] {
            self.record(user, "camera", "VIEWED").await;
            self.record(user, "bag", "VIEWED").await;
        }
        for user in &users[7..9] {
            self.record(user, "novel", "PURCHASED").await;
            self.record(user, "cookbook", "ADDED_TO_CART").await;
        }
        Fixture {
            camera_buyers: users[0..4].to_vec(),
        }
    }

    /// Rebuilds the shared model the way the worker does, on the same store.
    pub async fn rebuild_model(&self) {
        let recommender = herald_recommendations::startup::open_recommender(&self.settings)
            .await
            .expect("recommender");
        recommender.rebuild_model().await.expect("rebuild");
    }
}

/// An empty catalog file path: the fixture tests bring their own products.
pub fn no_catalog() -> Vec<(&'static str, Value)> {
    vec![("recommendations.catalog_path", json!(""))]
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

impl TestApp {
    /// Someone views the first `n` products of the shipped catalog, and the model is rebuilt:
    /// enough signal for full lists.
    pub async fn seed_views(&self, n: usize) {
        let someone = new_user();
        for i in 1..=n {
            self.record(&someone, &format!("p-{i:04}"), "VIEWED").await;
        }
        self.rebuild_model().await;
    }
}
