//! Issue 11: the connect pages of URL-mode elicitation, the callback from the third party, the
//! vault and `/connections` (spec §7.4, §7.5). Our server runs in-process (driven with
//! `oneshot`); the third party is a second in-process auth-server served on 127.0.0.1, with a
//! confidential client registered for us whose redirect URI is our `/connect/callback`.

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use axum::http::StatusCode;
use common::*;
use mcp_auth_conformance::server::{InProcessServer, client as kit_client, resources};
use mcp_auth_core::store::{ElicitationStatus, PendingElicitation, User};
use mcp_auth_core::vault::VaultKeyring;
use mcp_auth_core::{Secret, TokenEndpointAuthMethod};
use mcp_auth_server::config::ConnectionConfig;
use mcp_auth_server::connections::{Connection, ConnectionKind, Connections};

const CONNECTOR: &str = "mcp-auth-connector";
const CONNECTOR_SECRET: &str = "connector-secret-0123456789";
const TP_RESOURCE: &str = "http://127.0.0.1:9200/api";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ELIC: &str = "elic-0123456789abcdefghijklmnopqrstuv";
const BOB_PASSWORD: &str = "bob's long password";

/// The third party: its own issuer on a loopback port, the client for our server, a user.
struct ThirdParty {
    kit: InProcessServer,
    issuer: String,
}

async fn third_party() -> ThirdParty {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let registry = resources(
        &[(TP_RESOURCE, "calendar:read calendar:write", "calendar:read")],
        None,
    )
    .unwrap();
    let settings = mcp_auth_server::ServerSettings::new(issuer.parse().unwrap(), registry);
    let kit = InProcessServer::start(settings, |b| b).await.unwrap();
    kit.stores
        .clients
        .put(&kit_client(
            CONNECTOR,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(CONNECTOR_SECRET),
            &["authorization_code", "refresh_token"],
            &[&format!("{ISSUER}/connect/callback")],
        ))
        .await
        .unwrap();
    kit.serve(listener);
    ThirdParty { kit, issuer }
}

fn oauth_config(tp: &ThirdParty) -> ConnectionConfig {
    ConnectionConfig {
        name: "calendar".into(),
        display_name: "Example Calendar".into(),
        kind: ConnectionKind::OAuth,
        issuer: Some(tp.issuer.clone()),
        authorization_endpoint: None,
        token_endpoint: None,
        revocation_endpoint: None,
        client_id: Some(CONNECTOR.into()),
        client_secret: Some(Secret::new(CONNECTOR_SECRET)),
        scopes: vec!["calendar:read".into()],
        resource_indicator: Some(TP_RESOURCE.into()),
        resources: vec![RESOURCE.into()],
        allow_insecure_http: true,
        allow_insecure_private_addresses: false,
        scope_descriptions: [("calendar:read".into(), "See your calendar events".into())].into(),
    }
}

fn api_key_config() -> ConnectionConfig {
    api_key_connection("crm", "Example CRM")
}

/// Our server, with the `calendar` (oauth at `tp`) and `crm` (api_key) connections, alice
/// (`user-1`) and bob (`user-2`).
async fn our_server(tp: &ThirdParty) -> (Harness, Arc<Connections>) {
    let (h, c) =
        Harness::with_connections(settings(ISSUER), vec![oauth_config(tp), api_key_config()]).await;
    h.stores
        .users
        .put(&User {
            sub: "user-2".into(),
            username: "bob".into(),
            password_hash: bob_hash(),
        })
        .await
        .unwrap();
    (h, c)
}

fn bob_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| mcp_auth_server::web::password::hash_password(BOB_PASSWORD).unwrap())
        .clone()
}

fn pending(id: &str, sub: &str, connection: &str) -> PendingElicitation {
    PendingElicitation {
        id: id.into(),
        iss: ISSUER.into(),
        sub: sub.into(),
        client_id: PUBLIC.into(),
        connection: connection.into(),
        resource: RESOURCE.parse().unwrap(),
        requested_by: BASIC.into(),
        status: ElicitationStatus::Pending,
        created_at: NOW,
        expires_at: NOW + 900,
        state_hash: None,
        code_verifier: None,
        finished_at: None,
    }
}

async fn seed(h: &Harness, e: &PendingElicitation) {
    h.stores.elicitations.insert(e).await.unwrap();
}

async fn status(h: &Harness, id: &str) -> ElicitationStatus {
    h.stores.elicitations.get(id).await.unwrap().unwrap().status
}

/// Sign in at `/login` as `username`; the session cookie.
async fn sign_in(h: &Harness, username: &str, password: &str) -> String {
    let return_to = format!("/connect/{ELIC}");
    let page = h
        .get(&format!("/login?return_to={}", enc(&return_to)))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let anon = session_cookie(&page);
    let csrf = hidden(&page.body, "csrf_token");
    let res = h
        .post_form_with_cookie(
            "/login",
            &format!(
                "csrf_token={}&return_to={}&username={username}&password={}",
                enc(&csrf),
                enc(&return_to),
                enc(password)
            ),
            &anon,
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.header("location"), format!("{ISSUER}/connect/{ELIC}"));
    session_cookie(&res)
}

fn assert_page_headers(res: &TestResponse) {
    let csp = res.header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(res.header("referrer-policy"), "no-referrer");
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.header("x-frame-options"), "DENY");
}

