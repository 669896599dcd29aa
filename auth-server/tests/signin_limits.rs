//! Sign-in limits (issue #8 items 2 and 3; spec SEC-06): failures counted per source address,
//! per (username, source) pair and per username; successes never count; a correct password
//! from a clean source is never refused because of others' failures. Each request carries the
//! socket peer as `ConnectInfo`, as the real server does.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use mcp_auth_core::store::User;
use mcp_auth_server::ServerSettings;

/// A sign-in from `from` (a loopback address): fetch the login page, then post the form.
async fn sign_in(h: &Harness, from: &str, username: &str, password: &str) -> TestResponse {
    let login = h.get(&authorize_query("")).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let cookie = session_cookie(&login);
    let form = format!(
        "csrf_token={}&request={}&username={}&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
        enc(username),
        enc(password)
    );
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    h.send(
        Request::post("/authorize/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .extension(ConnectInfo(peer))
            .body(Body::from(form))
            .unwrap(),
    )
    .await
}

/// A signed-in answer: the consent page, with a new session cookie.
fn assert_signed_in(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("decision"), "{}", res.body);
    assert!(res.headers.get("set-cookie").is_some());
}

fn assert_wrong_password(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert!(res.body.contains("Wrong username or password"));
}

/// `429` with `Retry-After: seconds` and the login form saying why.
fn assert_locked(res: &TestResponse, retry_after: &str) {
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.header("retry-after"), retry_after);
    assert!(
        res.body.contains("Too many failed sign-ins"),
        "{}",
        res.body
    );
    assert!(res.body.contains("name=\"password\""));
}

/// Small limits so a test needs few (slow) Argon2 checks.
fn small_limits() -> ServerSettings {
    let mut s = settings(ISSUER);
    s.signin.max_failures_per_user_and_source = 2;
    s.signin.max_failures_per_user = 3;
    s.signin.max_failures_per_source = 4;
    s
}

/// Issue #8 item 3: 10 wrong passwords (the default per-user limit) must not lock the user out
/// for everyone: the correct password from a source with no failures is accepted.
#[tokio::test]
async fn ten_wrong_passwords_do_not_lock_the_user_out_for_everyone() {
    let h = Harness::new().await;
    for from in ["127.0.0.2", "127.0.0.3"] {
        for _ in 0..5 {
            assert_wrong_password(&sign_in(&h, from, "alice", "wrong").await);
        }
    }
    assert_signed_in(&sign_in(&h, "127.0.0.1", "alice", PASSWORD).await);
}

/// Issue #8 item 3: past the per-username limit, a source that has failed in the window is
/// refused for that username (even with the right password), while a clean source is not.
#[tokio::test]
async fn user_over_its_limit_is_refused_only_from_sources_with_failures() {
    let h = Harness::with_settings(small_limits()).await;
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        assert_wrong_password(&sign_in(&h, from, "alice", "wrong").await);
    }
    // NOW is a multiple of the 300 s window: the whole window is left.
    assert_locked(&sign_in(&h, "127.0.0.2", "alice", PASSWORD).await, "300");
    assert_signed_in(&sign_in(&h, "127.0.0.5", "alice", PASSWORD).await);
}

/// Issue #8 item 3: past the (username, source) limit that pair gets `429` with `Retry-After`
/// until the window ends, without a password check; the window's end lifts it.
#[tokio::test]
async fn failing_pair_gets_429_with_retry_after_until_the_window_ends() {
    let h = Harness::with_settings(small_limits()).await;
    for _ in 0..2 {
        assert_wrong_password(&sign_in(&h, "127.0.0.2", "alice", "wrong").await);
    }
    h.clock.advance(100);
    assert_locked(&sign_in(&h, "127.0.0.2", "alice", PASSWORD).await, "200");
    h.clock.advance(200);
    assert_signed_in(&sign_in(&h, "127.0.0.2", "alice", PASSWORD).await);
}

/// Issue #8 item 3: successful sign-ins do not count against the limit.
#[tokio::test]
async fn successful_sign_ins_do_not_count_against_the_limit() {
    let h = Harness::with_settings(small_limits()).await;
    for _ in 0..3 {
        assert_signed_in(&sign_in(&h, "127.0.0.1", "alice", PASSWORD).await);
    }
    assert_wrong_password(&sign_in(&h, "127.0.0.1", "alice", "wrong").await);
    assert_signed_in(&sign_in(&h, "127.0.0.1", "alice", PASSWORD).await);
}

/// Issue #8 item 2: sign-in attempts are limited per source address too, whatever the
/// username (the reproduction used a new username for every attempt); other sources go on.
#[tokio::test]
async fn source_over_its_limit_is_refused_for_every_username() {
    let mut s = small_limits();
    s.signin.max_failures_per_user_and_source = 5;
    s.signin.max_failures_per_user = 5;
    s.signin.max_failures_per_source = 2;
    let h = Harness::with_settings(s).await;
    assert_wrong_password(&sign_in(&h, "127.0.0.2", "nobody-1", "x").await);
    assert_wrong_password(&sign_in(&h, "127.0.0.2", "nobody-2", "x").await);
    assert_locked(&sign_in(&h, "127.0.0.2", "nobody-3", "x").await, "300");
    assert_locked(&sign_in(&h, "127.0.0.2", "alice", PASSWORD).await, "300");
    assert_wrong_password(&sign_in(&h, "127.0.0.3", "nobody-3", "x").await);
}

/// Issue #8 item 2: an unknown username costs a password check like a known one and reads the
/// same (401, "Wrong username or password").
#[tokio::test]
async fn unknown_username_reads_like_a_wrong_password() {
    let h = Harness::new().await;
    assert_wrong_password(&sign_in(&h, "127.0.0.2", "nobody", PASSWORD).await);
}

/// Issue #8 item 2: a password check that fails inside (here an unreadable stored hash; a panic
/// takes the same path) is an internal error, never "wrong password".
#[tokio::test]
async fn failed_password_check_is_an_internal_error_not_a_wrong_password() {
    let h = Harness::new().await;
    h.stores
        .users
        .put(&User {
            sub: "user-2".into(),
            username: "broken".into(),
            password_hash: "not a PHC string".into(),
        })
        .await
        .unwrap();
    let res = sign_in(&h, "127.0.0.2", "broken", "whatever").await;
    assert_eq!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        res.body
    );
    assert!(res.body.contains("server_error"), "{}", res.body);
    assert!(!res.body.contains("Wrong username or password"));
}
