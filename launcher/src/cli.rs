//! The launcher's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Run the whole Herald platform locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service (users, notifications + worker, recommendations + worker, router)
    /// with the embedded SQLite stores and the local Redis and RabbitMQ; Ctrl-C stops them all.
    Dev(DevArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Register two demo users, record some shopping activity and publish a couple of shop
    /// events, so the inbox and the recommendations are not empty. Safe to repeat.
    #[arg(long)]
    pub seed_demo: bool,
    /// Where the SQLite databases, the dev signing key and the composed supergraph live.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Where the service binaries are (default: next to this executable).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Added to every default port (router 4000, users 8001, notifications 8002,
    /// recommendations 8003, worker metrics 9102 and 9103), to run beside another instance.
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// How long each service may take to become ready.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
    /// How long the services get to stop after SIGTERM before they are killed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
}

pub async fn run() -> ExitCode {
    match Cli::parse().command {
        Command::Dev(args) => match crate::dev::run(args).await {
            Ok(code) => code,
            Err(e) => {
                warn!("herald: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