/// Approve `ELIC` as alice (already signed in with `cookie`): the third party's authorize URL.
async fn approve(h: &Harness, cookie: &str, id: &str) -> url::Url {
    let page = h.get_with_cookie(&format!("/connect/{id}"), cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = hidden(&page.body, "csrf_token");
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{id}"),
            &format!("csrf_token={}&decision=approve", enc(&csrf)),
            cookie,
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    res.location()
}

/// The third party's user approves the request at `authorize`: the redirect back to us.
async fn third_party_approves(tp: &ThirdParty, authorize: &url::Url) -> url::Url {
    let req = tp
        .kit
        .server
        .validate_authorization_request(authorize.query().unwrap().as_bytes())
        .await
        .unwrap_or_else(|e| panic!("third party refused: {e:?}"));
    let location = tp.kit.server.approve(&req, "tp-alice", NOW).await.unwrap();
    url::Url::parse(&location).unwrap()
}

fn callback_path(back: &url::Url) -> String {
    assert_eq!(
        format!(
            "{}://{}{}",
            back.scheme(),
            back.host_str().unwrap(),
            back.path()
        ),
        format!("{ISSUER}/connect/callback")
    );
    format!("/connect/callback?{}", back.query().unwrap())
}

/// ELIC-CB-01: opening the connect URL without a session leads to our sign-in page (and back
/// to the link), never to the third party; nothing changes.
#[tokio::test]
async fn elic_cb_01_no_session_goes_to_login_not_the_third_party() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let res = h.get(&format!("/connect/{ELIC}")).await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(
        res.header("location"),
        format!("{ISSUER}/login?return_to=%2Fconnect%2F{ELIC}")
    );
    assert!(!res.header("location").contains(&tp.issuer));
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
    // The sign-in page refuses a return path that is not one of our connect pages.
    for bad in [
        "https://evil.example/x",
        "//evil.example/connect/x",
        "/authorize",
    ] {
        let res = h.get(&format!("/login?return_to={}", enc(bad))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.header_value("location").is_none());
    }
    // A POST without session is refused, nothing changes.
    let res = h
        .post_form(&format!("/connect/{ELIC}"), "decision=approve", None)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.header_value("location").is_none());
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
}

/// ELIC-CB-02, ELIC-12, ELIC-13: a link created for alice, opened by bob: 403 "created for a
/// different account", no redirect, status unchanged; adding `user=` or posting a decision
/// does not help; editing the id gives an unknown link.
#[tokio::test]
async fn elic_cb_02_elic_12_elic_13_other_account_is_refused() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let bob = sign_in(&h, "bob", BOB_PASSWORD).await;
    for uri in [
        format!("/connect/{ELIC}"),
        format!("/connect/{ELIC}?user=user-1"),
        format!("/connect/{ELIC}?sub=user-1&iss={}", enc(ISSUER)),
    ] {
        let res = h.get_with_cookie(&uri, &bob).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(res.header_value("location").is_none());
        assert!(
            res.body.contains("created for a different account"),
            "{}",
            res.body
        );
        assert_page_headers(&res);
    }
    // A decision posted from bob's session does not count.
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{ELIC}"),
            "csrf_token=x&decision=approve&user=user-1",
            &bob,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.header_value("location").is_none());
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
    // Editing the id: unknown, 404.
    let res = h.get_with_cookie(&format!("/connect/{ELIC}x"), &bob).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = h.get_with_cookie("/connect/..%2Fconnections", &bob).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
    assert!(
        h.stores.vault.list().await.unwrap().is_empty(),
        "nothing stored"
    );
}

/// ELIC-17: an expired link (or a finished one) shows an error page and changes nothing.
#[tokio::test]
async fn elic_17_expired_link_is_an_error_page_and_changes_nothing() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    let mut e = pending(ELIC, "user-1", "calendar");
    e.expires_at = NOW;
    seed(&h, &e).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let res = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    assert_eq!(res.status, StatusCode::GONE, "{}", res.body);
    assert!(res.body.contains("expired"));
    assert!(res.header_value("location").is_none());
    assert_page_headers(&res);
    let res = h
        .post_form_with_cookie(&format!("/connect/{ELIC}"), "decision=cancel", &alice)
        .await;
    assert_eq!(res.status, StatusCode::GONE);
    let stored = h.stores.elicitations.get(ELIC).await.unwrap().unwrap();
    assert_eq!(stored.status, ElicitationStatus::Pending);
    assert_eq!(stored.finished_at, None);
    // Unknown ids: 404, before and after sign-in.
    assert_eq!(h.get("/connect/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get_with_cookie("/connect/nope", &alice).await.status,
        StatusCode::NOT_FOUND
    );
}

