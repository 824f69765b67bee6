//! `herald dev`: check the brokers, start the services in dependency order, wait until each
//! is ready, optionally seed demo data, then supervise until Ctrl-C/SIGTERM or a child dies.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use crate::cli::DevArgs;
use crate::plan::{Plan, Ports, Service, absolute};
use crate::supervisor::Supervisor;

pub async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let bin_dir = crate::layout::binaries(args.bin_dir.as_deref())?;
    let ports = Ports::with_offset(args.port_offset)?;
    crate::preflight::brokers().await?;
    crate::preflight::ports_free(&ports).await?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let project_root = crate::layout::project_root();
    if project_root.is_none() {
        warn!(
            "herald: no supergraph.yaml in this directory or above; run from the checkout, or set \
             HERALD_ROUTER__SUPERGRAPH_CONFIG, HERALD_ROUTER__CONFIG and \
             HERALD_RECOMMENDATIONS__CATALOG_PATH"
        );
    }
    let plan = Plan {
        ports,
        bin_dir,
        data_dir: absolute(&args.data_dir)?,
        project_root,
    };

    // Listening before any child starts: a Ctrl-C in the terminal reaches the children too
    // (one process group), and their exits must then not read as crashes.
    let (stop_tx, stop_rx) = watch::channel(None);
    tokio::spawn(async move {
        let _ = stop_tx.send(Some(shutdown_signal().await));
    });
    let mut supervisor = Supervisor::new();
    let outcome = tokio::select! {
        biased;
        signal = stopped(stop_rx.clone()) => {
            warn!("herald: {signal}, stopping every service");
            Ok(ExitCode::SUCCESS)
        }
        outcome = start_and_supervise(&plan, &args, &mut supervisor, stop_rx) => outcome,
    };
    // The reason first, then the shutdown's own messages.
    let code = outcome.unwrap_or_else(|e| {
        warn!("herald: {e:#}");
        ExitCode::FAILURE
    });
    supervisor.stop_all(args.grace).await;
    warn!("herald: all services stopped");
    Ok(code)
}

async fn stopped(mut stop: watch::Receiver<Option<&'static str>>) -> &'static str {
    match stop.wait_for(Option::is_some).await {
        Ok(signal) => signal.unwrap_or("stopped"),
        Err(_) => std::future::pending().await,
    }
}

async fn start_and_supervise(
    plan: &Plan,
    args: &DevArgs,
    supervisor: &mut Supervisor,
    stop: watch::Receiver<Option<&'static str>>,
) -> anyhow::Result<ExitCode> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let ready = |service: Service| Ready {
        service,
        http: http.clone(),
        timeout: args.ready_timeout,
    };

    // Users first: it generates the dev signing key, and everyone else verifies tokens
    // against its JWKS.
    ready(plan.users()).start(supervisor).await?;
    let token = issue_token(plan, "service", "herald-notifications", "30d").await?;
    // Each worker after its API: both migrate the same database on start-up.
    ready(plan.notifications()).start(supervisor).await?;
    ready(plan.notifications_worker(&token))
        .start(supervisor)
        .await?;
    ready(plan.recommendations()).start(supervisor).await?;
    ready(plan.recommendations_worker())
        .start(supervisor)
        .await?;
    ready(plan.router()).start(supervisor).await?;

    let router = plan.router_url();
    if args.seed_demo {
        // The seed asks for a recompute (admin only) so the demo does not wait for the
        // nightly one; a short-lived admin token that never leaves this process.
        let admin = issue_token(plan, "admin", "herald-demo-seed", "1h").await?;
        let seeded = crate::seed::run(&router, &admin, &crate::preflight::amqp_url())
            .await
            .context("seeding the demo data")?;
        say!(
            "herald: demo users (log in with these; their inbox and recommendations fill within seconds):"
        );
        for user in seeded {
            say!(
                "herald:   {}  password: {}  (id {})",
                user.email,
                user.password,
                user.user_id
            );
        }
    }
    for (name, pid) in supervisor.pids() {
        say!("herald: {name} pid {pid}");
    }
    say!("herald: GraphQL endpoint   {router}/graphql");
    say!("herald: playground          {router}/graphql (open in a browser)");
    say!("herald: Herald is ready; Ctrl-C stops every service");

    let exit = supervisor.next_exit().await;
    // A terminal's Ctrl-C may reach a child a moment before the launcher notices it.
    if let Ok(signal) = tokio::time::timeout(Duration::from_millis(500), stopped(stop)).await {
        warn!("herald: {signal}, stopping every service");
        return Ok(ExitCode::SUCCESS);
    }
    warn!(
        "herald: {} exited unexpectedly ({}); stopping the others. Its last lines:\n{}",
        exit.name,
        exit.status,
        supervisor.tail(exit.name)
    );
    Ok(ExitCode::FAILURE)
}

struct Ready {
    service: Service,
    http: reqwest::Client,
    timeout: Duration,
}

impl Ready {
    /// Starts the service and waits for its readiness URL to answer 200.
    async fn start(self, supervisor: &mut Supervisor) -> anyhow::Result<()> {
        let name = self.service.name;
        supervisor.spawn(&self.service)?;
        let started = Instant::now();
        loop {
            if let Ok(response) = self.http.get(&self.service.ready_url).send().await
                && response.status().is_success()
            {
                warn!(
                    "herald: {name} is ready ({:.1}s)",
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if let Some(status) = supervisor.exit_status(name) {
                anyhow::bail!(
                    "{name} exited ({status}) before it was ready. Its last lines:\n{}",
                    supervisor.tail(name)
                );
            }
            if started.elapsed() > self.timeout {
                anyhow::bail!(
                    "{name} was not ready at {} within {:?}. Its last lines:\n{}",
                    self.service.ready_url,
                    self.timeout,
                    supervisor.tail(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A token minted by the users binary itself with the running service's configuration (so
/// signed with the key its JWKS publishes).
async fn issue_token(plan: &Plan, role: &str, name: &str, ttl: &str) -> anyhow::Result<String> {
    let command = plan.issue_token(role, name, ttl);
    let output = tokio::process::Command::new(&command.program)
        .args(&command.args)
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running herald-users issue-token")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let token = stdout
        .lines()
        .map(str::trim)
        .rfind(|line| line.split('.').count() == 3 && !line.contains(' '));
    match token {
        Some(token) if output.status.success() => Ok(token.to_owned()),
        _ => anyhow::bail!(
            "herald-users issue-token failed ({}):\n{}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        Some(()) = async { terminate.as_mut()?.recv().await } => "SIGTERM received",
        Some(()) = async { interrupt.as_mut()?.recv().await } => "interrupted",
        else => std::future::pending().await,
    }
}
