//! `offline_access` (SEP-2207): an authorization server scope that asks for a refresh token.
//! Listed in the AS metadata, accepted with any resource, never in an access token's `scope`;
//! with it (and the `refresh_token` grant) a refresh token is issued, without it the policy
//! `tokens.refresh_without_offline_access` decides.

mod common;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_server::engine::consent::ConsentStep;

const CODE_ONLY: &str = "code-only-client";

/// A harness whose policy is `refresh_without_offline_access`, with a public client that may
/// not use the `refresh_token` grant ([`CODE_ONLY`]).
async fn harness(refresh_without_offline_access: bool) -> Harness {
    let mut s = settings(ISSUER);
    s.refresh_without_offline_access = refresh_without_offline_access;
    let h = Harness::with_settings(s).await;
    let code_only = mcp_auth_conformance::server::client(
        CODE_ONLY,
        TokenEndpointAuthMethod::None,
        None,
        &["authorization_code"],
        &[REDIRECT],
    );
    h.stores.clients.put(&code_only).await.unwrap();
    h
}

/// The `scope` claim of a JWT access token.
fn token_scope(tokens: &serde_json::Value) -> String {
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    claims["scope"].as_str().unwrap().to_owned()
}

/// Redeem a code of `client_id` for `scope`.
async fn tokens(h: &Harness, client_id: &str, scope: &str) -> serde_json::Value {
    let code = h.code_for(client_id, Some(scope)).await;
    let res = h.token(&redeem_body(client_id, &code)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

/// AS-R2-09: the AS metadata lists `offline_access` in `scopes_supported`, beside the
/// resources' scopes.
#[tokio::test]
async fn metadata_lists_offline_access() {
    let h = harness(true).await;
    let res = h.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(res.status, StatusCode::OK);
    let scopes: Vec<String> =
        serde_json::from_value(res.json()["scopes_supported"].clone()).unwrap();
    assert!(scopes.iter().any(|s| s == "offline_access"), "{scopes:?}");
    assert!(scopes.iter().any(|s| s == "mcp:tools"), "{scopes:?}");
}

/// AS-R2-09, AS-R2-11: `offline_access` is accepted with a resource that does not define it,
/// gives a refresh token, and is not written into the access token's `scope` or the response's.
#[tokio::test]
async fn offline_access_gives_a_refresh_token_and_stays_out_of_the_access_token() {
    let h = harness(false).await;
    let t = tokens(&h, PUBLIC, "mcp:tools offline_access").await;
    assert!(t["refresh_token"].is_string(), "{t}");
    assert_eq!(token_scope(&t), "mcp:tools");
    assert_eq!(t["scope"], "mcp:tools", "{t}");
}

/// AS-R2-09: with `tokens.refresh_without_offline_access = false`, a request without
/// `offline_access` gets no refresh token; with the default policy it does.
#[tokio::test]
async fn the_policy_decides_refresh_without_offline_access() {
    let strict = harness(false).await;
    let t = tokens(&strict, PUBLIC, "mcp:tools").await;
    assert!(t.get("refresh_token").is_none(), "{t}");
    let lenient = harness(true).await;
    let t = tokens(&lenient, PUBLIC, "mcp:tools").await;
    assert!(t["refresh_token"].is_string(), "{t}");
}

/// AS-R2-10: a client without the `refresh_token` grant that asks for `offline_access` gets its
/// tokens, without a refresh token: the scope is dropped, not an error.
#[tokio::test]
async fn offline_access_is_dropped_for_a_client_without_the_refresh_grant() {
    let h = harness(true).await;
    let t = tokens(&h, CODE_ONLY, "mcp:tools offline_access").await;
    assert!(t.get("refresh_token").is_none(), "{t}");
    assert_eq!(token_scope(&t), "mcp:tools");
}

/// SEP-835 with SEP-2207: a request naming only `offline_access` gets the resource's default
/// scopes, and the refresh token.
#[tokio::test]
async fn offline_access_alone_means_the_default_scopes() {
    let h = harness(false).await;
    let t = tokens(&h, PUBLIC, "offline_access").await;
    assert_eq!(token_scope(&t), "mcp:basic");
    assert!(t["refresh_token"].is_string(), "{t}");
}

/// AS-R2-11: a refresh request that repeats `offline_access` in `scope` is neither refused as
/// widening nor does it put `offline_access` into the new access token.
#[tokio::test]
async fn refresh_with_offline_access_in_scope_is_not_widening() {
    let h = harness(false).await;
    let t = tokens(&h, PUBLIC, "mcp:tools files:write offline_access").await;
    let body = format!(
        "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={}&scope={}",
        enc(t["refresh_token"].as_str().unwrap()),
        enc("mcp:tools offline_access")
    );
    let res = h.token(&body).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let refreshed = res.json();
    assert_eq!(token_scope(&refreshed), "mcp:tools");
    assert!(refreshed["refresh_token"].is_string(), "{refreshed}");
}

/// SEP-2207: a first request for `offline_access` asks the user again even when the resource's
/// scopes were approved before, and the consent page says in words that the app stays signed
/// in; once approved it is remembered.
#[tokio::test]
async fn consent_asks_for_offline_access_in_words() {
    let h = harness(true).await;
    let plain = h
        .server
        .validate_authorization_request(
            authorize_query("&scope=mcp%3Atools")
                .trim_start_matches("/authorize?")
                .as_bytes(),
        )
        .await
        .unwrap();
    h.server.approve(&plain, "user-1", NOW).await.unwrap();
    let offline_query = authorize_query("&scope=mcp%3Atools+offline_access");
    let offline = h
        .server
        .validate_authorization_request(offline_query.trim_start_matches("/authorize?").as_bytes())
        .await
        .unwrap();
    assert!(offline.offline_access);
    assert_eq!(offline.scope.to_string(), "mcp:tools");
    match h
        .server
        .consent_decision(&offline, "user-1", NOW, None)
        .await
        .unwrap()
    {
        ConsentStep::Ask { new_scopes } => assert_eq!(new_scopes.to_string(), "offline_access"),
        other => panic!("expected a consent prompt, got {other:?}"),
    }

    // The page, through HTTP.
    let login = h.get(&offline_query).await;
    let cookie = session_cookie(&login);
    let form = format!(
        "csrf_token={}&request={}&username=alice&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
        enc(PASSWORD)
    );
    let consent = h
        .post_form_with_cookie("/authorize/login", &form, &cookie)
        .await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Stay signed in"), "{}", consent.body);
    assert!(
        consent
            .body
            .contains("<code>offline_access</code> <strong>(new)</strong>"),
        "{}",
        consent.body
    );
    assert!(
        !consent
            .body
            .contains("<code>mcp:tools</code> <strong>(new)</strong>")
    );

    h.server.approve(&offline, "user-1", NOW).await.unwrap();
    assert!(
        matches!(
            h.server
                .consent_decision(&offline, "user-1", NOW, None)
                .await
                .unwrap(),
            ConsentStep::Redirect(_)
        ),
        "offline_access approved once is remembered"
    );
}

/// AS-R2-09 with dynamic registration: a client that copies the metadata's `scopes_supported`
/// into its registration `scope` (rmcp does) registers, `offline_access` included; a scope no
/// resource or this server defines is still refused.
#[tokio::test]
async fn registration_accepts_offline_access_in_scope() {
    let h = harness(true).await;
    let register = |scope: &'static str| {
        let h = &h;
        async move {
            h.post_json(
                "/register",
                &serde_json::json!({
                    "redirect_uris": [REDIRECT],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "scope": scope
                }),
            )
            .await
        }
    };
    let res = register("mcp:basic mcp:tools offline_access").await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let res = register("mcp:tools no-such-scope").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.json()["error"], "invalid_client_metadata");
}
