//! One test per RS checklist line (spec §1.5) and the delta lines gated `both` (RS-R2-*).

mod common;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode};
use mcp_auth_conformance::Defect;
use mcp_auth_resource_server::RootMetadata;

/// RS-01: the path-suffixed PRM is 200 `application/json` with `resource` = the canonical URI.
#[tokio::test]
async fn path_suffixed_metadata_names_the_canonical_resource() {
    let f = fixture().await;
    let resp = f
        .send(
            Request::get("/.well-known/oauth-protected-resource/mcp")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let body: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "resource": "https://mcp.acme.test/mcp",
            "authorization_servers": [f.auth.issuer()],
            "scopes_supported": ["mcp:basic"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Acme Files MCP",
            "dpop_signing_alg_values_supported": [
                "ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"
            ],
        })
    );
}

/// RS-02: `authorization_servers` holds the issuer, byte-identical (RS-R2-06).
#[tokio::test]
async fn metadata_lists_the_issuer_byte_identical() {
    let f = fixture().await;
    assert_eq!(
        f.config.metadata().authorization_servers,
        vec![f.auth.issuer().to_owned()]
    );
}

/// RS-03: the root PRM is served when configured, with `resource` = the origin (§10 A1); it is
/// absent by default.
#[tokio::test]
async fn root_metadata_is_served_with_the_origin_when_configured() {
    let f = fixture_with(RootMetadata::Origin).await;
    let resp = f
        .send(
            Request::get("/.well-known/oauth-protected-resource")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(body["resource"], "https://mcp.acme.test");

    let off = fixture().await;
    let resp = off
        .send(
            Request::get("/.well-known/oauth-protected-resource")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// RS-04: `scopes_supported` holds only the baseline, not per-tool scopes.
#[tokio::test]
async fn metadata_scopes_supported_is_only_the_baseline() {
    let f = fixture().await;
    assert_eq!(f.config.metadata().scopes_supported, vec!["mcp:basic"]);
}

/// RS-05: no `Authorization` → 401 with `resource_metadata` and no `error`.
#[tokio::test]
async fn missing_token_is_401_with_resource_metadata_and_no_error() {
    let f = fixture().await;
    let resp = f.send(tools_list(None)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:basic""#)
    );
    assert_eq!(
        text(resp).await,
        r#"{"error":"unauthorized","error_description":"Bearer access token required"}"#
    );
}

/// RS-05: a non-Bearer scheme counts as no token.
#[tokio::test]
async fn basic_scheme_is_treated_as_no_token() {
    let f = fixture().await;
    let req = Request::get("/mcp")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:basic""#)
    );
}

/// RS-06: the 401 `scope` names the scopes the parsed operation needs (SCOPE-02, §10 A3).
#[tokio::test]
async fn missing_token_challenge_names_the_operation_scopes() {
    let f = fixture().await;
    let resp = f.send(call_tool(None, "delete_repo")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:basic repo:write""#)
    );
}

/// RS-07: an expired token → 401 `invalid_token`.
#[tokio::test]
async fn expired_token_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::Expired, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&resp).unwrap(), invalid_token("token expired"));
}

/// RS-07: `exp` is honoured with the 60 s leeway, and not beyond it.
#[tokio::test]
async fn expiry_leeway_is_sixty_seconds() {
    let f = fixture().await;
    let token = f.minter().lifetime(100).valid("mcp:basic").unwrap();
    f.clock.set(NOW + 159);
    assert_eq!(
        f.send(tools_list(Some(&token))).await.status(),
        StatusCode::OK
    );
    f.clock.set(NOW + 160);
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(challenge(&resp).unwrap(), invalid_token("token expired"));
}

/// RS-07: a token without `exp` is refused (RFC 9068 §2.2).
#[tokio::test]
async fn token_without_exp_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::MissingExp, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token has no expiry")
    );
}

/// RS-08: `aud` of another resource → 401 `invalid_token`.
#[tokio::test]
async fn wrong_audience_is_invalid_token() {
    let f = fixture().await;
    let token = f
        .minter()
        .broken(Defect::WrongAudience, "mcp:basic")
        .unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token audience mismatch")
    );
}

/// RS-09: a token signed by a key not in the JWKS → 401.
#[tokio::test]
async fn untrusted_signing_key_is_invalid_token() {
    let f = fixture().await;
    let token = f
        .minter()
        .broken(Defect::UntrustedKey, "mcp:basic")
        .unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token signature is invalid")
    );
}

/// RS-09: `alg: none` → 401.
#[tokio::test]
async fn alg_none_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::AlgNone, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token is malformed")
    );
}

