//! The AS checklist of the project spec (§2.11, AS-01 … AS-25) and the 2026-07-28 delta lines
//! (AS-R2-*), one test per rule, through the HTTP router with in-memory stores and a fixed clock.

mod common;

use axum::http::StatusCode;
use common::*;

fn query_of(url: &url::Url, name: &str) -> Vec<String> {
    url.query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// AS-01, AS-R2-05: the metadata `issuer` is byte-identical to the issuer, at the root and in
/// the OIDC discovery document.
#[tokio::test]
async fn metadata_issuer_equals_the_issuer() {
    let h = Harness::new().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let res = h.get(path).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.header("content-type").starts_with("application/json"));
        assert_eq!(res.json()["issuer"], ISSUER);
    }
}

/// AS-01: an issuer with a path is served by path insertion (RFC 8414 §3.1), and its endpoints
/// live under the path.
#[tokio::test]
async fn issuer_with_path_uses_path_insertion() {
    let h = Harness::with_settings(settings("https://auth.example.com/tenant1")).await;
    let res = h
        .get("/.well-known/oauth-authorization-server/tenant1")
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let meta = res.json();
    assert_eq!(meta["issuer"], "https://auth.example.com/tenant1");
    assert_eq!(
        meta["token_endpoint"],
        "https://auth.example.com/tenant1/token"
    );
    assert_eq!(
        h.get("/tenant1/.well-known/openid-configuration")
            .await
            .json()["issuer"],
        "https://auth.example.com/tenant1"
    );
    assert_eq!(h.get("/tenant1/jwks").await.status, StatusCode::OK);
    assert_eq!(
        h.get("/.well-known/oauth-authorization-server")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// AS-02, AS-03, AS-R2-02: required members, `code` and `S256`, RFC 9207 flag, lists generated
/// from what is installed.
#[tokio::test]
async fn metadata_has_required_members() {
    let h = Harness::new().await;
    let m = h
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert_eq!(
        m["authorization_endpoint"],
        "https://auth.example.com/authorize"
    );
    assert_eq!(m["token_endpoint"], "https://auth.example.com/token");
    assert_eq!(m["jwks_uri"], "https://auth.example.com/jwks");
    assert_eq!(
        m["registration_endpoint"],
        "https://auth.example.com/register"
    );
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    let algs = m["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(!algs.is_empty());
    assert!(
        algs.iter()
            .all(|a| a != "none" && !a.as_str().unwrap().starts_with("HS"))
    );
    // The resources' scopes, then `offline_access` (AS-R2-09).
    assert_eq!(
        m["scopes_supported"],
        serde_json::json!(["files:write", "mcp:basic", "mcp:tools", "offline_access"])
    );
    let oidc = h.get("/.well-known/openid-configuration").await.json();
    assert_eq!(
        oidc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}

/// AS-05: no `code_challenge` → redirected `invalid_request`.
#[tokio::test]
async fn authorization_without_code_challenge_is_invalid_request() {
    let h = Harness::new().await;
    let q = authorize_query("").replace(&format!("&code_challenge={CHALLENGE}"), "");
    let res = h.get(&q).await;
    assert_eq!(res.status, StatusCode::FOUND);
    let loc = res.location();
    assert!(loc.as_str().starts_with(REDIRECT));
    assert_eq!(query_of(&loc, "error"), vec!["invalid_request"]);
    assert_eq!(query_of(&loc, "state"), vec!["xyz"]);
}

/// AS-05: `code_challenge_method=plain` or absent → redirected `invalid_request`.
#[tokio::test]
async fn plain_or_missing_challenge_method_is_invalid_request() {
    let h = Harness::new().await;
    for q in [
        authorize_query("").replace("code_challenge_method=S256", "code_challenge_method=plain"),
        authorize_query("").replace("&code_challenge_method=S256", ""),
    ] {
        let res = h.get(&q).await;
        assert_eq!(res.status, StatusCode::FOUND);
        assert_eq!(query_of(&res.location(), "error"), vec!["invalid_request"]);
    }
}

/// AS-06, SEC-09: an unregistered `redirect_uri` gets a 400 error page, never a redirect.
#[tokio::test]
async fn unregistered_redirect_uri_is_an_error_page() {
    let h = Harness::new().await;
    let q = authorize_query("").replace(&enc(REDIRECT), &enc("https://evil.example/cb"));
    let res = h.get(&q).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.headers.get("location").is_none());
    assert!(res.header("content-type").starts_with("text/html"));
    assert!(res.body.contains("invalid_request"));
}

/// AS-06: an unknown client gets an error page, never a redirect.
#[tokio::test]
async fn unknown_client_is_an_error_page() {
    let h = Harness::new().await;
    let res = h.get(&authorize_query("").replace(PUBLIC, "nobody")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.headers.get("location").is_none());
    assert!(res.body.contains("invalid_client"));
}

/// AS-06: a repeated `redirect_uri` cannot be trusted: error page.
#[tokio::test]
async fn repeated_redirect_uri_is_an_error_page() {
    let h = Harness::new().await;
    let res = h
        .get(&authorize_query(&format!(
            "&redirect_uri={}",
            enc(REDIRECT)
        )))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.headers.get("location").is_none());
}

/// RFC 6749 §3.1: another repeated parameter is redirected as `invalid_request`.
#[tokio::test]
async fn repeated_scope_is_redirected_invalid_request() {
    let h = Harness::new().await;
    let res = h
        .get(&authorize_query("&scope=mcp%3Abasic&scope=mcp%3Atools"))
        .await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(query_of(&res.location(), "error"), vec!["invalid_request"]);
}

/// RFC 8252 §7.3: a loopback redirect may use any port; the redirect goes to the requested one.
#[tokio::test]
async fn loopback_redirect_port_may_differ() {
    let h = Harness::new().await;
    let q = authorize_query("")
        .replace(&enc(REDIRECT), &enc("http://127.0.0.1:51234/callback"))
        .replace("response_type=code", "response_type=token");
    let res = h.get(&q).await;
    assert_eq!(res.status, StatusCode::FOUND);
    let loc = res.location();
    assert_eq!(loc.port(), Some(51234));
    assert_eq!(query_of(&loc, "error"), vec!["unsupported_response_type"]);
}

/// AS-07, AS-08, AS-R2-01, AS-R2-03, AS-R2-04: the success redirect carries one `code`, the
/// exact `state`, and one `iss` equal to the issuer.
#[tokio::test]
async fn success_redirect_has_one_code_exact_state_and_iss() {
    let h = Harness::new().await;
    let q = "response_type=code&client_id=public-client&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example.com%2Fmcp&state=a%20b%26c";
    let req = h
        .server
        .validate_authorization_request(q.as_bytes())
        .await
        .unwrap();
    let loc = url::Url::parse(&h.server.approve(&req, "user-1", NOW).await.unwrap()).unwrap();
    assert!(loc.as_str().starts_with(REDIRECT));
    assert_eq!(query_of(&loc, "code").len(), 1);
    assert!(!query_of(&loc, "code")[0].is_empty());
    assert_eq!(query_of(&loc, "state"), vec!["a b&c"]);
    assert_eq!(query_of(&loc, "iss"), vec![ISSUER]);
}

/// AS-08, AS-R2-01: error redirects carry `iss` too.
#[tokio::test]
async fn error_redirect_carries_iss() {
    let h = Harness::new().await;
    let res = h.get(&authorize_query("&scope=not-a-scope")).await;
    let loc = res.location();
    assert_eq!(query_of(&loc, "error"), vec!["invalid_scope"]);
    assert_eq!(query_of(&loc, "iss"), vec![ISSUER]);
    assert_eq!(query_of(&loc, "state"), vec!["xyz"]);
}

/// AS-09, SEC-07: a token response is JSON with `Cache-Control: no-store` and `Pragma: no-cache`.
#[tokio::test]
async fn token_response_is_no_store_json() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let res = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").starts_with("application/json"));
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.header("pragma"), "no-cache");
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().is_some());
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "mcp:basic");
    assert!(body["refresh_token"].as_str().is_some());
}

