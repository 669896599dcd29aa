//! Rate-limit counters shared across nodes (issue 13: "rate-limit counters that must hold across
//! nodes"): two in-process servers stand for two nodes; each has its own in-memory stores and
//! clock, and both count in [`PgSharedCounters`] on one fresh PostgreSQL schema. Failed client
//! authentications per (client, source) pair, registrations per source and sign-in failures
//! spread over the two nodes reach the limits together. The same runs without shared counters
//! show each node counting alone (so the tests can fail).
//!
//! Needs a loopback PostgreSQL server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

#[path = "pg_schema/mod.rs"]
mod pg;

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use mcp_auth_core::Secret;
use mcp_auth_server::ServerSettings;
use mcp_auth_server::engine::sign_in::SignInError;
use mcp_auth_server::limits_shared::{SHARED_READ_TTL, SharedCounters};
use mcp_auth_server::storage::postgres::{PgSharedCounters, open_pool};

/// Counters on a fresh schema (dropped by the caller).
async fn pg_counters() -> (pg::PgSchema, Arc<dyn SharedCounters>) {
    let db = pg::PgSchema::new().await;
    let pool = open_pool(db.url(), 4).await.unwrap();
    (db, Arc::new(PgSharedCounters::new(pool)))
}

/// Two nodes with `settings`, counting in `shared` when given.
async fn two_nodes(
    settings: &ServerSettings,
    shared: Option<&Arc<dyn SharedCounters>>,
) -> (Harness, Harness) {
    let node = || async {
        let shared = shared.cloned();
        Harness::build(settings.clone(), move |b| match shared {
            Some(c) => b.shared_counters(c),
            None => b,
        })
        .await
    };
    (node().await, node().await)
}

/// Let both nodes' clocks pass the time a node trusts a shared count it read.
fn let_reads_expire(a: &Harness, b: &Harness) {
    a.clock.advance(SHARED_READ_TTL);
    b.clock.advance(SHARED_READ_TTL);
}

/// `POST /token` from `from` with Basic credentials of [`BASIC`] and `secret`.
async fn token_basic(h: &Harness, from: &str, secret: &str) -> TestResponse {
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    let req = Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic(BASIC, secret))
        .extension(ConnectInfo(peer))
        .body(Body::from("grant_type=refresh_token&refresh_token=x"))
        .unwrap();
    h.send(req).await
}

/// `POST /register` of a public client from `from`.
async fn register(h: &Harness, from: &str) -> TestResponse {
    // Different metadata each time: an identical public re-registration is not counted.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    let req = Request::post("/register")
        .header("content-type", "application/json")
        .extension(ConnectInfo(peer))
        .body(Body::from(format!(
            r#"{{"client_name":"app {n}","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}}"#,
        )))
        .unwrap();
    h.send(req).await
}

/// Four failed authentications of one (client, source) pair, alternating between the nodes.
async fn four_failures_over_two_nodes(a: &Harness, b: &Harness) {
    for node in [a, b, a, b] {
        let res = token_basic(node, "127.0.0.2", "wrong").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
        assert_eq!(res.error(), "invalid_client");
    }
}

/// CC-14, SEC-06 across nodes: with a limit of 4 failures per (client, source) pair per
/// minute, 2 failures at each node refuse the pair at both (`429 invalid_request`,
/// `Retry-After`), even with the right secret; another source is not refused. Without shared
/// counters the same failures refuse nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_failures_on_two_nodes_reach_the_pair_limit_together() {
    let mut s = settings(ISSUER);
    s.client_auth_failures_per_minute = 4;
    let (db, counters) = pg_counters().await;

    let (a, b) = two_nodes(&s, Some(&counters)).await;
    four_failures_over_two_nodes(&a, &b).await;
    let_reads_expire(&a, &b);
    for node in [&a, &b] {
        let res = token_basic(node, "127.0.0.2", BASIC_SECRET).await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
        assert_eq!(res.error(), "invalid_request");
        assert_eq!(res.header("retry-after"), "59");
        let other = token_basic(node, "127.0.0.3", BASIC_SECRET).await;
        assert_ne!(
            other.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            other.body
        );
        assert_ne!(other.error(), "invalid_client");
    }

    // Control: each node alone saw 2 failures, under its limit of 4.
    let (a, b) = two_nodes(&s, None).await;
    four_failures_over_two_nodes(&a, &b).await;
    let_reads_expire(&a, &b);
    for node in [&a, &b] {
        let res = token_basic(node, "127.0.0.2", BASIC_SECRET).await;
        assert_ne!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    }
    db.drop().await;
}

