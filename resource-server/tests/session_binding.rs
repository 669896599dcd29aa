//! Issue #8 item 6 / spec RS-19: the layer binds each MCP session to the principal (`iss`, `sub`,
//! `client_id`) whose `initialize` created it, bounds the sessions per principal and in all,
//! and forgets idle and ended ones. The fixture allows 2 sessions per principal, 3 in all, and
//! forgets a session after 300 s without a request.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use common::*;
use http::{Request, StatusCode};
use mcp_auth_conformance::{TestKey, TokenMinter, jwks_of};
use mcp_auth_core::FixedClock;
use mcp_auth_resource_server::{BearerAuthLayer, JwksSource, JwtValidator, ResourceServerConfig};
use tower::ServiceExt;

fn not_found() -> String {
    error_body("session_not_found", "session not found")
}

/// RS-19: the principal that created a session may use it.
#[tokio::test]
async fn session_is_passed_on_for_its_principal() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&token))).await);
    let resp = f.send(in_session(tools_list(Some(&token)), &session)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// RS-19: the binding is to the principal, not to the token: a stepped-up token of the same
/// user and client keeps the session.
#[tokio::test]
async fn new_token_of_the_same_principal_keeps_the_session() {
    let f = fixture().await;
    let first = f.minter().valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&first))).await);
    let stepped_up = f.minter().valid("mcp:basic repo:write").unwrap();
    let resp = f
        .send(in_session(
            call_tool(Some(&stepped_up), "delete_repo"),
            &session,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Issue #8 item 6: the same user through another client is another principal: 404.
#[tokio::test]
async fn session_of_the_same_user_through_another_client_is_404() {
    let f = fixture().await;
    let mine = f.minter().client_id("client-a").valid("mcp:basic").unwrap();
    let other = f.minter().client_id("client-b").valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&mine))).await);
    let resp = f.send(in_session(tools_list(Some(&other)), &session)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(resp).await, not_found());
}

/// Issue #8 item 6: a session id the layer never saw created is refused with 404 (the
/// answer for a terminated session), on every method.
#[tokio::test]
async fn session_unknown_to_the_layer_is_404() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    for method in ["GET", "DELETE", "POST"] {
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .header("mcp-session-id", "s-guessed")
            .body(Body::empty())
            .unwrap();
        let resp = f.send(req).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(text(resp).await, not_found(), "{method}");
    }
}

/// Issue #8 item 6: a session with no request for the idle timeout (300 s) is forgotten.
#[tokio::test]
async fn idle_session_expires() {
    let f = fixture().await;
    let token = f.minter().lifetime(3600).valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&token))).await);
    f.clock.advance(299);
    let resp = f.send(in_session(tools_list(Some(&token)), &session)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    f.clock.advance(299);
    let resp = f.send(in_session(tools_list(Some(&token)), &session)).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a request restarts the idle timer"
    );
    f.clock.advance(300);
    let resp = f.send(in_session(tools_list(Some(&token)), &session)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Issue #8 item 6: a session ended with `DELETE` is forgotten and frees its place.
#[tokio::test]
async fn ended_session_is_404_and_frees_its_place() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let first = session_of(&f.send(initialize(Some(&token))).await);
    f.send(initialize(Some(&token))).await;
    let delete = Request::delete("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .header("mcp-session-id", &first)
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.send(delete).await.status(), StatusCode::ACCEPTED);
    let resp = f.send(in_session(tools_list(Some(&token)), &first)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let third = f.send(initialize(Some(&token))).await;
    assert_eq!(third.status(), StatusCode::OK);
}

/// Issue #8 item 6: an `initialize` past the per-principal cap (2) gets 429
/// `too_many_sessions`; other principals are unaffected.
#[tokio::test]
async fn initialize_past_the_per_principal_cap_is_429() {
    let f = fixture().await;
    let alice = f.minter().subject("alice").valid("mcp:basic").unwrap();
    for _ in 0..2 {
        assert_eq!(
            f.send(initialize(Some(&alice))).await.status(),
            StatusCode::OK
        );
    }
    let resp = f.send(initialize(Some(&alice))).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(challenge(&resp), None);
    assert!(!resp.headers().contains_key("mcp-session-id"));
    assert_eq!(
        text(resp).await,
        error_body(
            "too_many_sessions",
            "too many open MCP sessions for this user and client; end one with DELETE or wait for it to expire"
        )
    );
    let bob = f.minter().subject("bob").valid("mcp:basic").unwrap();
    assert_eq!(
        f.send(initialize(Some(&bob))).await.status(),
        StatusCode::OK
    );
}

/// Issue #8 item 6: requests other than `initialize` are not limited by the session cap.
#[tokio::test]
async fn requests_without_a_session_are_not_capped() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    for _ in 0..2 {
        f.send(initialize(Some(&token))).await;
    }
    assert_eq!(
        f.send(tools_list(Some(&token))).await.status(),
        StatusCode::OK
    );
}

