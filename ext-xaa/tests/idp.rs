//! The issuing IdP role (SEP-990 §6.3, §6.4; issue #10 part 2): RFC 8693 token exchange of an ID
//! token (or refresh token) this server issued for an ID-JAG addressed to another authorization
//! server.

use axum::http::StatusCode;
use mcp_auth_conformance::server::{
    FIXED_NOW as NOW, InProcessServer, TestResponse, basic, client, enc, jwt_parts, resources,
    settings,
};
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_ext_xaa::idp::{IdpConfig, IdpExtension};

const IDP: &str = "https://idp.example.com";
const AS: &str = "https://auth.mcp.example.com";
const OTHER_AS: &str = "https://auth.other.example.com";
const MCP: &str = "https://mcp.example.com/mcp";
const MCP2: &str = "https://mcp2.example.com/mcp";
const APP: &str = "app";
const APP_SECRET: &str = "app-secret-0123456789";
const OTHER_APP: &str = "other-app";
const OTHER_SECRET: &str = "other-secret-0123456789";
const PUBLIC_APP: &str = "public-app";
const REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const REFRESH: &str = "urn:ietf:params:oauth:token-type:refresh_token";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

fn idp_config() -> IdpConfig {
    serde_json::from_value(serde_json::json!({
        "enabled": true,
        "targets": [
            {
                "audience": AS,
                "resources": [MCP],
                "scopes": ["files:read", "files:write"],
                "client_ids": {"app": "app-at-mcp-as", "other-app": "other-at-mcp-as"},
                "cimd_client_ids_as_is": true,
            },
            {
                "audience": OTHER_AS,
                "resources": [MCP, MCP2],
                "scopes": ["files:read"],
                "client_ids": {"app": "app-at-other"},
            }
        ]
    }))
    .unwrap()
}

/// The IdP: its own resource (for the access token of its sign-in), OpenID Connect through
/// the role, and the clients `app`, `other-app` (confidential) and `public-app`.
async fn idp() -> InProcessServer {
    let userinfo = format!("{IDP}/userinfo");
    let registry = resources(&[(&userinfo, "profile", "profile")], Some(&userinfo)).unwrap();
    let s = settings(IDP, registry).unwrap();
    let kit = InProcessServer::start(s, |b| {
        b.extension(Box::new(IdpExtension::new(idp_config())))
    })
    .await
    .unwrap();
    let grants = ["authorization_code", "refresh_token", EXCHANGE];
    for c in [
        client(
            APP,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(APP_SECRET),
            &grants,
            &[REDIRECT],
        ),
        client(
            OTHER_APP,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(OTHER_SECRET),
            &grants,
            &[REDIRECT],
        ),
        client(
            PUBLIC_APP,
            TokenEndpointAuthMethod::None,
            None,
            &grants,
            &[REDIRECT],
        ),
    ] {
        kit.stores.clients.put(&c).await.unwrap();
    }
    kit
}

/// Sign `alice` in at the IdP for `client_id` with `openid`: the token response (ID token,
/// access token, refresh token).
async fn sign_in(
    kit: &InProcessServer,
    client_id: &str,
    secret: Option<&str>,
) -> serde_json::Value {
    let q = format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&scope=openid%20profile&nonce=n1&state=s",
        enc(REDIRECT)
    );
    let req = kit
        .server
        .validate_authorization_request(q.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let location = kit
        .server
        .approve(&req, "alice-sub", NOW - 30)
        .await
        .unwrap();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let body = format!(
        "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}&client_id={client_id}",
        enc(REDIRECT)
    );
    let res = kit
        .token(&body, secret.map(|s| basic(client_id, s)).as_deref())
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

async fn exchange(kit: &InProcessServer, auth: Option<(&str, &str)>, form: &str) -> TestResponse {
    let body = format!("grant_type={}&{form}", enc(EXCHANGE));
    let header = auth.map(|(id, s)| basic(id, s));
    kit.token(&body, header.as_deref()).await
}

fn form(subject: &str, extra: &str) -> String {
    format!(
        "requested_token_type={}&subject_token={subject}&subject_token_type={}&audience={}{extra}",
        enc(ID_JAG),
        enc(ID_TOKEN),
        enc(AS)
    )
}

fn assert_error(res: &TestResponse, status: StatusCode, error: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert_eq!(res.json()["error"], error, "{}", res.body);
}

/// SEP-990 §6.3 and §6.4: the ID-JAG header and claims, and the token-exchange response
/// (`issued_token_type`, `token_type: N_A`, `expires_in` 300, `scope`, `Cache-Control:
/// no-store`, no refresh token).
#[tokio::test]
async fn an_id_token_is_exchanged_for_an_id_jag() {
    let kit = idp().await;
    let tokens = sign_in(&kit, APP, Some(APP_SECRET)).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(
            id_token,
            &format!("&resource={}&scope=files%3Aread", enc(MCP)),
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["issued_token_type"], ID_JAG);
    assert_eq!(body["token_type"], "N_A");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "files:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "oauth-id-jag+jwt");
    assert_eq!(header["kid"], kit.server.jwks()["keys"][0]["kid"]);
    assert_eq!(claims["iss"], IDP);
    assert_eq!(claims["sub"], "alice-sub");
    assert_eq!(claims["aud"], AS);
    assert_eq!(claims["client_id"], "app-at-mcp-as");
    assert_eq!(claims["resource"], MCP);
    assert_eq!(claims["scope"], "files:read");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 300);
    assert_eq!(claims["auth_time"], NOW - 30);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

/// Without `resource` and `scope`: the target's only resource and all its scopes.
#[tokio::test]
async fn defaults_are_the_targets_only_resource_and_all_its_scopes() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(id_token.as_str().unwrap(), ""),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["resource"], MCP);
    assert_eq!(claims["scope"], "files:read files:write");
}

