//! Sign-in through an upstream OpenID Provider (issue 23), end to end in process: the server
//! under test (oneshot, fixed clock) and a fake OpenID Provider on loopback (discovery, JWKS,
//! token) whose ID tokens are signed with auth-core's `Es256Signer`.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use mcp_auth_core::FixedClock;
use mcp_auth_core::jose::Es256Signer;
use mcp_auth_server::config::UpstreamIdpConfig;
use serde_json::{Value, json};

const CLIENT_ID: &str = "mcp-auth";

/// What the fake's token endpoint answers for one code: the ID token, and what its userinfo
/// endpoint answers for that code's access token (`401` when `None`).
#[derive(Clone)]
struct Issued {
    id_token: String,
    userinfo: Option<Value>,
}

/// The fake upstream: the ID token of each code, its published keys, and how often its JWK
/// Set was fetched.
#[derive(Clone)]
struct Fake {
    issuer: String,
    signer: Arc<Es256Signer>,
    published: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
    iss_supported: bool,
    codes: Arc<Mutex<HashMap<String, Issued>>>,
}

async fn start_fake() -> Fake {
    start_fake_with(true).await
}

/// A fake whose metadata says `authorization_response_iss_parameter_supported = iss_supported`.
async fn start_fake_with(iss_supported: bool) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (signer, _) = Es256Signer::generate().unwrap();
    let fake = Fake {
        issuer,
        published: Arc::new(Mutex::new(vec![signer.public_jwk(Some("k1"))])),
        signer: Arc::new(signer),
        jwks_fetches: Arc::default(),
        iss_supported,
        codes: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

async fn discovery(State(f): State<Fake>) -> Json<Value> {
    Json(json!({
        "issuer": f.issuer,
        "authorization_endpoint": format!("{}/authorize", f.issuer),
        "token_endpoint": format!("{}/token", f.issuer),
        "userinfo_endpoint": format!("{}/userinfo", f.issuer),
        "jwks_uri": format!("{}/jwks", f.issuer),
        "authorization_response_iss_parameter_supported": f.iss_supported,
    }))
}

async fn jwks(State(f): State<Fake>) -> Json<Value> {
    f.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({"keys": f.published.lock().unwrap().clone()}))
}

async fn token(
    State(f): State<Fake>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(issued) = f.codes.lock().unwrap().get(&form["code"]).cloned() else {
        let body = Json(json!({"error": "invalid_grant"}));
        return (axum::http::StatusCode::BAD_REQUEST, body).into_response();
    };
    let access_token = format!("at-{}", form["code"]);
    Json(json!({"access_token": access_token, "token_type": "Bearer", "id_token": issued.id_token}))
        .into_response()
}

async fn userinfo(
    State(f): State<Fake>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let code = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer at-"))
        .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
    let codes = f.codes.lock().unwrap();
    let info = codes.get(code).and_then(|i| i.userinfo.clone());
    info.map(Json).ok_or(axum::http::StatusCode::UNAUTHORIZED)
}

impl Fake {
    /// An ID token of `claims` signed with the published key `k1`.
    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": "k1", "typ": "JWT"});
        self.signer.sign_compact(&header, claims).unwrap()
    }

    /// Make the token endpoint answer `code` with `id_token` (and no userinfo).
    fn issue(&self, code: &str, id_token: String) {
        self.issue_with_userinfo(code, id_token, None);
    }

    fn issue_with_userinfo(&self, code: &str, id_token: String, userinfo: Option<Value>) {
        let issued = Issued { id_token, userinfo };
        self.codes.lock().unwrap().insert(code.into(), issued);
    }
}

