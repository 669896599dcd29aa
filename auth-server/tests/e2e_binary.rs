//! End-to-end: the real `auth-server` binary on an ephemeral loopback port, driven by a client
//! built on the `oauth2` crate and a browser-like HTTP client (cookie jar, no redirects).
//!
//! Covers: dynamic registration, sign-in and consent through the HTML forms with CSRF tokens,
//! code redemption with PKCE, JWT verification against `/jwks` (`aud`, `iss`, `typ`), refresh
//! rotation, reuse of a spent refresh token and replay of a code (both fail and revoke), and a
//! restart that loses no client, user, key or refresh token.

mod binary;

use binary::{REDIRECT, RESOURCE, Server, Setup, browser, hidden, http, register_public_client};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};

/// A configuration with the scopes the flow asks for (`mcp:tools`).
fn setup() -> Setup {
    Setup::with_config(|dir| {
        format!(
            r#"bind = "127.0.0.1:0"
database = "{db}"
default_resource = "{RESOURCE}"

[[resources]]
resource = "{RESOURCE}"
scopes = ["mcp:basic", "mcp:tools", "files:write"]
default_scopes = ["mcp:basic"]
"#,
            db = dir.join("auth.db").display()
        )
    })
}

fn query_param(url: &str, name: &str) -> Vec<String> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn oauth_client(
    base: &str,
    client_id: &str,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap())
}

/// Runs the browser part of one authorization: returns the code. Signs in when the page asks.
async fn authorize(
    browser: &reqwest::Client,
    base: &str,
    client_id: &str,
    challenge: PkceCodeChallenge,
) -> String {
    let client = oauth_client(base, client_id);
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("mcp:tools".into()))
        .add_scope(Scope::new("mcp:basic".into()))
        .add_extra_param("resource", RESOURCE)
        .set_pkce_challenge(challenge)
        .url();
    let mut res = browser.get(url.as_str()).send().await.unwrap();
    for _ in 0..4 {
        match res.status().as_u16() {
            302 | 303 => {
                let location = res.headers()["location"].to_str().unwrap().to_owned();
                if location.starts_with(REDIRECT) {
                    assert_eq!(
                        query_param(&location, "state"),
                        vec![state.secret().clone()]
                    );
                    assert_eq!(query_param(&location, "iss"), vec![base.to_owned()]);
                    let codes = query_param(&location, "code");
                    assert_eq!(codes.len(), 1, "exactly one code in {location}");
                    return codes[0].clone();
                }
                let next = if location.starts_with("http") {
                    location
                } else {
                    format!("{base}{location}")
                };
                res = browser.get(next).send().await.unwrap();
            }
            200 => {
                let headers = res.headers().clone();
                let html = res.text().await.unwrap();
                assert_eq!(headers["x-frame-options"], "DENY");
                assert!(
                    headers["content-security-policy"]
                        .to_str()
                        .unwrap()
                        .contains("frame-ancestors 'none'")
                );
                let csrf = hidden(&html, "csrf_token");
                let request = hidden(&html, "request");
                res = if html.contains("name=\"password\"") {
                    browser
                        .post(format!("{base}/authorize/login"))
                        .form(&[
                            ("csrf_token", csrf.as_str()),
                            ("request", &request),
                            ("username", "alice"),
                            ("password", "correct horse battery"),
                        ])
                        .send()
                        .await
                        .unwrap()
                } else {
                    assert!(html.contains("E2E client"), "consent names the client");
                    assert!(html.contains("mcp:tools"), "consent names the scopes");
                    browser
                        .post(format!("{base}/authorize/consent"))
                        .form(&[
                            ("csrf_token", csrf.as_str()),
                            ("request", &request),
                            ("decision", "approve"),
                        ])
                        .send()
                        .await
                        .unwrap()
                };
            }
            other => panic!("unexpected status {other}: {}", res.text().await.unwrap()),
        }
    }
    panic!("authorization did not finish");
}

