//! OpenID Connect sign-in (OIDC Core §3.1), the subject tokens of the Cross App Access IdP role
//! (SEP-990 §6.3, issue #10 part 2): an authorization-code request with the `openid` scope gets
//! an ID token from the token endpoint.

mod common;

use axum::http::StatusCode;
use common::*;

async fn oidc_harness() -> Harness {
    let mut s = settings(ISSUER);
    s.openid_connect = true;
    Harness::with_settings(s).await
}

/// A code for the public client with the raw `extra` query appended (scope, nonce).
async fn code_with(h: &Harness, extra: &str) -> Result<String, String> {
    let q = format!(
        "response_type=code&client_id={PUBLIC}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}&state=s1{extra}",
        enc(REDIRECT),
        enc(RESOURCE)
    );
    let req = h
        .server
        .validate_authorization_request(q.as_bytes())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let location = h.server.approve(&req, "user-1", NOW).await.unwrap();
    let url = url::Url::parse(&location).unwrap();
    Ok(url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap())
}

/// OIDC Core §3.1.3.3 and §2: `openid` + `nonce` → an `id_token` with `iss`, `sub`, `aud` =
/// client_id, `exp`, `iat`, `auth_time`, `nonce` echoed, header `typ: JWT` with our `kid`; the
/// access token's scope never holds `openid`.
#[tokio::test]
async fn openid_scope_returns_an_id_token_with_the_nonce() {
    let h = oidc_harness().await;
    let code = code_with(&h, "&scope=openid%20mcp%3Atools&nonce=n-0S6_WzA2Mj")
        .await
        .unwrap();
    let res = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let body = res.json();
    assert_eq!(body["scope"], "mcp:tools");
    let (header, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256");
    let jwks = h.server.jwks();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["aud"], PUBLIC);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["auth_time"], NOW);
    assert_eq!(claims["iat"], NOW);
    assert!(claims["exp"].as_i64().unwrap() > NOW);
    let (_, access) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(access["scope"], "mcp:tools");
    // The ID token is never an access token: introspection by the resource's client says so.
    let intro = h
        .post_form(
            "/introspect",
            &format!("token={}", body["id_token"].as_str().unwrap()),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(intro.json()["active"], false, "{}", intro.body);
}

/// `openid` alone gets the resource's default scopes for the access token, and no `nonce`
/// claim when the request had none.
#[tokio::test]
async fn openid_alone_gets_default_scopes_and_no_nonce() {
    let h = oidc_harness().await;
    let code = code_with(&h, "&scope=openid").await.unwrap();
    let body = h.token(&redeem_body(PUBLIC, &code)).await.json();
    assert_eq!(body["scope"], "mcp:basic");
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert!(claims.get("nonce").is_none(), "{claims}");
}

/// Without `openid`, no ID token even with OpenID Connect on.
#[tokio::test]
async fn no_openid_scope_no_id_token() {
    let h = oidc_harness().await;
    let code = code_with(&h, "&scope=mcp%3Atools&nonce=abc").await.unwrap();
    let body = h.token(&redeem_body(PUBLIC, &code)).await.json();
    assert!(body.get("id_token").is_none(), "{body}");
}

/// A `nonce` that could not be echoed faithfully (control characters, over 255 bytes) is
/// `invalid_request`, never truncated or altered.
#[tokio::test]
async fn odd_nonces_are_refused() {
    let h = oidc_harness().await;
    // (An empty `nonce=` is an omitted parameter, RFC 6749 §3.1.)
    for nonce in ["a%0Ab", &"x".repeat(256), "caf%C3%A9", "a%20b"] {
        let err = code_with(&h, &format!("&scope=openid&nonce={nonce}"))
            .await
            .unwrap_err();
        assert!(err.contains("nonce"), "{nonce}: {err}");
    }
}

/// With OpenID Connect off (the default), `openid` is a scope like any other: not defined for
/// the resource, so the request is refused (`invalid_scope`), and no ID token is ever issued.
#[tokio::test]
async fn without_openid_connect_openid_is_an_unknown_scope() {
    let h = Harness::new().await;
    let err = code_with(&h, "&scope=openid%20mcp%3Atools")
        .await
        .unwrap_err();
    assert!(
        err.contains("InvalidScope") || err.contains("invalid_scope"),
        "{err}"
    );
    let meta = h.get("/.well-known/openid-configuration").await.json();
    assert!(meta.get("id_token_signing_alg_values_supported").is_none());
}

/// OpenID Connect Discovery 1.0 §3: with OpenID Connect on, the discovery document lists
/// `openid`, `subject_types_supported`, `id_token_signing_alg_values_supported` and
/// `claims_supported`.
#[tokio::test]
async fn discovery_lists_the_openid_connect_members() {
    let h = oidc_harness().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let meta = h.get(path).await.json();
        assert_eq!(meta["issuer"], ISSUER);
        assert_eq!(meta["scopes_supported"][0], "openid");
        assert_eq!(
            meta["subject_types_supported"],
            serde_json::json!(["public"])
        );
        assert_eq!(
            meta["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
        let claims = meta["claims_supported"].as_array().unwrap();
        for c in ["sub", "aud", "auth_time", "nonce"] {
            assert!(claims.iter().any(|v| v == c), "{c}");
        }
    }
}
