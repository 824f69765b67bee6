//! What to start and how: each service's binary, arguments, environment and readiness URL.
//!
//! The launcher always sets what must agree between the services (ports, hosts, the JWKS and
//! users URLs, the router's subgraph URLs) and only fills in what the caller has not already
//! set in its own environment (stores, committed-file paths), so `HERALD_*` variables exported
//! in the shell still win for everything else — a test gives each run its own queues that way.

use std::path::{Path, PathBuf};

/// Every listening port, from the defaults plus `--port-offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub router: u16,
    pub users: u16,
    pub notifications: u16,
    pub recommendations: u16,
    pub notifications_worker: u16,
    pub recommendations_worker: u16,
}

impl Ports {
    pub fn with_offset(offset: u16) -> anyhow::Result<Self> {
        let shift = |port: u16| {
            port.checked_add(offset).ok_or_else(|| {
                anyhow::anyhow!("--port-offset {offset} pushes port {port} past 65535")
            })
        };
        Ok(Self {
            router: shift(4000)?,
            users: shift(8001)?,
            notifications: shift(8002)?,
            recommendations: shift(8003)?,
            notifications_worker: shift(9102)?,
            recommendations_worker: shift(9103)?,
        })
    }

    pub fn all(&self) -> [(&'static str, u16); 6] {
        [
            ("router", self.router),
            ("users", self.users),
            ("notifications", self.notifications),
            ("recommendations", self.recommendations),
            ("notifications-worker", self.notifications_worker),
            ("recommendations-worker", self.recommendations_worker),
        ]
    }
}

const HOST: &str = "127.0.0.1";

pub fn url(port: u16) -> String {
    format!("http://{HOST}:{port}")
}

/// One child process to start.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub ready_url: String,
}

/// The whole platform's layout for one `herald dev` run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ports: Ports,
    pub bin_dir: PathBuf,
    pub data_dir: PathBuf,
    pub project_root: Option<PathBuf>,
}

struct Env(Vec<(String, String)>);

impl Env {
    fn new() -> Self {
        Self(vec![("HERALD_LOG_FORMAT".into(), "text".into())])
    }

    fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.push((key.to_owned(), value.into()));
        self
    }

    /// Only when the launcher's own environment does not already say otherwise.
    fn default(self, key: &str, value: impl Into<String>) -> Self {
        if std::env::var_os(key).is_some() {
            self
        } else {
            self.set(key, value)
        }
    }

    fn default_path(self, key: &str, path: Option<PathBuf>) -> Self {
        match path {
            Some(path) => self.default(key, path.display().to_string()),
            None => self,
        }
    }
}

impl Plan {
    pub fn users_url(&self) -> String {
        url(self.ports.users)
    }

