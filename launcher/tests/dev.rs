//! `herald dev --seed-demo` for real: the launcher starts the sibling binaries against the
//! local Redis and RabbitMQ, a demo shopper sees a non-empty inbox and recommendations in one
//! federated query through the router, and SIGINT leaves no process behind.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// Generous: six cold processes, first migrations, on a loaded 2-core CI machine.
const DEADLINE: Duration = Duration::from_secs(240);

/// The service binaries: beside this package's `herald` (where `cargo test --workspace` puts
/// them), or in `HERALD_TEST_BIN_DIR` when they were built into another target directory.
fn bin_dir() -> PathBuf {
    let launcher = PathBuf::from(env!("CARGO_BIN_EXE_herald"));
    let dir = match std::env::var_os("HERALD_TEST_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => launcher.parent().expect("target/<profile>").to_path_buf(),
    };
    for name in [
        "herald-users",
        "herald-notifications",
        "herald-recommendations",
        "herald-router",
    ] {
        assert!(
            dir.join(name).is_file(),
            "{name} is not built in {}: this test runs `herald dev`, which starts the real \
             binaries beside it. Run `cargo test --workspace` (it builds every binary before the \
             tests) or `cargo build --workspace` first.",
            dir.display()
        );
    }
    dir
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// An offset that puts all six default ports on free ports, away from the usual ones and
/// below Linux's ephemeral range (32768+), where other tests' port-0 listeners land.
fn free_offset() -> u16 {
    // Random per call: tests in this binary run at the same time and must not pick one range.
    let seed = uuid::Uuid::new_v4().as_u64_pair().0 % 1_000_003;
    for attempt in 0..200u64 {
        let offset = 11_000 + ((seed.wrapping_mul(7919) + attempt * 131) % 12_000) as u16;
        let free = [4000u16, 8001, 8002, 8003, 9102, 9103]
            .iter()
            .all(|port| TcpListener::bind(("127.0.0.1", port + offset)).is_ok());
        if free {
            return offset;
        }
    }
    panic!("no free port range found");
}

/// The launcher; SIGINT (then SIGKILL, and its children by pid) when dropped on a failure.
struct Launcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
    pids: Vec<(String, i32)>,
    data_dir: PathBuf,
}

