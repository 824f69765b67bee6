use std::path::PathBuf;
use std::time::Duration;

use herald_service::config::ConfigSources;
use herald_users::settings::Settings;
use herald_users::startup::Application;
use serde_json::{Value, json};

pub fn amqp_url() -> String {
    std::env::var("HERALD_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Postgres,
    Sqlite,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    pub database_url: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Creates a database of its own for one test.
pub async fn fresh_database(store: Store, data_dir: &std::path::Path) -> String {
    match store {
        Store::Sqlite => format!("sqlite://{}/users.db?mode=rwc", data_dir.display()),
        Store::Postgres => herald_service::testing::fresh_postgres_database().await,
    }
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-users-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn settings_for(data_dir: &std::path::Path, database_url: &str, amqp_url: &str) -> Settings {
    let sources = ConfigSources::from_pairs([
        ("users.port", json!(0)),
        ("users.host", json!("127.0.0.1")),
        ("users.database_url", json!(database_url)),
        ("users.data_dir", json!(data_dir)),
        ("users.outbox_poll_ms", json!(100)),
        ("users.login_attempts_per_minute", json!(5)),
        ("amqp_url", json!(amqp_url)),
    ]);
    Settings::load(&sources).expect("test settings")
}

pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, &amqp_url()).await
}

pub async fn spawn_app_with(store: Store, amqp_url: &str) -> TestApp {
    let data_dir = temp_dir();
    let database_url = fresh_database(store, &data_dir).await;
    start(data_dir, database_url, amqp_url).await
}

pub async fn start(data_dir: PathBuf, database_url: String, amqp_url: &str) -> TestApp {
    herald_service::telemetry::init(herald_service::config::LogFormat::Text);
    let settings = settings_for(&data_dir, &database_url, amqp_url);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::build(settings, Some(listener))
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        data_dir,
        database_url,
    }
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        response.json().await.expect("GraphQL JSON response")
    }

    /// Registers a user through GraphQL and returns their id.
    pub async fn register(&self, email: &str, password: &str) -> String {
        let body = self
            .graphql(
                "mutation($input: RegisterInput!) { register(input: $input) { id } }",
                json!({"input": {"name": "Test Shopper", "email": email, "password": password}}),
                None,
            )
            .await;
        body["data"]["register"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("register failed: {body}"))
            .to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.graphql(
            "mutation($email: String!, $password: String!) {
                login(email: $email, password: $password) {
                    accessToken tokenType expiresIn user { id email }
                }
            }",
            json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Registers and logs in; returns (id, token).
    pub async fn shopper(&self, tag: &str) -> (String, String) {
        let email = unique_email(tag);
        let id = self.register(&email, PASSWORD).await;
        let body = self.login(&email, PASSWORD).await;
        let token = body["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {body}"))
            .to_owned();
        (id, token)
    }

    /// The PEM of the key this app signs with (dev mode generated it in its data dir).
    pub fn signing_key_pem(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("users-signing-key.pem")).expect("dev key")
    }
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}
