//! `calendar-api`: the example third-party calendar API for the `list_events` tool, behind
//! `mcp_auth_resource_server`'s bearer layer and trusting the third party's authorization
//! server.
//!
//! ```sh
//! CALENDAR_API_ISSUER=http://127.0.0.1:9100 cargo run -p protected-mcp-server --bin calendar-api
//! ```
//!
//! Environment: `CALENDAR_API_ISSUER` (the third party's issuer, default
//! `http://127.0.0.1:9100`), `CALENDAR_API_BIND` (default `127.0.0.1:9200`),
//! `CALENDAR_API_PUBLIC_URL` (the token audience, default `http://<bind>/api`),
//! `CALENDAR_API_SCOPE` (default `calendar:read`), `CALENDAR_API_LOG` (default `info`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::process::ExitCode;

use mcp_auth_resource_server::listen::{ListenerLimits, serve_with_timeouts};
use protected_mcp_server::{CalendarApiOptions, calendar_api};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CALENDAR_API_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let issuer = env_or("CALENDAR_API_ISSUER", "http://127.0.0.1:9100");
    let bind: SocketAddr = env_or("CALENDAR_API_BIND", "127.0.0.1:9200")
        .parse()
        .map_err(|e| format!("CALENDAR_API_BIND: {e}"))?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url =
        std::env::var("CALENDAR_API_PUBLIC_URL").unwrap_or_else(|_| format!("http://{bound}/api"));
    let mut options = CalendarApiOptions::new(issuer.clone(), public_url.clone());
    if let Ok(scope) = std::env::var("CALENDAR_API_SCOPE") {
        options.scope = scope;
    }
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