/// ELIC-CB-06, ELIC-CB-07: the only thing in our URLs is the opaque id; the authorization
/// request at the third party uses PKCE S256 and exactly our registered redirect URI, a fresh
/// state, the configured scopes and resource; the consent page names the third party and the
/// domain the user is sent to, the scopes with their configured descriptions (issue 22 §4) and
/// the MCP server.
#[tokio::test]
async fn elic_cb_06_elic_cb_07_authorize_redirect_has_s256_and_exact_redirect_uri() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let page = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_page_headers(&page);
    assert!(page.body.contains("Example Calendar"));
    assert!(page.body.contains("calendar:read"));
    assert!(
        page.body.contains(
            r#"<span class="description">See your calendar events</span> <code>calendar:read</code>"#
        ),
        "{}",
        page.body
    );
    let tp_host = url::Url::parse(&tp.issuer).unwrap();
    let domain = format!(
        r#"<strong class="domain">{}:{}</strong>"#,
        tp_host.host_str().unwrap(),
        tp_host.port().unwrap()
    );
    assert!(page.body.contains(&domain), "{domain} in {}", page.body);
    assert!(page.body.contains("mcp.example.com"));
    assert!(
        page.body.contains(&format!(
            "action=\"https:&#x2f;&#x2f;auth.example.com&#x2f;connect&#x2f;{ELIC}\""
        )),
        "{}",
        page.body
    );
    // form-action lets the approve POST be redirected to the third party only.
    assert!(
        page.header("content-security-policy")
            .contains(&format!("form-action 'self' {}", tp.issuer))
    );
    let authorize = approve(&h, &alice, ELIC).await;
    assert_eq!(
        format!("{}://{}", authorize.scheme(), authorize.host_str().unwrap()),
        "http://127.0.0.1"
    );
    assert!(tp.issuer.starts_with("http://127.0.0.1"));
    let q: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CONNECTOR);
    assert_eq!(q["redirect_uri"], format!("{ISSUER}/connect/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(!q["state"].is_empty());
    assert_eq!(q["scope"], "calendar:read");
    assert_eq!(q["resource"], TP_RESOURCE);
    for leak in ["user-1", "alice", "sub", "email"] {
        assert!(!authorize.as_str().contains(leak), "{leak} in {authorize}");
    }
    let stored = h.stores.elicitations.get(ELIC).await.unwrap().unwrap();
    assert_eq!(stored.status, ElicitationStatus::InProgress);
    assert_eq!(
        stored.state_hash.as_ref().unwrap(),
        &mcp_auth_core::TokenHash::of(&q["state"])
    );
    // The third party accepts the request as it is (exact redirect URI, S256).
    third_party_approves(&tp, &authorize).await;
    // Approving again makes a fresh state and verifier; the first state stops working.
    let again = approve(&h, &alice, ELIC).await;
    let q2: std::collections::HashMap<String, String> = again.query_pairs().into_owned().collect();
    assert_ne!(q2["state"], q["state"]);
    assert_ne!(q2["code_challenge"], q["code_challenge"]);
    let old = format!(
        "/connect/callback?code=x&state={}&iss={}",
        enc(&q["state"]),
        enc(&tp.issuer)
    );
    assert_eq!(
        h.get_with_cookie(&old, &alice).await.status,
        StatusCode::BAD_REQUEST
    );
}

/// ELIC-CB-03: a callback with a missing, unknown, reused or expired state is refused and
/// nothing is stored.
#[tokio::test]
async fn elic_cb_03_bad_state_is_refused_and_nothing_is_stored() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let authorize = approve(&h, &alice, ELIC).await;
    let back = third_party_approves(&tp, &authorize).await;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    // Missing and unknown state.
    for q in [
        format!("/connect/callback?code={code}"),
        format!("/connect/callback?code={code}&state=unknown-state"),
        format!("/connect/callback?code={code}&state=a&state=b"),
    ] {
        let res = h.get_with_cookie(&q, &alice).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{q}");
        assert_page_headers(&res);
    }
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    // Expired: the elicitation's time has passed.
    h.clock.advance(901);
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    h.clock.set(NOW);
    // Valid once, then reused.
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    h.stores
        .vault
        .delete(ISSUER, "user-1", "calendar")
        .await
        .unwrap();
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
}

/// ELIC-CB-02 at the callback: a valid state arriving in another user's browser stores
/// nothing (403); the elicitation stays in progress.
#[tokio::test]
async fn elic_cb_02_callback_in_another_session_stores_nothing() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let bob = sign_in(&h, "bob", BOB_PASSWORD).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let res = h.get_with_cookie(&callback_path(&back), &bob).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("different account"));
    let res = h.get(&callback_path(&back)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::InProgress);
}

/// Issue 19 §6: a callback refused because it arrived in another user's browser (403), or in a
/// browser nobody is signed in to (403), does not spend the state: the owner's genuine callback
/// afterwards connects. Then the state is spent: a replay is refused (400).
#[tokio::test]
async fn a_callback_refused_for_another_user_leaves_the_state_to_its_owner() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let bob = sign_in(&h, "bob", BOB_PASSWORD).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let res = h.get_with_cookie(&callback_path(&back), &bob).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("different account"), "{}", res.body);
    let res = h.get(&callback_path(&back)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Done — return to your app"));
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("already used"), "{}", res.body);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
}

/// Issue 19 §6: a callback refused for a wrong `iss` (RFC 9207 mix-up, 400), or for a missing
/// one while the third party sends it (400), does not spend the state: the owner's genuine
/// callback afterwards connects. Then the state is spent: a replay is refused (400).
#[tokio::test]
async fn a_callback_refused_for_a_wrong_iss_leaves_the_state_to_its_owner() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let q: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    for (iss, text) in [
        (Some("https://evil.example"), "unexpected service"),
        (None, "incomplete"),
    ] {
        let mut uri = format!(
            "/connect/callback?code={}&state={}",
            enc(&q["code"]),
            enc(&q["state"])
        );
        if let Some(iss) = iss {
            uri.push_str(&format!("&iss={}", enc(iss)));
        }
        let res = h.get_with_cookie(&uri, &alice).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{iss:?}");
        assert!(res.body.contains(text), "{}", res.body);
    }
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("already used"), "{}", res.body);
}

/// Issue 19 §6, ELIC-CB-03: the state is still single-use when it is spent only after the
/// checks: 16 copies of the owner's genuine callback at once connect exactly once (one `200`,
/// fifteen `400`, one vault entry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_genuine_callbacks_connect_exactly_once() {
    use tower::ServiceExt;
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (app, uri, cookie) = (h.app.clone(), callback_path(&back), alice.clone());
        set.spawn(async move {
            let req = axum::http::Request::builder()
                .uri(uri)
                .header("cookie", cookie)
                .body(axum::body::Body::empty())
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        });
    }
    let statuses = set.join_all().await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((ok, refused), (1, 15), "{statuses:?}");
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
}

/// Every log line of this test binary (all tests, both servers), from a global subscriber
/// installed once: a scoped one can miss lines of callsites first hit on other threads.
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, ()) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buf = LOGS
        .get_or_init(|| {
            let buf = Arc::new(Mutex::new(Vec::new()));
            let w = Buf(buf.clone());
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || w.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            buf
        })
        .clone();
    (buf, ())
}

