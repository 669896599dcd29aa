//! Failed client authentications (issue #8 item 3; spec CC-14, SEC-06): the failing (client,
//! source) pair is throttled with `429 invalid_request` and `Retry-After`; correct credentials
//! are never refused because of someone else's failures; a global backstop slows failures and
//! never refuses. Each request carries the socket peer as `ConnectInfo`, as the real server
//! does.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use mcp_auth_server::ServerSettings;

/// POST a form to `path` from `from` (a loopback address), with an optional `Authorization`.
async fn post_from(
    h: &Harness,
    from: &str,
    path: &str,
    body: &str,
    authorization: Option<&str>,
) -> TestResponse {
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    let mut req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .extension(ConnectInfo(peer));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    h.send(req.body(Body::from(body.to_owned())).unwrap()).await
}

/// `n` failed authentications of the Basic client from `from`.
async fn fail_basic(h: &Harness, from: &str, n: usize) {
    for _ in 0..n {
        let res = post_from(
            h,
            from,
            "/token",
            "grant_type=refresh_token&refresh_token=x",
            Some(&basic(BASIC, "wrong")),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
        assert_eq!(res.error(), "invalid_client");
    }
}

/// `429`, `invalid_request` (an RFC 6749 §5.2 code), `Retry-After: seconds`, no-store.
fn assert_throttled(res: &TestResponse, retry_after: &str) {
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.error(), "invalid_request");
    assert_eq!(res.header("retry-after"), retry_after);
    assert_eq!(res.header("cache-control"), "no-store");
    assert!(
        res.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("too many failed client authentications"),
        "{}",
        res.body
    );
}

/// Issue #8 item 3 (the reproduction): 20 wrong secrets for client A from 127.0.0.2 do not make
/// A's correct secret from 127.0.0.1 fail.
#[tokio::test]
async fn wrong_secrets_from_one_address_do_not_refuse_the_right_secret_from_another() {
    let h = Harness::new().await;
    fail_basic(&h, "127.0.0.2", 20).await;
    let code = h.code_for(BASIC, None).await;
    let res = post_from(
        &h,
        "127.0.0.1",
        "/token",
        &redeem_body(BASIC, &code),
        Some(&basic(BASIC, BASIC_SECRET)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// Issue #8 item 3 (the reproduction): 20 wrong `client_secret`s for a public client do not
/// block other users' code redemption for it.
#[tokio::test]
async fn wrong_secrets_for_a_public_client_do_not_block_its_code_redemption() {
    let h = Harness::new().await;
    for _ in 0..20 {
        let res = post_from(
            &h,
            "127.0.0.2",
            "/token",
            &format!(
                "grant_type=refresh_token&refresh_token=x&client_id={PUBLIC}&client_secret=guess"
            ),
            None,
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    }
    let code = h.code_for(PUBLIC, None).await;
    let res = post_from(&h, "127.0.0.1", "/token", &redeem_body(PUBLIC, &code), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// CC-14, issue #8 item 3: past the limit the failing (client, source) pair gets `429
/// invalid_request` with `Retry-After` (the rest of the minute), even with the right secret,
/// instead of `temporarily_unavailable`; the minute's end lifts it.
#[tokio::test]
async fn failing_pair_gets_429_invalid_request_with_retry_after() {
    let mut s = settings(ISSUER);
    s.client_auth_failures_per_minute = 3;
    let h = Harness::with_settings(s).await;
    fail_basic(&h, "127.0.0.2", 3).await;
    h.clock.advance(15);
    let body = "grant_type=refresh_token&refresh_token=x";
    let res = post_from(
        &h,
        "127.0.0.2",
        "/token",
        body,
        Some(&basic(BASIC, BASIC_SECRET)),
    )
    .await;
    assert_throttled(&res, "45");
    h.clock.advance(45);
    let res = post_from(
        &h,
        "127.0.0.2",
        "/token",
        body,
        Some(&basic(BASIC, BASIC_SECRET)),
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_grant", "authenticated again");
}

/// CC-14, issue #8 item 3: the throttle answers the same way at the introspection and
/// revocation endpoints.
#[tokio::test]
async fn failing_pair_is_throttled_at_introspection_and_revocation() {
    let mut s = settings(ISSUER);
    s.client_auth_failures_per_minute = 2;
    let h = Harness::with_settings(s).await;
    fail_basic(&h, "127.0.0.2", 2).await;
    let auth = basic(BASIC, BASIC_SECRET);
    for path in ["/introspect", "/revoke"] {
        let res = post_from(&h, "127.0.0.2", path, "token=x", Some(&auth)).await;
        assert_throttled(&res, "60");
    }
}

/// Issue #8 item 3: one address's failures for one client do not throttle other clients from
/// that address.
#[tokio::test]
async fn other_clients_from_the_failing_address_are_not_throttled() {
    let mut s = settings(ISSUER);
    s.client_auth_failures_per_minute = 2;
    let h = Harness::with_settings(s).await;
    fail_basic(&h, "127.0.0.2", 2).await;
    let code = h.code_for(POST, None).await;
    let body = format!("{}&client_secret={POST_SECRET}", redeem_body(POST, &code));
    let res = post_from(&h, "127.0.0.2", "/token", &body, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

fn backstop_settings() -> ServerSettings {
    let mut s = settings(ISSUER);
    s.client_auth_backstop.failures_per_minute = 2;
    s.client_auth_backstop.delay_ms = 300;
    s
}

/// Issue #8 item 3: past the global backstop a failure is answered late (slowed), and still as
/// `401 invalid_client` (not refused with 429).
#[tokio::test]
async fn backstop_slows_failures_past_the_global_limit() {
    let h = Harness::with_settings(backstop_settings()).await;
    fail_basic(&h, "127.0.0.2", 1).await;
    fail_basic(&h, "127.0.0.3", 1).await;
    let started = Instant::now();
    fail_basic(&h, "127.0.0.4", 1).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

/// Issue #8 item 3: past the global backstop a correct credential is still accepted.
#[tokio::test]
async fn backstop_never_refuses_correct_credentials() {
    let h = Harness::with_settings(backstop_settings()).await;
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        fail_basic(&h, from, 1).await;
    }
    let code = h.code_for(BASIC, None).await;
    let res = post_from(
        &h,
        "127.0.0.5",
        "/token",
        &redeem_body(BASIC, &code),
        Some(&basic(BASIC, BASIC_SECRET)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// SEC-06, issue #8 item 3: the registration limit per source answers `429` with `Retry-After`
/// (seconds to the end of the hour window), keyed by the socket peer.
#[tokio::test]
async fn registration_limit_answers_429_with_retry_after() {
    let mut s = settings(ISSUER);
    s.registration.max_per_source_per_hour = 1;
    let h = Harness::with_settings(s).await;
    // Different metadata each time: an identical public re-registration is not counted.
    let register = |from: &'static str, name: &str| {
        let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
        Request::post("/register")
            .header("content-type", "application/json")
            .extension(ConnectInfo(peer))
            .body(Body::from(format!(
                r#"{{"client_name":"{name}","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}}"#,
            )))
            .unwrap()
    };
    assert_eq!(
        h.send(register("127.0.0.2", "one")).await.status,
        StatusCode::CREATED
    );
    h.clock.advance(600);
    let res = h.send(register("127.0.0.2", "two")).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.header("retry-after"), "3000");
    assert_eq!(
        h.send(register("127.0.0.3", "three")).await.status,
        StatusCode::CREATED
    );
}
