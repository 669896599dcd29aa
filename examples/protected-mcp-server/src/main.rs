//! `protected-mcp-server`: run the example MCP server against an mcp-auth authorization server.
//!
//! ```sh
//! cargo run -p protected-mcp-server -- --issuer http://127.0.0.1:9000 --bind 127.0.0.1:8080
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use protected_mcp_server::{AppOptions, app};

/// An example MCP server protected by OAuth 2.1 bearer tokens from an mcp-auth authorization
/// server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The authorization server's issuer, exactly as in its metadata.
    #[arg(long, env = "MCP_ISSUER", default_value = "http://127.0.0.1:9000")]
    issuer: String,
    /// The address to listen on.
    #[arg(long, env = "MCP_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The public URL of the MCP endpoint (default `http://<bind>/mcp`); set it when a proxy
    /// terminates TLS in front of this server.
    #[arg(long, env = "MCP_PUBLIC_URL")]
    public_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{bound}/mcp"));
    let router =
        app(AppOptions::new(args.issuer.clone(), public_url.clone())).map_err(|e| e.to_string())?;
    println!("protected MCP server listening on {bound}");
    println!("MCP endpoint:      {public_url}");
    println!("authorization server: {}", args.issuer);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
