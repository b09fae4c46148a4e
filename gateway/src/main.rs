//! `pora-gateway`: see `cli` for the commands.

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(message) = gateway::cli::run(gateway::cli::Cli::parse()).await {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