/// AS-10: a wrong `code_verifier` is `invalid_grant`.
#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let body = redeem_body(PUBLIC, &code).replace(VERIFIER, &"x".repeat(43));
    let res = h.token(&body).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_grant");
}

/// RFC 7636 §4.6: a missing `code_verifier` is `invalid_grant`.
#[tokio::test]
async fn missing_code_verifier_is_invalid_grant() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let body = redeem_body(PUBLIC, &code).replace(&format!("&code_verifier={VERIFIER}"), "");
    assert_eq!(h.token(&body).await.error(), "invalid_grant");
}

/// AS-11: a second redemption is `invalid_grant` and revokes what the first one issued.
#[tokio::test]
async fn code_replay_is_refused_and_revokes_first_tokens() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let first = h.token(&redeem_body(PUBLIC, &code)).await.json();
    let replay = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.error(), "invalid_grant");
    let refresh = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={}",
            first["refresh_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(refresh.error(), "invalid_grant");
    let introspected = h
        .post_form(
            "/introspect",
            &format!("token={}", first["access_token"].as_str().unwrap()),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(introspected.json(), serde_json::json!({"active": false}));
}

/// AS-12: a code expires (default 120 s, never more than 600 s).
#[tokio::test]
async fn code_expires() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    h.clock.advance(121);
    assert_eq!(
        h.token(&redeem_body(PUBLIC, &code)).await.error(),
        "invalid_grant"
    );
    let mut s = settings(ISSUER);
    s.code_ttl = 601;
    assert!(s.validate().is_err());
}

