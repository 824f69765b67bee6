//! The child processes: started with their output streamed under a name prefix, watched, and
//! stopped together (SIGTERM, a grace period, then SIGKILL), so none outlives the launcher.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use crate::plan::Service;

/// How many of a child's last log lines are kept for failure messages.
const TAIL_LINES: usize = 30;

const COLOURS: [&str; 6] = [
    "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[34m", "\x1b[31m",
];
const RESET: &str = "\x1b[0m";

struct Running {
    name: &'static str,
    pid: Pid,
    exited: watch::Receiver<Option<ExitStatus>>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

/// A child that exited on its own.
#[derive(Debug)]
pub struct Exit {
    pub name: &'static str,
    pub status: ExitStatus,
}

pub struct Supervisor {
    children: Vec<Running>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    colour: bool,
    width: usize,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        Self {
            children: Vec::new(),
            exits_tx,
            exits_rx,
            colour: std::io::stdout().is_terminal(),
            width: "recommendations-worker".len(),
        }
    }

    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.children
            .iter()
            .filter_map(|c| u32::try_from(c.pid.as_raw()).ok().map(|pid| (c.name, pid)))
            .collect()
    }

    pub fn spawn(&mut self, service: &Service) -> anyhow::Result<u32> {
        let mut command = Command::new(&service.program);
        command
            .args(&service.args)
            .envs(service.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Belt and braces: if the launcher's task is torn down, the child goes with it.
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", service.program.display()))?;
        let raw = child
            .id()
            .context("the child exited before its id could be read")?;
        let pid = Pid::from_raw(i32::try_from(raw).context("pid out of range")?);

        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let prefix = self.prefix(service.name);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(stream(out, prefix.clone(), tail.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(stream(err, prefix, tail.clone()));
        }

        let (tx, rx) = watch::channel(None);
        let exits = self.exits_tx.clone();
        let name = service.name;
        tokio::spawn(async move {
            // Waiting reaps the child; `stop` checks `exited` so it never signals a reused pid.
            if let Ok(status) = child.wait().await {
                let _ = tx.send(Some(status));
                let _ = exits.send(Exit { name, status });
            }
        });
        self.children.push(Running {
            name,
            pid,
            exited: rx,
            tail,
        });
        Ok(raw)
    }

    fn prefix(&self, name: &str) -> String {
        let padded = format!("{name:>width$} |", width = self.width);
        if self.colour {
            let colour = COLOURS[self.children.len() % COLOURS.len()];
            format!("{colour}{padded}{RESET}")
        } else {
            padded
        }
    }

    /// The next child to exit on its own (pending forever when there are none).
    pub async fn next_exit(&mut self) -> Exit {
        match self.exits_rx.recv().await {
            Some(exit) => exit,
            None => std::future::pending().await,
        }
    }

    pub fn exit_status(&self, name: &str) -> Option<ExitStatus> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| *c.exited.borrow())
    }

    pub fn tail(&self, name: &str) -> String {
        self.children
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| {
                c.tail
                    .lock()
                    .ok()
                    .map(|t| t.iter().cloned().collect::<Vec<_>>())
            })
            .unwrap_or_default()
            .join("\n")
    }

    /// SIGTERM to every child still running, newest first (the router before the services it
    /// calls), then SIGKILL to whichever has not exited when `grace` is over.
    pub async fn stop_all(&mut self, grace: Duration) {
        for child in self.children.iter().rev() {
            if child.exited.borrow().is_none() {
                let _ = kill(child.pid, Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        for child in self.children.iter_mut().rev() {
            let left = deadline.saturating_duration_since(Instant::now());
            let stopped = tokio::time::timeout(left, child.exited.wait_for(Option::is_some))
                .await
                .is_ok_and(|r| r.is_ok());
            if !stopped {
                warn!(
                    "herald: {} did not stop within {grace:?}; killing it",
                    child.name
                );
                let _ = kill(child.pid, Signal::SIGKILL);
                let _ = child.exited.wait_for(Option::is_some).await;
            }
        }
    }
}

async fn stream(
    reader: impl AsyncRead + Unpin,
    prefix: String,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{prefix} {line}");
        }
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
}
