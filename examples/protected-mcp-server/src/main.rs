//! `protected-mcp-server`: run the example MCP server against an mcp-auth authorization server.
//!
//! ```sh
//! cargo run -p protected-mcp-server -- --issuer http://127.0.0.1:9000 --bind 127.0.0.1:8080
//! ```
//!
//! The `list_events` tool (the user's `calendar` connection, issue 11) is on when
//! `MCP_CONNECT_CLIENT_ID` is set; then `MCP_CONNECT_CLIENT_SECRET`, `MCP_REQUEST_STATE_KEY`
//! (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) and `MCP_CALENDAR_API_URL`
//! (e.g. `http://127.0.0.1:9200/api`) are required too.
//!
//! It serves through `mcp_auth_resource_server::listen::serve_with_timeouts`: HTTP/1.1 only, a
//! 10 s header read timeout and a 30 s body read timeout by default
//! (`MCP_HEADER_READ_TIMEOUT_MS`, `MCP_BODY_READ_TIMEOUT_MS`), and an optional connection cap
//! (`MCP_MAX_CONNECTIONS`).
//!
//! `--max-sessions` (`MCP_MAX_SESSIONS`, default 1,000) and `--max-sessions-per-principal`
//! (`MCP_MAX_SESSIONS_PER_PRINCIPAL`, default 8) bound the open MCP sessions.
//!
//! `--dpop` (`MCP_DPOP`) sets the layer's DPoP mode (RFC 9449 §7): `off`, `allowed` (the
//! default: Bearer and DPoP-bound tokens) or `required` (DPoP-bound tokens only).
//!
//! `--dangerous-without-auth-layer` (hidden) serves `/mcp` with no authorization at all; it
//! exists only so that `bench/grants.sh` can measure what the layer adds, is refused unless the
//! server binds a loopback address, and logs a warning.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcp_auth_core::Secret;
use mcp_auth_resource_server::DpopMode;
use mcp_auth_resource_server::elicitation::RequestStateKey;
use mcp_auth_resource_server::listen::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, ListenerLimits, serve_with_timeouts,
};
use protected_mcp_server::{
    AppOptions, ConnectionOptions, MAX_SESSIONS, MAX_SESSIONS_PER_PRINCIPAL, app,
};

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
    /// This server's confidential client at the authorization server, for its connection
    /// vault (`/connect/token`); listed in the resource's `server_clients`. Turns on
    /// `list_events`.
    #[arg(long, env = "MCP_CONNECT_CLIENT_ID")]
    connect_client_id: Option<String>,
    /// That client's secret (environment only: never on the command line).
    #[arg(skip = secret_from_env("MCP_CONNECT_CLIENT_SECRET"))]
    connect_client_secret: Option<Secret>,
    /// Base64 of the 32-byte key sealing 2026-07-28 `requestState` (environment only).
    #[arg(skip = secret_from_env("MCP_REQUEST_STATE_KEY"))]
    request_state_key: Option<Secret>,
    /// The calendar API's base URL; `list_events` GETs `{url}/events`.
    #[arg(long, env = "MCP_CALENDAR_API_URL")]
    calendar_api_url: Option<String>,
    /// Longest time to receive a request's header section, milliseconds (also the idle limit
    /// of a kept-alive connection); then the connection is closed.
    #[arg(long, env = "MCP_HEADER_READ_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64)]
    header_read_timeout_ms: u64,
    /// Longest time to receive a request body, milliseconds; then `408` and the connection is
    /// closed.
    #[arg(long, env = "MCP_BODY_READ_TIMEOUT_MS", default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_millis() as u64)]
    body_read_timeout_ms: u64,
    /// Most connections served at once (default: no cap); past it new ones wait until one ends.
    #[arg(long, env = "MCP_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// DPoP-bound tokens (RFC 9449 §7): `off`, `allowed` or `required`.
    #[arg(long, env = "MCP_DPOP", default_value = "allowed", value_parser = parse_dpop_mode)]
    dpop: DpopMode,
    /// Serve `/mcp` WITHOUT the bearer layer: anyone may call every tool. Only for measuring
    /// what the layer adds (`bench/grants.sh`); refused unless bound to a loopback address.
    #[arg(long, hide = true)]
    dangerous_without_auth_layer: bool,
    /// Most open MCP sessions in all; one more `initialize` gets `503`.
    #[arg(long, env = "MCP_MAX_SESSIONS", default_value_t = MAX_SESSIONS)]
    max_sessions: usize,
    /// Most open MCP sessions of one (`iss`, `sub`, `client_id`); one more gets `429`.
    #[arg(long, env = "MCP_MAX_SESSIONS_PER_PRINCIPAL", default_value_t = MAX_SESSIONS_PER_PRINCIPAL)]
    max_sessions_per_principal: usize,
}

/// `off`, `allowed` or `required` as a [`DpopMode`].
fn parse_dpop_mode(value: &str) -> Result<DpopMode, String> {
    match value {
        "off" => Ok(DpopMode::Off),
        "allowed" => Ok(DpopMode::Allowed),
        "required" => Ok(DpopMode::Required),
        other => Err(format!("{other:?}: expected off, allowed or required")),
    }
}