/// AS-R2-06 / SEC-06 across nodes: with 2 registrations per source per hour, one at each node
/// uses the source's allowance at both; another source still registers. Without shared counters
/// each node allows 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_on_two_nodes_share_the_per_source_limit() {
    let mut s = settings(ISSUER);
    s.registration.max_per_source_per_hour = 2;
    let (db, counters) = pg_counters().await;

    let (a, b) = two_nodes(&s, Some(&counters)).await;
    assert_eq!(register(&a, "127.0.0.2").await.status, StatusCode::CREATED);
    assert_eq!(register(&b, "127.0.0.2").await.status, StatusCode::CREATED);
    for node in [&a, &b] {
        let res = register(node, "127.0.0.2").await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
        assert_eq!(res.header("retry-after"), "3600");
    }
    assert_eq!(register(&b, "127.0.0.3").await.status, StatusCode::CREATED);

    let (a, b) = two_nodes(&s, None).await;
    assert_eq!(register(&a, "127.0.0.2").await.status, StatusCode::CREATED);
    assert_eq!(register(&b, "127.0.0.2").await.status, StatusCode::CREATED);
    assert_eq!(register(&a, "127.0.0.2").await.status, StatusCode::CREATED);
    db.drop().await;
}

/// SEC-06 across nodes: with 2 failed sign-ins allowed per (username, source) pair, one wrong
/// password at each node refuses the pair at both, before any password check (even the right
/// password); a successful sign-in is not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_on_two_nodes_reach_the_limit_together() {
    let mut s = settings(ISSUER);
    s.signin.max_failures_per_user_and_source = 2;
    let (db, counters) = pg_counters().await;
    let (a, b) = two_nodes(&s, Some(&counters)).await;
    let sign_in = |h: &Harness, password: &str| {
        let server = h.server.clone();
        let password = Secret::new(password);
        async move { server.sign_in("alice", password, "127.0.0.2").await }
    };
    // Successes do not count, wherever they happen.
    for node in [&a, &b, &a] {
        assert!(sign_in(node, PASSWORD).await.is_ok());
    }
    assert!(matches!(
        sign_in(&a, "wrong").await,
        Err(SignInError::WrongCredentials)
    ));
    assert!(matches!(
        sign_in(&b, "wrong").await,
        Err(SignInError::WrongCredentials)
    ));
    let_reads_expire(&a, &b);
    for node in [&a, &b] {
        match sign_in(node, PASSWORD).await {
            Err(SignInError::TooManyFailures { retry_after }) => {
                assert_eq!(retry_after, 300 - SHARED_READ_TTL as u64)
            }
            other => panic!("expected TooManyFailures, got {other:?}"),
        }
    }
    db.drop().await;
}

/// The PostgreSQL counters: 16 concurrent hits on one key from two pools see the totals 1..=16
/// once each; `count` reads without counting; `refund` never goes below zero; windows are
/// separate; `purge` drops ended windows only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_counters_count_atomically_per_window() {
    let db = pg::PgSchema::new().await;
    let a = PgSharedCounters::new(open_pool(db.url(), 8).await.unwrap());
    let b = PgSharedCounters::new(open_pool(db.url(), 8).await.unwrap());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        set.spawn(async move { c.hit("k", 60, 1_000).await.unwrap() });
    }
    let mut totals = set.join_all().await;
    totals.sort_unstable();
    assert_eq!(totals, (1..=16).collect::<Vec<u64>>());
    assert_eq!(b.count("k", 60, 1_019).await.unwrap(), 16);
    assert_eq!(b.count("k", 60, 1_020).await.unwrap(), 0, "the next window");
    assert_eq!(a.hit("k", 60, 1_020).await.unwrap(), 1);
    a.refund("k", 60, 1_000).await.unwrap();
    assert_eq!(a.count("k", 60, 1_000).await.unwrap(), 15);
    a.refund("never", 60, 1_000).await.unwrap();
    assert_eq!(a.count("never", 60, 1_000).await.unwrap(), 0);
    a.hit("z", 60, 1_000).await.unwrap();
    a.refund("z", 60, 1_000).await.unwrap();
    a.refund("z", 60, 1_000).await.unwrap();
    assert_eq!(a.count("z", 60, 1_000).await.unwrap(), 0);
    // Window [960, 1020) ends at 1020; [1020, 1080) at 1080.
    assert_eq!(a.purge(1_019).await.unwrap(), 0);
    assert_eq!(a.purge(1_020).await.unwrap(), 2);
    assert_eq!(a.count("k", 60, 1_020).await.unwrap(), 1);
    db.drop().await;
}
