//! Issue 24 §4: on-behalf-of token exchange (RFC 8693 §2.1 with `act`). The MCP server of
//! [`RESOURCE`] ([`SERVER`]) exchanges the access token its user sent it for a token to
//! [`DOWNSTREAM`], which `may_exchange_to` allows; [`DOWNSTREAM`]'s server ([`DOWN_SERVER`])
//! may go on to [`THIRD`]. In-process server, fixed clock.

mod common;

use axum::http::StatusCode;
use common::*;
use mcp_auth_conformance::server::resources;
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_core::ext::ExtraClaims;
use mcp_auth_server::ServerSettings;
use serde_json::{Value, json};

const DOWNSTREAM: &str = "https://api.internal.example/mcp";
const THIRD: &str = "https://third.internal.example/mcp";
const SERVER: &str = "calendar-mcp";
const SERVER_SECRET: &str = "calendar-mcp-secret-0123456789";
const DOWN_SERVER: &str = "api-mcp";
const DOWN_SECRET: &str = "api-mcp-secret-0123456789";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn obo_settings() -> ServerSettings {
    let registry = resources(
        &[
            (RESOURCE, "mcp:basic mcp:tools files:write", "mcp:basic"),
            (OTHER_RESOURCE, "mcp:basic", "mcp:basic"),
            (
                DOWNSTREAM,
                "mcp:tools files:write reports:read",
                "mcp:tools",
            ),
            (THIRD, "mcp:tools files:write", "mcp:tools"),
        ],
        None,
    )
    .unwrap();
    let mut settings = ServerSettings::new(ISSUER.parse().unwrap(), registry);
    for (resource, server) in [(RESOURCE, SERVER), (DOWNSTREAM, DOWN_SERVER)] {
        settings
            .server_clients
            .insert(resource.parse().unwrap(), vec![server.parse().unwrap()]);
    }
    settings
        .exchange_targets
        .insert(RESOURCE.parse().unwrap(), vec![DOWNSTREAM.parse().unwrap()]);
    settings
        .exchange_targets
        .insert(DOWNSTREAM.parse().unwrap(), vec![THIRD.parse().unwrap()]);
    settings
}

async fn server() -> Harness {
    let h = Harness::with_settings(obo_settings()).await;
    for (id, secret) in [(SERVER, SERVER_SECRET), (DOWN_SERVER, DOWN_SECRET)] {
        h.stores
            .clients
            .put(&mcp_auth_conformance::server::client(
                id,
                TokenEndpointAuthMethod::ClientSecretBasic,
                Some(secret),
                &[EXCHANGE],
                &[],
            ))
            .await
            .unwrap();
    }
    h
}

