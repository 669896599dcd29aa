//! `calendar-api`: the example third-party calendar API for the `list_events` tool, behind
//! `mcp_auth_resource_server`'s bearer layer and trusting the third party's authorization
//! server.
//!
//! ```sh
//! CALENDAR_API_ISSUER=http://127.0.0.1:9100 cargo run -p protected-mcp-server --bin calendar-api
//! ```
//!
//! Options (`calendar-api --help`), each also read from the environment: `--issuer` /
//! `CALENDAR_API_ISSUER` (the third party's issuer, default `http://127.0.0.1:9100`), `--bind` /
//! `CALENDAR_API_BIND` (default `127.0.0.1:9200`), `--public-url` / `CALENDAR_API_PUBLIC_URL`
//! (the token audience, default `http://<bind>/api`), `--scope` / `CALENDAR_API_SCOPE` (default
//! `calendar:read`); `CALENDAR_API_LOG` sets the log filter (default `info`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use mcp_auth_resource_server::listen::{ListenerLimits, serve_with_timeouts};
use protected_mcp_server::{CalendarApiOptions, calendar_api};

/// The example third-party calendar API, protected by bearer tokens of its own authorization
/// server.
#[derive(Debug, Parser)]
#[command(name = "calendar-api", version, about)]
struct Args {
    /// The third party's authorization server (its issuer, exactly as in its metadata).
    #[arg(
        long,
        env = "CALENDAR_API_ISSUER",
        default_value = "http://127.0.0.1:9100"
    )]
    issuer: String,
    /// The address to listen on.
    #[arg(long, env = "CALENDAR_API_BIND", default_value = "127.0.0.1:9200")]
    bind: SocketAddr,
    /// The public URL of the API, the tokens' audience (default `http://<bind>/api`).
    #[arg(long, env = "CALENDAR_API_PUBLIC_URL")]
    public_url: Option<String>,
    /// The scope reading events needs.
    #[arg(long, env = "CALENDAR_API_SCOPE", default_value = "calendar:read")]
    scope: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `--help` and `--version` answer before anything starts.
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CALENDAR_API_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let Args {
        issuer,
        bind,
        public_url,
        scope,
    } = args;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = public_url.unwrap_or_else(|| format!("http://{bound}/api"));
    let mut options = CalendarApiOptions::new(issuer.clone(), public_url.clone());
    options.scope = scope;
    let router = calendar_api(options).map_err(|e| e.to_string())?;
    println!("calendar API listening on {bound}");
    println!("events:               {public_url}/events");
    println!("authorization server: {issuer}");
    // HTTP/1.1 only, with the default header and body read timeouts (10 s, 30 s).
    serve_with_timeouts(listener, router, ListenerLimits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}
