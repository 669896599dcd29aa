//! Introspection (RS-18), the JWKS cache, and request-shape refusals.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use http::{Request, StatusCode};
use mcp_auth_conformance::{TestKey, jwks_of};
use mcp_auth_core::{FixedClock, Secret};
use mcp_auth_resource_server::{
    IntrospectionValidator, JwtValidator, ResourceServerConfig, TokenError, TokenValidator,
    ValidationError,
};

/// Start an introspection endpoint on 127.0.0.1 that answers `answer` and counts calls.
async fn introspection_server(answer: serde_json::Value) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/introspect",
        post(move |headers: http::HeaderMap| {
            let answer = answer.clone();
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                assert_eq!(headers["authorization"], "Basic cnM6cyUzQWNyZXQ=");
                Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/introspect"), calls)
}

fn introspection_config() -> ResourceServerConfig {
    ResourceServerConfig::builder(RESOURCE)
        .authorization_server("https://auth.acme.test")
        .build()
        .unwrap()
}

async fn introspector(
    answer: serde_json::Value,
) -> (IntrospectionValidator, Arc<AtomicUsize>, Arc<FixedClock>) {
    let (url, calls) = introspection_server(answer).await;
    let clock = Arc::new(FixedClock::new(NOW));
    let v =
        IntrospectionValidator::builder(&introspection_config(), &url, "rs", Secret::new("s:cret"))
            .clock(clock.clone())
            .build()
            .unwrap();
    (v, calls, clock)
}

fn active(aud: &str, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "active": true, "scope": "mcp:basic", "client_id": "c1", "sub": "u1",
        "aud": aud, "iss": "https://auth.acme.test", "exp": exp, "token_type": "Bearer"
    })
}

/// RS-18: an introspection response with `active:false` → 401 `invalid_token`.
#[tokio::test]
async fn inactive_introspection_result_is_invalid_token() {
    let (v, _, _) = introspector(serde_json::json!({"active": false})).await;
    assert_eq!(
        v.validate("opaque-1").await,
        Err(ValidationError::Token(TokenError::Inactive))
    );
}

/// Introspection: `aud` must contain this resource (spec §1.4.3 step 3); a missing `aud` is
/// refused by default (§10 A25).
#[tokio::test]
async fn introspection_audience_is_enforced() {
    let (v, _, _) = introspector(active("https://other.example/mcp", NOW + 600)).await;
    assert_eq!(
        v.validate("opaque-1").await,
        Err(ValidationError::Token(TokenError::WrongAudience))
    );
    let mut no_aud = active(RESOURCE, NOW + 600);
    no_aud.as_object_mut().unwrap().remove("aud");
    let (v, _, _) = introspector(no_aud).await;
    assert_eq!(
        v.validate("opaque-1").await,
        Err(ValidationError::Token(TokenError::WrongAudience))
    );
}

