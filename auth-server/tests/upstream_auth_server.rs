//! Sign-in through another `auth-server` (issue 23): two authorization servers, the upstream
//! one serving its OpenID Connect sign-in on a loopback socket (discovery, JWKS, token
//! endpoint), the one under test taking its users through it. The browser's part at both is
//! driven through each server's router.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use mcp_auth_conformance::server::{InProcessServer, resources};
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_core::store::User;
use mcp_auth_server::ServerSettings;
use mcp_auth_server::config::UpstreamIdpConfig;
use serde_json::json;

const AS_CLIENT: &str = "downstream-as";
const AS_SECRET: &str = "downstream-as-secret-0123456789";
/// Our server's client at the upstream that authenticates with `private_key_jwt` (issue 23).
const KEY_CLIENT: &str = "downstream-as-key";

/// The upstream `auth-server` on a loopback socket: OpenID Connect on, a default resource (our
/// server sends none), the user `bob`, and our server registered as a confidential client whose
/// redirect URI is our `/upstream/callback`.
async fn upstream_server() -> (InProcessServer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let registry = resources(&[(RESOURCE, "mcp:basic", "mcp:basic")], Some(RESOURCE)).unwrap();
    let mut s = ServerSettings::new(issuer.parse().unwrap(), registry);
    s.openid_connect = true;
    let up = InProcessServer::start(s, |b| b).await.unwrap();
    let client = mcp_auth_conformance::server::client(
        AS_CLIENT,
        TokenEndpointAuthMethod::ClientSecretBasic,
        Some(AS_SECRET),
        &["authorization_code"],
        &[&format!("{ISSUER}/upstream/callback")],
    );
    up.stores.clients.put(&client).await.unwrap();
    let hash = mcp_auth_server::web::password::hash_password(PASSWORD).unwrap();
    let bob = User {
        sub: "bob-at-upstream".into(),
        username: "bob".into(),
        password_hash: hash,
    };
    up.stores.users.put(&bob).await.unwrap();
    up.serve(listener);
    (up, issuer)
}

/// Our configuration for the upstream `auth-server` (`scopes = ["openid"]`: `auth-server`
/// defines no `email` or `profile` scope), authenticating with the client secret.
fn secret_upstream(upstream_issuer: &str) -> UpstreamIdpConfig {
    let mut c: UpstreamIdpConfig = serde_json::from_value(json!({
        "name": "corp", "display_name": "Corp auth-server", "issuer": upstream_issuer,
        "client_id": AS_CLIENT, "scopes": ["openid"], "insecure_allow_http_loopback": true,
    }))
    .unwrap();
    c.client_secret = Some(mcp_auth_core::Secret::new(AS_SECRET));
    c
}

/// As [`secret_upstream`], authenticating as `KEY_CLIENT` with `private_key_jwt`.
fn key_upstream(upstream_issuer: &str) -> UpstreamIdpConfig {
    serde_json::from_value(json!({
        "name": "corp", "display_name": "Corp auth-server", "issuer": upstream_issuer,
        "client_id": KEY_CLIENT, "client_auth": "private_key_jwt", "scopes": ["openid"],
        "insecure_allow_http_loopback": true,
    }))
    .unwrap()
}

