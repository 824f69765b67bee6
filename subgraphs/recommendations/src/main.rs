use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    herald_recommendations::cli::run().await
}