impl Launcher {
    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    /// Reads the launcher's output until a line contains `needle`.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            match self.lines.recv_timeout(Duration::from_millis(500)) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if let Some(rest) = line.strip_prefix("herald: ")
                        && let Some((name, pid)) = rest.split_once(" pid ")
                        && let Ok(pid) = pid.trim().parse()
                    {
                        self.pids.push((name.to_owned(), pid));
                    }
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the launcher exited before printing {needle:?}:\n{}",
                        self.log()
                    )
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.drain();
                panic!(
                    "the launcher exited ({status}) before printing {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no {needle:?} from the launcher in time:\n{}",
                self.log()
            );
        }
    }

    fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.output.push(line);
        }
    }

    fn log(&self) -> String {
        let start = self.output.len().saturating_sub(150);
        self.output[start..].join("\n")
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(self.pid(), Signal::SIGINT);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            for (_, pid) in &self.pids {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

fn new_run() -> (String, PathBuf) {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let data_dir = std::env::temp_dir().join(format!("herald-launcher-{id}"));
    (id, data_dir)
}

fn start_launcher(id: &str, data_dir: &Path) -> Launcher {
    start_launcher_with(id, data_dir, &["--seed-demo"])
}

fn start_launcher_with(id: &str, data_dir: &Path, extra: &[&str]) -> Launcher {
    let id = id.to_owned();
    let bin_dir = bin_dir();
    let data_dir = data_dir.to_path_buf();
    let offset = free_offset();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["dev", "--port-offset", &offset.to_string()])
        .args(extra)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .env_remove("HERALD_TEST_BIN_DIR")
        .arg("--data-dir")
        .arg(&data_dir)
        .current_dir(workspace_root())
        // This run's own queues and BullMQ prefixes: other tests share the local brokers.
        .env(
            "HERALD_NOTIFICATIONS__EVENTS_QUEUE",
            format!("notifications.events.launcher-{id}"),
        )
        .env(
            "HERALD_RECOMMENDATIONS__EVENTS_QUEUE",
            format!("recommendations.events.launcher-{id}"),
        )
        .env("HERALD_NOTIFICATIONS__EVENTS_QUEUE_EXPIRES_MS", "120000")
        .env("HERALD_RECOMMENDATIONS__EVENTS_QUEUE_EXPIRES_MS", "120000")
        .env(
            "HERALD_NOTIFICATIONS__QUEUE_PREFIX",
            format!("launcher-{id}"),
        )
        .env(
            "HERALD_RECOMMENDATIONS__QUEUE_PREFIX",
            format!("launcher-{id}"),
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting herald dev");
    let (tx, lines) = mpsc::channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Launcher {
        child,
        lines,
        output: Vec::new(),
        pids: Vec::new(),
        data_dir,
    }
}

async fn graphql(endpoint: &str, query: &str, variables: Value, token: Option<&str>) -> Value {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut request = client
        .post(endpoint)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("the router answers")
        .json()
        .await
        .expect("a JSON body")
}

const FEDERATED: &str = "{ me { id name unreadNotificationCount \
    notifications(first: 5) { edges { node { title category } } } \
    recommendations(first: 3) { product { name } reason } } }";

#[tokio::test(flavor = "multi_thread")]
async fn herald_dev_seeds_a_demo_users_inbox_and_recommendations_and_stops_every_child() {
    let (id, data_dir) = new_run();
    let mut launcher = start_launcher(&id, &data_dir);
    let ready = launcher.wait_for_line("GraphQL endpoint");
    let endpoint = ready
        .split_whitespace()
        .last()
        .expect("the endpoint URL")
        .to_owned();
    assert!(endpoint.starts_with("http://"), "{ready}");
    assert_eq!(
        launcher.pids.len(),
        6,
        "one pid line per service:\n{}",
        launcher.log()
    );

    let login = graphql(
        &endpoint,
        "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }",
        json!({ "email": "ada@demo.herald.test", "password": "demo password ada" }),
        None,
    )
    .await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("demo login: {login}"))
        .to_owned();

    let started = Instant::now();
    let body = loop {
        let body = graphql(&endpoint, FEDERATED, json!({}), Some(&token)).await;
        let me = &body["data"]["me"];
        let inbox = me["notifications"]["edges"].as_array().map_or(0, Vec::len);
        let recommended = me["recommendations"].as_array().map_or(0, Vec::len);
        if inbox > 0 && recommended > 0 {
            break body;
        }
        if started.elapsed() > DEADLINE {
            launcher.drain();
            panic!(
                "no inbox and recommendations in time; last answer: {body}\n{}",
                launcher.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["me"]["name"], json!("Ada Lovelace"));
    assert!(
        body["data"]["me"]["unreadNotificationCount"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{body}"
    );

    let status = interrupt(&mut launcher);
    assert!(
        status.success(),
        "launcher exit {status}:\n{}",
        launcher.log()
    );
    for (name, pid) in &launcher.pids {
        assert_eq!(
            kill(Pid::from_raw(*pid), None),
            Err(Errno::ESRCH),
            "{name} (pid {pid}) is still there after the launcher stopped"
        );
    }
}

/// SIGINT, as Ctrl-C would; returns the launcher's exit status.
fn interrupt(launcher: &mut Launcher) -> std::process::ExitStatus {
    kill(launcher.pid(), Signal::SIGINT).expect("SIGINT to the launcher");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = launcher.child.try_wait().expect("waiting for the launcher") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the launcher did not stop after SIGINT:\n{}",
            launcher.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    launcher.drain();
    status
}

/// The demo users' `email (id ...)` lines the launcher printed.
fn demo_users(launcher: &Launcher) -> Vec<String> {
    launcher
        .output
        .iter()
        .filter(|line| line.contains("@demo.herald.test"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn herald_dev_seed_demo_twice_on_one_data_dir_logs_the_demo_users_in_again() {
    let (id, data_dir) = new_run();
    let mut first = start_launcher(&id, &data_dir);
    first.wait_for_line("GraphQL endpoint");
    let users = demo_users(&first);
    assert_eq!(users.len(), 2, "{}", first.log());
    let status = interrupt(&mut first);
    assert!(
        status.success(),
        "first run exit {status}:\n{}",
        first.log()
    );
    // The data dir belongs to the second run now.
    first.data_dir = std::env::temp_dir().join("herald-launcher-none");

    let mut second = start_launcher(&id, &data_dir);
    second.wait_for_line("GraphQL endpoint");
    assert_eq!(
        demo_users(&second),
        users,
        "the same demo accounts (same ids) on a second run:\n{}",
        second.log()
    );
    let status = interrupt(&mut second);
    assert!(
        status.success(),
        "second run exit {status}:\n{}",
        second.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_a_child_dies_herald_dev_says_which_and_stops_the_others() {
    let (id, data_dir) = new_run();
    let mut launcher = start_launcher_with(&id, &data_dir, &[]);
    launcher.wait_for_line("Herald is ready");
    let (victim, pid) = launcher
        .pids
        .iter()
        .find(|(name, _)| name == "recommendations-worker")
        .cloned()
        .unwrap_or_else(|| panic!("no recommendations-worker pid:\n{}", launcher.log()));
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("SIGKILL to the worker");
    launcher.wait_for_line("exited unexpectedly");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = launcher.child.try_wait().expect("waiting for the launcher") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the launcher did not stop after {victim} died:\n{}",
            launcher.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    launcher.drain();
    assert!(!status.success(), "a dead child is a failure: {status}");
    assert!(
        launcher
            .output
            .iter()
            .any(|l| l.contains("recommendations-worker exited unexpectedly")),
        "{}",
        launcher.log()
    );
    for (name, pid) in &launcher.pids {
        assert_eq!(
            kill(Pid::from_raw(*pid), None),
            Err(Errno::ESRCH),
            "{name} (pid {pid}) outlived the launcher"
        );
    }
}

/// Runs `herald dev` to completion with extra arguments and environment; returns (success,
/// everything it printed).
fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .arg("dev")
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("running herald dev");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn herald_dev_names_the_missing_binaries_and_how_to_build_them() {
    let empty = std::env::temp_dir().join(format!("herald-no-bins-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&empty).expect("empty dir");
    let dir = empty.display().to_string();
    let (ok, text) = run_to_end(&["--bin-dir", &dir], &[]);
    let _ = std::fs::remove_dir_all(&empty);
    assert!(!ok, "{text}");
    for name in [
        "herald-users",
        "herald-notifications",
        "herald-recommendations",
        "herald-router",
    ] {
        assert!(text.contains(name), "{name} not named: {text}");
    }
    assert!(text.contains("cargo build --release --workspace"), "{text}");
}

#[test]
fn herald_dev_says_how_to_start_unreachable_brokers() {
    let bin_dir = bin_dir().display().to_string();
    // Port 1 on loopback: nothing listens there.
    let (ok, text) = run_to_end(
        &["--bin-dir", &bin_dir],
        &[
            ("HERALD_REDIS_URL", "redis://127.0.0.1:1"),
            ("HERALD_AMQP_URL", "amqp://guest:secret@127.0.0.1:1/%2f"),
        ],
    );
    assert!(!ok, "{text}");
    assert!(text.contains("redis-server --daemonize yes"), "{text}");
    assert!(text.contains("rabbitmq-server -detached"), "{text}");
    assert!(
        !text.contains("secret"),
        "the AMQP password is printed: {text}"
    );
    assert!(!text.contains(" pid "), "nothing may start: {text}");
}
