//! The users binary's subcommands: the service itself, and the operator's tools.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herald_service::auth::Role;
use herald_service::config::ConfigSources;
use herald_service::preferences::Preferences;
use herald_service::telemetry;

use crate::accounts::NewAccount;
use crate::settings::Settings;
use crate::signing;
use crate::startup::{Application, Core};

#[derive(Parser)]
#[command(
    name = "herald-users",
    version,
    about = "Herald users subgraph and identity issuer"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph (the default).
    Serve,
    /// Create an admin account, or grant the admin role to an existing one. The password is
    /// read from standard input (prompted for on a terminal).
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Print a signed access token, e.g. a `service` token for the shop's backend.
    IssueToken {
        /// Role(s) the token carries: user, admin or service.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Who the token is for; becomes the `sub` claim (`service:<name>` for services).
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. `30d`, `12h`, `15m`.
        #[arg(long, default_value = "30d")]
        ttl: String,
    },
    /// Print a new Ed25519 signing key (PKCS#8 PEM) and its public key, for production or rotation.
    GenerateKey,
    /// Exit 0 if the service answers `/health` (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8001/health")]
        url: String,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&ConfigSources::from_env()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("herald-users: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.common.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::CreateAdmin { email, name } => create_admin(settings, email, name).await,
        Command::IssueToken { roles, name, ttl } => issue_token(settings, roles, name, ttl).await,
        Command::GenerateKey => generate_key(),
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
            eprintln!("herald-users: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings, None)
        .await?
        .run_until_stopped()
        .await
}

fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    Ok(password)
}

async fn create_admin(settings: Settings, email: String, name: String) -> anyhow::Result<()> {
    let core = Core::build(&settings).await?;
    let result = match core
        .accounts
        .find_by_email(&email)
        .await
        .map_err(api_error)?
    {
        Some(existing) => {
            let account = core
                .accounts
                .grant_roles(&existing.id, &[Role::Admin])
                .await
                .map_err(api_error)?;
            println!(
                "granted admin to existing user {} ({})",
                account.id, account.email
            );
            Ok(())
        }
        None => {
            let password = read_password()?;
            let account = core
                .accounts
                .register(NewAccount {
                    name,
                    email,
                    password,
                    preferences: Preferences::default(),
                    roles: vec![Role::User, Role::Admin],
                })
                .await
                .map_err(api_error)?;
            println!("created admin {} ({})", account.id, account.email);
            Ok(())
        }
    };
    // Deliver the registration event now if the broker is up; otherwise the server's relay will.
    let _ = core.relay.relay_once().await;
    result
}

async fn issue_token(
    settings: Settings,
    roles: Vec<String>,
    name: String,
    ttl: String,
) -> anyhow::Result<()> {
    let roles = roles
        .iter()
        .map(|r| {
            Role::parse(r)
                .ok_or_else(|| anyhow::anyhow!("unknown role '{r}' (user, admin, service)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ttl = humantime::parse_duration(&ttl).map_err(|e| anyhow::anyhow!("--ttl {ttl}: {e}"))?;
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    if ttl_secs < 60 {
        anyhow::bail!("--ttl must be at least a minute");
    }
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("--name must not be empty");
    }
    let subject = if roles.contains(&Role::Service) && !name.starts_with("service:") {
        format!("service:{name}")
    } else {
        name.to_owned()
    };
    let keys = signing::SigningKeys::load(&settings.users, settings.common.env)?;
    println!("{}", keys.issue(&subject, &roles, ttl_secs)?);
    Ok(())
}

fn generate_key() -> anyhow::Result<()> {
    let private = signing::generate_pem()?;
    let public = signing::public_pem(&private)?;
    println!("{private}{public}");
    Ok(())
}

fn api_error(e: herald_service::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}
