//! The recommendations binary: the API role, the worker role, and a container health check.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herald_service::config::ConfigSources;
use herald_service::telemetry;

use crate::settings::Settings;
use crate::startup::Application;

#[derive(Parser)]
#[command(
    name = "herald-recommendations",
    version,
    about = "Herald recommendations subgraph"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph (the default).
    Serve,
    /// Consume activity events and run the recompute jobs.
    Worker,
    /// Exit 0 if the service answers `/health` (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8003/health")]
        url: String,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck { url } = &command {
        return if herald_service::http::healthcheck(url).await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let settings = match Settings::load(&ConfigSources::from_env()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("herald-recommendations: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.common.log_format);
    let result = match command {
        Command::Serve => match Application::build(settings, None).await {
            Ok(app) => app.run_until_stopped().await,
            Err(e) => Err(e),
        },
        Command::Worker => {
            match crate::worker::RecommendationsWorker::build(settings, None).await {
                Ok(worker) => {
                    worker
                        .run_until(herald_service::http::shutdown_signal())
                        .await
                }
                Err(e) => Err(e),
            }
        }
        Command::Healthcheck { .. } => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-recommendations: {e:#}");
            ExitCode::FAILURE
        }
    }
}
