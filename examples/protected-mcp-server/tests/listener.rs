//! Issue 19 §2: the `protected-mcp-server` binary serves with the listener limits of
//! `mcp_auth_resource_server::listen` (HTTP/1.1 only, header read timeout), so a slow client
//! cannot hold its connections. The binary runs as a child process on 127.0.0.1:0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to act before it fails.
const BOUND: Duration = Duration::from_secs(5);

/// The running binary; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary on 127.0.0.1:0 with a 300 ms header read timeout; its address is read from
/// the line it prints. (The issuer is never contacted by these tests.)
fn start() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_protected-mcp-server"))
        .args(["--bind", "127.0.0.1:0", "--issuer", "http://127.0.0.1:9"])
        .env("MCP_HEADER_READ_TIMEOUT_MS", "300")
        .env_remove("MCP_CONNECT_CLIENT_ID")
        .env_remove("MCP_PUBLIC_URL")
        .env_remove("MCP_MAX_CONNECTIONS")
        .env_remove("MCP_BODY_READ_TIMEOUT_MS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("protected MCP server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .parse()
        .unwrap();
    // Keep reading (and discarding) what it prints, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
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

/// Issue 19 §2: a partial `POST /mcp` head is closed after the header read timeout, and the
/// server still answers a normal request.
#[tokio::test]
async fn example_server_closes_a_slow_request_head_after_the_header_read_timeout() {
    let server = start();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        .await
        .unwrap();
    let received = read_until_closed(&mut slow).await;
    let elapsed = started.elapsed();
    assert_eq!(received, "");
    assert!(elapsed >= HEADER_TIMEOUT, "{elapsed:?}");

    let mut prompt = TcpStream::connect(server.addr).await.unwrap();
    prompt
        .write_all(
            b"GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let received = read_until_closed(&mut prompt).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
}

/// Issue 19 §2: the example server does not speak cleartext HTTP/2: the prior-knowledge preface
/// gets no SETTINGS frame, and the connection is closed.
#[tokio::test]
async fn example_server_does_not_serve_cleartext_http2() {
    let server = start();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    assert_eq!(read_until_closed(&mut stream).await, "");
}