/// RS-09: HS256 keyed with the public key (algorithm confusion) → 401.
#[tokio::test]
async fn hs256_with_public_key_is_invalid_token() {
    let f = fixture().await;
    let token = f
        .minter()
        .broken(Defect::Hs256WithPublicKey, "mcp:basic")
        .unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token algorithm is not accepted")
    );
}

/// RS-10: `iss` that is not a configured AS → 401.
#[tokio::test]
async fn untrusted_issuer_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::WrongIssuer, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token issuer is not trusted")
    );
}

/// RS-11: header `typ` other than `at+jwt` → 401.
#[tokio::test]
async fn wrong_typ_is_invalid_token() {
    let f = fixture().await;
    let token = f.minter().broken(Defect::WrongTyp, "mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_token("token type is not at+jwt")
    );
}

/// RS-11: `application/at+jwt` in any case is accepted.
#[tokio::test]
async fn application_at_jwt_typ_is_accepted() {
    let f = fixture().await;
    let m = f.minter();
    let mut header = m.header();
    header["typ"] = "Application/AT+JWT".into();
    let token = f.key.sign(&header, &m.claims("mcp:basic")).unwrap();
    assert_eq!(
        f.send(tools_list(Some(&token))).await.status(),
        StatusCode::OK
    );
}

/// RS-12: a valid token lacking the tool's scope → 403 `insufficient_scope` with `scope` and
/// `resource_metadata`.
#[tokio::test]
async fn missing_tool_scope_is_403_insufficient_scope() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(call_tool(Some(&token), "delete_repo")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", error_description="repo:write required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:write""#
        )
    );
    assert_eq!(
        text(resp).await,
        r#"{"error":"insufficient_scope","error_description":"repo:write required"}"#
    );
}

/// RS-12 / SCOPE-06: `tools/list` needs only the baseline while `tools/call delete_repo` needs more.
#[tokio::test]
async fn tools_list_needs_only_the_baseline() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(text(resp).await, "sub=user-1 authorization=false");
}

/// RS-13: a token in the query → 400 `invalid_request`, even next to a valid header token.
#[tokio::test]
async fn token_in_query_is_400_invalid_request() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let req = Request::post(format!("/mcp?access_token={token}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(rpc("tools/list", serde_json::json!({}))))
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="invalid_request", error_description="access tokens are not accepted in the URI", resource_metadata="{PRM_URL}""#
        )
    );
}

/// RS-13: a token in a form body → 400 `invalid_request`.
#[tokio::test]
async fn token_in_form_body_is_400_invalid_request() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let req = Request::post("/mcp")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("access_token={token}")))
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="invalid_request", error_description="access tokens are not accepted in the request body", resource_metadata="{PRM_URL}""#
        )
    );
}

/// RS-14: GET streams and DELETE are authenticated, even after a successful request on the
/// same session.
#[tokio::test]
async fn every_method_is_authenticated_regardless_of_session() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let created = f.send(initialize(Some(&token))).await;
    let session = session_of(&created);
    let ok = in_session(tools_list(Some(&token)), &session);
    assert_eq!(f.send(ok).await.status(), StatusCode::OK);
    for method in ["GET", "DELETE", "POST"] {
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("mcp-session-id", &session)
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap();
        let resp = f.send(req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method}");
        assert_eq!(
            challenge(&resp).unwrap(),
            format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:basic""#)
        );
    }
}

/// RS-15: the token never reaches another host (the AS mock sees no `Authorization`, nor the
/// token anywhere), and the inner service does not get the header either.
#[tokio::test]
async fn token_is_never_forwarded() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(text(resp).await, "sub=user-1 authorization=false");
    let seen = f.auth.requests();
    assert_eq!(seen.len(), 2, "metadata and JWKS fetched once each");
    for r in &seen {
        assert!(!r.contains(&token));
        assert!(!r.to_ascii_lowercase().contains("authorization:"));
    }
}

/// RS-16, as overridden by issue #8 item 6: the configured resource is canonicalised once at
/// build time (uppercase scheme and host, default port), and a token `aud` must equal that
/// canonical string exactly.
#[tokio::test]
async fn configured_resource_is_canonicalised_at_build_time() {
    let config =
        mcp_auth_resource_server::ResourceServerConfig::builder("HTTPS://MCP.ACME.TEST:443/mcp")
            .authorization_server("https://auth.acme.test")
            .build()
            .unwrap();
    assert_eq!(config.resource().as_str(), RESOURCE);
    assert_eq!(config.accepted_audiences(), vec![RESOURCE.to_owned()]);
}