/// Issue #8 item 6: an `initialize` past the total cap (3) gets 503.
#[tokio::test]
async fn initialize_past_the_total_cap_is_503() {
    let f = fixture().await;
    for (sub, n) in [("alice", 2), ("bob", 1)] {
        let t = f.minter().subject(sub).valid("mcp:basic").unwrap();
        for _ in 0..n {
            assert_eq!(f.send(initialize(Some(&t))).await.status(), StatusCode::OK);
        }
    }
    let carol = f.minter().subject("carol").valid("mcp:basic").unwrap();
    let resp = f.send(initialize(Some(&carol))).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        text(resp).await,
        error_body(
            "temporarily_unavailable",
            "too many open MCP sessions on this server"
        )
    );
    f.clock.advance(300);
    assert_eq!(
        f.send(initialize(Some(&carol))).await.status(),
        StatusCode::OK,
        "expired sessions free places"
    );
}

/// Issue #8 item 6: two `Mcp-Session-Id` headers are 400.
#[tokio::test]
async fn repeated_session_header_is_400() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&token))).await);
    let mut req = in_session(tools_list(Some(&token)), &session);
    req.headers_mut()
        .append("mcp-session-id", "s-other".parse().unwrap());
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_request("more than one Mcp-Session-Id header")
    );
}

/// Issue #8 item 6: a session id that is not visible ASCII is 400.
#[tokio::test]
async fn malformed_session_id_is_400() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(in_session(tools_list(Some(&token)), "s 1")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_request("malformed Mcp-Session-Id header")
    );
}

/// Issue #8 item 6: without a valid token, a session id is never looked at: 401.
#[tokio::test]
async fn session_id_without_token_is_401() {
    let f = fixture().await;
    let resp = f.send(in_session(tools_list(None), "s-guessed")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// Issue #8 item 6: with binding turned off (`insecure_disable_session_binding`), session ids
/// are passed on unchecked.
#[tokio::test]
async fn disabled_binding_passes_unknown_sessions_on() {
    let key = TestKey::generate("k1").unwrap();
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server("https://auth.acme.test")
        .build()
        .unwrap();
    let v = JwtValidator::builder(&config)
        .jwks_source(
            "https://auth.acme.test",
            JwksSource::Static(jwks_of(&[&key])),
        )
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(BearerAuthLayer::new(config, v).insecure_disable_session_binding());
    let token = TokenMinter::new(&key, "https://auth.acme.test", RESOURCE, NOW)
        .valid("")
        .unwrap();
    let resp = app
        .oneshot(in_session(tools_list(Some(&token)), "s-guessed"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Issue 20 §1: only a `POST` carries a JSON-RPC message. A `GET` stream and a `DELETE` sent
/// with `Content-Type: application/json` and no body (as Python's `mcp` client sends them) are
/// authorized on the token alone; the `DELETE` ends the session (`202`) and frees its place, so
/// a principal that ends its sessions never reaches the cap.
#[tokio::test]
async fn get_and_delete_with_a_json_content_type_are_authorized_on_the_token() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    for _ in 0..5 {
        let session = session_of(&f.send(initialize(Some(&token))).await);
        let stream = Request::get("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .body(Body::empty())
            .unwrap();
        let resp = f.send(stream).await;
        assert_eq!(resp.status(), StatusCode::OK, "{}", text(resp).await);
        let delete = Request::delete("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("mcp-session-id", &session)
            .body(Body::empty())
            .unwrap();
        assert_eq!(f.send(delete).await.status(), StatusCode::ACCEPTED);
    }
}

/// Issue 20 §1: the body of a `GET` or `DELETE` is ignored: not read as JSON-RPC (so it can
/// neither fail the request nor pick its scopes) and not passed on to the MCP server.
#[tokio::test]
async fn body_of_a_get_or_delete_is_ignored() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&token))).await);
    for (method, body) in [
        ("GET", "not json"),
        (
            "GET",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo"}}"#,
        ),
        ("DELETE", "[1,2"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("mcp-session-id", &session)
            .body(Body::from(body))
            .unwrap();
        let resp = f.send(req).await;
        assert!(
            resp.status().is_success(),
            "{method} {body}: {}",
            resp.status()
        );
    }
}