/// `header.payload.` with no signature (RFC 7519 §6, an "unsecured JWT").
fn unsecured(header: &Value, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.", b64(header), b64(claims))
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

/// The server under test and the clock its upstream's key cache reads (advance both with
/// [`Env::advance`]).
struct Env {
    h: Harness,
    upstream_clock: Arc<FixedClock>,
}

impl std::ops::Deref for Env {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Env {
    fn advance(&self, seconds: i64) {
        self.h.clock.advance(seconds);
        self.upstream_clock.advance(seconds);
    }

    fn now(&self) -> i64 {
        use mcp_auth_core::Clock;
        self.h.clock.now()
    }
}

/// A harness with one upstream at `issuer` and password sign-in off.
async fn harness(issuer: &str) -> Env {
    harness_with(issuer, |_| {}).await
}

/// [`harness`] with the upstream's settings changed by `change`.
async fn harness_with(issuer: &str, change: impl FnOnce(&mut UpstreamIdpConfig)) -> Env {
    let mut s = settings(ISSUER);
    s.signin.passwords = false;
    let mut config = upstream(issuer);
    change(&mut config);
    let configs = vec![config];
    let upstream_clock = Arc::new(FixedClock::new(NOW));
    let clock: Arc<dyn mcp_auth_core::Clock> = upstream_clock.clone();
    let h = Harness::build(s, move |b| {
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await;
    Env { h, upstream_clock }
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

/// Good ID token claims for `sub` with `nonce`, issued at `NOW`.
fn claims(f: &Fake, nonce: &str, sub: &str) -> Value {
    claims_at(f, nonce, sub, NOW)
}

/// Good ID token claims for `sub` with `nonce`, issued at `now`.
fn claims_at(f: &Fake, nonce: &str, sub: &str, now: i64) -> Value {
    json!({
        "iss": f.issuer, "aud": CLIENT_ID, "sub": sub, "nonce": nonce,
        "iat": now, "exp": now + 300,
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

/// One sign-in whose ID token has `claims` changed by `change`: the callback's response.
async fn sign_in_with(env: &Env, f: &Fake, change: impl FnOnce(&mut Value)) -> TestResponse {
    let (state, nonce, cookie) = begin(env).await;
    let mut c = claims_at(f, &nonce, "up-1", env.now());
    change(&mut c);
    f.issue("c1", f.sign(&c));
    callback(env, f, &state, &cookie, "c1").await
}

/// The response is a refusal page with `status` naming `rule`, no redirect, and no user was
/// created.
async fn assert_refused(env: &Env, res: &TestResponse, status: u16, rule: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert!(res.body.contains(rule), "{rule:?} not in {}", res.body);
    assert!(res.header_value("location").is_none());
    assert!(env.stores.users.list_federated().await.unwrap().is_empty());
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
        f.issue(code, f.sign(&claims(&f, &nonce, "up-1")));
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

/// Issue 25 §2: an upstream sign-in is recorded as `sign_in` naming the upstream: success with
/// the local user, and a refusal with its reason class (here the replayed state). Neither the
/// code, the state, the nonce, the ID token nor the upstream client secret is in the trail.
#[tokio::test]
async fn upstream_sign_ins_are_audited_with_the_upstream_and_reason() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&h).await;
    let id_token = f.sign(&claims(&f, &nonce, "up-1"));
    f.issue("code-audit-1", id_token.clone());
    assert_eq!(
        callback(&h, &f, &state, &cookie, "code-audit-1")
            .await
            .status,
        200
    );
    assert_eq!(
        callback(&h, &f, &state, &cookie, "code-audit-1")
            .await
            .status,
        400
    );
    let rows = h
        .stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let events: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    let sign_ins: Vec<&Value> = events.iter().filter(|e| e["kind"] == "sign_in").collect();
    assert_eq!(sign_ins.len(), 2, "{events:?}");
    let user = &h.stores.users.list_federated().await.unwrap()[0];
    assert_eq!(sign_ins[0]["outcome"], "success");
    assert_eq!(sign_ins[0]["sub"], user.sub.as_str());
    assert_eq!(sign_ins[0]["upstream"], "acme");
    assert_eq!(sign_ins[0]["reason"], Value::Null);
    assert_eq!(sign_ins[1]["outcome"], "failure");
    assert_eq!(sign_ins[1]["sub"], Value::Null);
    assert_eq!(sign_ins[1]["upstream"], "acme");
    assert_eq!(sign_ins[1]["reason"], "state_replayed");
    let text: String = rows.iter().map(|r| r.data.as_str()).collect();
    for secret in [
        "code-audit-1",
        state.as_str(),
        nonce.as_str(),
        id_token.as_str(),
        "s3cret",
    ] {
        assert!(!text.contains(secret), "a credential in the audit trail");
    }
}

/// A callback without the attempt cookie is recorded as a failed sign-in with no upstream
/// (the browser named none) and reason `missing_attempt`.
#[tokio::test]
async fn an_upstream_callback_without_attempt_is_audited_as_a_failure() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, _, _) = begin(&h).await;
    let res = h
        .get(&format!(
            "/upstream/callback?code=c1&state={state}&iss={}",
            enc(&f.issuer)
        ))
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    let rows = h
        .stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let last: Value = serde_json::from_str(&rows.last().unwrap().data).unwrap();
    assert_eq!(last["kind"], "sign_in");
    assert_eq!(last["outcome"], "failure");
    assert_eq!(last["reason"], "missing_attempt");
    assert_eq!(last["upstream"], Value::Null);
}

/// Rule "state is single use": the same callback again is a page, not a second sign-in.
#[tokio::test]
async fn replayed_state_is_refused_with_a_page() {
    let f = start_fake().await;
    let h = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&h).await;
    f.issue("c1", f.sign(&claims(&f, &nonce, "up-1")));
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
    f.issue("c1", f.sign(&claims(&f, "another-nonce", "up-1")));
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
    f.issue("c1", f.sign(&c));
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

/// Rule "the ID token's `aud` contains our client id" (OIDC Core §3.1.3.7 step 3).
#[tokio::test]
async fn wrong_audience_in_id_token_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let res = sign_in_with(&env, &f, |c| c["aud"] = json!("another-client")).await;
    assert_refused(&env, &res, 400, "the ID token is for another client").await;
}

/// Rule "with several audiences, `azp` is our client id" (OIDC Core §3.1.3.7 steps 4–5).
#[tokio::test]
async fn several_audiences_without_our_azp_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let res = sign_in_with(&env, &f, |c| {
        c["aud"] = json!([CLIENT_ID, "another-client"]);
        c["azp"] = json!("another-client");
    })
    .await;
    assert_refused(&env, &res, 400, "the ID token is for another client").await;
}

/// Rule "the ID token's `iss` is the upstream's issuer" (OIDC Core §3.1.3.7 step 2).
#[tokio::test]
async fn wrong_issuer_in_id_token_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let res = sign_in_with(&env, &f, |c| c["iss"] = json!("https://idp.evil.example")).await;
    assert_refused(&env, &res, 400, "the ID token is from another issuer").await;
}

/// Rule "an expired ID token is refused" (OIDC Core §3.1.3.7 step 9), beyond the clock skew.
#[tokio::test]
async fn expired_id_token_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let now = env.now();
    let res = sign_in_with(&env, &f, |c| {
        c["iat"] = json!(now - 600);
        c["exp"] = json!(now - 61);
    })
    .await;
    assert_refused(&env, &res, 400, "the ID token has expired").await;
}

/// Rule "an ID token without `exp` is refused" (an odd shape of the expiry rule).
#[tokio::test]
async fn id_token_without_exp_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let res = sign_in_with(&env, &f, |c| {
        c.as_object_mut().unwrap().remove("exp");
    })
    .await;
    assert_refused(&env, &res, 400, "the ID token has expired").await;
}