/// A code issued to one client cannot be redeemed by another.
#[tokio::test]
async fn code_of_another_client_is_invalid_grant() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let body = redeem_body(POST, &code) + &format!("&client_secret={POST_SECRET}");
    assert_eq!(h.token(&body).await.error(), "invalid_grant");
}

/// AS-13: an unknown `resource` at the authorization endpoint is redirected `invalid_target`.
#[tokio::test]
async fn unknown_resource_at_authorization_is_invalid_target() {
    let h = Harness::new().await;
    let q = authorize_query("").replace(&enc(RESOURCE), &enc("https://unknown.example/mcp"));
    let res = h.get(&q).await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(query_of(&res.location(), "error"), vec!["invalid_target"]);
}

/// AS-13, spec §10 A4: without a default resource, omitting `resource` is `invalid_target`.
#[tokio::test]
async fn missing_resource_without_default_is_invalid_target() {
    let h = Harness::new().await;
    let q = authorize_query("").replace(&format!("&resource={}", enc(RESOURCE)), "");
    assert_eq!(
        query_of(&h.get(&q).await.location(), "error"),
        vec!["invalid_target"]
    );
}

/// AS-13: at the token endpoint, a `resource` other than the code's is `invalid_target`.
#[tokio::test]
async fn other_resource_at_token_is_invalid_target() {
    let h = Harness::new().await;
    let code = h.code_for(PUBLIC, None).await;
    let body = redeem_body(PUBLIC, &code) + &format!("&resource={}", enc(OTHER_RESOURCE));
    let res = h.token(&body).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_target");
}

/// AS-14: the access token `aud` is the requested canonical resource.
#[tokio::test]
async fn access_token_audience_is_the_resource() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], RESOURCE);
}

/// AS-15: refresh rotates; reuse of the old token is `invalid_grant` and revokes the family.
#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let old = tokens["refresh_token"].as_str().unwrap();
    let refresh =
        |rt: &str| format!("grant_type=refresh_token&client_id={PUBLIC}&refresh_token={rt}");
    let rotated = h.token(&refresh(old)).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let reuse = h.token(&refresh(old)).await;
    assert_eq!(reuse.error(), "invalid_grant");
    assert_eq!(h.token(&refresh(&new)).await.error(), "invalid_grant");
    let access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    let introspected = h
        .post_form(
            "/introspect",
            &format!("token={access}"),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(introspected.json()["active"], false);
}

/// AS-16, SCOPE-AS-06: a refresh asking for a scope not granted is `invalid_scope`; a narrower
/// scope is allowed.
#[tokio::test]
async fn refresh_cannot_add_scope() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(Some("mcp:basic mcp:tools")).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let res = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={rt}&scope=files%3Awrite"
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_scope");
    let narrowed = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={rt}&scope=mcp%3Atools"
        ))
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    assert_eq!(narrowed.json()["scope"], "mcp:tools");
}

/// AS-17: the JWT header is `typ: at+jwt` with `alg` and `kid`, and carries the RFC 9068 claims.
#[tokio::test]
async fn access_token_is_an_rfc9068_jwt() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(Some("mcp:tools")).await;
    let (header, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].as_str().is_some());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["client_id"], PUBLIC);
    assert_eq!(claims["scope"], "mcp:tools");
    assert_eq!(claims["iat"], NOW);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(claims["auth_time"], NOW);
}

