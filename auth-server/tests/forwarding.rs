//! Source addresses and protocol behind proxies (issue #8 items 3 and 6; spec AS-20, SEC-01,
//! SEC-06): forwarding headers count only from `trusted_proxies`, read from the right; a
//! trusted proxy's last hop must say exactly `https`; malformed or conflicting headers are
//! refused. The harness issuer is https. 127.0.0.10 plays the trusted proxy.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;

const PROXY: &str = "127.0.0.10";
const METADATA: &str = "/.well-known/oauth-authorization-server";

async fn harness() -> Harness {
    let mut s = settings(ISSUER);
    s.trusted_proxies = vec!["127.0.0.10/32".parse().unwrap()];
    s.client_auth_failures_per_minute = 3;
    Harness::with_settings(s).await
}

/// A request to `path` from socket peer `peer` with extra `headers` (repeats allowed).
async fn send_via(
    h: &Harness,
    peer: &str,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .extension(ConnectInfo(peer));
    if method == "POST" {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    h.send(req.body(Body::from(body.to_owned())).unwrap()).await
}

async fn metadata_via(h: &Harness, peer: &str, headers: &[(&str, &str)]) -> TestResponse {
    send_via(h, peer, "GET", METADATA, "", headers).await
}

/// A Basic-authenticated token request through `peer` with `headers`.
async fn token_via(
    h: &Harness,
    peer: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    let auth = basic(BASIC, secret);
    let mut all = headers.to_vec();
    all.push(("authorization", auth.as_str()));
    send_via(
        h,
        peer,
        "POST",
        "/token",
        "grant_type=refresh_token&refresh_token=x",
        &all,
    )
    .await
}

fn assert_refused(res: &TestResponse, description: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_request");
    assert_eq!(res.json()["error_description"], description);
}

/// Issue #8 item 3 (the reproduction behind a proxy): with the proxy trusted, each caller is
/// its own `X-Forwarded-For` address, so one caller's failures throttle that caller only.
#[tokio::test]
async fn trusted_proxy_forwarded_for_names_the_source() {
    let h = harness().await;
    let attacker = [
        ("x-forwarded-for", "127.0.0.2"),
        ("x-forwarded-proto", "https"),
    ];
    for _ in 0..3 {
        let res = token_via(&h, PROXY, "wrong", &attacker).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    }
    let other = [
        ("x-forwarded-for", "127.0.0.3"),
        ("x-forwarded-proto", "https"),
    ];
    let res = token_via(&h, PROXY, BASIC_SECRET, &other).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_grant", "authenticated");
    let res = token_via(&h, PROXY, BASIC_SECRET, &attacker).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
}

/// Issue #8 item 3: the `Forwarded: for=` of a trusted proxy names the source as well.
#[tokio::test]
async fn trusted_proxy_forwarded_header_names_the_source() {
    let h = harness().await;
    let attacker = [("forwarded", "for=127.0.0.2;proto=https")];
    for _ in 0..3 {
        let res = token_via(&h, PROXY, "wrong", &attacker).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    }
    let other = [("forwarded", "for=127.0.0.3;proto=https")];
    let res = token_via(&h, PROXY, BASIC_SECRET, &other).await;
    assert_eq!(res.error(), "invalid_grant", "authenticated: {}", res.body);
}

/// Issue #8 item 3: forwarding headers from a peer that is not a trusted proxy are ignored:
/// the socket peer stays the source whatever `X-Forwarded-For` says.
#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let h = harness().await;
    for spoof in ["127.0.0.20", "127.0.0.21", "127.0.0.22"] {
        let res = token_via(&h, "127.0.0.2", "wrong", &[("x-forwarded-for", spoof)]).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    }
    let res = token_via(
        &h,
        "127.0.0.2",
        BASIC_SECRET,
        &[("x-forwarded-for", "127.0.0.23")],
    )
    .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
}

/// Issue #8 item 3: an `X-Forwarded-For` entry that is not an address, from a trusted proxy,
/// refuses the request (fail closed) instead of falling back to the proxy's address.
#[tokio::test]
async fn malformed_forwarded_for_from_a_trusted_proxy_is_refused() {
    let h = harness().await;
    let res = metadata_via(
        &h,
        PROXY,
        &[
            ("x-forwarded-for", "127.0.0.2, bogus"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_refused(&res, "malformed X-Forwarded-For header");
}

/// Issue #8 item 3: `X-Forwarded-For` and `Forwarded` naming different sources are refused.
#[tokio::test]
async fn conflicting_forwarding_headers_from_a_trusted_proxy_are_refused() {
    let h = harness().await;
    let res = metadata_via(
        &h,
        PROXY,
        &[
            ("x-forwarded-for", "127.0.0.2"),
            ("forwarded", "for=127.0.0.3;proto=https"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_refused(
        &res,
        "X-Forwarded-For / X-Forwarded-Proto and Forwarded disagree",
    );
}

/// Issue #8 item 6: a trusted proxy whose last hop says https is accepted.
#[tokio::test]
async fn trusted_proxy_https_last_hop_is_accepted() {
    let h = harness().await;
    let res = metadata_via(&h, PROXY, &[("x-forwarded-proto", "http, https")]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// Issue #8 item 6, AS-20: a repeated `X-Forwarded-Proto` is one list; its last hop decides.
#[tokio::test]
async fn repeated_x_forwarded_proto_is_read_at_the_last_hop() {
    let h = harness().await;
    let res = metadata_via(
        &h,
        PROXY,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "http"),
        ],
    )
    .await;
    assert_refused(&res, "plain http is refused; use https");
}

/// Issue #8 item 6, AS-20: `Forwarded: proto=http` from a trusted proxy is refused.
#[tokio::test]
async fn forwarded_proto_http_from_a_trusted_proxy_is_refused() {
    let h = harness().await;
    let res = metadata_via(&h, PROXY, &[("forwarded", "for=127.0.0.2;proto=http")]).await;
    assert_refused(&res, "plain http is refused; use https");
}

/// Issue #8 item 6, AS-20: a proto that is not exactly `https` from the trusted last hop is
/// refused (here upper case).
#[tokio::test]
async fn trusted_proto_not_exactly_https_is_refused() {
    let h = harness().await;
    let res = metadata_via(&h, PROXY, &[("x-forwarded-proto", "HTTPS")]).await;
    assert_refused(&res, "plain http is refused; use https");
}

/// Issue #8 item 6, AS-20: a trusted proxy that does not say which protocol the client used is
/// refused (fail closed).
#[tokio::test]
async fn trusted_proxy_without_a_protocol_is_refused() {
    let h = harness().await;
    let res = metadata_via(&h, PROXY, &[("x-forwarded-for", "127.0.0.2")]).await;
    assert_refused(&res, "plain http is refused; use https");
}

/// Issue #8 item 6, AS-20: from an untrusted peer, a plain-http report anywhere in the list is
/// still refused; it is never ignored.
#[tokio::test]
async fn untrusted_plain_http_report_anywhere_is_refused() {
    let h = harness().await;
    let res = metadata_via(&h, "127.0.0.2", &[("x-forwarded-proto", "http, https")]).await;
    assert_refused(&res, "plain http is refused; use https");
}
