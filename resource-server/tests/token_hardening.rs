//! Issue #8 item 6 (resource-server part): claims RFC 9068 makes REQUIRED, exact audience,
//! optional low-S ECDSA, and the body of an unauthenticated request left unread.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::Json;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body::{Frame, SizeHint};
use mcp_auth_conformance::{Defect, TestKey, TokenMinter, jwks_of};
use mcp_auth_core::{FixedClock, Secret};
use mcp_auth_resource_server::{
    IntrospectionValidator, JwksSource, JwtValidator, ResourceServerConfig, TokenError,
    TokenValidator, ValidationError,
};

const ISSUER: &str = "https://auth.acme.test";

fn config() -> ResourceServerConfig {
    ResourceServerConfig::builder(RESOURCE)
        .authorization_server(ISSUER)
        .build()
        .unwrap()
}

fn validator(key: &TestKey, low_s: bool) -> JwtValidator {
    JwtValidator::builder(&config())
        .jwks_source(ISSUER, JwksSource::Static(jwks_of(&[key])))
        .clock(Arc::new(FixedClock::new(NOW)))
        .require_low_s(low_s)
        .build()
        .unwrap()
}

/// Issue #8 item 6: a token without `iat` is refused (RFC 9068 §2.2).
#[tokio::test]
async fn token_without_iat_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::MissingIat, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token lacks the iat claim")
    );
}

/// Issue #8 item 6: a token without `jti` is refused (RFC 9068 §2.2).
#[tokio::test]
async fn token_without_jti_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::MissingJti, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token lacks the jti claim")
    );
}

/// Issue #8 item 6: `iat` and `jti` of the wrong type count as missing; `nbf` of the wrong
/// type is refused.
#[tokio::test]
async fn required_claims_of_the_wrong_type_are_refused() {
    let key = TestKey::generate("k1").unwrap();
    let v = validator(&key, false);
    let m = TokenMinter::new(&key, ISSUER, RESOURCE, NOW);
    for (claim, value, error) in [
        (
            "iat",
            serde_json::json!("1767225600"),
            TokenError::MissingClaim("iat"),
        ),
        (
            "jti",
            serde_json::json!(42),
            TokenError::MissingClaim("jti"),
        ),
        ("nbf", serde_json::json!("0"), TokenError::NotYetValid),
    ] {
        let mut claims = m.claims("mcp:basic");
        claims[claim] = value;
        let token = m.with_claims(&claims).unwrap();
        assert_eq!(
            v.validate(&token).await,
            Err(ValidationError::Token(error)),
            "{claim}"
        );
    }
}

/// Issue #8 item 6: with `require_low_s`, the high-S twin of a good ES256 signature is refused;
/// its low-S original passes.
#[tokio::test]
async fn high_s_signature_is_refused_when_low_s_is_required() {
    let key = TestKey::generate("k1").unwrap();
    let m = TokenMinter::new(&key, ISSUER, RESOURCE, NOW);
    let v = validator(&key, true);
    assert!(v.validate(&m.valid("mcp:basic").unwrap()).await.is_ok());
    assert_eq!(
        v.validate(&m.valid_high_s("mcp:basic").unwrap()).await,
        Err(ValidationError::Token(TokenError::BadSignature))
    );
}

/// Issue #8 item 6: low-S is off by default because common signers (ring, used by the mcp-auth
/// authorization server) do not normalise `S`: the high-S twin verifies.
#[tokio::test]
async fn high_s_signature_is_accepted_by_default() {
    let key = TestKey::generate("k1").unwrap();
    let m = TokenMinter::new(&key, ISSUER, RESOURCE, NOW);
    let v = validator(&key, false);
    assert!(
        v.validate(&m.valid_high_s("mcp:basic").unwrap())
            .await
            .is_ok()
    );
}

/// Issue #8 item 6: introspection `aud` is compared exactly too.
#[tokio::test]
async fn introspection_audience_is_compared_exactly() {
    let app = axum::Router::new().route(
        "/introspect",
        post(|| async {
            Json(serde_json::json!({
                "active": true, "client_id": "c1", "sub": "u1",
                "aud": "https://MCP.acme.test/mcp", "iss": ISSUER, "exp": NOW + 600
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let v = IntrospectionValidator::builder(
        &config(),
        &format!("http://{addr}/introspect"),
        "rs",
        Secret::new("secret"),
    )
    .clock(Arc::new(FixedClock::new(NOW)))
    .build()
    .unwrap();
    assert_eq!(
        v.validate("opaque").await,
        Err(ValidationError::Token(TokenError::WrongAudience))
    );
}

/// A request body that yields `size` bytes one poll at a time, counting what was read, and
/// that says it is `size` bytes long (as a `Content-Length` would) or says nothing (chunked).
struct CountingBody {
    left: usize,
    read: Arc<AtomicUsize>,
    sized: bool,
    total: usize,
}

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(1024);
        self.left -= n;
        self.read.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))))
    }

    fn size_hint(&self) -> SizeHint {
        if self.sized {
            SizeHint::with_exact(self.total as u64)
        } else {
            SizeHint::default()
        }
    }
}

/// Issue #8 item 6: the 401 for a request without a token is answered without reading a body
/// that is large, whether its size is declared or not.
#[tokio::test]
async fn large_unauthenticated_body_is_never_read() {
    let f = fixture().await;
    for sized in [true, false] {
        let read = Arc::new(AtomicUsize::new(0));
        let body = CountingBody {
            left: 1024 * 1024,
            read: read.clone(),
            sized,
            total: 1024 * 1024,
        };
        let mut req = Request::post("/mcp")
            .header("content-type", "application/json")
            .body(Body::new(body))
            .unwrap();
        if sized {
            req.headers_mut()
                .insert("content-length", "1048576".parse().unwrap());
        }
        let resp = f.send(req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "sized={sized}");
        assert_eq!(
            challenge(&resp).unwrap(),
            format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:basic""#)
        );
        assert_eq!(read.load(Ordering::SeqCst), 0, "sized={sized}");
    }
}

/// Issue #8 item 6: a bad token is refused before the body is read.
#[tokio::test]
async fn large_body_is_not_read_for_an_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::Expired, "mcp:basic").unwrap();
    let read = Arc::new(AtomicUsize::new(0));
    let body = CountingBody {
        left: 1024 * 1024,
        read: read.clone(),
        sized: false,
        total: 0,
    };
    let req = Request::post("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::new(body))
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(read.load(Ordering::SeqCst), 0);
}

/// Issue #8 item 6 and RS-13: a small form body carrying `access_token` still gets 400 without
/// a header token; a large one is not read, and gets the 401.
#[tokio::test]
async fn only_a_small_unauthenticated_form_body_is_inspected() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let big = format!("access_token={token}&pad={}", "x".repeat(9 * 1024));
    let req = Request::post("/mcp")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(big))
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:basic""#)
    );
}

/// Issue #8 item 6 and RS-13: a form body carrying `access_token` next to a valid header
/// token is 400.
#[tokio::test]
async fn token_in_form_body_next_to_a_header_token_is_400() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let req = Request::post("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("access_token={token}")))
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_request("access tokens are not accepted in the request body")
    );
}
