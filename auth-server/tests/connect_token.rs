//! Issue 11: `POST /connect/token` (the MCP server asks for a user's third-party credential by
//! RFC 8693 token exchange) and `POST /connect/status` (the long-poll that tells it when an
//! elicitation finished). In-process server; the connection is an `api_key` one, so no third
//! party is needed (the OAuth path is covered by `connect_pages.rs` and `elicitation_e2e.rs`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::store::{ElicitationStatus, PendingElicitation};
use mcp_auth_core::vault::VaultKeyring;
use mcp_auth_core::{Secret, TokenEndpointAuthMethod};
use mcp_auth_server::connections::Connections;

/// The MCP server's own confidential client, registered for the token-exchange grant.
const SERVER: &str = "calendar-mcp";
const SERVER_SECRET: &str = "calendar-mcp-secret-0123456789";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const API_KEY_TYPE: &str = "urn:mcp-auth:token-type:api-key";

/// Our server with the `crm` connection for [`RESOURCE`], whose server's clients are [`SERVER`]
/// (registered for the token-exchange grant) and [`BASIC`] (not registered for it).
async fn server() -> (Harness, Arc<Connections>) {
    let mut settings = settings(ISSUER);
    settings.server_clients.insert(
        RESOURCE.parse().unwrap(),
        vec![SERVER.parse().unwrap(), BASIC.parse().unwrap()],
    );
    let (h, c) =
        Harness::with_connections(settings, vec![api_key_connection("crm", "Example CRM")]).await;
    h.stores
        .clients
        .put(&mcp_auth_conformance::server::client(
            SERVER,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(SERVER_SECRET),
            &[EXCHANGE],
            &[],
        ))
        .await
        .unwrap();
    (h, c)
}