/// A refresh token this server issued to the client is a subject token too; it is not spent.
#[tokio::test]
async fn a_refresh_token_is_a_subject_token() {
    let kit = idp().await;
    let tokens = sign_in(&kit, APP, Some(APP_SECRET)).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let f = format!(
        "requested_token_type={}&subject_token={rt}&subject_token_type={}&audience={}",
        enc(ID_JAG),
        enc(REFRESH),
        enc(AS)
    );
    for _ in 0..2 {
        let res = exchange(&kit, Some((APP, APP_SECRET)), &f).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(
            jwt_parts(res.json()["access_token"].as_str().unwrap()).1["sub"],
            "alice-sub"
        );
    }
    // Another client cannot use it.
    let res = exchange(&kit, Some((OTHER_APP, OTHER_SECRET)), &f).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// SEP-990 §6.3 step 2: the ID token must have been issued to the authenticated client.
#[tokio::test]
async fn an_id_token_of_another_client_is_invalid_grant() {
    let kit = idp().await;
    let theirs = sign_in(&kit, OTHER_APP, Some(OTHER_SECRET)).await;
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(theirs["id_token"].as_str().unwrap(), ""),
    )
    .await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(res.body.contains("authenticated client"), "{}", res.body);
}

/// Only ID tokens: an access token (or a forged, tampered or expired ID token) is
/// `invalid_grant`, and the token never appears in the error.
#[tokio::test]
async fn other_subject_tokens_are_invalid_grant() {
    let kit = idp().await;
    let tokens = sign_in(&kit, APP, Some(APP_SECRET)).await;
    let access = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    // Flip one character in the middle of the signature (the last characters carry padding
    // bits, so changing them may leave the signature as it was).
    let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
    parts[2] = sig.into_iter().collect();
    let tampered = parts.join(".");
    for subject in [access, tampered.as_str(), "not-a-jwt"] {
        let res = exchange(&kit, Some((APP, APP_SECRET)), &form(subject, "")).await;
        assert_error(&res, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(!res.body.contains(subject), "{}", res.body);
    }
    // Expired: the clock moves past the ID token's exp.
    kit.clock.set(NOW + 3600);
    let res = exchange(&kit, Some((APP, APP_SECRET)), &form(id_token, "")).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(res.body.contains("expired"), "{}", res.body);
}

/// An ID token whose `exp` is earlier than its `iat` is `invalid_grant`, whatever the skew,
/// even though this server's key signed it and it has not expired.
#[tokio::test]
async fn subject_token_expiring_before_it_was_issued_is_invalid_grant() {
    let kit = idp().await;
    let id_token = kit
        .server
        .token_issuer()
        .issue_id_token(&mcp_auth_core::ext::IdTokenClaims {
            iss: IDP.into(),
            sub: "alice-sub".into(),
            aud: APP.into(),
            exp: NOW + 100,
            iat: NOW + 101,
            auth_time: NOW - 30,
            nonce: None,
            jti: "id-1".into(),
        })
        .unwrap();
    let res = exchange(&kit, Some((APP, APP_SECRET)), &form(&id_token, "")).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        res.json()["error_description"],
        "the subject token's exp is earlier than its iat"
    );
}

/// SEP-990 §6.3 step 3 (stable §7.6.1): the (audience, resource) pair must be one the policy
/// lists; the client must be mapped for the audience (`invalid_target`).
#[tokio::test]
async fn requests_outside_the_target_policy_are_invalid_target() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let id_token = id_token.as_str().unwrap();
    let unknown_audience = format!(
        "requested_token_type={}&subject_token={id_token}&subject_token_type={}&audience={}",
        enc(ID_JAG),
        enc(ID_TOKEN),
        enc("https://evil.example.com")
    );
    let res = exchange(&kit, Some((APP, APP_SECRET)), &unknown_audience).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(id_token, &format!("&resource={}", enc(MCP2))),
    )
    .await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
    // OTHER_AS governs two resources: one must be named.
    let two = format!(
        "requested_token_type={}&subject_token={id_token}&subject_token_type={}&audience={}",
        enc(ID_JAG),
        enc(ID_TOKEN),
        enc(OTHER_AS)
    );
    let res = exchange(&kit, Some((APP, APP_SECRET)), &two).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &format!("{two}&resource={}", enc(MCP2)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        jwt_parts(res.json()["access_token"].as_str().unwrap()).1["client_id"],
        "app-at-other"
    );
    // OTHER_APP is not mapped for OTHER_AS.
    let theirs = sign_in(&kit, OTHER_APP, Some(OTHER_SECRET)).await;
    let theirs = theirs["id_token"].as_str().unwrap();
    let unmapped = format!(
        "requested_token_type={}&subject_token={theirs}&subject_token_type={}&audience={}&resource={}",
        enc(ID_JAG),
        enc(ID_TOKEN),
        enc(OTHER_AS),
        enc(MCP)
    );
    let res = exchange(&kit, Some((OTHER_APP, OTHER_SECRET)), &unmapped).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// A scope beyond the target's is `invalid_scope`, never silently widened or dropped.