async fn verify_jwt(base: &str, token: &str) -> serde_json::Value {
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(format!("{base}/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[RESOURCE]);
    validation.set_issuer(&[base]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .expect("signature, aud and iss verify")
        .claims
}

fn assert_invalid_grant<E: std::error::Error + 'static>(
    result: Result<
        oauth2::basic::BasicTokenResponse,
        RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
    >,
) {
    match result {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidGrant)
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_against_the_real_binary() {
    let setup = setup();
    setup.add_user("alice", "correct horse battery");
    let server = Server::start(&setup, &[]);
    let base = server.base();
    let http = http();

    // Metadata: issuer byte-identical to the base URL.
    let meta: serde_json::Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], base.as_str());
    assert_eq!(meta["client_id_metadata_document_supported"], true);

    // Dynamic registration of a public client.
    let client_id = register_public_client(&base, "E2E client").await;
    assert!(!client_id.starts_with("https://"));

    // Sign in, consent, code, PKCE redemption.
    let browser = browser();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = authorize(&browser, &base, &client_id, challenge).await;
    let oauth = oauth_client(&base, &client_id);
    let tokens = oauth
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", RESOURCE)
        .request_async(&http)
        .await
        .expect("code redemption");
    let claims = verify_jwt(&base, tokens.access_token().secret()).await;
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "mcp:basic mcp:tools");
    let first_refresh = tokens.refresh_token().expect("refresh token").clone();

    // Replaying the code fails.
    let (_, verifier_again) = PkceCodeChallenge::new_random_sha256();
    assert_invalid_grant(
        oauth
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier_again)
            .request_async(&http)
            .await,
    );
    // ... and revoked what the first redemption issued: its refresh token no longer works.
    assert_invalid_grant(
        oauth
            .exchange_refresh_token(&first_refresh)
            .request_async(&http)
            .await,
    );

    // A second authorization: consent is remembered, so the browser goes straight back.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = authorize(&browser, &base, &client_id, challenge).await;
    let tokens = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("second redemption");
    let refresh_a = tokens.refresh_token().unwrap().clone();

    // Rotation: a new refresh token each time.
    let rotated = oauth
        .exchange_refresh_token(&refresh_a)
        .request_async(&http)
        .await
        .expect("refresh");
    let refresh_b = rotated
        .refresh_token()
        .expect("rotated refresh token")
        .clone();
    assert_ne!(refresh_a.secret(), refresh_b.secret());
    verify_jwt(&base, rotated.access_token().secret()).await;

    // Reusing the spent token fails and revokes the family: refresh_b dies too.
    assert_invalid_grant(
        oauth
            .exchange_refresh_token(&refresh_a)
            .request_async(&http)
            .await,
    );
    assert_invalid_grant(
        oauth
            .exchange_refresh_token(&refresh_b)
            .request_async(&http)
            .await,
    );

    // A third authorization whose refresh token must survive a restart.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = authorize(&browser, &base, &client_id, challenge).await;
    let tokens = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let survivor = tokens.refresh_token().unwrap().clone();
    let kid_before = jsonwebtoken::decode_header(tokens.access_token().secret())
        .unwrap()
        .kid;
    drop(server);

    let server = Server::start(&setup, &[]);
    let base = server.base();
    let oauth = oauth_client(&base, &client_id);
    let after = oauth
        .exchange_refresh_token(&RefreshToken::new(survivor.secret().clone()))
        .request_async(&http)
        .await
        .expect("the refresh token and client survived the restart");
    let kid_after = jsonwebtoken::decode_header(after.access_token().secret())
        .unwrap()
        .kid;
    assert_eq!(
        kid_before, kid_after,
        "the signing key survived the restart"
    );
    // The user survived too: a fresh browser signs in again.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let code = authorize(&binary::browser(), &base, &client_id, challenge).await;
    assert!(!code.is_empty());
}