/// AS-18: the access token lives 15 minutes by default, and never more than an hour.
#[tokio::test]
async fn access_token_lifetime_is_short() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let mut s = settings(ISSUER);
    s.access_token_ttl = 3601;
    assert!(s.validate().is_err());
}

/// AS-19: a wrong secret over Basic is 401 `invalid_client` with `WWW-Authenticate: Basic`.
#[tokio::test]
async fn wrong_basic_secret_is_401_with_basic_challenge() {
    let h = Harness::new().await;
    let code = h.code_for(BASIC, None).await;
    let body = format!(
        "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
        enc(REDIRECT)
    );
    let res = h
        .post_form("/token", &body, Some(&basic(BASIC, "wrong")))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "invalid_client");
    assert_eq!(
        res.header("www-authenticate"),
        "Basic realm=\"https://auth.example.com\""
    );
    let ok = h
        .post_form("/token", &body, Some(&basic(BASIC, BASIC_SECRET)))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

/// AS-19: an unknown client over Basic reads exactly like a wrong secret.
#[tokio::test]
async fn unknown_basic_client_reads_like_wrong_secret() {
    let h = Harness::new().await;
    let a = h
        .post_form(
            "/token",
            "grant_type=refresh_token&refresh_token=x",
            Some(&basic("nobody", "x")),
        )
        .await;
    let b = h
        .post_form(
            "/token",
            "grant_type=refresh_token&refresh_token=x",
            Some(&basic(BASIC, "x")),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, b.body);
    assert_eq!(a.header("www-authenticate"), b.header("www-authenticate"));
}

/// `client_secret_post` works, and its failure is 401 without a Basic challenge.
#[tokio::test]
async fn client_secret_post_authenticates() {
    let h = Harness::new().await;
    let code = h.code_for(POST, None).await;
    let body = redeem_body(POST, &code);
    let bad = h.token(&format!("{body}&client_secret=wrong")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.headers.get("www-authenticate").is_none());
    let ok = h
        .token(&format!("{body}&client_secret={POST_SECRET}"))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

/// A client using a method other than its registered one is `invalid_client`.
#[tokio::test]
async fn registered_method_is_enforced() {
    let h = Harness::new().await;
    let code = h.code_for(BASIC, None).await;
    let body = redeem_body(BASIC, &code) + &format!("&client_secret={BASIC_SECRET}");
    let res = h.token(&body).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "invalid_client");
}