/// Rule "`alg: none` is never accepted" (RFC 8725 §3.1): an unsecured ID token is refused.
#[tokio::test]
async fn alg_none_id_token_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&env).await;
    let c = claims(&f, &nonce, "up-1");
    f.issue("c1", unsecured(&json!({"alg": "none", "typ": "JWT"}), &c));
    let res = callback(&env, &f, &state, &cookie, "c1").await;
    assert_refused(&env, &res, 400, "signature algorithm is not allowed").await;
}

/// Rule "`HS*` is never accepted" (RFC 8725 §3.1): an ID token MACed with the client secret,
/// a key the upstream and we share, is refused.
#[tokio::test]
async fn hs256_id_token_is_refused() {
    use base64::Engine;
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&env).await;
    let unsigned = unsecured(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &claims(&f, &nonce, "up-1"),
    );
    let input = unsigned.trim_end_matches('.');
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret");
    let mac = ring::hmac::sign(&key, input.as_bytes());
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref());
    f.issue("c1", format!("{input}.{mac}"));
    let res = callback(&env, &f, &state, &cookie, "c1").await;
    assert_refused(&env, &res, 400, "signature algorithm is not allowed").await;
}

/// Rule "an unknown `kid` makes the JWK Set be fetched again, and a key still not there is a
/// refusal": signed by a key the upstream does not publish.
#[tokio::test]
async fn unknown_kid_is_refused_after_jwks_refetch() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let first = sign_in_with(&env, &f, |_| {}).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(f.jwks_fetches.load(Ordering::SeqCst), 1);
    env.advance(60);
    let (state, nonce, cookie) = begin(&env).await;
    let (stranger, _) = Es256Signer::generate().unwrap();
    let header = json!({"alg": "ES256", "kid": "k2", "typ": "JWT"});
    let c = claims_at(&f, &nonce, "up-2", env.now());
    f.issue("c2", stranger.sign_compact(&header, &c).unwrap());
    let res = callback(&env, &f, &state, &cookie, "c2").await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(
        res.body.contains("signature does not verify"),
        "{}",
        res.body
    );
    assert_eq!(f.jwks_fetches.load(Ordering::SeqCst), 2, "one refetch");
    assert_eq!(env.stores.users.list_federated().await.unwrap().len(), 1);
}

