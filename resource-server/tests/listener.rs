//! Issue 19 §2: `listen::serve_with_timeouts` over real loopback sockets. Slow or idle clients
//! cannot hold a server's connections: a partial request head is cut off after the header read
//! timeout, a body after the body read timeout, cleartext HTTP/2 is not served, and past the
//! connection cap new connections wait (in the backlog) until one ends.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use common::*;
use mcp_auth_resource_server::listen::{ListenerLimits, serve_with_timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SHORT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to act before it fails.
const BOUND: Duration = Duration::from_secs(5);

fn limits(header: Duration, body: Duration, max_connections: Option<usize>) -> ListenerLimits {
    let mut l = ListenerLimits::default();
    l.header_read_timeout = header;
    l.body_read_timeout = body;
    l.max_connections = max_connections;
    l
}

/// A small app: `GET /peer` answers the peer address from `ConnectInfo`, `POST /echo` the
/// body it read (or `400` when it could not).
fn app() -> Router {
    Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route("/echo", post(|body: String| async move { body }))
}

/// `app` served with `limits` on 127.0.0.1:0.
async fn start(app: Router, limits: ListenerLimits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_with_timeouts(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    addr
}

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

/// A complete `GET /peer` on `stream`, with `Connection: close`.
async fn request_peer(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
}

/// Issue 19 §2: a connection whose request head stops halfway is closed after the header read
/// timeout, without a response.
#[tokio::test]
async fn partial_request_head_is_closed_after_the_header_read_timeout() {
    let addr = start(app(), limits(SHORT, BOUND, None)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let received = read_until_closed(&mut stream).await;
    let elapsed = started.elapsed();
    assert_eq!(received, "");
    assert!(elapsed >= SHORT, "{elapsed:?}");
}

/// Issue 19 §2: a kept-alive connection that sends nothing after its response is closed after
/// the header read timeout too.
#[tokio::test]
async fn idle_kept_alive_connection_is_closed_after_the_header_read_timeout() {
    let addr = start(app(), limits(SHORT, BOUND, None)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(received.ends_with("\r\n\r\n127.0.0.1"), "{received}");
}

/// Issue 19 §2: a connection opening with the HTTP/2 prior-knowledge preface is not served as
/// HTTP/2 (no SETTINGS frame comes back; the connection is closed).
#[tokio::test]
async fn cleartext_http2_is_not_served() {
    let addr = start(app(), limits(BOUND, BOUND, None)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame, as an HTTP/2 client sends next.
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let received = read_until_closed(&mut stream).await;
    assert_eq!(received, "");
}

/// Issue 19 §2: a body that has not arrived whole within the body read timeout is cut off,
/// though bytes keep trickling in (the timeout counts the whole body, not each chunk), and the
/// connection is closed.
#[tokio::test]
async fn trickled_body_is_cut_off_after_the_body_read_timeout() {
    let addr = start(app(), limits(BOUND, SHORT, None)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (mut read_half, mut write_half) = stream.split();
    // One byte every 50 ms: never idle for the timeout, never finished within it.
    let trickle = async {
        for _ in 0..99 {
            if write_half.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::future::pending::<()>().await;
    };
    let read = async {
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&received).into_owned()
    };
    let received = tokio::time::timeout(BOUND, async {
        tokio::select! {
            received = read => received,
            () = trickle => unreachable!(),
        }
    })
    .await
    .expect("the server kept the connection open");
    let elapsed = started.elapsed();
    assert!(
        received.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{received}"
    );
    assert!(elapsed >= SHORT, "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(99 * 50), "{elapsed:?}");
}

/// Issue 19 §2: with the bearer layer, an authenticated request whose body misses the body
/// read timeout gets `408 invalid_request` and `Connection: close`.
#[tokio::test]
async fn late_body_behind_the_bearer_layer_gets_408() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let addr = start(f.app.clone(), limits(BOUND, SHORT, None)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: mcp.acme.test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let received = read_until_closed(&mut stream).await;
    let elapsed = started.elapsed();
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
    assert!(elapsed >= SHORT, "{elapsed:?}");
}

/// Issue 19 §2: each request carries its peer address as `ConnectInfo<SocketAddr>`.
#[tokio::test]
async fn requests_carry_the_peer_address() {
    let addr = start(app(), ListenerLimits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    request_peer(&mut stream).await;
    let received = read_until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(received.ends_with("\r\n\r\n127.0.0.1"), "{received}");
}

/// Issue 19 §2: with `max_connections = 2`, a third connection is not served while two idle
/// ones hold the slots, and is served as soon as one of them closes.
#[tokio::test]
async fn connection_past_the_cap_waits_until_one_closes() {
    let addr = start(app(), limits(BOUND * 4, BOUND, Some(2))).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    // Both accepted and waiting for a request head.
    first.write_all(b"GET /pe").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    request_peer(&mut third).await;
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    drop(first);
    let received = read_until_closed(&mut third).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
}

/// Issue 19 §2: connections holding every slot without finishing a request head are closed by
/// the header read timeout, and a normal request waiting behind them is then served.
#[tokio::test]
async fn request_past_the_cap_is_served_once_idle_connections_time_out() {
    let cap = 4;
    let addr = start(app(), limits(SHORT, BOUND, Some(cap))).await;
    let mut idle = Vec::new();
    for _ in 0..cap {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    let started = Instant::now();
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    request_peer(&mut waiting).await;
    let received = read_until_closed(&mut waiting).await;
    let elapsed = started.elapsed();
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(
        elapsed >= SHORT / 2,
        "served before the idle ones timed out: {elapsed:?}"
    );
    for mut s in idle {
        assert_eq!(read_until_closed(&mut s).await, "");
    }
}
