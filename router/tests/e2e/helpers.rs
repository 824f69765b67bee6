//! The whole platform as real processes: every binary on a random port, against the local
//! PostgreSQL (a fresh database per service per test), Redis and RabbitMQ (a queue name and
//! BullMQ prefix of its own per test), each in its own working directory.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Generous: cold processes on a loaded 2-core CI machine.
pub const DEADLINE: Duration = Duration::from_secs(90);

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A sibling binary of this test, in `target/<profile>/`. `cargo test --workspace` builds
/// every package's binaries before running any test; `cargo test -p herald-router` does not.
pub fn binary(name: &str) -> PathBuf {
    if name == "herald-router" {
        return PathBuf::from(env!("CARGO_BIN_EXE_herald-router"));
    }
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{name} is not built at {}: these end-to-end tests run the real binaries. \
         Build them first with `cargo build --workspace` (or run `cargo test --workspace`, \
         which builds every binary before the tests).",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn amqp_url() -> String {
    std::env::var("HERALD_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Waits until a worker consumes `queue`: events published before its queue is declared and
/// bound would be dropped by the exchange.
async fn wait_for_consumer(queue: &str) {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running for the end-to-end tests");
    let started = Instant::now();
    loop {
        // A passive declare fails (and closes the channel) while the queue does not exist.
        let channel = connection.create_channel().await.expect("channel");
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if let Ok(declared) = channel
            .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
            .await
            && declared.consumer_count() > 0
        {
            let _ = connection.close(0, "done".into()).await;
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "nothing ever consumed {queue}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The running platform; every process is killed when it is dropped.
pub struct Platform {
    pub dir: PathBuf,
    pub router_url: String,
    pub users_url: String,
    pub notifications_url: String,
    pub test_id: String,
    processes: Vec<Process>,
    http: reqwest::Client,
}

impl Drop for Platform {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Subgraphs {
    UsersAndNotifications,
    All,
}

impl Platform {
    pub async fn start(subgraphs: Subgraphs) -> Self {
        Self::start_with(subgraphs, workspace_root().join("supergraph.yaml")).await
    }

    /// With the router composing from another `supergraph.yaml`.
    pub async fn start_with(subgraphs: Subgraphs, supergraph_config: PathBuf) -> Self {
        let test_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let dir = std::env::temp_dir().join(format!("herald-e2e-{test_id}"));
        std::fs::create_dir_all(&dir).expect("test dir");
        let mut platform = Platform {
            dir,
            router_url: String::new(),
            users_url: String::new(),
            notifications_url: String::new(),
            test_id,
            processes: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };

        let users_port = free_port();
        platform.users_url = format!("http://127.0.0.1:{users_port}");
        let jwks = format!("{}/.well-known/jwks.json", platform.users_url);
        let users_db = herald_service::testing::fresh_postgres_database().await;
        platform.spawn(
            "users",
            "herald-users",
            &[],
            &[
                ("HERALD_USERS__HOST", "127.0.0.1".into()),
                ("HERALD_USERS__PORT", users_port.to_string()),
                ("HERALD_USERS__DATABASE_URL", users_db),
                ("HERALD_JWKS_URL", jwks.clone()),
            ],
        );
        platform
            .wait_ready("users", &format!("{}/ready", platform.users_url))
            .await;

        let notifications_port = free_port();
        let notifications_db = herald_service::testing::fresh_postgres_database().await;
        let notifications_env = vec![
            ("HERALD_NOTIFICATIONS__HOST", "127.0.0.1".to_owned()),
            ("HERALD_NOTIFICATIONS__PORT", notifications_port.to_string()),
            ("HERALD_NOTIFICATIONS__DATABASE_URL", notifications_db),
            (
                "HERALD_NOTIFICATIONS__EVENTS_QUEUE",
                format!("notifications.events.e2e-{}", platform.test_id),
            ),
            (
                "HERALD_NOTIFICATIONS__EVENTS_QUEUE_EXPIRES_MS",
                "120000".into(),
            ),
            (
                "HERALD_NOTIFICATIONS__QUEUE_PREFIX",
                format!("e2e-{}", platform.test_id),
            ),
            ("HERALD_NOTIFICATIONS__WORKER_HOST", "127.0.0.1".into()),
            ("HERALD_NOTIFICATIONS__WORKER_PORT", free_port().to_string()),
            (
                "HERALD_NOTIFICATIONS__USERS_URL",
                platform.users_url.clone(),
            ),
            ("HERALD_JWKS_URL", jwks.clone()),
        ];
        platform.spawn(
            "notifications",
            "herald-notifications",
            &[],
            &notifications_env,
        );
        let notifications_url = format!("http://127.0.0.1:{notifications_port}");
        platform.notifications_url = notifications_url.clone();
        platform
            .wait_ready("notifications", &format!("{notifications_url}/ready"))
            .await;
        // After the API: both migrate the same database on start-up, and two concurrent
        // migrations of a fresh PostgreSQL database collide.
        platform.spawn(
            "notifications-worker",
            "herald-notifications",
            &["worker"],
            &notifications_env,
        );
        wait_for_consumer(&format!("notifications.events.e2e-{}", platform.test_id)).await;

        let mut router_env = vec![
            ("HERALD_ROUTER__HOST", "127.0.0.1".to_owned()),
            (
                "HERALD_ROUTER__SUPERGRAPH_CONFIG",
                supergraph_config.display().to_string(),
            ),
            (
                "HERALD_ROUTER__CONFIG",
                workspace_root()
                    .join("router/router.yaml")
                    .display()
                    .to_string(),
            ),
            (
                "HERALD_ROUTER__SUPERGRAPH_OUTPUT",
                platform
                    .dir
                    .join("supergraph.graphql")
                    .display()
                    .to_string(),
            ),
            ("HERALD_ROUTER__POLL_INTERVAL_SECS", "1".into()),
            (
                "HERALD_ROUTER__SUBGRAPH_URLS__USERS",
                format!("{}/graphql", platform.users_url),
            ),
            (
                "HERALD_ROUTER__SUBGRAPH_URLS__NOTIFICATIONS",
                format!("{notifications_url}/graphql"),
            ),
            ("HERALD_JWKS_URL", jwks.clone()),
        ];

        if subgraphs == Subgraphs::All {
            let port = free_port();
            let db = herald_service::testing::fresh_postgres_database().await;
            let env = vec![
                ("HERALD_RECOMMENDATIONS__HOST", "127.0.0.1".to_owned()),
                ("HERALD_RECOMMENDATIONS__PORT", port.to_string()),
                ("HERALD_RECOMMENDATIONS__DATABASE_URL", db),
                (
                    "HERALD_RECOMMENDATIONS__CATALOG_PATH",
                    workspace_root()
                        .join("subgraphs/recommendations/catalog/products.jsonl")
                        .display()
                        .to_string(),
                ),
                (
                    "HERALD_RECOMMENDATIONS__EVENTS_QUEUE",
                    format!("recommendations.events.e2e-{}", platform.test_id),
                ),
                (
                    "HERALD_RECOMMENDATIONS__QUEUE_PREFIX",
                    format!("e2e-{}", platform.test_id),
                ),
                // Rebuild the model and refresh a shopper quickly, so that the story's
                // purchases turn into recommendations within the test's patience.
                ("HERALD_RECOMMENDATIONS__MODEL_REFRESH_SECS", "1".into()),
                ("HERALD_RECOMMENDATIONS__REFRESH_DELAY_MS", "100".into()),
                (
                    "HERALD_RECOMMENDATIONS__EVENTS_QUEUE_EXPIRES_MS",
                    "120000".into(),
                ),
                ("HERALD_RECOMMENDATIONS__WORKER_HOST", "127.0.0.1".into()),
                (
                    "HERALD_RECOMMENDATIONS__WORKER_PORT",
                    free_port().to_string(),
                ),
                ("HERALD_JWKS_URL", jwks.clone()),
            ];
            platform.spawn("recommendations", "herald-recommendations", &[], &env);
            let url = format!("http://127.0.0.1:{port}");
            platform
                .wait_ready("recommendations", &format!("{url}/ready"))
                .await;
            platform.spawn(
                "recommendations-worker",
                "herald-recommendations",
                &["worker"],
                &env,
            );
            wait_for_consumer(&format!("recommendations.events.e2e-{}", platform.test_id)).await;
            router_env.push((
                "HERALD_ROUTER__SUBGRAPH_URLS__RECOMMENDATIONS",
                format!("{url}/graphql"),
            ));
        }

        let router_port = free_port();
        router_env.push(("HERALD_ROUTER__PORT", router_port.to_string()));
        platform.spawn("router", "herald-router", &[], &router_env);
        platform.router_url = format!("http://127.0.0.1:{router_port}");
        platform
            .wait_ready("router", &format!("{}/readiness", platform.router_url))
            .await;
        platform
    }

    fn spawn(&mut self, name: &str, binary_name: &str, args: &[&str], env: &[(&str, String)]) {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut command = Command::new(binary(binary_name));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("HERALD_LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary_name}: {e}"));
        self.processes.push(Process {
            name: name.to_owned(),
            child,
            log,
        });
    }

    async fn wait_ready(&mut self, name: &str, url: &str) {
        let started = Instant::now();
        loop {
            if let Ok(response) = self.http.get(url).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Some(p) = self.processes.iter_mut().find(|p| p.name == name)
                && let Ok(Some(status)) = p.child.try_wait()
            {
                panic!(
                    "{name} exited ({status}) before it was ready:\n{}",
                    p.log_tail()
                );
            }
            if started.elapsed() > DEADLINE {
                panic!("{name} was not ready at {url} in time:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The tail of every process's log, for failure messages.
    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// POSTs a GraphQL request to the router; returns the HTTP status and the JSON body.
    pub async fn graphql_status(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.router_url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("router answers");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON body");
        (status, body)
    }

    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graphql_status(query, variables, token).await.1
    }

    /// Registers and logs in through the router; returns (user id, access token).
    pub async fn register_and_login(&self, name: &str) -> (String, String) {
        let email = format!("{}-{}@example.com", name.to_lowercase(), self.test_id);
        let password = "correct horse battery";
        let registered = self
            .graphql(
                "mutation($input: RegisterInput!) { register(input: $input) { id } }",
                json!({ "input": { "name": name, "email": email, "password": password } }),
                None,
            )
            .await;
        let id = registered["data"]["register"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("register: {registered}"))
            .to_owned();
        let login = self
            .graphql(
                "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }",
                json!({ "email": email, "password": password }),
                None,
            )
            .await;
        let token = login["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login: {login}"))
            .to_owned();
        assert_eq!(login["data"]["login"]["user"]["id"], json!(id));
        (id, token)
    }

    /// Re-runs `query` until `done` accepts the body, or fails with the last body and logs.
    pub async fn poll(&self, query: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let body = self.graphql(query, json!({}), Some(token)).await;
            if done(&body) {
                return body;
            }
            if started.elapsed() > DEADLINE {
                panic!("never got there; last response: {body}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}
