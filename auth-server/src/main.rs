//! The `auth-server` binary: see `auth-server --help`.

#![forbid(unsafe_code)]

use tracing_subscriber::EnvFilter;

/// jemalloc, built with its background thread on: freed memory goes back to the operating
/// system within about ten seconds (`dirty_decay_ms`), even when the server is idle, so a burst
/// of sign-ins (19 MiB of Argon2 memory each) does not stay resident (issue #8 item 2).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MCP_AUTH_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(mcp_auth_server::cli::run().await);
}
