use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    herald_users::cli::run().await
}
