//! `pora-gateway`: see `cli` for the commands.

use clap::Parser;

gateway::use_jemalloc!();

#[tokio::main]
async fn main() {
    let cli = gateway::cli::Cli::parse();
    // The configuration first: it says how to log (`log_format`, `PORA_LOG_FORMAT`).
    let config = match gateway::Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(message) = init_logging(config.log_format) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
    if let Err(message) = gateway::cli::run(cli, config).await {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// Logs to stderr: `PORA_LOG` (an `EnvFilter`, default `info`; an invalid one stops the start)
/// in `log_format` (`text`, the default, coloured only on a terminal; or `json`, one object per
/// line). One `pora::access` line per request at `info`.
fn init_logging(format: gateway::config::LogFormat) -> Result<(), String> {
    use std::io::IsTerminal;
    let filter = match std::env::var("PORA_LOG") {
        Ok(text) => tracing_subscriber::EnvFilter::try_new(&text)
            .map_err(|e| format!("PORA_LOG `{text}` is not a log filter: {e}"))?,
        Err(_) => tracing_subscriber::EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        gateway::config::LogFormat::Json => builder.json().flatten_event(true).init(),
        gateway::config::LogFormat::Text => {
            builder.with_ansi(std::io::stderr().is_terminal()).init()
        }
    }
    Ok(())
}