async fn user_token(h: &Harness) -> String {
    h.public_tokens(Some("mcp:tools")).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn exchange_body(subject_token: &str, extra: &str) -> String {
    format!(
        "grant_type={}&subject_token={}&subject_token_type={}&audience=crm{extra}",
        enc(EXCHANGE),
        enc(subject_token),
        enc(ACCESS_TOKEN_TYPE)
    )
}

async fn exchange(h: &Harness, body: &str) -> TestResponse {
    h.post_form("/connect/token", body, Some(&basic(SERVER, SERVER_SECRET)))
        .await
}

async fn open_count(h: &Harness) -> u64 {
    h.stores
        .elicitations
        .count_open_for_subject(ISSUER, "user-1", NOW)
        .await
        .unwrap()
}

/// ELIC-14: the MCP server (and only it) gets the stored credential of the user whose token
/// it presents: `200`, the API key as `access_token`, `issued_token_type` the API-key URN,
/// `token_type` `N_A`, `Cache-Control: no-store`.
#[tokio::test]
async fn a_connected_user_credential_goes_to_the_mcp_server() {
    let (h, connections) = server().await;
    connections
        .store_api_key(ISSUER, "user-1", "crm", &Secret::new("crm-key-42"), NOW)
        .await
        .unwrap();
    let token = user_token(&h).await;
    let res = exchange(&h, &exchange_body(&token, "")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["access_token"], "crm-key-42");
    assert_eq!(body["issued_token_type"], API_KEY_TYPE);
    assert_eq!(body["token_type"], "N_A");
    // `requested_token_type` naming the right type is accepted too.
    let res = exchange(
        &h,
        &exchange_body(
            &token,
            &format!("&requested_token_type={}", enc(API_KEY_TYPE)),
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// Issue 25 §2: handing a stored credential to the MCP server is recorded as
/// `token_exchanged` with no `jti` (nothing was minted): the user, the MCP server's client,
/// the connection as audience and the subject token's resource; a `connection_required`
/// answer records none. Neither the API key nor the subject token is in the trail.
#[tokio::test]
async fn a_handed_out_credential_is_audited_as_an_exchange() {
    let (h, connections) = server().await;
    let token = user_token(&h).await;
    let res = exchange(&h, &exchange_body(&token, "")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    connections
        .store_api_key(ISSUER, "user-1", "crm", &Secret::new("crm-key-42"), NOW)
        .await
        .unwrap();
    let extra = format!("&requested_token_type={}", enc(API_KEY_TYPE));
    let res = exchange(&h, &exchange_body(&token, &extra)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let rows = h
        .stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let exchanged: Vec<serde_json::Value> = rows
        .iter()
        .filter(|r| r.kind == "token_exchanged")
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    assert_eq!(exchanged.len(), 1, "{rows:?}");
    let e = &exchanged[0];
    assert_eq!(e["client_id"], SERVER);
    assert_eq!(e["sub"], "user-1");
    assert_eq!(e["actors"], serde_json::json!([]));
    assert_eq!(e["requested_token_type"], API_KEY_TYPE);
    assert_eq!(e["audience"], serde_json::json!(["crm"]));
    assert_eq!(e["resource"], RESOURCE);
    assert_eq!(e["jti"], serde_json::Value::Null);
    assert!(rows.iter().any(|r| r.kind == "connection_added"));
    let text: String = rows.iter().map(|r| r.data.as_str()).collect();
    for secret in ["crm-key-42", token.as_str(), SERVER_SECRET] {
        assert!(!text.contains(secret), "a credential in the audit trail");
    }
}

/// ELIC-07, ELIC-CB-04: a vault entry sealed under a key this server no longer has (`k0`; it
/// has only `k1`) is "not connected", never a 500: `400 connection_required` with an
/// elicitation, the entry left in place, nothing of it in the answer; the user's next connect
/// overwrites it and the credential flows again.
#[tokio::test]
async fn an_entry_under_a_lost_vault_key_gets_an_elicitation_not_a_500() {
    let (h, connections) = server().await;
    const K0: &str = "HxcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAB8eHRwbGhk=";
    let lost = VaultKeyring::new(&[("k0", &Secret::new(K0))])
        .unwrap()
        .seal(
            &mcp_auth_core::vault::VaultSlot::new(ISSUER, "user-1", "crm"),
            br#"{"kind":"api_key","api_key":"crm-key-lost"}"#,
            NOW - 100,
        )
        .unwrap();
    h.stores.vault.put(&lost).await.unwrap();
    let token = user_token(&h).await;
    let res = exchange(&h, &exchange_body(&token, "")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["error"], "connection_required");
    assert_eq!(body["elicitation"]["connection"], "crm");
    assert!(!res.body.contains("crm-key-lost") && !res.body.contains("k0"));
    assert_eq!(open_count(&h).await, 1);
    assert_eq!(
        h.stores.vault.get(ISSUER, "user-1", "crm").await.unwrap(),
        Some(lost)
    );
    connections
        .store_api_key(ISSUER, "user-1", "crm", &Secret::new("crm-key-new"), NOW)
        .await
        .unwrap();
    let res = exchange(&h, &exchange_body(&token, "")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["access_token"], "crm-key-new");
}

/// ELIC-07, ELIC-09, ELIC-17, ELIC-CB-06, ELIC-R2-08, ELIC-R2-10: without a credential the
/// answer is `400 connection_required` with an elicitation bound to (`iss`, `sub`, the MCP
/// client's `client_id`, the connection, the resource), a 15-minute expiry and a URL holding
/// only its opaque id; asking again returns the same elicitation.
#[tokio::test]
async fn without_a_connection_the_answer_is_an_elicitation_reused_until_it_ends() {
    let (h, _) = server().await;
    let token = user_token(&h).await;
    let res = exchange(&h, &exchange_body(&token, "")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["error"], "connection_required");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Example CRM")
    );
    let e = &body["elicitation"];
    let id = e["id"].as_str().unwrap().to_owned();
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(e["url"], format!("{ISSUER}/connect/{id}"));
    assert_eq!(e["expires_in"], 900);
    assert_eq!(e["connection"], "crm");
    assert!(!e["message"].as_str().unwrap().is_empty());
    let stored = h.stores.elicitations.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.iss.as_str(),
            stored.sub.as_str(),
            stored.client_id.as_str(),
            stored.connection.as_str(),
            stored.resource.as_str(),
            stored.requested_by.as_str(),
            stored.status,
            stored.expires_at,
        ),
        (
            ISSUER,
            "user-1",
            PUBLIC,
            "crm",
            RESOURCE,
            SERVER,
            ElicitationStatus::Pending,
            NOW + 900
        )
    );
    let again = exchange(&h, &exchange_body(&token, "")).await.json();
    assert_eq!(again["elicitation"]["id"], id.as_str());
    assert_eq!(open_count(&h).await, 1);
    // Once it finished, a new one is made.
    h.stores
        .elicitations
        .finish(&id, ElicitationStatus::Cancelled, NOW)
        .await
        .unwrap();
    let third = exchange(&h, &exchange_body(&token, "")).await.json();
    assert_ne!(third["elicitation"]["id"], id.as_str());
}

/// ELIC-R2-09: a token without a user (client credentials: `sub` = `client_id`, no
/// `auth_time`) never gets an elicitation: `400 invalid_grant`, nothing stored.
#[tokio::test]
async fn a_client_credentials_token_never_gets_an_elicitation() {
    let (h, _) = server().await;
    let machine = signed_access_token(&h, |c| {
        c.sub = SERVER.into();
        c.client_id = SERVER.into();
        c.auth_time = None;
    });
    let res = exchange(&h, &exchange_body(&machine, "")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_grant");
    assert!(
        res.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("no user")
    );
    assert!(res.json().get("elicitation").is_none());
    assert_eq!(
        h.stores
            .elicitations
            .count_open_for_subject(ISSUER, SERVER, NOW)
            .await
            .unwrap(),
        0
    );
}

/// A server can only fetch the credentials of users calling it: a subject token issued for
/// another resource (one this client is not the server of) is `invalid_grant`, and so is a
/// token that is not ours, expired, revoked, or an ID-JAG-like token of another `typ`;
/// nothing is stored.
#[tokio::test]
async fn subject_tokens_not_for_this_server_now_are_refused() {
    let (h, _) = server().await;
    let other = signed_access_token(&h, |c| c.aud = OTHER_RESOURCE.into());
    let expired = signed_access_token(&h, |c| c.exp = NOW - 1);
    let revoked = signed_access_token(&h, |c| c.jti = "jti-revoked".into());
    h.stores
        .denylist
        .deny("jti-revoked", NOW + 300)
        .await
        .unwrap();
    let tampered = {
        let t = user_token(&h).await;
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    for (what, token) in [
        ("another resource", other),
        ("expired", expired),
        ("revoked", revoked),
        ("bad signature", tampered),
        ("not a JWT", "opaque-token".to_owned()),
    ] {
        let res = exchange(&h, &exchange_body(&token, "")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what}: {}", res.body);
        assert_eq!(res.error(), "invalid_grant", "{what}");
    }
    assert_eq!(open_count(&h).await, 0);
}

/// Only a confidential client listed in the resource's `server_clients` and registered for the
/// token-exchange grant may ask: a public client is `401 invalid_client`; a confidential client
/// not registered for the grant is `unauthorized_client`, even when it is the resource's
/// server; a wrong secret is `401 invalid_client`. (A registered client that is not the server
/// of the token's resource: `subject_tokens_not_for_this_server_now_are_refused`.)
#[tokio::test]
async fn only_the_resource_server_client_may_ask() {
    let (h, _) = server().await;
    let token = user_token(&h).await;
    let body = exchange_body(&token, "");
    let public = h
        .post_form(
            "/connect/token",
            &format!("{body}&client_id={PUBLIC}"),
            None,
        )
        .await;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED, "{}", public.body);
    assert_eq!(public.error(), "invalid_client");
    let other = h
        .post_form(
            "/connect/token",
            &format!("{body}&client_id={POST}&client_secret={POST_SECRET}"),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", other.body);
    assert_eq!(other.error(), "unauthorized_client");
    let unregistered = h
        .post_form("/connect/token", &body, Some(&basic(BASIC, BASIC_SECRET)))
        .await;
    assert_eq!(
        unregistered.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unregistered.body
    );
    assert_eq!(unregistered.error(), "unauthorized_client");
    let wrong = h
        .post_form(
            "/connect/token",
            &body,
            Some(&basic(SERVER, "wrong-secret-0000")),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_client");
    assert_eq!(open_count(&h).await, 0);
}

/// Odd shapes are refused with the exact RFC 6749 / RFC 8693 / RFC 8707 code, nothing
/// stored: another grant type, a missing or mistyped subject token, a repeated or missing
/// `audience`, `resource`/`scope`/`actor_token` given, an unknown connection, a
/// `requested_token_type` the connection does not issue.
#[tokio::test]
async fn malformed_exchanges_are_refused_with_exact_codes() {
    let (h, _) = server().await;
    let token = user_token(&h).await;
    let t = enc(&token);
    let std_tail = format!(
        "&subject_token={t}&subject_token_type={}",
        enc(ACCESS_TOKEN_TYPE)
    );
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "other grant",
            format!("grant_type=client_credentials{std_tail}&audience=crm"),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "no subject token",
            format!(
                "grant_type={}&subject_token_type={}&audience=crm",
                enc(EXCHANGE),
                enc(ACCESS_TOKEN_TYPE)
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "id token type",
            format!(
                "grant_type={}&subject_token={t}&subject_token_type={}&audience=crm",
                enc(EXCHANGE),
                enc("urn:ietf:params:oauth:token-type:id_token")
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no audience",
            format!("grant_type={}{std_tail}", enc(EXCHANGE)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "audience twice",
            format!(
                "grant_type={}{std_tail}&audience=crm&audience=crm",
                enc(EXCHANGE)
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "subject token twice",
            format!(
                "grant_type={}{std_tail}&subject_token={t}&audience=crm",
                enc(EXCHANGE)
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "resource",
            exchange_body(&token, &format!("&resource={}", enc(RESOURCE))),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "scope",
            exchange_body(&token, "&scope=calendar"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "actor token",
            exchange_body(&token, "&actor_token=x&actor_token_type=y"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "unknown connection",
            format!("grant_type={}{std_tail}&audience=calendar", enc(EXCHANGE)),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "connection named by its display name",
            format!(
                "grant_type={}{std_tail}&audience=Example+CRM",
                enc(EXCHANGE)
            ),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "access token requested from an api_key connection",
            exchange_body(
                &token,
                &format!("&requested_token_type={}", enc(ACCESS_TOKEN_TYPE)),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, body, status, error) in cases {
        let res = exchange(&h, &body).await;
        assert_eq!(res.status, status, "{what}: {}", res.body);
        assert_eq!(res.error(), error, "{what}");
        assert!(!res.body.contains(&token), "{what}: the token is echoed");
    }
    assert_eq!(open_count(&h).await, 0);
}

/// ELIC-18: one user may have at most 10 open elicitations; one more is `429
/// temporarily_unavailable` with `Retry-After`, and nothing is stored.
#[tokio::test]
async fn too_many_open_elicitations_for_one_user_is_429() {
    let (h, _) = server().await;
    for i in 0..10 {
        h.stores
            .elicitations
            .insert(&PendingElicitation {
                id: format!("seeded-{i:02}-0123456789abcdefghijklmnopqrstu"),
                iss: ISSUER.into(),
                sub: "user-1".into(),
                client_id: format!("client-{i}"),
                connection: "crm".into(),
                resource: RESOURCE.parse().unwrap(),
                requested_by: SERVER.into(),
                status: ElicitationStatus::Pending,
                created_at: NOW,
                expires_at: NOW + 900,
                state_hash: None,
                code_verifier: None,
                finished_at: None,
            })
            .await
            .unwrap();
    }
    let token = user_token(&h).await;
    let res = exchange(&h, &exchange_body(&token, "")).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.error(), "temporarily_unavailable");
    assert_eq!(res.header("retry-after"), "60");
    assert_eq!(open_count(&h).await, 10);
}

async fn new_elicitation(h: &Harness) -> String {
    let token = user_token(h).await;
    exchange(h, &exchange_body(&token, "")).await.json()["elicitation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn status(h: &Harness, body: &str, client: (&str, &str)) -> TestResponse {
    h.post_form("/connect/status", body, Some(&basic(client.0, client.1)))
        .await
}

/// ELIC-06, ELIC-CB-05 (the authorization server's half): a waiting `/connect/status`
/// answers `completed` as soon as the elicitation finishes on this node (well within 2 s),
/// and `wait=0` answers at once with the current status.
#[tokio::test]
async fn status_answers_as_soon_as_the_elicitation_finishes() {
    let (h, connections) = server().await;
    let id = new_elicitation(&h).await;
    let now = status(
        &h,
        &format!("elicitation_id={id}&wait=0"),
        (SERVER, SERVER_SECRET),
    )
    .await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.body);
    assert_eq!(
        now.json(),
        serde_json::json!({"elicitation_id": id, "status": "pending"})
    );

    let waiting = {
        let body = format!("elicitation_id={id}&wait=20");
        let fut = status(&h, &body, (SERVER, SERVER_SECRET));
        let finisher = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(
                h.stores
                    .elicitations
                    .finish(&id, ElicitationStatus::Completed, NOW)
                    .await
                    .unwrap()
            );
            connections.completion.finished();
            Instant::now()
        };
        let (res, finished_at) = tokio::join!(fut, finisher);
        (res, finished_at.elapsed())
    };
    let (res, since_finish) = waiting;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["status"], "completed");
    assert!(since_finish < Duration::from_secs(2), "{since_finish:?}");
}

/// A finish the signal of this node did not see (another node) is still seen on the next
/// store read, within about a second; an open elicitation past its expiry reads `expired`.
#[tokio::test]
async fn status_sees_other_nodes_and_expiry() {
    let (h, _) = server().await;
    let id = new_elicitation(&h).await;
    let finisher = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.stores
            .elicitations
            .finish(&id, ElicitationStatus::Failed, NOW)
            .await
            .unwrap();
        Instant::now()
    };
    let body = format!("elicitation_id={id}&wait=10");
    let (res, at) = tokio::join!(status(&h, &body, (SERVER, SERVER_SECRET)), finisher);
    assert_eq!(res.json()["status"], "failed");
    assert!(at.elapsed() < Duration::from_millis(2500));

    let id2 = {
        // A fresh one (the first is finished), then past its expiry.
        new_elicitation(&h).await
    };
    h.clock.advance(901);
    let res = status(
        &h,
        &format!("elicitation_id={id2}&wait=5"),
        (SERVER, SERVER_SECRET),
    )
    .await;
    assert_eq!(res.json()["status"], "expired");
}

/// The status of an elicitation is only for the servers of its resource (the client that
/// asked, or another of the resource's `server_clients`): another confidential client, and an
/// unknown id, get `404 {"error":"not_found"}`; a public client
/// is `401`; `wait` outside 0..=30 or not a plain number is `invalid_request`.
#[tokio::test]
async fn status_is_private_and_strict() {
    let (h, _) = server().await;
    let id = new_elicitation(&h).await;
    let other = h
        .post_form(
            "/connect/status",
            &format!("elicitation_id={id}&wait=0&client_id={POST}&client_secret={POST_SECRET}"),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.json(), serde_json::json!({"error": "not_found"}));
    // Another server client of the same resource shares the elicitation (find_open reuses
    // it for both), so it may read its status.
    let sibling = status(
        &h,
        &format!("elicitation_id={id}&wait=0"),
        (BASIC, BASIC_SECRET),
    )
    .await;
    assert_eq!(sibling.status, StatusCode::OK, "{}", sibling.body);
    assert_eq!(sibling.json()["status"], "pending");
    let unknown = status(&h, "elicitation_id=nope&wait=0", (SERVER, SERVER_SECRET)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let public = h
        .post_form(
            "/connect/status",
            &format!("elicitation_id={id}&client_id={PUBLIC}"),
            None,
        )
        .await;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED);
    for wait in ["31", "-1", "+5", "1.5", "abc", "007"] {
        let res = status(
            &h,
            &format!("elicitation_id={id}&wait={}", enc(wait)),
            (SERVER, SERVER_SECRET),
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "wait={wait}");
        assert_eq!(res.error(), "invalid_request", "wait={wait}");
    }
    let twice = status(
        &h,
        &format!("elicitation_id={id}&elicitation_id={id}"),
        (SERVER, SERVER_SECRET),
    )
    .await;
    assert_eq!(twice.error(), "invalid_request");
}

/// ELIC-10: the elicitation link is `{issuer}/connect/{id}`, so it is https whenever the
/// server is: an issuer is https, or plain http only on a loopback host (development); a
/// plain-http issuer on any other host is refused, so no http link to a public host exists.
#[tokio::test]
async fn elicitation_links_are_https_outside_loopback_development() {
    let (h, _) = server().await;
    let token = user_token(&h).await;
    let body = exchange(&h, &exchange_body(&token, "")).await.json();
    let url = url::Url::parse(body["elicitation"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.scheme(), "https");
    for refused in [
        "http://auth.example.com",
        "http://10.0.0.5:9000",
        "ftp://auth.example.com",
    ] {
        assert!(
            refused.parse::<mcp_auth_core::types::Issuer>().is_err(),
            "{refused}"
        );
    }
    for allowed in [
        "http://127.0.0.1:9000",
        "http://[::1]:9000",
        "https://auth.example.com",
    ] {
        assert!(
            allowed.parse::<mcp_auth_core::types::Issuer>().is_ok(),
            "{allowed}"
        );
    }
}