/// The other side of the refetch rule: a key the upstream rotated in after our fetch is found.
#[tokio::test]
async fn rotated_upstream_key_is_found_by_refetch() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    assert_eq!(sign_in_with(&env, &f, |_| {}).await.status, 200);
    let (rotated, _) = Es256Signer::generate().unwrap();
    f.published
        .lock()
        .unwrap()
        .push(rotated.public_jwk(Some("k2")));
    env.advance(60);
    let (state, nonce, cookie) = begin(&env).await;
    let header = json!({"alg": "ES256", "kid": "k2", "typ": "JWT"});
    let c = claims_at(&f, &nonce, "up-1", env.now());
    f.issue("c2", rotated.sign_compact(&header, &c).unwrap());
    let res = callback(&env, &f, &state, &cookie, "c2").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(f.jwks_fetches.load(Ordering::SeqCst), 2);
}

/// Rule "RFC 9207: when the upstream promises `iss`, the callback's `iss` must be its issuer".
#[tokio::test]
async fn mismatched_iss_parameter_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&env).await;
    f.issue("c1", f.sign(&claims(&f, &nonce, "up-1")));
    let uri = format!(
        "/upstream/callback?code=c1&state={state}&iss={}",
        enc("https://idp.evil.example")
    );
    let res = env.get_with_cookie(&uri, &cookie).await;
    assert_refused(&env, &res, 400, "from another issuer (iss)").await;
}

/// Rule "RFC 9207 §2.4: an `iss` that is present is always checked", also when the upstream
/// does not promise it.
#[tokio::test]
async fn mismatched_iss_is_refused_even_when_not_promised() {
    let f = start_fake_with(false).await;
    let env = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&env).await;
    f.issue("c1", f.sign(&claims(&f, &nonce, "up-1")));
    let uri = format!(
        "/upstream/callback?code=c1&state={state}&iss={}",
        enc(&format!("{}/other", f.issuer))
    );
    let res = env.get_with_cookie(&uri, &cookie).await;
    assert_refused(&env, &res, 400, "from another issuer (iss)").await;
}