/// Introspection results are cached no longer than the token lives (and at most 60 s).
#[tokio::test]
async fn introspection_cache_never_outlives_the_token() {
    let (v, calls, clock) = introspector(active(RESOURCE, NOW + 30)).await;
    let p = v.validate("opaque-1").await.unwrap();
    assert_eq!((p.subject.as_str(), p.client_id.as_str()), ("u1", "c1"));
    v.validate("opaque-1").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    clock.set(NOW + 30);
    assert_eq!(
        v.validate("opaque-1").await,
        Err(ValidationError::Token(TokenError::Expired))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// An unknown `kid` triggers a JWKS refetch at most once per interval; a rotated-in key is then
/// accepted.
#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited_and_picks_up_new_keys() {
    let f = fixture().await;
    let good = f.minter().valid("mcp:basic").unwrap();
    assert_eq!(
        f.send(tools_list(Some(&good))).await.status(),
        StatusCode::OK
    );
    assert_eq!(f.auth.jwks_fetches(), 1);

    let k2 = TestKey::generate("k2").unwrap();
    let rotated = f
        .auth
        .minter(&k2, RESOURCE, NOW)
        .valid("mcp:basic")
        .unwrap();
    // Unknown kid 10 s after the first fetch: within the 30 s interval, no refetch.
    f.clock.advance(10);
    let resp = f.send(tools_list(Some(&rotated))).await;
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token signing key is unknown")
    );
    assert_eq!(f.auth.jwks_fetches(), 1);
    f.auth.set_jwks(jwks_of(&[&f.key, &k2]));
    f.clock.set(NOW + 29);
    assert_eq!(
        f.send(tools_list(Some(&rotated))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(f.auth.jwks_fetches(), 1);
    // Once the interval has passed: refetched, and the rotated-in key is accepted.
    f.clock.set(NOW + 30);
    assert_eq!(
        f.send(tools_list(Some(&rotated))).await.status(),
        StatusCode::OK
    );
    assert_eq!(f.auth.jwks_fetches(), 2);
    // A forged kid right after cannot force another fetch.
    let k3 = TestKey::generate("k3").unwrap();
    let forged = f
        .auth
        .minter(&k3, RESOURCE, NOW)
        .valid("mcp:basic")
        .unwrap();
    f.clock.set(NOW + 31);
    assert_eq!(
        f.send(tools_list(Some(&forged))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(f.auth.jwks_fetches(), 2);
}

/// When refreshes fail, cached keys are used only until `fetched_at + max_stale`; then 503.
#[tokio::test]
async fn stale_keys_are_kept_only_until_max_stale() {
    let key = TestKey::generate("k1").unwrap();
    let auth = mcp_auth_conformance::TestAuthServer::start(&[&key])
        .await
        .unwrap();
    let clock = Arc::new(FixedClock::new(NOW));
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server(auth.issuer())
        .build()
        .unwrap();
    let v = JwtValidator::builder(&config)
        .clock(clock.clone())
        .jwks_refresh_after(Duration::from_secs(300))
        .jwks_max_stale(Duration::from_secs(3600))
        .build()
        .unwrap();
    let token = auth
        .minter(&key, RESOURCE, NOW)
        .lifetime(7200)
        .valid("")
        .unwrap();
    assert!(v.validate(&token).await.is_ok());
    auth.set_jwks(serde_json::json!("not a JWKS"));
    clock.set(NOW + 3599);
    assert!(v.validate(&token).await.is_ok());
    clock.set(NOW + 3600);
    assert!(matches!(
        v.validate(&token).await,
        Err(ValidationError::Unavailable(_))
    ));
}

/// A body over the inspection limit → 413; it is never passed on.
#[tokio::test]
async fn oversized_body_is_413() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let big = rpc("tools/list", serde_json::json!({"pad": "x".repeat(5000)}));
    let resp = f.send(post_rpc(Some(&token), big)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        text(resp).await,
        r#"{"error":"invalid_request","error_description":"request body exceeds 4096 bytes"}"#
    );
}

/// Two `Authorization` headers → 400 `invalid_request` (spec §1.4.1 step 3).
#[tokio::test]
async fn several_authorization_headers_are_400() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let req = Request::get("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="invalid_request", error_description="more than one Authorization header", resource_metadata="{PRM_URL}""#
        )
    );
}

/// An empty bearer value is an attempt: 401 `invalid_token`, not "no token" (§1.4.1 step 4).
#[tokio::test]
async fn empty_bearer_is_invalid_token() {
    let f = fixture().await;
    let req = Request::get("/mcp")
        .header("authorization", "Bearer")
        .body(Body::empty())
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("empty bearer token")
    );
}

/// CORS exposes `WWW-Authenticate` on a challenge to browser clients, and `DPoP-Nonce` (RFC
/// 9449 §9) for DPoP clients.
#[tokio::test]
async fn cors_exposes_www_authenticate() {
    let f = fixture().await;
    let req = Request::get("/mcp")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        resp.headers()["access-control-expose-headers"],
        "www-authenticate,mcp-session-id,dpop-nonce"
    );
}

/// The body reaches the inner service byte for byte after inspection.
#[tokio::test]
async fn inspected_body_is_passed_on_intact() {
    let key = TestKey::generate("k1").unwrap();
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server("https://auth.acme.test")
        .build()
        .unwrap();
    let v = JwtValidator::builder(&config)
        .jwks_source(
            "https://auth.acme.test",
            mcp_auth_resource_server::JwksSource::Static(jwks_of(&[&key])),
        )
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .layer(mcp_auth_resource_server::BearerAuthLayer::new(config, v));
    let token =
        mcp_auth_conformance::TokenMinter::new(&key, "https://auth.acme.test", RESOURCE, NOW)
            .valid("")
            .unwrap();
    let body = rpc(
        "tools/call",
        serde_json::json!({"name": "x", "arguments": {"a": [1, 2]}}),
    );
    use tower::ServiceExt;
    let resp = app
        .oneshot(post_rpc(Some(&token), body.clone()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(text(resp).await, body);
}