/// AS-20, SEC-01: behind a TLS proxy, a request reported as plain http is refused.
#[tokio::test]
async fn forwarded_plain_http_is_refused() {
    let h = Harness::new().await;
    let res = h
        .send(
            axum::http::Request::get("/.well-known/oauth-authorization-server")
                .header("x-forwarded-proto", "http")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_request");
}

/// AS-20: a plain http issuer is refused unless its host is loopback.
#[tokio::test]
async fn plain_http_issuer_off_loopback_is_refused() {
    assert!(
        "http://auth.example.com"
            .parse::<mcp_auth_core::Issuer>()
            .is_err()
    );
    assert!(
        "http://127.0.0.1:9000"
            .parse::<mcp_auth_core::Issuer>()
            .is_ok()
    );
}

/// AS-21: registration returns 201 with a `client_id` that does not start with `https://`.
#[tokio::test]
async fn registration_returns_201_and_a_non_url_client_id() {
    let h = Harness::new().await;
    let res = h
        .post_json(
            "/register",
            &serde_json::json!({
                "client_name": "Dev MCP Client",
                "redirect_uris": ["http://127.0.0.1:33418/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none"
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    let id = body["client_id"].as_str().unwrap();
    assert!(!id.starts_with("https://"));
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(body["client_id_issued_at"], NOW);
    let stored = h.stores.clients.get(&id.parse().unwrap()).await.unwrap();
    assert!(stored.is_some());
}

/// RFC 7591 §3.2.1: a confidential registration gets a secret (shown once, stored hashed).
#[tokio::test]
async fn confidential_registration_returns_a_secret_once() {
    let h = Harness::new().await;
    let res = h
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris": ["https://app.example.com/cb"]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let body = res.json();
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    let secret = body["client_secret"].as_str().unwrap();
    assert_eq!(body["client_secret_expires_at"], 0);
    let stored = h
        .stores
        .clients
        .get(&body["client_id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains(secret));
}

/// AS-22: a non-https, non-loopback redirect URI is 400 `invalid_redirect_uri`.
#[tokio::test]
async fn registration_with_plain_http_redirect_is_invalid_redirect_uri() {
    let h = Harness::new().await;
    for uri in [
        "http://app.example.com/cb",
        "https://app.example.com/cb#frag",
        "not a url",
    ] {
        let res = h
            .post_json(
                "/register",
                &serde_json::json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(res.error(), "invalid_redirect_uri", "{uri}");
    }
}

/// RFC 7591 §3.2.2: inconsistent metadata is `invalid_client_metadata`.
#[tokio::test]
async fn inconsistent_registration_is_invalid_client_metadata() {
    let h = Harness::new().await;
    for body in [
        serde_json::json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
        serde_json::json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
        serde_json::json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
        serde_json::json!({"redirect_uris": ["https://a.example/cb"], "scope": "unknown:scope"}),
        serde_json::json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
        serde_json::json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://keys.example/jwks"}),
    ] {
        let res = h.post_json("/register", &body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.error(), "invalid_client_metadata", "{body}");
    }
}

/// SEC-06: registrations per source per hour are bounded (429).
#[tokio::test]
async fn registration_is_rate_limited() {
    let mut s = settings(ISSUER);
    s.registration.max_per_source_per_hour = 2;
    let h = Harness::with_settings(s).await;
    // Different metadata each time: an identical public re-registration is not counted.
    let body = |n: u32| serde_json::json!({"client_name": format!("app {n}"), "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
    assert_eq!(
        h.post_json("/register", &body(1)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json("/register", &body(2)).await.status,
        StatusCode::CREATED
    );
    let res = h.post_json("/register", &body(3)).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    h.clock.advance(3600);
    assert_eq!(
        h.post_json("/register", &body(4)).await.status,
        StatusCode::CREATED
    );
}

/// AS-R2-06: registration can be turned off; the metadata then has no registration endpoint.
#[tokio::test]
async fn registration_can_be_turned_off() {
    let mut s = settings(ISSUER);
    s.registration.enabled = false;
    let h = Harness::with_settings(s).await;
    let meta = h
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(meta.get("registration_endpoint").is_none());
    let res = h
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris": ["https://a.example/cb"]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
}

/// AS-25: two client authentication methods in one request are `invalid_request`.
#[tokio::test]
async fn two_client_auth_methods_are_invalid_request() {
    let h = Harness::new().await;
    let code = h.code_for(BASIC, None).await;
    let body = redeem_body(BASIC, &code) + &format!("&client_secret={BASIC_SECRET}");
    let res = h
        .post_form("/token", &body, Some(&basic(BASIC, BASIC_SECRET)))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_request");
}

/// AS-13: a resource outside the client's allowed list is `invalid_target`.
#[tokio::test]
async fn resource_outside_the_clients_list_is_invalid_target() {
    let h = Harness::new().await;
    let mut c = client(
        "one-resource",
        mcp_auth_core::TokenEndpointAuthMethod::None,
        None,
    );
    c.resources = Some(vec![OTHER_RESOURCE.parse().unwrap()]);
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .get(&authorize_query("").replace(PUBLIC, "one-resource"))
        .await;
    assert_eq!(query_of(&res.location(), "error"), vec!["invalid_target"]);
}

/// SEP-835 step-up: a dynamically registered client is not limited to the `scope` it registered
/// with (the registration is self-asserted); it may later ask for more of the resource's scopes.
#[tokio::test]
async fn registered_scope_does_not_block_step_up() {
    let h = Harness::new().await;
    let res = h
        .post_json(
            "/register",
            &serde_json::json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "scope": "mcp:tools"
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.json()["scope"], "mcp:tools");
    let id = res.json()["client_id"].as_str().unwrap().to_owned();
    let q = authorize_query("&scope=mcp%3Atools%20files%3Awrite").replace(PUBLIC, &id);
    let res = h.get(&q).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "the sign-in page, not an error redirect"
    );
}