/// The happy path, ELIC-CB-04 and ELIC-CB-08: approve, the third party answers, the callback
/// redeems the code and seals the tokens under (iss, sub, connection) of the elicitation's
/// user; the elicitation completes; `credential()` opens the entry. Neither the tokens nor the
/// code or state appear in the page or the logs.
#[tokio::test]
async fn elic_cb_04_elic_cb_08_happy_path_stores_a_sealed_entry_for_the_user() {
    let (logs, _guard) = capture_logs();
    let tp = third_party().await;
    let (h, connections) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let q: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(q["iss"], tp.issuer, "the third party sends RFC 9207 iss");
    let req = axum::http::Request::builder()
        .uri(callback_path(&back))
        .header("cookie", &alice)
        .header("x-request-id", "cb-happy-path")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Done — return to your app"));
    assert_page_headers(&res);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    let entries = h.stores.vault.list().await.unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (
            entry.iss.as_str(),
            entry.sub.as_str(),
            entry.connection.as_str()
        ),
        (ISSUER, "user-1", "calendar")
    );
    assert_eq!(entry.key_id, "k1");
    let cred = connections
        .credential(ISSUER, "user-1", "calendar", NOW)
        .await
        .unwrap()
        .expect("a credential");
    assert_eq!(cred.kind, ConnectionKind::OAuth);
    assert_eq!(cred.scope.as_deref(), Some("calendar:read"));
    assert_eq!(cred.expires_at, Some(NOW + 900));
    // It is the third party's access token for its user.
    let claims = jwt_parts(cred.value.expose()).1;
    assert_eq!(claims["sub"], "tp-alice");
    assert_eq!(claims["aud"], TP_RESOURCE);
    // Sealed: no plaintext token in the ciphertext; Debug redacted.
    let token = cred.value.expose().to_owned();
    assert!(!String::from_utf8_lossy(&entry.ciphertext).contains(&token));
    assert!(!format!("{cred:?}").contains(&token));
    // Bob has nothing; another connection of alice neither.
    assert!(
        connections
            .credential(ISSUER, "user-2", "calendar", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        connections
            .credential(ISSUER, "user-1", "crm", NOW)
            .await
            .unwrap()
            .is_none()
    );
    // ELIC-CB-08: nothing secret in the page or the logs.
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    // The lines of the callback request (its request id is in their span).
    let callback_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("cb-happy-path"))
        .collect();
    assert!(
        callback_lines
            .iter()
            .any(|l| l.contains("third-party account connected")),
        "logs captured: {logs}"
    );
    // The test servers' sequential secrets repeat across tests, so code and state are looked
    // for in the callback's own lines; the tokens (signed with fresh keys) everywhere.
    for secret in [token.as_str(), CONNECTOR_SECRET] {
        assert!(!logs.contains(secret), "a secret in the logs");
    }
    for secret in [token.as_str(), &q["code"], &q["state"], CONNECTOR_SECRET] {
        assert!(
            !callback_lines.iter().any(|l| l.contains(secret)),
            "a secret in the callback's log lines"
        );
        assert!(!res.body.contains(secret), "a secret in the page");
    }
    let header_part = token.split('.').next().unwrap();
    assert!(!res.body.contains(&token[header_part.len()..]));
}