    pub fn router_url(&self) -> String {
        url(self.ports.router)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.users_url())
    }

    fn sqlite(&self, file: &str) -> String {
        format!("sqlite://{}?mode=rwc", self.data_dir.join(file).display())
    }

    fn committed(&self, relative: &str) -> Option<PathBuf> {
        self.project_root
            .as_deref()
            .map(|root| root.join(relative))
            .filter(|path| path.exists())
    }

    fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn common(&self) -> Env {
        Env::new().set("HERALD_JWKS_URL", self.jwks_url())
    }

    fn users_env(&self) -> Env {
        self.common()
            .set("HERALD_USERS__HOST", HOST)
            .set("HERALD_USERS__PORT", self.ports.users.to_string())
            .default("HERALD_USERS__DATABASE_URL", self.sqlite("users.db"))
            .default(
                "HERALD_USERS__DATA_DIR",
                self.data_dir.display().to_string(),
            )
    }

    pub fn users(&self) -> Service {
        Service {
            name: "users",
            program: self.binary(crate::layout::USERS),
            args: Vec::new(),
            env: self.users_env().0,
            ready_url: format!("{}/ready", self.users_url()),
        }
    }

    /// `herald-users issue-token ...` with the users service's own configuration, so the token
    /// is signed with the key the running service publishes.
    pub fn issue_token(&self, role: &str, name: &str, ttl: &str) -> Service {
        Service {
            name: "issue-token",
            program: self.binary(crate::layout::USERS),
            args: ["issue-token", "--role", role, "--name", name, "--ttl", ttl]
                .map(String::from)
                .to_vec(),
            env: self.users_env().0,
            ready_url: String::new(),
        }
    }

    fn notifications_env(&self) -> Env {
        self.common()
            .set("HERALD_NOTIFICATIONS__HOST", HOST)
            .set(
                "HERALD_NOTIFICATIONS__PORT",
                self.ports.notifications.to_string(),
            )
            .set("HERALD_NOTIFICATIONS__WORKER_HOST", HOST)
            .set(
                "HERALD_NOTIFICATIONS__WORKER_PORT",
                self.ports.notifications_worker.to_string(),
            )
            .set("HERALD_NOTIFICATIONS__USERS_URL", self.users_url())
            .default(
                "HERALD_NOTIFICATIONS__DATABASE_URL",
                self.sqlite("notifications.db"),
            )
    }

    pub fn notifications(&self) -> Service {
        Service {
            name: "notifications",
            program: self.binary(crate::layout::NOTIFICATIONS),
            args: Vec::new(),
            env: self.notifications_env().0,
            ready_url: format!("{}/ready", url(self.ports.notifications)),
        }
    }

    /// The worker falls back to the users service (with this token) for a shopper whose
    /// preferences it has not replicated yet.
    pub fn notifications_worker(&self, users_service_token: &str) -> Service {
        Service {
            name: "notifications-worker",
            program: self.binary(crate::layout::NOTIFICATIONS),
            args: vec!["worker".into()],
            env: self
                .notifications_env()
                .default(
                    "HERALD_NOTIFICATIONS__USERS_SERVICE_TOKEN",
                    users_service_token,
                )
                .0,
            ready_url: format!("{}/ready", url(self.ports.notifications_worker)),
        }
    }

    fn recommendations_env(&self) -> Env {
        self.common()
            .set("HERALD_RECOMMENDATIONS__HOST", HOST)
            .set(
                "HERALD_RECOMMENDATIONS__PORT",
                self.ports.recommendations.to_string(),
            )
            .set("HERALD_RECOMMENDATIONS__WORKER_HOST", HOST)
            .set(
                "HERALD_RECOMMENDATIONS__WORKER_PORT",
                self.ports.recommendations_worker.to_string(),
            )
            .default(
                "HERALD_RECOMMENDATIONS__DATABASE_URL",
                self.sqlite("recommendations.db"),
            )
            .default_path(
                "HERALD_RECOMMENDATIONS__CATALOG_PATH",
                self.committed("subgraphs/recommendations/catalog/products.jsonl"),
            )
    }

    pub fn recommendations(&self) -> Service {
        Service {
            name: "recommendations",
            program: self.binary(crate::layout::RECOMMENDATIONS),
            args: Vec::new(),
            env: self.recommendations_env().0,
            ready_url: format!("{}/ready", url(self.ports.recommendations)),
        }
    }

    pub fn recommendations_worker(&self) -> Service {
        Service {
            name: "recommendations-worker",
            program: self.binary(crate::layout::RECOMMENDATIONS),
            args: vec!["worker".into()],
            env: self.recommendations_env().0,
            ready_url: format!("{}/ready", url(self.ports.recommendations_worker)),
        }
    }

    pub fn router(&self) -> Service {
        let graphql = |port: u16| format!("{}/graphql", url(port));
        let env = self
            .common()
            .set("HERALD_ROUTER__HOST", HOST)
            .set("HERALD_ROUTER__PORT", self.ports.router.to_string())
            .set(
                "HERALD_ROUTER__SUBGRAPH_URLS__USERS",
                graphql(self.ports.users),
            )
            .set(
                "HERALD_ROUTER__SUBGRAPH_URLS__NOTIFICATIONS",
                graphql(self.ports.notifications),
            )
            .set(
                "HERALD_ROUTER__SUBGRAPH_URLS__RECOMMENDATIONS",
                graphql(self.ports.recommendations),
            )
            .default(
                "HERALD_ROUTER__SUPERGRAPH_OUTPUT",
                self.data_dir
                    .join("supergraph.graphql")
                    .display()
                    .to_string(),
            )
            .default_path(
                "HERALD_ROUTER__SUPERGRAPH_CONFIG",
                self.committed("supergraph.yaml"),
            )
            .default_path(
                "HERALD_ROUTER__CONFIG",
                self.committed("router/router.yaml"),
            );
        Service {
            name: "router",
            program: self.binary(crate::layout::ROUTER),
            args: Vec::new(),
            env: env.0,
            // The engine's own readiness probe: the supergraph is loaded and served.
            ready_url: format!("{}/readiness", self.router_url()),
        }
    }
}

/// The absolute form of a path (the children may not share the launcher's idea of `.`).
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_moves_every_port() {
        let ports = Ports::with_offset(100).expect("ports");
        assert_eq!(ports.router, 4100);
        assert_eq!(ports.users, 8101);
        assert_eq!(ports.recommendations_worker, 9203);
    }

    #[test]
    fn offset_past_the_last_port_is_an_error() {
        assert!(Ports::with_offset(60000).is_err());
    }
}