/// Issue #8 item 6 (overrides RS-16 for token `aud`): an `aud` that differs from the canonical
/// resource only in case, default port or a trailing slash is refused.
#[tokio::test]
async fn audience_is_compared_exactly() {
    let f = fixture().await;
    for aud in [
        "HTTPS://MCP.ACME.TEST:443/mcp",
        "https://MCP.acme.test/mcp",
        "https://mcp.acme.test:443/mcp",
        "https://mcp.acme.test/mcp/",
        "https://mcp.acme.test/MCP",
    ] {
        let m = f.minter();
        let mut claims = m.claims("mcp:basic");
        claims["aud"] = aud.into();
        let token = m.with_claims(&claims).unwrap();
        let resp = f.send(tools_list(Some(&token))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{aud}");
        assert_eq!(
            challenge(&resp).unwrap(),
            invalid_token("token audience mismatch"),
            "{aud}"
        );
    }
}

/// RS-17: the challenge `resource_metadata` URL is https.
#[tokio::test]
async fn challenge_resource_metadata_is_https() {
    let f = fixture().await;
    assert_eq!(f.config.metadata_url(), PRM_URL);
    assert!(f.config.metadata_url().starts_with("https://"));
}

/// RS-19: a session created by one principal is refused (404) for another.
#[tokio::test]
async fn session_of_another_principal_is_404() {
    let f = fixture().await;
    let alice = f.minter().subject("alice").valid("mcp:basic").unwrap();
    let bob = f.minter().subject("bob").valid("mcp:basic").unwrap();
    let session = session_of(&f.send(initialize(Some(&alice))).await);
    let resp = f.send(in_session(tools_list(Some(&bob)), &session)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(challenge(&resp), None);
    assert_eq!(
        text(resp).await,
        error_body("session_not_found", "session not found")
    );
}

/// RS-19: session state keys combine identity and session id.
#[tokio::test]
async fn session_key_combines_subject_and_session_id() {
    let f = fixture().await;
    let alice = f.minter().subject("alice").valid("mcp:basic").unwrap();
    let bob = f.minter().subject("bob").valid("mcp:basic").unwrap();
    let validator = mcp_auth_resource_server::JwtValidator::builder(&f.config)
        .clock(f.clock.clone())
        .build()
        .unwrap();
    use mcp_auth_resource_server::TokenValidator;
    let a = validator.validate(&alice).await.unwrap();
    let b = validator.validate(&bob).await.unwrap();
    assert_eq!(
        a.session_key("s-1"),
        format!("{} alice:s-1", f.auth.issuer())
    );
    assert_ne!(a.session_key("s-1"), b.session_key("s-1"));
}

/// RS-20: the same operation and granted set always give the same challenge, whatever the order
/// of the token's scopes.
#[tokio::test]
async fn challenge_is_deterministic() {
    let f = fixture().await;
    let t1 = f.minter().valid("mcp:basic files:read").unwrap();
    let t2 = f.minter().valid("files:read mcp:basic").unwrap();
    let mut seen = Vec::new();
    for t in [&t1, &t2, &t1] {
        let resp = f.send(call_tool(Some(t), "delete_repo")).await;
        seen.push(challenge(&resp).unwrap());
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    assert_eq!(
        seen[0],
        format!(
            r#"Bearer error="insufficient_scope", error_description="repo:write required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:write""#
        )
    );
}

/// RS-R2-01: one 403 names every missing scope; a retry with them succeeds.
#[tokio::test]
async fn one_403_names_every_scope_the_operation_needs() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(call_tool(Some(&token), "sync_repo")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", error_description="repo:read repo:write required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:read repo:write""#
        )
    );
    let retry = f.minter().valid("mcp:basic repo:read repo:write").unwrap();
    assert_eq!(
        f.send(call_tool(Some(&retry), "sync_repo")).await.status(),
        StatusCode::OK
    );
}

/// RS-R2-03: a scope that implies the required one passes, and the implied scope is not named
/// in a 403.
#[tokio::test]
async fn implying_scope_satisfies_and_is_not_challenged_again() {
    let f = fixture().await;
    let admin = f.minter().valid("mcp:basic repo:admin").unwrap();
    assert_eq!(
        f.send(call_tool(Some(&admin), "delete_repo"))
            .await
            .status(),
        StatusCode::OK
    );
    let resp = f.send(call_tool(Some(&admin), "sync_repo")).await;
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", error_description="repo:read required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:admin repo:read""#
        )
    );
}

/// Every deliberately broken token of the test kit gets 401 `invalid_token`.
#[tokio::test]
async fn every_test_kit_defect_is_refused_with_invalid_token() {
    let f = fixture().await;
    for defect in Defect::ALL {
        let token = f.minter().broken(defect, "mcp:basic").unwrap();
        let resp = f.send(tools_list(Some(&token))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{defect:?}");
        assert!(
            challenge(&resp)
                .unwrap()
                .starts_with(r#"Bearer error="invalid_token", "#),
            "{defect:?}"
        );
    }
}