/// An `error=` from the third party fails the elicitation, stores nothing; a wrong `iss`
/// (RFC 9207 mix-up) is refused and stores nothing.
#[tokio::test]
async fn third_party_error_and_wrong_iss_store_nothing() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let q: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    let wrong = format!(
        "/connect/callback?code={}&state={}&iss={}",
        enc(&q["code"]),
        enc(&q["state"]),
        enc("https://evil.example")
    );
    let res = h.get_with_cookie(&wrong, &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let missing_iss = format!(
        "/connect/callback?code={}&state={}",
        enc(&q["code"]),
        enc(&q["state"])
    );
    // Without iss although the third party advertises it: refused too.
    assert_eq!(
        h.get_with_cookie(&missing_iss, &alice).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    // Approve again (a fresh state), and the third party answers access_denied.
    let authorize = approve(&h, &alice, ELIC).await;
    let state: String = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // Without iss although the third party advertises it: refused.
    let res = h
        .get_with_cookie(
            &format!("/connect/callback?code=x&state={}", enc(&state)),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = third_party_refuses(&h, &tp, &alice, ELIC, "access_denied").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Failed);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
}

/// Approve `id` as the user of `cookie`; the third party answers `error` (with its `iss`) to
/// our callback: the callback's page.
async fn third_party_refuses(
    h: &Harness,
    tp: &ThirdParty,
    cookie: &str,
    id: &str,
    error: &str,
) -> TestResponse {
    let authorize = approve(h, cookie, id).await;
    let state: String = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    h.get_with_cookie(
        &format!(
            "/connect/callback?error={error}&state={}&iss={}",
            enc(&state),
            enc(&tp.issuer)
        ),
        cookie,
    )
    .await
}

async fn connect_alice(h: &Harness, tp: &ThirdParty) -> String {
    seed(h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(h, "alice", PASSWORD).await;
    let back = third_party_approves(tp, &approve(h, &alice, ELIC).await).await;
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    alice
}

/// Whether the third party still accepts `token` (RFC 7662, asked as our connector client).
async fn active_at_third_party(tp: &ThirdParty, token: &str) -> bool {
    let res = tp
        .kit
        .post_form(
            "/introspect",
            &format!("token={}", enc(token)),
            Some(&basic(CONNECTOR, CONNECTOR_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()["active"] == true
}

/// `credential()` refreshes an expired access token with the stored refresh token, stores the
/// new one, and returns it; when the third party refuses the refresh, the entry is deleted and
/// the answer is "not connected".
#[tokio::test]
async fn expired_token_is_refreshed_and_a_refused_refresh_forgets_the_entry() {
    let tp = third_party().await;
    let (h, connections) = our_server(&tp).await;
    connect_alice(&h, &tp).await;
    let first = connections
        .credential(ISSUER, "user-1", "calendar", NOW)
        .await
        .unwrap()
        .unwrap();
    // 30 s before expiry already counts as expired.
    let later = NOW + 900 - 10;
    tp.kit.clock.set(later);
    let second = connections
        .credential(ISSUER, "user-1", "calendar", later)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(second.value.expose(), first.value.expose());
    assert_eq!(second.expires_at, Some(later + 900));
    assert!(active_at_third_party(&tp, second.value.expose()).await);
    let entry = h
        .stores
        .vault
        .get(ISSUER, "user-1", "calendar")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.updated_at, later);
    // The same again: no refresh needed, same token.
    let again = connections
        .credential(ISSUER, "user-1", "calendar", later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.value.expose(), second.value.expose());
    // The third party forgets the grant (its family revoked): the next refresh is refused.
    tp.kit
        .stores
        .refresh_tokens
        .revoke_client(CONNECTOR)
        .await
        .unwrap();
    let much_later = later + 2000;
    tp.kit.clock.set(much_later);
    let gone = connections
        .credential(ISSUER, "user-1", "calendar", much_later)
        .await
        .unwrap();
    assert!(gone.is_none());
    assert!(
        h.stores
            .vault
            .get(ISSUER, "user-1", "calendar")
            .await
            .unwrap()
            .is_none()
    );
}

/// `/connections` lists the signed-in user's connections; Remove (CSRF-protected) revokes the
/// tokens at the third party (RFC 7009) and deletes the entry.
#[tokio::test]
async fn connections_page_lists_and_remove_revokes_at_the_third_party() {
    let (logs, _guard) = capture_logs();
    let tp = third_party().await;
    let (h, connections) = our_server(&tp).await;
    let alice = connect_alice(&h, &tp).await;
    let cred = connections
        .credential(ISSUER, "user-1", "calendar", NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(active_at_third_party(&tp, cred.value.expose()).await);
    // Not signed in: to the sign-in page.
    let res = h.get("/connections").await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(
        res.header("location"),
        format!("{ISSUER}/login?return_to=%2Fconnections")
    );
    let page = h.get_with_cookie("/connections", &alice).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_page_headers(&page);
    assert!(page.body.contains("Example Calendar"));
    assert!(page.body.contains("2027-01-15T08:00:00Z"));
    assert!(!page.body.contains(cred.value.expose()));
    let csrf = hidden(&page.body, "csrf_token");
    // Without the CSRF token: refused, nothing removed.
    let res = h
        .post_form_with_cookie("/connections/calendar/remove", "csrf_token=bad", &alice)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        h.stores
            .vault
            .get(ISSUER, "user-1", "calendar")
            .await
            .unwrap()
            .is_some()
    );
    // Bob's list is empty.
    let bob = sign_in(&h, "bob", BOB_PASSWORD).await;
    let page = h.get_with_cookie("/connections", &bob).await;
    assert!(!page.body.contains("Example Calendar"));
    let res = h
        .post_form_with_cookie(
            "/connections/calendar/remove",
            &format!("csrf_token={}", enc(&csrf)),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.header("location"), format!("{ISSUER}/connections"));
    assert!(
        h.stores
            .vault
            .get(ISSUER, "user-1", "calendar")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !active_at_third_party(&tp, cred.value.expose()).await,
        "revoked at the third party: {}",
        String::from_utf8_lossy(&logs.lock().unwrap())
    );
}

/// The audit events of `h`'s chain (issue 25 §2), as JSON, in order; and their text.
async fn audit_events(h: &Harness) -> (Vec<serde_json::Value>, String) {
    let rows = h
        .stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let text = rows
        .iter()
        .map(|r| r.data.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let events = rows
        .iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    (events, text)
}

/// Issue 25 §2: a connection added (the callback), removed (the `/connections` page), added
/// again, refreshed (an expired token) and dying (the third party refuses the refresh) is
/// recorded for its user with the connection's name, and no token or code is in the trail.
#[tokio::test]
async fn connection_added_refreshed_and_removed_are_audited() {
    let tp = third_party().await;
    let (h, connections) = our_server(&tp).await;
    let alice = connect_alice(&h, &tp).await;
    let first = connections
        .credential(ISSUER, "user-1", "calendar", NOW)
        .await
        .unwrap()
        .unwrap();
    let page = h.get_with_cookie("/connections", &alice).await;
    let csrf = hidden(&page.body, "csrf_token");
    let res = h
        .post_form_with_cookie(
            "/connections/calendar/remove",
            &format!("csrf_token={}", enc(&csrf)),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // Connected again, refreshed when expired; then the third party forgets the grant and
    // refuses the next refresh.
    let elic = "elic-vutsrqponmlkjihgfedcba9876543210";
    seed(&h, &pending(elic, "user-1", "calendar")).await;
    let back = third_party_approves(&tp, &approve(&h, &alice, elic).await).await;
    let res = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let later = NOW + 900 - 10;
    tp.kit.clock.set(later);
    let second = connections
        .credential(ISSUER, "user-1", "calendar", later)
        .await
        .unwrap()
        .unwrap();
    tp.kit
        .stores
        .refresh_tokens
        .revoke_client(CONNECTOR)
        .await
        .unwrap();
    let much_later = later + 2000;
    tp.kit.clock.set(much_later);
    assert!(
        connections
            .credential(ISSUER, "user-1", "calendar", much_later)
            .await
            .unwrap()
            .is_none()
    );
    let (events, text) = audit_events(&h).await;
    let ours: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("connection_"))
        .map(|e| {
            assert_eq!(e["sub"], "user-1", "{e}");
            assert_eq!(e["connection"], "calendar", "{e}");
            let detail = e["credential"]
                .as_str()
                .or(e["reason"].as_str())
                .unwrap_or("");
            (e["kind"].as_str().unwrap(), detail)
        })
        .collect();
    assert_eq!(
        ours,
        [
            ("connection_added", "oauth"),
            ("connection_removed", "removed"),
            ("connection_added", "oauth"),
            ("connection_refreshed", ""),
            ("connection_removed", "expired"),
        ]
    );
    for token in [first.value.expose(), second.value.expose(), &q_code(&back)] {
        assert!(!text.contains(token), "a credential in the audit trail");
    }
    assert_eq!(
        mcp_auth_server::audit::verify(&h.stores.audit.chain().await.unwrap()),
        Ok(events.len())
    );
}

/// The `code` of a callback URL.
fn q_code(back: &url::Url) -> String {
    back.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// The api_key form: CSRF required (missing → refused, nothing stored); an empty or
/// space-containing key is refused; a good key is sealed, the elicitation completes and
/// `credential()` returns it.
#[tokio::test]
async fn api_key_form_needs_csrf_and_stores_the_key() {
    let tp = third_party().await;
    let (h, connections) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "crm")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let page = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("type=\"password\""));
    assert!(page.body.contains("Example CRM"));
    assert_page_headers(&page);
    let csrf = hidden(&page.body, "csrf_token");
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{ELIC}"),
            "decision=approve&api_key=sk-live-123",
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
    for bad in ["", "has space", &"x".repeat(4097)] {
        let res = h
            .post_form_with_cookie(
                &format!("/connect/{ELIC}"),
                &format!(
                    "csrf_token={}&decision=approve&api_key={}",
                    enc(&csrf),
                    enc(bad)
                ),
                &alice,
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(!res.body.contains("has space"));
    }
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{ELIC}"),
            &format!(
                "csrf_token={}&decision=approve&api_key=sk-live-123",
                enc(&csrf)
            ),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(!res.body.contains("sk-live-123"));
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    let cred = connections
        .credential(ISSUER, "user-1", "crm", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cred.value.expose(), "sk-live-123");
    assert_eq!(cred.kind, ConnectionKind::ApiKey);
    assert_eq!(cred.expires_at, None);
}

/// Cancel finishes the elicitation as cancelled and stores nothing.
#[tokio::test]
async fn cancel_finishes_the_elicitation() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let page = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    let csrf = hidden(&page.body, "csrf_token");
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{ELIC}"),
            &format!("csrf_token={}&decision=cancel", enc(&csrf)),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Cancelled);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    let res = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    assert_eq!(res.status, StatusCode::GONE);
}

/// Key rotation: an entry sealed under the previous key still opens (it is in `old_keys`) and
/// is sealed again under the current key when used; a keyring without that key cannot open it
/// and answers "not connected" (`Ok(None)`), leaving the entry in place.
#[tokio::test]
async fn entries_sealed_under_an_old_key_are_resealed_on_use() {
    let tp = third_party().await;
    let (h, old) = our_server(&tp).await;
    old.store_api_key(ISSUER, "user-1", "crm", &Secret::new("sk-1"), NOW)
        .await
        .unwrap();
    const NEW_KEY: &str = "HxcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAB8eHRwbGhk=";
    let rotated = |keys: &[(&str, &str)]| {
        let owned: Vec<(String, Secret)> = keys
            .iter()
            .map(|(id, k)| ((*id).to_owned(), Secret::new(*k)))
            .collect();
        let refs: Vec<(&str, &Secret)> = owned.iter().map(|(i, k)| (i.as_str(), k)).collect();
        Connections::new(
            &ISSUER.parse().unwrap(),
            vec![Connection::from_config(&api_key_config()).unwrap()],
            VaultKeyring::new(&refs).unwrap(),
            h.stores.vault.clone(),
        )
        .unwrap()
    };
    let without_old = rotated(&[("k2", NEW_KEY)]);
    // Sealed under a key it lacks: "not connected" (a new elicitation), not an error; the
    // entry stays for a keyring that has the key.
    assert!(
        without_old
            .credential(ISSUER, "user-1", "crm", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        h.stores
            .vault
            .get(ISSUER, "user-1", "crm")
            .await
            .unwrap()
            .unwrap()
            .key_id,
        "k1"
    );
    let new = rotated(&[("k2", NEW_KEY), ("k1", KEY)]);
    let cred = new
        .credential(ISSUER, "user-1", "crm", NOW + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cred.value.expose(), "sk-1");
    let entry = h
        .stores
        .vault
        .get(ISSUER, "user-1", "crm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.key_id, "k2");
    assert_eq!(entry.updated_at, NOW + 5);
    let cred = without_old
        .credential(ISSUER, "user-1", "crm", NOW + 6)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cred.value.expose(), "sk-1");
}

/// Discovery checks the metadata's `issuer` (RFC 8414 §3.3): a connection configured with an
/// issuer the third party does not claim cannot start an authorization (502 page, nothing
/// changes).
#[tokio::test]
async fn discovery_with_another_issuer_is_refused() {
    let tp = third_party().await;
    let mut cfg = oauth_config(&tp);
    cfg.issuer = Some(tp.issuer.replace("127.0.0.1", "localhost"));
    let conn = Connection::from_config(&cfg).unwrap();
    let http = mcp_auth_server::connections::ThirdPartyHttp::new().unwrap();
    let e = conn.endpoints(&http).await.unwrap_err();
    assert!(e.to_string().contains("issuer"), "{e}");
    // The right issuer: endpoints discovered, RFC 9207 support remembered.
    let conn = Connection::from_config(&oauth_config(&tp)).unwrap();
    let endpoints = conn.endpoints(&http).await.unwrap();
    assert_eq!(
        endpoints.token_endpoint.as_str(),
        format!("{}/token", tp.issuer)
    );
    assert!(endpoints.iss_parameter_supported);
    assert!(endpoints.revocation_endpoint.is_some());
}

/// A request to our server from the socket peer `ip` (a loopback address): `GET path` or,
/// with `form`, `POST path` with that urlencoded body; with the session `cookie` if any.
async fn hit_from(
    h: &Harness,
    ip: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> TestResponse {
    let peer: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
    let mut req = match form {
        Some(_) => axum::http::Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded"),
        None => axum::http::Request::get(path),
    };
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    h.send(
        req.extension(axum::extract::ConnectInfo(peer))
            .body(axum::body::Body::from(form.unwrap_or_default().to_owned()))
            .unwrap(),
    )
    .await
}

/// The query parameter `name` of `url`.
fn query_param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

/// ELIC-18 (spec §7.3): connect-URL hits are limited per source address. 60 hits in a minute
/// from one source (GET and POST `/connect/{id}`, GET `/connect/callback`, counted together)
/// pass; the 61st — a valid cancel, or a valid callback — is a `429` page with `Retry-After`
/// (the rest of the minute) and changes nothing: the elicitation stays as it was, the state is
/// not spent, the vault stays empty. Another source still gets through meanwhile, and the
/// limited source again once the minute ends.
#[tokio::test]
async fn elic_18_connect_url_hits_are_limited_per_source() {
    const LIMITED: &str = "127.0.0.7";
    const OTHER: &str = "127.0.0.8";
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let page = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let cancel = format!(
        "csrf_token={}&decision=cancel",
        enc(&hidden(&page.body, "csrf_token"))
    );
    let connect = format!("/connect/{ELIC}");
    // 60 hits from LIMITED, of every kind, none of which changes anything.
    for i in 0..60 {
        let res = match i % 3 {
            0 => hit_from(&h, LIMITED, &connect, None, None).await,
            1 => hit_from(&h, LIMITED, &connect, Some(&alice), Some("decision=cancel")).await,
            _ => {
                hit_from(
                    &h,
                    LIMITED,
                    "/connect/callback?state=nope",
                    Some(&alice),
                    None,
                )
                .await
            }
        };
        let want = [
            StatusCode::FOUND,
            StatusCode::BAD_REQUEST,
            StatusCode::BAD_REQUEST,
        ][i % 3];
        assert_eq!(res.status, want, "hit {}: {}", i + 1, res.body);
    }
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
    // The 61st: a cancel that would otherwise succeed.
    let retry_after = (60 - NOW.rem_euclid(60)).to_string();
    let res = hit_from(&h, LIMITED, &connect, Some(&alice), Some(&cancel)).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.header("retry-after"), retry_after);
    assert!(res.body.contains("Too many requests"), "{}", res.body);
    assert_page_headers(&res);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending);
    // A plain GET too (not redirected to the sign-in page).
    let res = hit_from(&h, LIMITED, &connect, None, None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.header("retry-after"), retry_after);
    assert!(res.headers.get("location").is_none());
    // Another source gets through: it approves (the third party issues a code) ...
    let page = hit_from(&h, OTHER, &connect, Some(&alice), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let approve_form = format!(
        "csrf_token={}&decision=approve",
        enc(&hidden(&page.body, "csrf_token"))
    );
    let res = hit_from(&h, OTHER, &connect, Some(&alice), Some(&approve_form)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let back = third_party_approves(&tp, &res.location()).await;
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::InProgress);
    // ... the valid callback from LIMITED is refused without spending the state ...
    let res = hit_from(&h, LIMITED, &callback_path(&back), Some(&alice), None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.header("retry-after"), retry_after);
    for secret in [query_param(&back, "code"), query_param(&back, "state")] {
        assert!(!res.body.contains(&secret));
    }
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::InProgress);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    // ... and the same answer from the other source completes the connection.
    let res = hit_from(&h, OTHER, &callback_path(&back), Some(&alice), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
    // Once the minute ends, LIMITED is served again.
    h.clock.advance(retry_after.parse().unwrap());
    let res = hit_from(&h, LIMITED, &connect, Some(&alice), None).await;
    assert_eq!(res.status, StatusCode::GONE, "{}", res.body);
}

/// Review of the callback's fail-closed handling (RFC 6749 §4.1.2, RFC 9207): a repeated
/// `state`, `code`, `iss` or `error`, and a `state` with odd characters, are refused with `400`
/// before the state is spent (the genuine answer still works afterwards) and store nothing;
/// an `iss` with a trailing slash is refused (it is not the third party's issuer, byte for
/// byte) and stores nothing. No refusal page contains the code or the state; the authorize
/// URL never carries the PKCE verifier.
#[tokio::test]
async fn callback_odd_shapes_are_refused_and_store_nothing() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    // An iss with a trailing slash: refused, nothing stored, the state not spent.
    let back = third_party_approves(&tp, &approve(&h, &alice, ELIC).await).await;
    let (code, state, iss) = (
        query_param(&back, "code"),
        query_param(&back, "state"),
        query_param(&back, "iss"),
    );
    assert_eq!(iss, tp.issuer);
    let slash = format!(
        "/connect/callback?code={}&state={}&iss={}",
        enc(&code),
        enc(&state),
        enc(&format!("{iss}/"))
    );
    let res = h.get_with_cookie(&slash, &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(h.stores.vault.list().await.unwrap().is_empty());
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::InProgress);
    assert_eq!(
        h.stores
            .elicitations
            .get(ELIC)
            .await
            .unwrap()
            .unwrap()
            .state_hash,
        Some(mcp_auth_core::TokenHash::of(&state)),
        "a refused answer leaves its state to the owner"
    );
    // A fresh authorization, with the odd shapes around its genuine answer.
    let authorize = approve(&h, &alice, ELIC).await;
    let verifier = h
        .stores
        .elicitations
        .get(ELIC)
        .await
        .unwrap()
        .unwrap()
        .code_verifier
        .unwrap();
    assert!(!authorize.as_str().contains(verifier.expose()));
    let back = third_party_approves(&tp, &authorize).await;
    let (code, state) = (query_param(&back, "code"), query_param(&back, "state"));
    let q = |extra: &str| {
        format!(
            "/connect/callback?code={}&state={}&iss={}{extra}",
            enc(&code),
            enc(&state),
            enc(&iss)
        )
    };
    for odd in [
        q(&format!("&state={}", enc(&state))),
        q(&format!("&code={}", enc(&code))),
        q(&format!("&iss={}", enc(&iss))),
        q("&error=access_denied&error=server_error"),
        format!(
            "/connect/callback?state={}&code={}&state=other",
            enc(&state),
            enc(&code)
        ),
        format!(
            "/connect/callback?code={}&state={}%00&iss={}",
            enc(&code),
            enc(&state),
            enc(&iss)
        ),
        format!(
            "/connect/callback?code={}&state={}%20&iss={}",
            enc(&code),
            enc(&state),
            enc(&iss)
        ),
        format!(
            "/connect/callback?code={}&state=%3Cscript%3E%22%27%FF&iss={}",
            enc(&code),
            enc(&iss)
        ),
        format!(
            "/connect/callback?code={}&state=%E2%80%AE{}&iss={}",
            enc(&code),
            enc(&state),
            enc(&iss)
        ),
    ] {
        let res = h.get_with_cookie(&odd, &alice).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{odd}: {}", res.body);
        assert_page_headers(&res);
        assert!(
            !res.body.contains(&code) && !res.body.contains(&state),
            "{odd}"
        );
        assert!(res.headers.get("location").is_none());
        assert!(h.stores.vault.list().await.unwrap().is_empty(), "{odd}");
        assert_eq!(
            status(&h, ELIC).await,
            ElicitationStatus::InProgress,
            "{odd}"
        );
    }
    // None of them spent the state: the genuine answer completes.
    let res = h.get_with_cookie(&q(""), &alice).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
}

/// Review of the connect form's fail-closed handling: a `POST /connect/{id}` with a repeated
/// `csrf_token` (even twice the valid one), `decision` or `api_key` is refused with `400` and
/// changes nothing; neither the refusal pages nor the success page show the API key.
#[tokio::test]
async fn connect_form_repeated_fields_are_refused_and_change_nothing() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "crm")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let page = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    let csrf = enc(&hidden(&page.body, "csrf_token"));
    let key = "sk-live-odd-shapes-0123";
    for form in [
        format!("csrf_token={csrf}&csrf_token={csrf}&decision=cancel"),
        format!("csrf_token={csrf}&csrf_token=x&decision=approve&api_key={key}"),
        format!("csrf_token={csrf}&decision=approve&decision=cancel&api_key={key}"),
        format!("csrf_token={csrf}&decision=approve&api_key={key}&api_key={key}"),
        format!("csrf_token={csrf}&decision=Approve&api_key={key}"),
    ] {
        let res = h
            .post_form_with_cookie(&format!("/connect/{ELIC}"), &form, &alice)
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{form}: {}", res.body);
        assert!(!res.body.contains(key), "{form}");
        assert!(res.headers.get("location").is_none());
        assert_eq!(status(&h, ELIC).await, ElicitationStatus::Pending, "{form}");
        assert!(h.stores.vault.list().await.unwrap().is_empty(), "{form}");
    }
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{ELIC}"),
            &format!("csrf_token={csrf}&decision=approve&api_key={key}"),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(!res.body.contains(key));
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Completed);
}