/// The listener limits from the arguments.
fn listener_limits(args: &Args) -> ListenerLimits {
    let mut limits = ListenerLimits::default();
    limits.header_read_timeout = Duration::from_millis(args.header_read_timeout_ms);
    limits.body_read_timeout = Duration::from_millis(args.body_read_timeout_ms);
    limits.max_connections = args.max_connections;
    limits
}

/// The connection options from the arguments, when `MCP_CONNECT_CLIENT_ID` is set.
fn connections(args: &Args) -> Result<Option<ConnectionOptions>, String> {
    let Some(client_id) = args.connect_client_id.clone() else {
        return Ok(None);
    };
    let secret = args
        .connect_client_secret
        .clone()
        .filter(|s| !s.expose().is_empty())
        .ok_or("MCP_CONNECT_CLIENT_SECRET is required with MCP_CONNECT_CLIENT_ID")?;
    let key = args
        .request_state_key
        .as_ref()
        .and_then(|k| RequestStateKey::from_base64(k.expose()))
        .ok_or("MCP_REQUEST_STATE_KEY must be base64 of 32 bytes")?;
    let api = args
        .calendar_api_url
        .clone()
        .ok_or("MCP_CALENDAR_API_URL is required with MCP_CONNECT_CLIENT_ID")?;
    Ok(Some(ConnectionOptions::new(client_id, secret, key, api)))
}

/// The secret in the environment variable `name`, if set: `Debug` of the arguments prints
/// `[redacted]` for it.
fn secret_from_env(name: &str) -> Option<Secret> {
    std::env::var(name).ok().map(Secret::new)
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
    let limits = listener_limits(&args);
    limits.validate().map_err(|e| e.to_string())?;
    if args.dangerous_without_auth_layer && !args.bind.ip().is_loopback() {
        return Err(format!(
            "--dangerous-without-auth-layer serves every tool to anyone: it is refused on {}, \
             only a loopback address may take it",
            args.bind
        ));
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let calendar = connections(&args)?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{bound}/mcp"));
    let mut options = AppOptions::new(args.issuer.clone(), public_url.clone()).with_dpop(args.dpop);
    options.dangerous_without_auth_layer = args.dangerous_without_auth_layer;
    options.max_sessions = args.max_sessions;
    options.max_sessions_per_principal = args.max_sessions_per_principal;
    let with_calendar = calendar.is_some();
    if let Some(c) = calendar {
        options = options.with_connections(c);
    }
    let router = app(options).map_err(|e| e.to_string())?;
    println!("protected MCP server listening on {bound}");
    println!("MCP endpoint:      {public_url}");
    println!("authorization server: {}", args.issuer);
    if with_calendar {
        println!("list_events:       on (calendar connection)");
    }
    println!("DPoP:              {:?}", args.dpop);
    // HTTP/1.1 only, with header and body read timeouts: slow or idle clients cannot hold
    // the server's connections (axum::serve has no header read timeout).
    serve_with_timeouts(listener, router, limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connect client's secret and the request-state key never show in `Debug`.
    #[test]
    fn args_debug_never_shows_the_secrets() {
        let mut args = Args::parse_from(["protected-mcp-server"]);
        args.connect_client_secret = Some(Secret::new("connect-secret-value"));
        args.request_state_key = Some(Secret::new("state-key-value"));
        let printed = format!("{args:?}");
        assert!(!printed.contains("connect-secret-value"), "{printed}");
        assert!(!printed.contains("state-key-value"), "{printed}");
    }

    /// `--dpop` takes the three modes, `allowed` by default, and refuses anything else.
    #[test]
    fn dpop_mode_is_parsed_and_defaults_to_allowed() {
        let args = Args::parse_from(["protected-mcp-server"]);
        assert_eq!(args.dpop, DpopMode::Allowed);
        for (text, mode) in [
            ("off", DpopMode::Off),
            ("allowed", DpopMode::Allowed),
            ("required", DpopMode::Required),
        ] {
            let args = Args::parse_from(["protected-mcp-server", "--dpop", text]);
            assert_eq!(args.dpop, mode, "{text}");
        }
        for bad in ["Required", "on", ""] {
            assert!(
                Args::try_parse_from(["protected-mcp-server", "--dpop", bad]).is_err(),
                "{bad:?}"
            );
        }
    }

    /// The switch that drops the layer is refused before anything listens, on any address but
    /// loopback (checked on the parsed address; nothing is bound).
    #[tokio::test]
    async fn serving_without_the_layer_is_refused_off_loopback() {
        for bind in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
            let args = Args::parse_from([
                "protected-mcp-server",
                "--bind",
                bind,
                "--dangerous-without-auth-layer",
            ]);
            let err = run(args).await.unwrap_err();
            assert!(err.contains("only a loopback address"), "{bind}: {err}");
        }
    }
}
