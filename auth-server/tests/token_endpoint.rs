//! Token, introspection and revocation endpoints: bad input gets the RFC error, never a 500.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let h = Harness::new().await;
    let res = h
        .token("grant_type=authorization_code&grant_type=refresh_token&client_id=public-client")
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_request");
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let h = Harness::new().await;
    let res = h.token("client_id=public-client").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_request");
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported_grant_type() {
    let h = Harness::new().await;
    let res = h.token("grant_type=password&client_id=public-client").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "unsupported_grant_type");
}

#[tokio::test]
async fn json_body_is_invalid_request() {
    let h = Harness::new().await;
    let res = h
        .send(
            Request::post("/token")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"grant_type":"refresh_token"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_request");
}

#[tokio::test]
async fn oversized_body_is_invalid_request_not_500() {
    let h = Harness::new().await;
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        "a".repeat(70 * 1024)
    );
    let res = h.token(&body).await;
    // 413 since issue 19 §7 (over the 64 KiB body limit).
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.error(), "invalid_request");
}

#[tokio::test]
async fn malformed_form_bytes_never_500() {
    let h = Harness::new().await;
    for body in [
        "%%%",
        "grant_type",
        "=&=&",
        "grant_type=%FF%FE",
        "\u{0}\u{1}",
    ] {
        let res = h.token(body).await;
        assert!(res.status.is_client_error(), "{body:?} → {}", res.status);
        assert!(res.json()["error"].is_string());
    }
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let h = Harness::new().await;
    let res = h
        .token("grant_type=refresh_token&client_id=nobody&refresh_token=x")
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "invalid_client");
    assert!(res.headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn no_client_identification_is_invalid_client() {
    let h = Harness::new().await;
    let res = h.token("grant_type=refresh_token&refresh_token=x").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "invalid_client");
}

#[tokio::test]
async fn grant_not_registered_for_client_is_unauthorized_client() {
    let h = Harness::new().await;
    let mut c = client(
        "code-only",
        mcp_auth_core::TokenEndpointAuthMethod::None,
        None,
    );
    c.grant_types = vec![mcp_auth_core::GrantType::authorization_code()];
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .token("grant_type=refresh_token&client_id=code-only&refresh_token=x")
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "unauthorized_client");
}

#[tokio::test]
async fn redirect_uri_must_match_the_authorization_request() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let body = redeem_body(PUBLIC, &code).replace(&enc(REDIRECT), &enc("http://127.0.0.1/other"));
    assert_eq!(h.token(&body).await.error(), "invalid_grant");
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.token(&redeem_body(PUBLIC, "ac_nonexistent")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_grant");
}

/// SCOPE-AS-01, SCOPE-AS-03: without `scope`, the resource's default scopes are granted and the
/// response names them.
#[tokio::test]
async fn omitted_scope_gets_default_scopes() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    assert_eq!(tokens["scope"], "mcp:basic");
}

/// SCOPE-AS-01: a client's own scope list narrows the defaults.
#[tokio::test]
async fn client_scope_list_limits_grants() {
    let h = Harness::new().await;
    let mut c = client("narrow", mcp_auth_core::TokenEndpointAuthMethod::None, None);
    c.scope = Some("mcp:basic".parse().unwrap());
    h.stores.clients.put(&c).await.unwrap();
    let q = authorize_query("&scope=mcp%3Atools").replace(PUBLIC, "narrow");
    let loc = h.get(&q).await.location();
    assert!(
        loc.query_pairs()
            .any(|(k, v)| k == "error" && v == "invalid_scope")
    );
}

/// SCOPE-AS-04: an unknown scope for the resource is `invalid_scope`.
#[tokio::test]
async fn unknown_scope_is_invalid_scope() {
    let h = Harness::new().await;
    let loc = h
        .get(&authorize_query("&scope=admin%3Aall"))
        .await
        .location();
    assert!(
        loc.query_pairs()
            .any(|(k, v)| k == "error" && v == "invalid_scope")
    );
}

/// RFC 7662: introspection of a live access token returns its claims; the caller must be a
/// confidential client.
#[tokio::test]
async fn introspection_returns_claims_for_confidential_callers() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(Some("mcp:tools")).await;
    let access = tokens["access_token"].as_str().unwrap();
    let res = h
        .post_form(
            "/introspect",
            &format!("token={access}"),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], RESOURCE);
    assert_eq!(body["scope"], "mcp:tools");
    assert_eq!(body["client_id"], PUBLIC);
    assert_eq!(body["iss"], ISSUER);
    let public = h
        .post_form(
            "/introspect",
            &format!("token={access}&client_id={PUBLIC}"),
            None,
        )
        .await;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED);
    h.clock.advance(901);
    let expired = h
        .post_form(
            "/introspect",
            &format!("token={access}"),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(expired.json(), serde_json::json!({"active": false}));
}

/// RFC 7662 §2.2: an unknown token is exactly `{"active":false}`.
#[tokio::test]
async fn introspection_of_unknown_token_is_inactive() {
    let h = Harness::new().await;
    let res = h
        .post_form(
            "/introspect",
            "token=garbage",
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, r#"{"active":false}"#);
}

/// RFC 7009: revoking a refresh token revokes its family and the access token issued with it;
/// unknown tokens still get 200.
#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let res = h
        .post_form("/revoke", &format!("token={rt}&client_id={PUBLIC}"), None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let refresh = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={rt}"
        ))
        .await;
    assert_eq!(refresh.error(), "invalid_grant");
    let access = tokens["access_token"].as_str().unwrap();
    let introspected = h
        .post_form(
            "/introspect",
            &format!("token={access}"),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(introspected.json()["active"], false);
    let unknown = h
        .post_form(
            "/revoke",
            &format!("token=nothing&client_id={PUBLIC}"),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
}

/// RFC 7009 §2.1: a client cannot revoke another client's token.
#[tokio::test]
async fn revoking_another_clients_token_does_nothing() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let res = h
        .post_form(
            "/revoke",
            &format!("token={rt}"),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let refresh = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={rt}"
        ))
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
}

/// The JWKS publishes the signing key with its `kid`.
#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let (header, _) = jwt_parts(tokens["access_token"].as_str().unwrap());
    let jwks = h.get("/jwks").await.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["kid"] == header["kid"] && k["kty"] == "EC" && k["crv"] == "P-256")
    );
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );
}

/// CC-14, SEC-06: failed client authentications are bounded per (client id, source) pair; past
/// the bound the pair gets 429 `invalid_request` with `Retry-After` (even with the right secret)
/// until the minute ends (issue #8 item 3 changed the code from `temporarily_unavailable`).
#[tokio::test]
async fn failed_client_authentications_are_rate_limited() {
    let mut s = settings(ISSUER);
    s.client_auth_failures_per_minute = 3;
    let h = Harness::with_settings(s).await;
    let body = "grant_type=refresh_token&refresh_token=x";
    for _ in 0..3 {
        let res = h
            .post_form("/token", body, Some(&basic(BASIC, "wrong")))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = h
        .post_form("/token", body, Some(&basic(BASIC, BASIC_SECRET)))
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.error(), "invalid_request");
    assert_eq!(res.header("retry-after"), "60");
    let other = h
        .post_form("/token", body, Some(&basic(POST, "wrong")))
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNAUTHORIZED,
        "other clients are not affected"
    );
    h.clock.advance(60);
    let res = h
        .post_form("/token", body, Some(&basic(BASIC, BASIC_SECRET)))
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "authenticated again: {}",
        res.body
    );
    assert_eq!(res.error(), "invalid_grant");
}
