//! Connection limits over a real loopback socket (issue #8 items 3 and 6): a client that does
//! not finish its request header, or its body, within the configured (here short) timeout is
//! cut off; the source address the rate limits see is the socket peer.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use mcp_auth_server::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);
const BODY_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to act before it fails.
const BOUND: Duration = Duration::from_secs(5);

/// A harness with the short test timeouts.
async fn harness() -> Harness {
    let mut s = settings(ISSUER);
    s.http = HttpLimits {
        header_read_timeout: HEADER_TIMEOUT,
        body_read_timeout: BODY_TIMEOUT,
    };
    s.client_auth_failures_per_minute = 2;
    Harness::with_settings(s).await
}

/// The harness's router served by `mcp_auth_server::serve` on 127.0.0.1:0.
async fn start(h: &Harness) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let limits = h.server.settings().http;
    tokio::spawn(mcp_auth_server::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    addr
}

/// Read until the server closes the connection (or `BOUND` passes: a failure): what it sent,
/// and when it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {BOUND:?}"),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        Instant::now(),
    )
}

/// Issue #8 item 6: a partial request header is cut off after the header read timeout.
#[tokio::test]
async fn partial_request_header_is_closed_after_the_header_read_timeout() {
    let h = harness().await;
    let addr = start(&h).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut stream).await;
    assert!(closed - started >= HEADER_TIMEOUT, "{:?}", closed - started);
}

/// Issue #8 item 6: a connection that sends nothing is cut off after the header read timeout.
#[tokio::test]
async fn silent_connection_is_closed_after_the_header_read_timeout() {
    let h = harness().await;
    let addr = start(&h).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (received, closed) = read_until_closed(&mut stream).await;
    assert_eq!(received, "");
    assert!(closed - started >= HEADER_TIMEOUT, "{:?}", closed - started);
}

/// Issue #8 item 6: a body that does not arrive within the body read timeout gets `408` and
/// the connection is closed.
#[tokio::test]
async fn slow_request_body_gets_408_and_the_connection_closed() {
    let h = harness().await;
    let addr = start(&h).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (received, closed) = read_until_closed(&mut stream).await;
    assert!(
        received.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{received}"
    );
    assert!(received.contains("\r\nconnection: close\r\n"), "{received}");
    assert!(
        received.ends_with(
            r#"{"error":"invalid_request","error_description":"the request body did not arrive in time"}"#
        ),
        "{received}"
    );
    assert!(closed - started >= BODY_TIMEOUT, "{:?}", closed - started);
}

/// Issue #8 item 6: a request that arrives in time is served on the same kind of connection.
#[tokio::test]
async fn prompt_request_is_served() {
    let h = harness().await;
    let addr = start(&h).await;
    let res = reqwest::get(format!("http://{addr}/jwks")).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
}

/// A Basic token request to `addr` from the local address `from`.
async fn token_from(addr: SocketAddr, from: &str, secret: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .timeout(BOUND)
        .build()
        .unwrap();
    client
        .post(format!("http://{addr}/token"))
        .header("authorization", basic(BASIC, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=x")
        .send()
        .await
        .unwrap()
}

/// Issue #8 item 3 over real sockets: the served router sees each connection's peer, so 127.0.0.2's
/// failures throttle 127.0.0.2 only and the right secret from 127.0.0.1 is accepted.
#[tokio::test]
async fn served_requests_are_limited_by_their_socket_peer() {
    let h = harness().await;
    let addr = start(&h).await;
    for _ in 0..2 {
        let res = token_from(addr, "127.0.0.2", "wrong").await;
        assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let res = token_from(addr, "127.0.0.2", BASIC_SECRET).await;
    assert_eq!(res.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "60");
    let res = token_from(addr, "127.0.0.1", BASIC_SECRET).await;
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "authenticated");
}

/// Issue 19 §7: a request whose `Content-Length` exceeds the body limit gets `413` at once,
/// before any of its body is read (here none is sent) and long before the body read timeout
/// (the default 30 s), and the connection is closed.
#[tokio::test]
async fn declared_oversized_body_gets_413_at_once() {
    let mut s = settings(ISSUER);
    s.http = HttpLimits::default();
    let h = Harness::with_settings(s).await;
    let addr = start(&h).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n",
        )
        .await
        .unwrap();
    let (received, closed) = read_until_closed(&mut stream).await;
    assert!(
        received.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{received}"
    );
    assert!(received.contains("\r\nconnection: close\r\n"), "{received}");
    assert!(
        received.contains("\r\ncache-control: no-store\r\n"),
        "{received}"
    );
    assert!(
        received.ends_with(
            r#"{"error":"invalid_request","error_description":"the request body is too large"}"#
        ),
        "{received}"
    );
    assert!(closed - started < BOUND, "{:?}", closed - started);
}

/// Issue 19 §7: a body without `Content-Length` that grows past the limit gets `413` too.
#[tokio::test]
async fn undeclared_oversized_body_gets_413() {
    let h = harness().await;
    let res = h
        .app
        .clone()
        .oneshot(
            axum::http::Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(vec![
                    b'a';
                    mcp_auth_server::http::MAX_BODY_BYTES
                        + 1
                ]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()["connection"], "close");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        body,
        r#"{"error":"invalid_request","error_description":"the request body is too large"}"#
    );
}
