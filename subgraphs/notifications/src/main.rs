use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    herald_notifications::cli::run().await
}
