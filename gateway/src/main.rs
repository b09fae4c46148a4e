//! `pora-gateway`: see `cli` for the commands.

use clap::Parser;

/// jemalloc with its background threads gives memory back to the system within about a second
/// of a burst, whichever thread freed it (glibc's arenas and mimalloc's idle thread heaps keep
/// it): measured with `bench`'s `pora-abuse`, see bench/README.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: purge unused pages after one second, from background
/// threads.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

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
