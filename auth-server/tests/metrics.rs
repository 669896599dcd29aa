//! Issue 14: Prometheus metrics on their own loopback listener. Token requests (a success and
//! an error) move the counters with the right labels, and no secret, token, code or username
//! appears in a scrape.
//!
//! The `metrics` recorder is process-global: every assertion compares two scrapes (a delta),
//! never an absolute value, so tests sharing the process cannot disturb each other.

mod binary;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use mcp_auth_resource_server::listen::ListenerLimits;
use mcp_auth_server::HttpLimits;
use mcp_auth_server::metrics::{self, MetricsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The metrics listener's limits as the binary sets them: the main port's default timeouts
/// and the default cap.
fn default_limits() -> ListenerLimits {
    let mut limits = HttpLimits::default().listener_limits();
    limits.max_connections = Some(metrics::DEFAULT_MAX_CONNECTIONS);
    limits
}

/// The metrics listener with `limits` on a loopback port 0, over the process's recorder.
async fn metrics_addr(limits: ListenerLimits) -> SocketAddr {
    let handle = metrics::install(MetricsOptions::default()).unwrap();
    let bound = metrics::serve("127.0.0.1:0".parse().unwrap(), handle, limits)
        .await
        .unwrap();
    assert!(bound.ip().is_loopback());
    bound
}

/// The metrics listener on a loopback port 0, over the process's recorder.
async fn metrics_url() -> String {
    let bound = metrics_addr(default_limits()).await;
    format!("http://{bound}/metrics")
}

async fn scrape(url: &str) -> String {
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    res.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include every pair of `labels`.
fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest),
                None => (series, ""),
            };
            (n == name
                && labels
                    .iter()
                    .all(|(k, want)| rest.contains(&format!("{k}=\"{want}\""))))
            .then(|| v.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

/// A successful code redemption and a failed one move the request, token, error and store
/// counters, each with its labels; the endpoint label is the route template.
#[tokio::test]
async fn token_requests_move_the_counters() {
    let url = metrics_url().await;
    let h = Harness::new().await;
    let before = scrape(&url).await;

    let code = h.code_for(PUBLIC, None).await;
    let ok = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let replay = h.token(&redeem_body(PUBLIC, "not-a-real-code")).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    let unmatched = h.get("/no/such/path?secret=x").await;
    assert_eq!(unmatched.status, StatusCode::NOT_FOUND);

    let after = scrape(&url).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        delta(
            "mcp_auth_http_requests_total",
            &[
                ("endpoint", "/token"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "mcp_auth_http_requests_total",
            &[
                ("endpoint", "/token"),
                ("method", "POST"),
                ("status", "400")
            ]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "mcp_auth_http_requests_total",
            &[("endpoint", "other"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "mcp_auth_http_request_duration_seconds_count",
            &[("endpoint", "/token"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "mcp_auth_tokens_issued_total",
            &[
                ("grant_type", "authorization_code"),
                ("auth_method", "none")
            ]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "mcp_auth_oauth_errors_total",
            &[("endpoint", "/token"), ("error", "invalid_grant")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "mcp_auth_store_operation_duration_seconds_count",
            &[("operation", "code_take")]
        ),
        2.0
    );
    assert_eq!(value(&after, "mcp_auth_build_info", &[]), 1.0);
    assert!(
        !after.contains("client_id=\""),
        "client ids are labels only when turned on"
    );
    assert!(
        !after.contains("/no/such/path"),
        "raw paths are never labels"
    );

    // Nothing secret in the scrape: no code, token, password or username.
    let tokens = ok.json();
    for secret in [
        code.as_str(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        PASSWORD,
        BASIC_SECRET,
        POST_SECRET,
        "alice",
        "not-a-real-code",
    ] {
        assert!(!after.contains(secret), "{secret} appears in the scrape");
    }
}

/// A failed client authentication is an `invalid_client` error of the token endpoint, and the
/// client's secret does not reach the scrape.
#[tokio::test]
async fn wrong_client_secret_counts_invalid_client() {
    let url = metrics_url().await;
    let h = Harness::new().await;
    let before = scrape(&url).await;
    let wrong = "wrong-secret-that-must-not-leak";
    let res = h
        .token(&format!(
            "grant_type=refresh_token&refresh_token=rt_x&client_id={POST}&client_secret={wrong}"
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let after = scrape(&url).await;
    let labels = [("endpoint", "/token"), ("error", "invalid_client")];
    assert_eq!(
        value(&after, "mcp_auth_oauth_errors_total", &labels)
            - value(&before, "mcp_auth_oauth_errors_total", &labels),
        1.0
    );
    assert!(!after.contains(wrong));
}

/// Only `GET /metrics` is served on the metrics listener.
#[tokio::test]
async fn metrics_listener_serves_only_metrics() {
    let url = metrics_url().await;
    let other = url.replace("/metrics", "/token");
    let res = reqwest::get(&other).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
}

/// Password sign-ins are counted by result; the username never becomes a label.
#[tokio::test]
async fn sign_ins_are_counted_by_result() {
    let url = metrics_url().await;
    let h = Harness::new().await;
    let before = scrape(&url).await;
    let wrong = h
        .server
        .sign_in(
            "alice",
            mcp_auth_core::Secret::new("wrong password"),
            "192.0.2.7",
        )
        .await;
    assert!(wrong.is_err());
    let right = h
        .server
        .sign_in("alice", mcp_auth_core::Secret::new(PASSWORD), "192.0.2.7")
        .await;
    assert!(right.is_ok());
    let after = scrape(&url).await;
    for result in ["success", "failure"] {
        let labels = [("result", result)];
        assert_eq!(
            value(&after, "mcp_auth_signins_total", &labels)
                - value(&before, "mcp_auth_signins_total", &labels),
            1.0,
            "{result}"
        );
    }
    assert!(!after.contains("alice"));
}

/// A registration past the per-source limit is counted under its limiter.
#[tokio::test]
async fn rate_limited_registrations_are_counted() {
    let url = metrics_url().await;
    let mut settings = settings(ISSUER);
    settings.registration.max_per_source_per_hour = 1;
    let h = Harness::with_settings(settings).await;
    let before = scrape(&url).await;
    let body = serde_json::json!({
        "client_name": "Limited",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    let first = h
        .server
        .register("192.0.2.9", body.to_string().as_bytes())
        .await;
    assert!(first.is_ok(), "{first:?}");
    // Other metadata: an identical public re-registration would not be counted.
    let mut other = body.clone();
    other["client_name"] = "Limited 2".into();
    let second = h
        .server
        .register("192.0.2.9", other.to_string().as_bytes())
        .await;
    assert!(second.is_err());
    let after = scrape(&url).await;
    let labels = [("limiter", "registration")];
    assert_eq!(
        value(&after, "mcp_auth_rate_limited_total", &labels)
            - value(&before, "mcp_auth_rate_limited_total", &labels),
        1.0
    );
}

/// The binary opens the metrics listener when `MCP_AUTH_METRICS_BIND` is set (the short form of
/// `[metrics] bind`), prints its URL, and counts the main listener's requests there.
#[tokio::test]
async fn binary_serves_metrics_when_the_bind_variable_is_set() {
    let setup = binary::Setup::new("");
    let server = binary::Server::start(&setup, &[("MCP_AUTH_METRICS_BIND", "127.0.0.1:0")]);
    let url = server.metrics_url().expect("the metrics URL is printed");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let res = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let text = scrape(&url).await;
    assert_eq!(
        value(
            &text,
            "mcp_auth_http_requests_total",
            &[("endpoint", "/healthz"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(value(&text, "mcp_auth_build_info", &[]), 1.0);
}

/// Without `[metrics] bind` there is no metrics listener.
#[tokio::test]
async fn binary_has_no_metrics_listener_by_default() {
    let setup = binary::Setup::new("");
    let server = binary::Server::start(&setup, &[]);
    assert!(server.metrics_url().is_none(), "{:?}", server.stdout_head);
}

const SHORT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to act before it fails.
const BOUND: Duration = Duration::from_secs(5);

/// Read until the server closes the connection (or `BOUND` passes: a failure): what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {BOUND:?}"),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/// Issue 19 §3: the metrics listener closes a connection that does not finish its request
/// head within the header read timeout, as the main port does.
#[tokio::test]
async fn metrics_listener_closes_slow_request_heads_after_the_header_read_timeout() {
    let mut limits = default_limits();
    limits.header_read_timeout = SHORT;
    let addr = metrics_addr(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /metr").await.unwrap();
    let received = read_until_closed(&mut stream).await;
    let elapsed = started.elapsed();
    assert_eq!(received, "");
    assert!(elapsed >= SHORT, "{elapsed:?}");
}

/// Issue 19 §3: the metrics listener does not speak cleartext HTTP/2 (the prior-knowledge
/// preface gets no SETTINGS frame; the connection is closed).
#[tokio::test]
async fn metrics_listener_does_not_serve_cleartext_http2() {
    let addr = metrics_addr(default_limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    assert_eq!(read_until_closed(&mut stream).await, "");
}

/// Issue 19 §3: idle connections beyond the cap cannot starve the metrics listener forever:
/// while `DEFAULT_MAX_CONNECTIONS` idle ones hold every slot a scrape waits, and once the
/// header read timeout has closed them the scrape is served.
#[tokio::test]
async fn metrics_connections_past_the_cap_wait_until_idle_ones_time_out() {
    let mut limits = default_limits();
    limits.header_read_timeout = Duration::from_secs(1);
    let addr = metrics_addr(limits).await;
    let mut idle = Vec::new();
    for _ in 0..metrics::DEFAULT_MAX_CONNECTIONS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting.write_all(SCRAPE).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(400), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    let received = read_until_closed(&mut waiting).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    for mut s in idle {
        assert_eq!(read_until_closed(&mut s).await, "");
    }
}

/// Issue 19 §3: the binary gives its metrics listener the `[http]` header read timeout and the
/// `[metrics] max_connections` cap.
#[tokio::test]
async fn binary_metrics_listener_has_the_cap_and_the_header_read_timeout() {
    let setup =
        binary::Setup::new("[http]\nheader_read_timeout = 1\n[metrics]\nmax_connections = 2\n");
    let server = binary::Server::start(&setup, &[("MCP_AUTH_METRICS_BIND", "127.0.0.1:0")]);
    let addr = server
        .metrics_url()
        .as_deref()
        .and_then(|u| u.strip_prefix("http://"))
        .and_then(|u| u.strip_suffix("/metrics"))
        .expect("the metrics URL is printed")
        .to_owned();
    let mut idle = vec![
        TcpStream::connect(&addr).await.unwrap(),
        TcpStream::connect(&addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    waiting.write_all(SCRAPE).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(400), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    let received = read_until_closed(&mut waiting).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    for s in &mut idle {
        assert_eq!(read_until_closed(s).await, "");
    }
}
