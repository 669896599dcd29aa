//! Sign-in through an upstream OpenID Provider (issue 23), end to end in process: the server
//! under test (oneshot, fixed clock) and a fake OpenID Provider on loopback (discovery, JWKS,
//! token) whose ID tokens are signed with auth-core's `Es256Signer`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use mcp_auth_core::jose::Es256Signer;
use mcp_auth_server::config::UpstreamIdpConfig;
use serde_json::{Value, json};

const CLIENT_ID: &str = "mcp-auth";

/// The fake upstream: claims to put in the ID token of each code.
#[derive(Clone)]
struct Fake {
    issuer: String,
    signer: Arc<Es256Signer>,
    codes: Arc<Mutex<HashMap<String, Value>>>,
}

async fn start_fake() -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (signer, _) = Es256Signer::generate().unwrap();
    let fake = Fake {
        issuer,
        signer: Arc::new(signer),
        codes: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

async fn discovery(State(f): State<Fake>) -> Json<Value> {
    Json(json!({
        "issuer": f.issuer,
        "authorization_endpoint": format!("{}/authorize", f.issuer),
        "token_endpoint": format!("{}/token", f.issuer),
        "jwks_uri": format!("{}/jwks", f.issuer),
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(f): State<Fake>) -> Json<Value> {
    Json(json!({"keys": [f.signer.public_jwk(Some("k1"))]}))
}

async fn token(State(f): State<Fake>, Form(form): Form<HashMap<String, String>>) -> Json<Value> {
    let claims = f.codes.lock().unwrap().remove(&form["code"]).unwrap();
    let id_token = f
        .signer
        .sign_compact(&json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}), &claims)
        .unwrap();
    Json(json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}))
}

fn upstream(issuer: &str) -> UpstreamIdpConfig {
    serde_json::from_value(json!({
        "name": "acme", "display_name": "Acme SSO", "issuer": issuer,
        "client_id": CLIENT_ID, "insecure_allow_http_loopback": true,
        "allowed_email_domains": ["acme.example"],
    }))
    .map(|mut c: UpstreamIdpConfig| {
        c.client_secret = Some(mcp_auth_core::Secret::new("s3cret"));
        c
    })
    .unwrap()
}

/// A harness with one upstream at `issuer` and password sign-in off.
async fn harness(issuer: &str) -> Harness {
    let mut s = settings(ISSUER);
    s.signin.passwords = false;
    let configs = vec![upstream(issuer)];
    Harness::build(s, move |b| {
        let clock: Arc<dyn mcp_auth_core::Clock> = Arc::new(mcp_auth_core::FixedClock::new(NOW));
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await
}

/// `/authorize` (no session): the redirect to the upstream, its `state` and `nonce`, and the
/// attempt cookie.
async fn begin(h: &Harness) -> (String, String, String) {
    let res = h.get(&authorize_query("")).await;
    assert_eq!(res.status, 302, "{}", res.body);
    let location = res.location();
    let q: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{ISSUER}/upstream/callback"));
    (q["state"].clone(), q["nonce"].clone(), session_cookie(&res))
}

fn claims(f: &Fake, nonce: &str, sub: &str) -> Value {
    json!({
        "iss": f.issuer, "aud": CLIENT_ID, "sub": sub, "nonce": nonce,
        "iat": NOW, "exp": NOW + 300,
        "email": "alice@acme.example", "email_verified": true, "name": "Alice",
    })
}

async fn callback(h: &Harness, f: &Fake, state: &str, cookie: &str, code: &str) -> TestResponse {
    let uri = format!(
        "/upstream/callback?code={code}&state={state}&iss={}",
        enc(&f.issuer)
    );
    h.get_with_cookie(&uri, cookie).await
}

/// Happy path, and the rule "with `signin.passwords = false` and one upstream, `/authorize`
/// goes straight to it": the callback signs the user in just in time and continues to consent;
/// a second sign-in maps to the same local user.
#[tokio::test]
async fn upstream_sign_in_creates_one_user_and_continues_to_consent() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    for code in ["c1", "c2"] {
        let (state, nonce, cookie) = begin(&h).await;
        f.codes
            .lock()
            .unwrap()
            .insert(code.into(), claims(&f, &nonce, "up-1"));
        let res = callback(&h, &f, &state, &cookie, code).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert!(
            res.body.contains("consent") || res.body.contains("Allow"),
            "{}",
            res.body
        );
    }
    let users = h.stores.users.list_federated().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].upstream_sub, "up-1");
    assert_eq!(users[0].email.as_deref(), Some("alice@acme.example"));
}

