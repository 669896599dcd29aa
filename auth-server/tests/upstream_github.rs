//! Sign-in through GitHub (`[[upstream_idps]] kind = "github"`, issue 23), end to end in
//! process against a local fake of GitHub's endpoints on loopback: the OAuth authorize and
//! token endpoints (which, like GitHub, answer a refused code with `200` and an `error`
//! member, and check PKCE) and the REST API's `/user` and `/user/emails`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use mcp_auth_server::config::UpstreamIdpConfig;
use serde_json::{Value, json};

const GITHUB_CLIENT_ID: &str = "Iv1.mcp-auth";
const GITHUB_SECRET: &str = "gh-client-secret";

/// One pending GitHub authorization: the PKCE challenge it was started with, and the account
/// and addresses its access token reads.
#[derive(Clone)]
struct Grant {
    challenge: String,
    user: Value,
    emails: Value,
}

/// The fake GitHub: web endpoints at `base`, the API at `{base}/api`.
#[derive(Clone)]
struct FakeGitHub {
    base: String,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

async fn start_github() -> FakeGitHub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fake = FakeGitHub {
        base,
        grants: Arc::default(),
    };
    let app = Router::new()
        .route("/login/oauth/access_token", post(access_token))
        .route("/api/user", get(user))
        .route("/api/user/emails", get(emails))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

/// GitHub's token endpoint: credentials in the form, PKCE checked, errors with `200`.
async fn access_token(
    State(f): State<FakeGitHub>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    let refused = |e: &str| Json(json!({"error": e, "error_description": "refused"}));
    assert_eq!(headers["accept"], "application/json");
    if form.get("client_id").map(String::as_str) != Some(GITHUB_CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(GITHUB_SECRET)
    {
        return refused("incorrect_client_credentials");
    }
    if form.get("redirect_uri").map(String::as_str) != Some(&format!("{ISSUER}/upstream/callback"))
    {
        return refused("redirect_uri_mismatch");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = f.grants.lock().unwrap().get(&code).cloned() else {
        return refused("bad_verification_code");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if s256(&verifier) != grant.challenge {
        return refused("bad_verification_code");
    }
    Json(
        json!({"access_token": format!("gho_{code}"), "token_type": "bearer",
                "scope": "read:user,user:email"}),
    )
}

fn s256(verifier: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The grant of a request's `Authorization: Bearer gho_<code>`, checking the headers GitHub's
/// API requires (a `User-Agent`) and documents (its media type).
fn grant_of(f: &FakeGitHub, headers: &HeaderMap) -> Result<Grant, StatusCode> {
    assert!(
        headers.contains_key("user-agent"),
        "GitHub requires a User-Agent"
    );
    assert_eq!(headers["accept"], "application/vnd.github+json");
    let code = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer gho_"))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    f.grants
        .lock()
        .unwrap()
        .get(code)
        .cloned()
        .ok_or(StatusCode::UNAUTHORIZED)
}

async fn user(State(f): State<FakeGitHub>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    grant_of(&f, &headers).map(|g| Json(g.user))
}

async fn emails(
    State(f): State<FakeGitHub>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    grant_of(&f, &headers).map(|g| Json(g.emails))
}

fn github(f: &FakeGitHub) -> UpstreamIdpConfig {
    let mut c: UpstreamIdpConfig = serde_json::from_value(json!({
        "name": "github", "display_name": "GitHub", "kind": "github",
        "issuer": f.base, "github_api_url": format!("{}/api", f.base),
        "client_id": GITHUB_CLIENT_ID, "insecure_allow_http_loopback": true,
        "allowed_email_domains": ["acme.example"],
        "claims_to_tokens": ["login"],
    }))
    .unwrap();
    c.client_secret = Some(mcp_auth_core::Secret::new(GITHUB_SECRET));
    c
}

async fn harness(f: &FakeGitHub) -> Harness {
    let mut s = settings(ISSUER);
    s.signin.passwords = false;
    let configs = vec![github(f)];
    Harness::build(s, move |b| {
        let clock: Arc<dyn mcp_auth_core::Clock> = Arc::new(mcp_auth_core::FixedClock::new(NOW));
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await
}

/// `/authorize` goes to GitHub's authorize endpoint with PKCE S256 and GitHub's scopes (no
/// OpenID `nonce`); the fake learns the challenge for `code`, with the account and addresses
/// it will report. Returns `(state, attempt cookie)`.
async fn begin(
    h: &Harness,
    f: &FakeGitHub,
    code: &str,
    user: Value,
    emails: Value,
) -> (String, String) {
    let res = h.get(&authorize_query("")).await;
    assert_eq!(res.status, 302, "{}", res.body);
    let location = res.location();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        format!("{}/login/oauth/authorize", f.base)
    );
    let q: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], GITHUB_CLIENT_ID);
    assert_eq!(q["scope"], "read:user user:email");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q.contains_key("nonce"), "{location}");
    let grant = Grant {
        challenge: q["code_challenge"].clone(),
        user,
        emails,
    };
    f.grants.lock().unwrap().insert(code.into(), grant);
    (q["state"].clone(), session_cookie(&res))
}

fn octocat() -> Value {
    json!({"login": "octocat", "id": 583231, "name": "The Octocat", "type": "User"})
}

fn session_of(res: &TestResponse) -> String {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-mcp_auth_session_"))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// The happy path: GitHub's verified primary address in an allowed domain signs the user in
/// just in time, keyed by (GitHub, account id) — not by login or address; consent approved,
/// the code redeemed for a token with the local `sub` and the copied `login`.
#[tokio::test]
async fn github_sign_in_creates_a_user_keyed_by_account_id() {
    let f = start_github().await;
    let h = harness(&f).await;
    let emails = json!([
        {"email": "octo@personal.example", "primary": false, "verified": true, "visibility": null},
        {"email": "octocat@acme.example", "primary": true, "verified": true, "visibility": "private"},
    ]);
    let (state, cookie) = begin(&h, &f, "gh1", octocat(), emails).await;
    let consent = h
        .get_with_cookie(
            &format!("/upstream/callback?code=gh1&state={state}"),
            &cookie,
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("The Octocat"), "{}", consent.body);
    let users = h.stores.users.list_federated().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].upstream_issuer, f.base);
    assert_eq!(users[0].upstream_sub, "583231");
    assert_eq!(users[0].email.as_deref(), Some("octocat@acme.example"));

    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    let approved = h
        .post_form_with_cookie("/authorize/consent", &form, &session_of(&consent))
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let code = approved
        .location()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let res = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let at = res.access_token_claims();
    assert_eq!(at["sub"], json!(users[0].sub));
    assert_eq!(at["login"], json!("octocat"));
}

/// Rule "`allowed_email_domains` needs a verified address": GitHub's primary address is not
/// verified (another address is), so the sign-in is refused with a page naming the rule.
#[tokio::test]
async fn github_unverified_primary_email_is_refused() {
    let f = start_github().await;
    let h = harness(&f).await;
    let emails = json!([
        {"email": "octocat@acme.example", "primary": true, "verified": false},
        {"email": "other@acme.example", "primary": false, "verified": true},
    ]);
    let (state, cookie) = begin(&h, &f, "gh1", octocat(), emails).await;
    let res = h
        .get_with_cookie(
            &format!("/upstream/callback?code=gh1&state={state}"),
            &cookie,
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(
        res.body
            .contains("allowed_email_domains needs a verified email"),
        "{}",
        res.body
    );
    assert!(!res.body.contains("octocat@"), "{}", res.body);
    assert!(h.stores.users.list_federated().await.unwrap().is_empty());
}

/// Rule "a code GitHub refuses is a page": GitHub answers `200` with `error`; no user, no
/// redirect to the MCP client.
#[tokio::test]
async fn github_refused_code_is_a_page() {
    let f = start_github().await;
    let h = harness(&f).await;
    let (state, cookie) = begin(&h, &f, "gh1", octocat(), json!([])).await;
    let res = h
        .get_with_cookie(
            &format!("/upstream/callback?code=not-issued&state={state}"),
            &cookie,
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("refused the sign-in"), "{}", res.body);
    assert!(res.header_value("location").is_none());
    assert!(h.stores.users.list_federated().await.unwrap().is_empty());
}