/// When the upstream does not promise `iss`, a response without it is accepted.
#[tokio::test]
async fn missing_iss_when_not_promised_is_accepted() {
    let f = start_fake_with(false).await;
    let env = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&env).await;
    f.issue("c1", f.sign(&claims(&f, &nonce, "up-1")));
    let uri = format!("/upstream/callback?code=c1&state={state}");
    let res = env.get_with_cookie(&uri, &cookie).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// Rule "`allowed_email_domains` needs `email_verified = true`": an unverified address in an
/// allowed domain is refused.
#[tokio::test]
async fn email_not_verified_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let res = sign_in_with(&env, &f, |c| c["email_verified"] = json!(false)).await;
    assert_refused(
        &env,
        &res,
        403,
        "allowed_email_domains needs a verified email",
    )
    .await;
}

/// The same rule with an odd shape: `email_verified` as the string `"true"` is not `true`.
#[tokio::test]
async fn email_verified_as_a_string_is_refused() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let res = sign_in_with(&env, &f, |c| c["email_verified"] = json!("true")).await;
    assert_refused(
        &env,
        &res,
        403,
        "allowed_email_domains needs a verified email",
    )
    .await;
}

fn require_group(c: &mut UpstreamIdpConfig) {
    c.required_claims
        .insert("groups".into(), "mcp-users".into());
}

/// Rule "`required_claims`": a user outside the group is refused, naming the rule, not the
/// groups. The claim is not in the ID token, so userinfo is asked (OIDC Core §5.3).
#[tokio::test]
async fn required_group_missing_is_refused() {
    let f = start_fake().await;
    let env = harness_with(&f.issuer, require_group).await;
    let (state, nonce, cookie) = begin(&env).await;
    let info = json!({"sub": "up-1", "groups": ["secret-project"]});
    f.issue_with_userinfo("c1", f.sign(&claims(&f, &nonce, "up-1")), Some(info));
    let res = callback(&env, &f, &state, &cookie, "c1").await;
    assert_refused(&env, &res, 403, "required_claims.groups is not met").await;
    assert!(!res.body.contains("secret-project"), "{}", res.body);
}

/// The group from userinfo meets `required_claims` when userinfo names the same `sub`.
#[tokio::test]
async fn required_group_from_userinfo_is_accepted() {
    let f = start_fake().await;
    let env = harness_with(&f.issuer, require_group).await;
    let (state, nonce, cookie) = begin(&env).await;
    let info = json!({"sub": "up-1", "groups": ["x", "mcp-users"]});
    f.issue_with_userinfo("c1", f.sign(&claims(&f, &nonce, "up-1")), Some(info));
    let res = callback(&env, &f, &state, &cookie, "c1").await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// Rule "userinfo is merged only when its `sub` is the ID token's" (OIDC Core §5.3.2).
#[tokio::test]
async fn userinfo_of_another_subject_is_refused() {
    let f = start_fake().await;
    let env = harness_with(&f.issuer, require_group).await;
    let (state, nonce, cookie) = begin(&env).await;
    let info = json!({"sub": "someone-else", "groups": ["mcp-users"]});
    f.issue_with_userinfo("c1", f.sign(&claims(&f, &nonce, "up-1")), Some(info));
    let res = callback(&env, &f, &state, &cookie, "c1").await;
    assert_refused(&env, &res, 400, "userinfo names another subject").await;
}

/// The `name=value` of the session cookie a response sets (it may also clear the attempt
/// cookie).
fn our_session_cookie(res: &TestResponse) -> String {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-mcp_auth_session_"))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", res.headers))
        .to_owned()
}

/// Approve the consent page `consent` with the session `cookie`: the code of the redirect.
async fn approve(env: &Env, consent: &TestResponse, cookie: &str) -> String {
    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    let res = env
        .post_form_with_cookie("/authorize/consent", &form, cookie)
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.location();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code")
}

