//! The router binary: compose, then serve with the embedded engine.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herald_service::config::ConfigSources;

use crate::settings::Settings;

#[derive(Parser)]
#[command(
    name = "herald-router",
    version,
    about = "Herald's federated GraphQL endpoint"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Compose the supergraph and serve it (the default).
    Serve,
    /// Compose the supergraph, write it to `router.supergraph_output` and exit (1 on errors).
    Compose,
    /// Exit 0 if the router answers `/health` (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:4000/health")]
        url: String,
    },
    /// The engine itself; `serve` becomes this once the supergraph is written.
    #[command(hide = true)]
    Engine,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&ConfigSources::from_env()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("herald-router: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::startup::serve(settings),
        Command::Compose => crate::startup::compose_once(&settings).map(|path| {
            println!("wrote {}", path.display());
        }),
        Command::Engine => crate::startup::run_engine(settings),
        Command::Healthcheck { url } => {
            return match crate::startup::healthcheck(&url) {
                Ok(true) => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-router: {e:#}");
            ExitCode::FAILURE
        }
    }
}
