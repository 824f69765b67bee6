//! The notifications binary: the API role (and, with the delivery pipeline, the worker role).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herald_service::config::ConfigSources;
use herald_service::telemetry;

use crate::settings::Settings;
use crate::startup::Application;

#[derive(Parser)]
#[command(
    name = "herald-notifications",
    version,
    about = "Herald notifications subgraph"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph (the default).
    Serve,
    /// Run the delivery pipeline: consume events, process jobs, retry the dead-letter queue.
    Worker,
    /// Exit 0 if the service answers `/health` (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8002/health")]
        url: String,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&ConfigSources::from_env()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("herald-notifications: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.common.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match Application::build(settings, None).await {
            Ok(app) => app.run_until_stopped().await,
            Err(e) => Err(e),
        },
        Command::Worker => match crate::pipeline::PipelineWorker::build(settings, None).await {
            Ok(worker) => {
                worker
                    .run_until(herald_service::http::shutdown_signal())
                    .await
            }
            Err(e) => Err(e),
        },
        Command::Healthcheck { url } => {
            return if herald_service::http::healthcheck(&url).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-notifications: {e:#}");
            ExitCode::FAILURE
        }
    }
}