/// Issue 22 §4 "the failure page has a try again link": after the third party refuses, the
/// failure page carries a CSRF-protected "Try again" form. Posting it without the CSRF token,
/// or as bob, changes nothing; as alice it opens a new elicitation for the same MCP client,
/// connection and MCP server (the failed one stays failed) and sends her to its connect page,
/// from where the connection completes. Trying again the same failed link reuses the open one.
#[tokio::test]
async fn the_failure_page_offers_to_try_again() {
    let tp = third_party().await;
    let (h, _) = our_server(&tp).await;
    seed(&h, &pending(ELIC, "user-1", "calendar")).await;
    let alice = sign_in(&h, "alice", PASSWORD).await;
    let failed = third_party_refuses(&h, &tp, &alice, ELIC, "server_error").await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
    assert_page_headers(&failed);
    let retry = format!("/connect/{ELIC}/retry");
    assert!(
        failed.body.contains(&format!(
            "action=\"{}\"",
            format!("{ISSUER}{retry}").replace('/', "&#x2f;")
        )) && failed.body.contains("Try again"),
        "{}",
        failed.body
    );
    let csrf = hidden(&failed.body, "csrf_token");
    // Without the CSRF token: refused, nothing opened.
    let res = h.post_form_with_cookie(&retry, "", &alice).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // Bob, with his own session and CSRF token: another account.
    let bob = sign_in(&h, "bob", BOB_PASSWORD).await;
    let bob_page = h.get_with_cookie("/connections", &bob).await;
    let bob_csrf = hidden(&bob_page.body, "csrf_token");
    let res = h
        .post_form_with_cookie(&retry, &format!("csrf_token={}", enc(&bob_csrf)), &bob)
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(open_for_alice(&h).await, 0);
    // Alice: a new elicitation, bound as the failed one was.
    let form = format!("csrf_token={}", enc(&csrf));
    let res = h.post_form_with_cookie(&retry, &form, &alice).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let location = res.header("location");
    let next = location
        .strip_prefix(&format!("{ISSUER}/connect/"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    assert_ne!(next, ELIC);
    assert_eq!(status(&h, ELIC).await, ElicitationStatus::Failed);
    let e = h.stores.elicitations.get(&next).await.unwrap().unwrap();
    let old = pending(ELIC, "user-1", "calendar");
    assert_eq!(
        (
            &e.iss,
            &e.sub,
            &e.client_id,
            &e.connection,
            &e.resource,
            &e.requested_by
        ),
        (
            &old.iss,
            &old.sub,
            &old.client_id,
            &old.connection,
            &old.resource,
            &old.requested_by
        )
    );
    assert_eq!(e.status, ElicitationStatus::Pending);
    // Again from the same failure page: the open one, not a third.
    let again = h.post_form_with_cookie(&retry, &form, &alice).await;
    assert_eq!(again.header("location"), location);
    assert_eq!(open_for_alice(&h).await, 1);
    // The new link completes the connection.
    let back = third_party_approves(&tp, &approve(&h, &alice, &next).await).await;
    let done = h.get_with_cookie(&callback_path(&back), &alice).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(status(&h, &next).await, ElicitationStatus::Completed);
    assert_eq!(h.stores.vault.list().await.unwrap().len(), 1);
}

async fn open_for_alice(h: &Harness) -> u64 {
    h.stores
        .elicitations
        .count_open_for_subject(ISSUER, "user-1", NOW)
        .await
        .unwrap()
}