/// Our server, with the upstream `auth-server` of `config` as its only way to sign in.
async fn our_server(config: UpstreamIdpConfig) -> Harness {
    let mut s = settings(ISSUER);
    s.signin.passwords = false;
    let configs = vec![config];
    Harness::build(s, move |b| {
        let clock: Arc<dyn mcp_auth_core::Clock> = Arc::new(mcp_auth_core::FixedClock::new(NOW));
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await
}

/// Register `KEY_CLIENT` at the upstream: `private_key_jwt` with `jwks` as its keys, our
/// `/upstream/callback` as its redirect URI.
async fn register_key_client(up: &InProcessServer, jwks: serde_json::Value) {
    let mut client = mcp_auth_conformance::server::client(
        KEY_CLIENT,
        TokenEndpointAuthMethod::PrivateKeyJwt,
        None,
        &["authorization_code"],
        &[&format!("{ISSUER}/upstream/callback")],
    );
    client.jwks = Some(jwks);
    up.stores.clients.put(&client).await.unwrap();
}

/// The `name=value` of the session cookie `res` sets (either server's).
fn session_of(res: &TestResponse) -> String {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("mcp_auth_session_"))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", res.headers))
        .to_owned()
}

/// `path?query` of an absolute URL.
fn path_and_query(url: &url::Url) -> String {
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// Approve `consent` (a consent page of `server`) with `cookie`: the redirect's URL.
async fn approve(server: &InProcessServer, consent: &TestResponse, cookie: &str) -> url::Url {
    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    let res = server
        .post_form_with_cookie("/authorize/consent", &form, cookie)
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    res.location()
}

/// Bob signs in at the upstream `auth-server` with his password and approves there; our server
/// verifies the upstream's ID token (its JWKS over the socket), creates a local user keyed by
/// (upstream issuer, `bob-at-upstream`), and after consent issues a code whose access token
/// names the local `sub`.
#[tokio::test]
async fn auth_server_signs_users_in_through_another_auth_server() {
    let (up, up_issuer) = upstream_server().await;
    let ours = our_server(secret_upstream(&up_issuer)).await;
    let consent = bob_signs_in_upstream(&up, &up_issuer, &ours).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    finish_as_bob(&ours, &up_issuer, &consent).await;
}

/// Issue 23, `client_auth = "private_key_jwt"`: our server redeems the upstream's code with a
/// client assertion signed by its own key (RFC 7523 §2.2); the upstream, which knows our
/// client only by our JWK Set, accepts it, and bob signs in as with a secret.
#[tokio::test]
async fn private_key_jwt_authenticates_at_the_upstream_with_our_signing_key() {
    let (up, up_issuer) = upstream_server().await;
    let ours = our_server(key_upstream(&up_issuer)).await;
    let jwks = ours.get("/jwks").await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    register_key_client(&up, serde_json::from_str(&jwks.body).unwrap()).await;
    let consent = bob_signs_in_upstream(&up, &up_issuer, &ours).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    finish_as_bob(&ours, &up_issuer, &consent).await;
}

/// The negative: when the upstream holds another key for our client, it refuses our assertion
/// (`invalid_client`), and the sign-in ends on a refusal page: no user, no code.
#[tokio::test]
async fn private_key_jwt_refused_by_an_upstream_holding_another_key() {
    let (up, up_issuer) = upstream_server().await;
    let ours = our_server(key_upstream(&up_issuer)).await;
    let (other, _) = mcp_auth_core::jose::Es256Signer::generate().unwrap();
    register_key_client(
        &up,
        json!({"keys": [other.public_jwk(Some(other.thumbprint()))]}),
    )
    .await;
    let refused = bob_signs_in_upstream(&up, &up_issuer, &ours).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("the identity provider refused the sign-in"),
        "{}",
        refused.body
    );
    assert!(ours.stores.users.list_federated().await.unwrap().is_empty());
}

/// Bob, at our `/authorize`, is sent to the upstream, signs in there with his password and
/// approves; the upstream sends him back to our callback with `iss`. Our answer to the
/// callback (the consent page when the sign-in succeeded).
async fn bob_signs_in_upstream(
    up: &InProcessServer,
    up_issuer: &str,
    ours: &Harness,
) -> TestResponse {
    let start = ours.get(&authorize_query("")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let attempt = session_cookie(&start);
    let to_upstream = start.location();
    assert!(
        to_upstream
            .as_str()
            .starts_with(&format!("{up_issuer}/authorize?"))
    );
    let q: HashMap<_, _> = to_upstream.query_pairs().into_owned().collect();
    assert!(
        q["scope"].split(' ').any(|s| s == "openid"),
        "{to_upstream}"
    );

    let login = up.get(&path_and_query(&to_upstream)).await;
    assert_eq!(
        login.status,
        200,
        "{:?} {}",
        login.header_value("location"),
        login.body
    );
    let form = format!(
        "csrf_token={}&request={}&username=bob&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
        enc(PASSWORD)
    );
    let up_consent = up
        .post_form_with_cookie("/authorize/login", &form, &session_of(&login))
        .await;
    assert_eq!(
        up_consent.status, 200,
        "{:?} {}",
        up_consent.headers, up_consent.body
    );
    let back = approve(up, &up_consent, &session_of(&up_consent)).await;
    assert!(
        back.as_str()
            .starts_with(&format!("{ISSUER}/upstream/callback?")),
        "{back}"
    );
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "iss" && v == up_issuer)
    );

    ours.get_with_cookie(&path_and_query(&back), &attempt).await
}

/// After the callback's `consent` page: our server made one federated user keyed by
/// (upstream issuer, `bob-at-upstream`); approving issues a code whose access token names the
/// local `sub`.
async fn finish_as_bob(ours: &Harness, up_issuer: &str, consent: &TestResponse) {
    let users = ours.stores.users.list_federated().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].upstream_issuer, up_issuer);
    assert_eq!(users[0].upstream_sub, "bob-at-upstream");

    let done = approve(ours, consent, &session_of(consent)).await;
    assert!(done.as_str().starts_with(REDIRECT), "{done}");
    let code = done
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let res = ours.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let at = res.access_token_claims();
    assert_eq!(at["sub"], json!(users[0].sub));
    assert_eq!(at["iss"], json!(ISSUER));
}
