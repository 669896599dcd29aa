//! Issue 14: graceful shutdown. On SIGTERM the binary stops accepting connections, finishes
//! the request in flight with its normal answer, and exits 0.

mod binary;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use binary::{Server, Setup};

/// Read from `stream` until `needle` has arrived (or the stream ends); everything read.
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains(needle) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading: {e}; got {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A token request whose body is sent in two parts, SIGTERM between them: the server refuses
/// new connections, answers the request in flight normally (`unsupported_grant_type`), and
/// exits with status 0.
#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let setup = Setup::new("shutdown_grace_period = 20");
    let mut server = Server::start(&setup, &[]);
    let body = "grant_type=urn%3Aexample%3Anone&client_id=someone";
    let (first, second) = body.split_at(20);
    let mut conn = TcpStream::connect(&server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        conn,
        "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        server.addr,
        body.len()
    )
    .unwrap();
    // The server asks for the body only once the request is being handled: it is in flight.
    let interim = read_until(&mut conn, "\r\n\r\n");
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    conn.write_all(first.as_bytes()).unwrap();

    server.terminate();
    // The listener closes: new connections are refused (within the wait, not after it).
    let start = Instant::now();
    let mut refused = false;
    while start.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(&server.addr).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "new connections are still accepted after SIGTERM");

    conn.write_all(second.as_bytes()).unwrap();
    let answer = read_until(&mut conn, "}");
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request"),
        "the request in flight got: {answer}"
    );
    assert!(
        answer.contains("\"error\":\"unsupported_grant_type\""),
        "{answer}"
    );

    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit status");
}

/// An idle server exits 0 on SIGTERM.
#[test]
fn sigterm_on_an_idle_server_exits_zero() {
    let setup = Setup::new("");
    let mut server = Server::start(&setup, &[]);
    server.terminate();
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A request still in flight when the grace period ends does not hold the process: it exits 0
/// after `shutdown_grace_period` without answering it (the body read timeout, 30 s, would
/// otherwise answer `408`).
#[test]
fn grace_period_bounds_the_wait_for_requests_in_flight() {
    let setup = Setup::new("shutdown_grace_period = 1");
    let mut server = Server::start(&setup, &[]);
    let mut conn = TcpStream::connect(&server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(25)))
        .unwrap();
    write!(
        conn,
        "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
        server.addr
    )
    .unwrap();
    let interim = read_until(&mut conn, "\r\n\r\n");
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    conn.write_all(b"grant_type=").unwrap();
    server.terminate();
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest = read_until(&mut conn, "\r\n\r\n");
    assert!(
        !rest.contains("HTTP/1.1"),
        "answered after the grace period: {rest}"
    );
}