#[tokio::test]
async fn a_scope_beyond_the_target_is_invalid_scope() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(id_token.as_str().unwrap(), "&scope=files%3Aread%20admin"),
    )
    .await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_scope");
}

/// SEP-990 stable §7.7: client authentication is required: a public client (no client
/// authentication) and a wrong secret are `invalid_client` (401).
#[tokio::test]
async fn client_authentication_is_required() {
    let kit = idp().await;
    let tokens = sign_in(&kit, PUBLIC_APP, None).await;
    let f = form(tokens["id_token"].as_str().unwrap(), "");
    let res = kit
        .token(
            &format!("grant_type={}&client_id={PUBLIC_APP}&{f}", enc(EXCHANGE)),
            None,
        )
        .await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "invalid_client");
    let res = exchange(&kit, Some((APP, "wrong-secret-000000")), &form("x", "")).await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "invalid_client");
}

/// Missing or unsupported parameters are `invalid_request`.
#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let id_token = id_token.as_str().unwrap();
    let access_type = form(id_token, "").replace(
        &enc(ID_JAG),
        &enc("urn:ietf:params:oauth:token-type:access_token"),
    );
    for f in [
        format!(
            "subject_token={id_token}&subject_token_type={}&audience={}",
            enc(ID_TOKEN),
            enc(AS)
        ),
        format!(
            "requested_token_type={}&subject_token_type={}&audience={}",
            enc(ID_JAG),
            enc(ID_TOKEN),
            enc(AS)
        ),
        format!(
            "requested_token_type={}&subject_token={id_token}&subject_token_type={}",
            enc(ID_JAG),
            enc(ID_TOKEN)
        ),
        access_type,
        form(id_token, "&actor_token=x&actor_token_type=y"),
        form(id_token, &format!("&audience={}", enc(AS))),
    ] {
        let res = exchange(&kit, Some((APP, APP_SECRET)), &f).await;
        assert_error(&res, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

/// SEP-990 EMA-M5 and RFC 8414: the IdP's metadata lists the token-exchange grant and the ID-JAG
/// as a requestable token type, and the OpenID Connect members.
#[tokio::test]
async fn metadata_advertises_the_idp_role() {
    let kit = idp().await;
    let meta = kit.get("/.well-known/openid-configuration").await.json();
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == EXCHANGE)
    );
    assert_eq!(
        meta["identity_chaining_requested_token_types_supported"],
        serde_json::json!([ID_JAG])
    );
    assert_eq!(
        meta["subject_types_supported"],
        serde_json::json!(["public"])
    );
    // The policy (targets, client mappings) is never published.
    assert!(!meta.to_string().contains(AS), "{meta}");
}

/// An ID-JAG names one resource: `resource` sent twice is `invalid_target`, never "the first".
#[tokio::test]
async fn a_repeated_resource_is_invalid_target() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(
            id_token.as_str().unwrap(),
            &format!("&resource={}&resource={}", enc(MCP), enc(MCP)),
        ),
    )
    .await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// The error of a scope beyond the target says so (not a refresh-token message).
#[tokio::test]
async fn the_scope_refusal_names_the_audience_policy() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(id_token.as_str().unwrap(), "&scope=admin"),
    )
    .await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(res.body.contains("for that audience"), "{}", res.body);
}

/// SEP-990 §6.4 / EMA-14 from the issuing side: an ID-JAG this server issued is never one of its
/// access tokens (introspection by the resource's own client reads it inactive) and never an ID
/// token (as a `subject_token` it is `invalid_grant`).
#[tokio::test]
async fn an_id_jag_is_neither_an_access_token_nor_an_id_token() {
    let kit = idp().await;
    let id_token = sign_in(&kit, APP, Some(APP_SECRET)).await["id_token"].clone();
    let res = exchange(
        &kit,
        Some((APP, APP_SECRET)),
        &form(id_token.as_str().unwrap(), ""),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let jag = res.json()["access_token"].as_str().unwrap().to_owned();
    let intro = kit
        .post_form(
            "/introspect",
            &format!("token={jag}"),
            Some(&basic(APP, APP_SECRET)),
        )
        .await;
    assert_eq!(intro.status, StatusCode::OK, "{}", intro.body);
    assert_eq!(intro.json()["active"], false, "{}", intro.body);
    let res = exchange(&kit, Some((APP, APP_SECRET)), &form(&jag, "")).await;
    assert_error(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(res.body.contains("not an ID token"), "{}", res.body);
}
