//! The `auth-server` binary: see `auth-server --help`.

#![forbid(unsafe_code)]

use clap::Parser;
use mcp_auth_server::cli::{self, Cli};
use mcp_auth_server::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// jemalloc, built with its background thread on: freed memory goes back to the operating
/// system within about ten seconds (`dirty_decay_ms`), even when the server is idle, so a burst
/// of sign-ins (19 MiB of Argon2 memory each) does not stay resident (issue #8 item 2).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    // The command line and the log format come first, so that every log line, including those
    // of loading the configuration, has the chosen format.
    let cli = Cli::parse();
    // PostgreSQL's notices ("relation _sqlx_migrations already exists, skipping" on every
    // start) are kept at debug; `MCP_AUTH_LOG` replaces the whole default.
    let filter = EnvFilter::try_from_env("MCP_AUTH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    // Colour codes only on a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli::log_format(&cli) {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .init(),
    }
    std::process::exit(cli::execute(cli).await);
}