/// Rule "state is single use": the same callback again is a page, not a second sign-in.
#[tokio::test]
async fn replayed_state_is_refused_with_a_page() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&h).await;
    f.codes
        .lock()
        .unwrap()
        .insert("c1".into(), claims(&f, &nonce, "up-1"));
    assert_eq!(callback(&h, &f, &state, &cookie, "c1").await.status, 200);
    let again = callback(&h, &f, &state, &cookie, "c1").await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("already used"), "{}", again.body);
}

/// Rule "the ID token's nonce is the one sent".
#[tokio::test]
async fn wrong_nonce_is_refused() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, _, cookie) = begin(&h).await;
    f.codes
        .lock()
        .unwrap()
        .insert("c1".into(), claims(&f, "another-nonce", "up-1"));
    let res = callback(&h, &f, &state, &cookie, "c1").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("nonce"), "{}", res.body);
    assert!(h.stores.users.list_federated().await.unwrap().is_empty());
}

/// Rule "a callback without the attempt cookie of this browser is refused".
#[tokio::test]
async fn missing_attempt_cookie_is_refused() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, _, _) = begin(&h).await;
    let res = h
        .get(&format!(
            "/upstream/callback?code=c1&state={state}&iss={}",
            enc(&f.issuer)
        ))
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("no sign-in was started"), "{}", res.body);
}

/// Rule "RFC 9207: when the upstream promises iss, a response without it is refused".
#[tokio::test]
async fn missing_iss_when_required_is_refused() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, _, cookie) = begin(&h).await;
    let res = h
        .get_with_cookie(
            &format!("/upstream/callback?code=c1&state={state}"),
            &cookie,
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("no iss"), "{}", res.body);
}

/// Rule "an upstream error (access_denied) is a page of this server".
#[tokio::test]
async fn upstream_access_denied_is_a_page() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, _, cookie) = begin(&h).await;
    let uri = format!(
        "/upstream/callback?error=access_denied&state={state}&iss={}",
        enc(&f.issuer)
    );
    let res = h.get_with_cookie(&uri, &cookie).await;
    assert_eq!(res.status, 403);
    assert!(res.body.contains("access_denied"), "{}", res.body);
    assert!(res.header_value("location").is_none());
}

/// Rule "allowed_email_domains": another domain is refused, naming the rule.
#[tokio::test]
async fn email_domain_not_allowed_is_refused() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&h).await;
    let mut c = claims(&f, &nonce, "up-1");
    c["email"] = json!("mallory@evil.example");
    f.codes.lock().unwrap().insert("c1".into(), c);
    let res = callback(&h, &f, &state, &cookie, "c1").await;
    assert_eq!(res.status, 403);
    assert!(res.body.contains("allowed_email_domains"), "{}", res.body);
    assert!(!res.body.contains("evil.example"), "{}", res.body);
}

/// Rule "an unreachable upstream is a 503 page".
#[tokio::test]
async fn upstream_unreachable_is_a_503_page() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let h = harness(&issuer).await;
    let res = h.get(&authorize_query("")).await;
    assert_eq!(res.status, 503, "{}", res.body);
    assert!(res.header_value("location").is_none());
}