fn copy_email_and_groups(c: &mut UpstreamIdpConfig) {
    c.claims_to_tokens = vec!["email".into(), "groups".into(), "department".into()];
}

/// The whole way: the upstream sign-in, consent approved, the code redeemed for an access
/// token whose `sub` is the local stable `sub` (not the upstream's), carrying the
/// `claims_to_tokens` claims with their JSON types (`groups` from userinfo, an array); a claim
/// the upstream did not send is left out; a refresh keeps them.
#[tokio::test]
async fn upstream_user_gets_tokens_with_local_sub_and_copied_claims() {
    let f = start_fake().await;
    let env = harness_with(&f.issuer, copy_email_and_groups).await;
    let (state, nonce, cookie) = begin(&env).await;
    let info = json!({"sub": "up-1", "groups": ["mcp-users", "ops"]});
    f.issue_with_userinfo("c1", f.sign(&claims(&f, &nonce, "up-1")), Some(info));
    let consent = callback(&env, &f, &state, &cookie, "c1").await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let code = approve(&env, &consent, &our_session_cookie(&consent)).await;

    let res = env.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let users = env.stores.users.list_federated().await.unwrap();
    let local_sub = users[0].sub.clone();
    assert_ne!(local_sub, "up-1");
    let at = res.access_token_claims();
    assert_eq!(at["sub"], json!(local_sub));
    assert_eq!(at["iss"], json!(ISSUER));
    assert_eq!(at["aud"], json!(RESOURCE));
    assert_eq!(at["client_id"], json!(PUBLIC));
    assert_eq!(at["email"], json!("alice@acme.example"));
    assert_eq!(at["groups"], json!(["mcp-users", "ops"]));
    assert!(at.get("department").is_none(), "{at}");
    assert!(at.get("email_verified").is_none(), "not named: {at}");

    let refresh = res.json()["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let body = format!("grant_type=refresh_token&client_id={PUBLIC}&refresh_token={refresh}");
    let refreshed = env.token(&body).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let at = refreshed.access_token_claims();
    assert_eq!(at["sub"], json!(local_sub));
    assert_eq!(at["groups"], json!(["mcp-users", "ops"]));
    assert_eq!(at["email"], json!("alice@acme.example"));
}

/// Without `claims_to_tokens`, the access token carries no upstream claim.
#[tokio::test]
async fn upstream_claims_stay_out_of_tokens_unless_named() {
    let f = start_fake().await;
    let env = harness(&f.issuer).await;
    let (state, nonce, cookie) = begin(&env).await;
    f.issue("c1", f.sign(&claims(&f, &nonce, "up-1")));
    let consent = callback(&env, &f, &state, &cookie, "c1").await;
    let code = approve(&env, &consent, &our_session_cookie(&consent)).await;
    let res = env.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let at = res.access_token_claims();
    for claim in ["email", "name", "email_verified", "nonce"] {
        assert!(at.get(claim).is_none(), "{claim} in {at}");
    }
}

/// Rule "copied claims are bounded": claims over 2 KiB (they travel in the session cookie and
/// every token) refuse the sign-in with a page naming `claims_to_tokens`.
#[tokio::test]
async fn oversized_claims_to_tokens_are_refused() {
    let f = start_fake().await;
    let env = harness_with(&f.issuer, copy_email_and_groups).await;
    let (state, nonce, cookie) = begin(&env).await;
    let groups: Vec<String> = (0..200).map(|i| format!("group-number-{i}")).collect();
    let info = json!({"sub": "up-1", "groups": groups});
    f.issue_with_userinfo("c1", f.sign(&claims(&f, &nonce, "up-1")), Some(info));
    let res = callback(&env, &f, &state, &cookie, "c1").await;
    assert_refused(&env, &res, 400, "claims_to_tokens").await;
}

/// Rule "the sign-in page does not wait on an unreachable upstream": an upstream whose port
/// accepts connections and never answers costs the first page at most the bounded wait, and
/// the next page nothing (the failure is remembered); the page still shows its button.
#[tokio::test]
async fn login_page_does_not_wait_for_a_silent_upstream() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", silent.local_addr().unwrap());
    let configs = vec![upstream(&issuer)];
    let h = Harness::build(settings(ISSUER), move |b| {
        let clock: Arc<dyn mcp_auth_core::Clock> = Arc::new(FixedClock::new(NOW));
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await;
    let started = std::time::Instant::now();
    let first = h.get(&authorize_query("")).await;
    let first_took = started.elapsed();
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("Acme SSO"), "{}", first.body);
    assert!(first.body.contains("name=\"password\""), "{}", first.body);
    assert!(
        first_took < std::time::Duration::from_secs(3),
        "took {first_took:?}"
    );
    let started = std::time::Instant::now();
    let second = h.get(&authorize_query("")).await;
    assert_eq!(second.status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    drop(silent);
}

/// A harness with two upstreams, `acme` at `a` and `beta` at `b`, and password sign-in off.
async fn harness_two(a: &str, b: &str) -> Env {
    let mut s = settings(ISSUER);
    s.signin.passwords = false;
    let mut second = upstream(b);
    second.name = "beta".to_owned();
    second.display_name = "Beta ID".to_owned();
    let configs = vec![upstream(a), second];
    let upstream_clock = Arc::new(FixedClock::new(NOW));
    let clock: Arc<dyn mcp_auth_core::Clock> = upstream_clock.clone();
    let h = Harness::build(s, move |b| {
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await;
    Env { h, upstream_clock }
}

/// One sign-in through the upstream `name` (its button on the sign-in page) at the fake `f`,
/// whose ID token names `sub`: the callback's response.
async fn sign_in_through(env: &Env, name: &str, f: &Fake, sub: &str, code: &str) -> TestResponse {
    let page = env.get(&authorize_query("")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let form = format!(
        "csrf_token={}&request={}&upstream={name}",
        enc(&hidden(&page.body, "csrf_token")),
        enc(&hidden(&page.body, "request")),
    );
    let started = env
        .post_form_with_cookie("/authorize/upstream", &form, &session_cookie(&page))
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let location = started.location();
    let q: HashMap<_, _> = location.query_pairs().into_owned().collect();
    f.issue(code, f.sign(&claims(f, &q["nonce"], sub)));
    callback(env, f, &q["state"], &session_cookie(&started), code).await
}

/// Rule "two upstreams with the same email are two users unless an operator links them": a
/// sign-in through a second upstream is a new user, whatever its email; once the operator links
/// an identity at the second upstream to the first user, a sign-in with it is that user (the
/// same local `sub`), and the user has both identities.
#[tokio::test]
async fn linked_second_upstream_signs_in_the_same_user() {
    let (a, b) = (start_fake().await, start_fake().await);
    let env = harness_two(&a.issuer, &b.issuer).await;
    let res = sign_in_through(&env, "acme", &a, "a-1", "c1").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let users = &env.stores.users;
    let first = users
        .get_federated(&a.issuer, "a-1")
        .await
        .unwrap()
        .unwrap();

    let res = sign_in_through(&env, "beta", &b, "b-0", "c2").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let unlinked = users
        .get_federated(&b.issuer, "b-0")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(unlinked.sub, first.sub, "same email, not linked: two users");

    users
        .link_federated(&first.username, &b.issuer, "b-1")
        .await
        .unwrap()
        .unwrap();
    let res = sign_in_through(&env, "beta", &b, "b-1", "c3").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let linked = users
        .get_federated(&b.issuer, "b-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.sub, first.sub);
    let federated = users.list().await.unwrap();
    let federated = federated.iter().filter(|u| u.password_hash.is_empty());
    assert_eq!(federated.count(), 2, "the linked user and the unlinked one");
    let mut identities: Vec<_> = users
        .list_federated()
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.sub == first.sub)
        .map(|f| f.upstream_sub)
        .collect();
    identities.sort();
    assert_eq!(identities, vec!["a-1", "b-1"]);
}