/// The user's access token for [`RESOURCE`] with `scope`, through the code flow.
async fn user_token(h: &Harness, scope: &str) -> String {
    h.public_tokens(Some(scope)).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `act` nested `depth` deep: `{"sub":"actor-1","act":{"sub":"actor-2",…}}`.
fn chain(depth: usize) -> Value {
    let mut act: Option<Value> = None;
    for n in (1..=depth).rev() {
        let mut level = json!({ "sub": format!("actor-{n}") });
        if let Some(inner) = act {
            level["act"] = inner;
        }
        act = Some(level);
    }
    act.unwrap_or(Value::Null)
}

fn with_act(act: Value) -> ExtraClaims {
    ExtraClaims::try_from(serde_json::Map::from_iter([("act".to_owned(), act)])).unwrap()
}

fn body(subject_token: &str, extra: &str) -> String {
    format!(
        "grant_type={}&subject_token={}&subject_token_type={}{extra}",
        enc(EXCHANGE),
        enc(subject_token),
        enc(ACCESS_TOKEN_TYPE)
    )
}

fn to(resource: &str) -> String {
    format!("&audience={}", enc(resource))
}

async fn exchange_as(h: &Harness, client: (&str, &str), body: &str) -> TestResponse {
    h.post_form("/token", body, Some(&basic(client.0, client.1)))
        .await
}

async fn exchange(h: &Harness, body: &str) -> TestResponse {
    exchange_as(h, (SERVER, SERVER_SECRET), body).await
}

fn refused(res: &TestResponse, status: StatusCode, error: &str, what: &str) {
    assert_eq!(res.status, status, "{what}: {}", res.body);
    assert_eq!(res.error(), error, "{what}: {}", res.body);
}

/// RFC 8693 §2.2.1, §4.1: the MCP server gets a token for the downstream resource that keeps
/// the user's `sub` and `auth_time`, names the MCP server as `client_id` and as the actor
/// (`act.sub`), carries the subject token's scopes the downstream resource knows, no refresh
/// token, `issued_token_type` `…:access_token`, `Cache-Control: no-store`.
#[tokio::test]
async fn a_user_token_is_exchanged_for_the_downstream_resource() {
    let h = server().await;
    let token = user_token(&h, "mcp:basic mcp:tools files:write").await;
    let res = exchange(&h, &body(&token, &to(DOWNSTREAM))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let answer = res.json();
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(answer["scope"], "files:write mcp:tools");
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let (header, claims) = jwt_parts(answer["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    let (_, original) = jwt_parts(&token);
    assert_eq!(claims["sub"], original["sub"]);
    assert_eq!(claims["auth_time"], original["auth_time"]);
    assert_eq!(claims["aud"], DOWNSTREAM);
    assert_eq!(claims["client_id"], SERVER);
    assert_eq!(claims["act"], json!({"sub": SERVER}));
    assert_ne!(claims["jti"], original["jti"]);
    assert!(claims["exp"].as_i64() <= original["exp"].as_i64());
    // Named by RFC 8707 `resource` instead of `audience`, and by both when they agree.
    for target in [
        format!("&resource={}", enc(DOWNSTREAM)),
        format!("{}&resource={}", to(DOWNSTREAM), enc(DOWNSTREAM)),
    ] {
        let res = exchange(&h, &body(&token, &target)).await;
        assert_eq!(res.status, StatusCode::OK, "{target}: {}", res.body);
    }
}

/// RFC 8693 §2.1 `scope`: a request may narrow the subject token's scopes within the
/// downstream resource; a scope the user's token does not hold, or one the downstream
/// resource does not know, is `invalid_scope`; nothing in common is `invalid_scope`.
#[tokio::test]
async fn scope_narrows_and_never_widens() {
    let h = server().await;
    let token = user_token(&h, "mcp:tools files:write").await;
    let res = exchange(
        &h,
        &body(&token, &format!("{}&scope=mcp%3Atools", to(DOWNSTREAM))),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "mcp:tools");
    let narrow = user_token(&h, "mcp:tools").await;
    for (what, token, scope) in [
        ("not in the user's token", &narrow, "files%3Awrite"),
        ("the downstream's, not the user's", &token, "reports%3Aread"),
        ("unknown downstream", &token, "mcp%3Abasic"),
    ] {
        let res = exchange(
            &h,
            &body(token, &format!("{}&scope={scope}", to(DOWNSTREAM))),
        )
        .await;
        refused(&res, StatusCode::BAD_REQUEST, "invalid_scope", what);
    }
    let basic_only = user_token(&h, "mcp:basic").await;
    let res = exchange(&h, &body(&basic_only, &to(DOWNSTREAM))).await;
    refused(
        &res,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        "nothing in common",
    );
}

/// Issue 24 §4 `may_exchange_to`, RFC 8693 §2.2.2: a served resource the policy does not list
/// (the token's own resource included), an unknown one, two `resource` values, and
/// `audience`/`resource` naming different resources are `invalid_target`.
#[tokio::test]
async fn targets_outside_may_exchange_to_are_invalid_target() {
    let h = server().await;
    let token = user_token(&h, "mcp:tools").await;
    for (what, target) in [
        ("served, not allowed", to(OTHER_RESOURCE)),
        ("its own resource", to(RESOURCE)),
        ("allowed only from downstream", to(THIRD)),
        ("unknown", to("https://elsewhere.example/mcp")),
        (
            "unknown resource",
            format!("&resource={}", enc("https://elsewhere.example/mcp")),
        ),
        (
            "two resources",
            format!("&resource={}&resource={}", enc(DOWNSTREAM), enc(THIRD)),
        ),
        (
            "audience and resource disagree",
            format!("{}&resource={}", to(DOWNSTREAM), enc(THIRD)),
        ),
    ] {
        let res = exchange(&h, &body(&token, &target)).await;
        refused(&res, StatusCode::BAD_REQUEST, "invalid_target", what);
        assert!(!res.body.contains(&token), "{what}: the token is echoed");
    }
}

/// RFC 8693 §2.2.2 `invalid_grant`: a subject token for a resource the caller does not serve,
/// expired, revoked, without a user (client credentials, a workload), forged, not a JWT, a refresh token,
/// or an earlier exchange result for a resource the caller does not serve.
#[tokio::test]
async fn subject_tokens_that_are_not_the_callers_users_are_invalid_grant() {
    let h = server().await;
    let refresh = h.public_tokens(Some("mcp:tools")).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.stores
        .denylist
        .deny("jti-revoked", NOW + 300)
        .await
        .unwrap();
    let tampered = {
        let t = user_token(&h, "mcp:tools").await;
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    let cases = [
        (
            "another audience",
            signed_access_token(&h, |c| c.aud = OTHER_RESOURCE.into()),
        ),
        (
            "the downstream's token",
            signed_access_token(&h, |c| c.aud = DOWNSTREAM.into()),
        ),
        ("expired", signed_access_token(&h, |c| c.exp = NOW)),
        (
            "revoked",
            signed_access_token(&h, |c| c.jti = "jti-revoked".into()),
        ),
        (
            "client credentials",
            signed_access_token(&h, |c| {
                c.sub = SERVER.into();
                c.client_id = SERVER.into();
                c.auth_time = None;
            }),
        ),
        (
            "a workload's token (SEP-1933)",
            signed_access_token(&h, |c| {
                c.sub = "wif:k8s:system:serviceaccount:ns:job".into();
                c.client_id = "workload-client".into();
                c.auth_time = None;
            }),
        ),
        ("forged", tampered),
        ("not a JWT", "opaque-token".to_owned()),
        ("a refresh token", refresh),
    ];
    for (what, token) in cases {
        let res = exchange(&h, &body(&token, &to(DOWNSTREAM))).await;
        refused(&res, StatusCode::BAD_REQUEST, "invalid_grant", what);
    }
}

/// Only a confidential client registered for the grant, and the MCP server of the token's
/// resource, may exchange: a public client (even one registered for the grant) is `401
/// invalid_client`; a confidential client not
/// registered for the grant is `unauthorized_client`; the downstream's server presenting a
/// token of [`RESOURCE`] is `invalid_grant`; a wrong secret is `401 invalid_client`.
#[tokio::test]
async fn only_the_resource_servers_confidential_client_may_exchange() {
    let h = server().await;
    let token = user_token(&h, "mcp:tools").await;
    let b = body(&token, &to(DOWNSTREAM));
    h.stores
        .clients
        .put(&mcp_auth_conformance::server::client(
            "public-exchanger",
            TokenEndpointAuthMethod::None,
            None,
            &[EXCHANGE],
            &[],
        ))
        .await
        .unwrap();
    let public = h
        .post_form("/token", &format!("{b}&client_id=public-exchanger"), None)
        .await;
    refused(
        &public,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "public",
    );
    let unregistered = exchange_as(&h, (BASIC, BASIC_SECRET), &b).await;
    refused(
        &unregistered,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "unregistered",
    );
    let not_its_server = exchange_as(&h, (DOWN_SERVER, DOWN_SECRET), &b).await;
    refused(
        &not_its_server,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "not its server",
    );
    let wrong = exchange_as(&h, (SERVER, "wrong-secret-0000000"), &b).await;
    refused(
        &wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "wrong secret",
    );
}

/// RFC 8693 §2.1, RFC 6749 §5.2: odd shapes are `invalid_request`, and a target nobody serves
/// is `invalid_target` (RFC 8693 §2.2.2): repeated parameters, a missing or malformed
/// token type, an actor token (the client is the actor), a subject token of another type, a
/// `requested_token_type` nobody issues, no target at all.
#[tokio::test]
async fn odd_shapes_are_refused_with_exact_codes() {
    let h = server().await;
    let token = user_token(&h, "mcp:tools").await;
    let t = enc(&token);
    let d = to(DOWNSTREAM);
    let cases = [
        (
            "subject token twice",
            body(&token, &format!("{d}&subject_token={t}")),
            "invalid_request",
        ),
        (
            "audience twice",
            body(&token, &format!("{d}{d}")),
            "invalid_request",
        ),
        (
            "scope twice",
            body(&token, &format!("{d}&scope=mcp%3Atools&scope=mcp%3Atools")),
            "invalid_request",
        ),
        (
            "no subject token type",
            format!("grant_type={}&subject_token={t}{d}", enc(EXCHANGE)),
            "invalid_request",
        ),
        (
            "token type not a URI",
            format!(
                "grant_type={}&subject_token={t}&subject_token_type=access_token{d}",
                enc(EXCHANGE)
            ),
            "invalid_request",
        ),
        (
            "actor token",
            body(
                &token,
                &format!(
                    "{d}&actor_token={t}&actor_token_type={}",
                    enc(ACCESS_TOKEN_TYPE)
                ),
            ),
            "invalid_request",
        ),
        (
            "actor type alone",
            body(
                &token,
                &format!("{d}&actor_token_type={}", enc(ACCESS_TOKEN_TYPE)),
            ),
            "invalid_request",
        ),
        (
            "refresh token type",
            format!(
                "grant_type={}&subject_token={t}&subject_token_type={}{d}",
                enc(EXCHANGE),
                enc("urn:ietf:params:oauth:token-type:refresh_token")
            ),
            "invalid_request",
        ),
        (
            "an unsupported requested type",
            body(
                &token,
                &format!(
                    "{d}&requested_token_type={}",
                    enc("urn:ietf:params:oauth:token-type:id-jag")
                ),
            ),
            "invalid_request",
        ),
        ("no target", body(&token, ""), "invalid_request"),
        (
            "a supported type for a target nobody serves",
            body(
                &token,
                &format!(
                    "&audience=crm&requested_token_type={}",
                    enc(ACCESS_TOKEN_TYPE)
                ),
            ),
            "invalid_target",
        ),
    ];
    for (what, form, error) in cases {
        let res = exchange(&h, &form).await;
        refused(&res, StatusCode::BAD_REQUEST, error, what);
        assert!(!res.body.contains(&token), "{what}: the token is echoed");
    }
}

/// RFC 8693 §4.1: the downstream's server exchanging the token it received nests the chain
/// (`act.sub` the latest actor, `act.act.sub` the one before); a subject token already
/// carrying 4 actors (the bound), or a malformed `act`, is `invalid_grant`; one with 3 gives a
/// token with 4.
#[tokio::test]
async fn delegation_chains_nest_and_are_bounded() {
    let h = server().await;
    let token = user_token(&h, "mcp:tools files:write").await;
    let first = exchange(&h, &body(&token, &to(DOWNSTREAM))).await.json();
    let first = first["access_token"].as_str().unwrap();
    let res = exchange_as(&h, (DOWN_SERVER, DOWN_SECRET), &body(first, &to(THIRD))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["client_id"], DOWN_SERVER);
    assert_eq!(
        claims["act"],
        json!({"sub": DOWN_SERVER, "act": {"sub": SERVER}})
    );

    let three = signed_access_token(&h, |c| c.extra = with_act(chain(3)));
    let res = exchange(&h, &body(&three, &to(DOWNSTREAM))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["act"]["sub"], SERVER);
    assert_eq!(claims["act"]["act"], chain(3));
    assert_eq!(mcp_auth_server::grants::MAX_ACTOR_DEPTH, 4);
    for (what, act) in [
        ("four actors", chain(4)),
        ("act not an object", json!("someone")),
        ("act without sub", json!({"act": {"sub": "x"}})),
    ] {
        let token = signed_access_token(&h, |c| c.extra = with_act(act));
        let res = exchange(&h, &body(&token, &to(DOWNSTREAM))).await;
        refused(&res, StatusCode::BAD_REQUEST, "invalid_grant", what);
    }
}

/// The new token never outlives the subject token: one expiring in 60 s gives `expires_in` 60.
#[tokio::test]
async fn the_new_token_expires_no_later_than_the_subject_token() {
    let h = server().await;
    let short = signed_access_token(&h, |c| c.exp = NOW + 60);
    let res = exchange(&h, &body(&short, &to(DOWNSTREAM))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["expires_in"], 60);
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"], NOW + 60);
}

/// RFC 8414: `grant_types_supported` lists token exchange exactly when an exchanger is
/// configured; without `may_exchange_to` the grant is `unsupported_grant_type`.
#[tokio::test]
async fn token_exchange_is_advertised_only_when_configured() {
    let on = server().await;
    assert!(lists_exchange(&on).await);
    let off = Harness::new().await;
    assert!(!lists_exchange(&off).await);
    let token = user_token(&off, "mcp:tools").await;
    let res = off
        .post_form(
            "/token",
            &body(&token, &to(OTHER_RESOURCE)),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    refused(
        &res,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        "not configured",
    );
}

async fn lists_exchange(h: &Harness) -> bool {
    let meta = h
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == EXCHANGE)
}

/// `may_exchange_to` names configured resources only, and its resource must list the MCP
/// server that would exchange (`server_clients`); the server refuses to start otherwise.
#[test]
fn may_exchange_to_is_checked_at_start() {
    let mut unknown_target = obo_settings();
    unknown_target.exchange_targets.insert(
        RESOURCE.parse().unwrap(),
        vec!["https://elsewhere.example/mcp".parse().unwrap()],
    );
    assert!(
        unknown_target
            .validate()
            .unwrap_err()
            .to_string()
            .contains("elsewhere")
    );
    let mut no_server = obo_settings();
    no_server.exchange_targets.insert(
        OTHER_RESOURCE.parse().unwrap(),
        vec![DOWNSTREAM.parse().unwrap()],
    );
    assert!(
        no_server
            .validate()
            .unwrap_err()
            .to_string()
            .contains("server_clients")
    );
    assert!(obo_settings().validate().is_ok());
}

/// The settings of a configuration file with `toml` after `default_resource`, or the refusal.
fn from_config(toml: &str) -> Result<ServerSettings, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let text = format!("default_resource = \"http://127.0.0.1:8080/mcp\"\n{toml}");
    std::fs::write(&path, text).unwrap();
    let c = mcp_auth_server::config::Config::load(Some(&path)).map_err(|e| e.to_string())?;
    let issuer = c.issuer(c.bind).map_err(|e| e.to_string())?;
    c.settings(issuer).map_err(|e| e.to_string())
}

/// `[[resources]] may_exchange_to` reaches the settings; a malformed URI is refused.
#[test]
fn may_exchange_to_is_read_from_the_configuration() {
    let toml = |targets: &str| {
        format!(
            r#"
[[resources]]
resource = "http://127.0.0.1:8080/mcp"
scopes = ["mcp:tools"]
server_clients = ["calendar-mcp"]
may_exchange_to = [{targets}]

[[resources]]
resource = "http://127.0.0.1:8081/api"
scopes = ["mcp:tools"]
"#
        )
    };
    let settings = from_config(&toml("\"http://127.0.0.1:8081/api\"")).unwrap();
    let source = "http://127.0.0.1:8080/mcp".parse().unwrap();
    assert_eq!(
        settings.exchange_targets.get(&source),
        Some(&vec!["http://127.0.0.1:8081/api".parse().unwrap()])
    );
    let err = from_config(&toml("\"not a uri\"")).unwrap_err();
    assert!(err.contains("may_exchange_to"), "{err}");
    let err = from_config(&toml("\"http://127.0.0.1:8082/none\"")).unwrap_err();
    assert!(err.contains("not a configured resource"), "{err}");
}

/// Issue 25 §2: each exchange is recorded after its `token_issued`: the user (`sub`), the
/// actor chain of the new token (current actor first), the client, the requested type and
/// audience, the resource and the new `jti`; no token is in the trail.
#[tokio::test]
async fn exchanges_are_audited_with_subject_and_actor_chain() {
    let h = server().await;
    let token = user_token(&h, "mcp:tools files:write").await;
    let extra = format!(
        "{}&requested_token_type={}",
        to(DOWNSTREAM),
        enc(ACCESS_TOKEN_TYPE)
    );
    let first = exchange(&h, &body(&token, &extra)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let first = first.json()["access_token"].as_str().unwrap().to_owned();
    let res = exchange_as(&h, (DOWN_SERVER, DOWN_SECRET), &body(&first, &to(THIRD))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let second = res.json()["access_token"].as_str().unwrap().to_owned();
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
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    // The user's code flow (consent, token), then two exchanges.
    assert_eq!(
        &kinds[kinds.len() - 4..],
        [
            "token_issued",
            "token_exchanged",
            "token_issued",
            "token_exchanged"
        ],
        "{kinds:?}"
    );
    let n = events.len();
    let (one, two) = (&events[n - 3], &events[n - 1]);
    assert_eq!(events[n - 4]["grant_type"], EXCHANGE);
    assert_eq!(one["client_id"], SERVER);
    assert_eq!(one["sub"], "user-1");
    assert_eq!(one["actors"], json!([SERVER]));
    assert_eq!(one["requested_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(one["audience"], json!([DOWNSTREAM]));
    assert_eq!(one["resource"], DOWNSTREAM);
    assert_eq!(one["jti"], jwt_parts(&first).1["jti"]);
    assert_eq!(two["client_id"], DOWN_SERVER);
    assert_eq!(two["sub"], "user-1");
    assert_eq!(two["actors"], json!([DOWN_SERVER, SERVER]));
    assert_eq!(two["requested_token_type"], Value::Null);
    assert_eq!(two["resource"], THIRD);
    assert_eq!(two["jti"], jwt_parts(&second).1["jti"]);
    let text: String = rows.iter().map(|r| r.data.as_str()).collect();
    for secret in [&token, &first, &second] {
        assert!(
            !text.contains(secret.as_str()),
            "a token in the audit trail"
        );
    }
    for secret in [SERVER_SECRET, DOWN_SECRET] {
        assert!(!text.contains(secret), "a secret in the audit trail");
    }
}
