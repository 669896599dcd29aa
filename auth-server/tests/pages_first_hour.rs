//! Issue 22 §4: the pages a user meets in the first hour say who asks, why, and where the user
//! goes next: the connect sign-in page names the account to connect, the sign-in page shows the
//! client's verification badge and redirect host, the loopback warning is for apps on the
//! user's device only, `/connections` shows times in words with labelled buttons and a sign-out
//! form, and `POST /logout` signs the browser out.

mod common;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::store::{ElicitationStatus, PendingElicitation};
use mcp_auth_core::{ClientSource, TokenEndpointAuthMethod};

const ELIC: &str = "elic-first-hour-0123456789abcdefghijkl";

async fn harness() -> Harness {
    let (h, _) = Harness::with_connections(
        settings(ISSUER),
        vec![api_key_connection("crm", "Example CRM")],
    )
    .await;
    h.stores
        .elicitations
        .insert(&PendingElicitation {
            id: ELIC.into(),
            iss: ISSUER.into(),
            sub: "user-1".into(),
            client_id: PUBLIC.into(),
            connection: "crm".into(),
            resource: RESOURCE.parse().unwrap(),
            requested_by: BASIC.into(),
            status: ElicitationStatus::Pending,
            created_at: NOW,
            expires_at: NOW + 900,
            state_hash: None,
            code_verifier: None,
            finished_at: None,
        })
        .await
        .unwrap();
    h
}

/// Sign in as alice at `/login`, returning to `return_to`: the signed-in session cookie.
async fn sign_in(h: &Harness, return_to: &str) -> String {
    let page = h.get(&format!("/login?return_to={}", enc(return_to))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let res = h
        .post_form_with_cookie(
            "/login",
            &format!(
                "csrf_token={}&return_to={}&username=alice&password={}",
                enc(&hidden(&page.body, "csrf_token")),
                enc(return_to),
                enc(PASSWORD)
            ),
            &session_cookie(&page),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    session_cookie(&res)
}

/// The connect sign-in page says why the user is asked to sign in: which account of which
/// third party, for which MCP server; the connections sign-in page says it is for the list.
#[tokio::test]
async fn connect_sign_in_says_which_account_for_which_app() {
    let h = harness().await;
    let page = h
        .get(&format!(
            "/login?return_to={}",
            enc(&format!("/connect/{ELIC}"))
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.body.replace("&#x2f;", "/");
    assert!(
        text.contains("asks to use your <strong>Example CRM</strong> account"),
        "{text}"
    );
    assert!(text.contains(RESOURCE), "{text}");
    let page = h.get("/login?return_to=%2Fconnections").await;
    assert!(
        page.body
            .contains("Sign in to see and remove the accounts you connected"),
        "{}",
        page.body
    );
    // An unknown link: the page still works and says nothing it does not know.
    let page = h.get("/login?return_to=%2Fconnect%2Fno-such-link").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("asks to use your"));
}

/// `/connections`: the time in words inside a `<time>` element carrying the exact RFC 3339
/// time, a Remove button whose accessible name names the connection, and a sign-out form.
#[tokio::test]
async fn connections_page_shows_times_in_words_labelled_buttons_and_sign_out() {
    let h = harness().await;
    let alice = sign_in(&h, &format!("/connect/{ELIC}")).await;
    let page = h.get_with_cookie(&format!("/connect/{ELIC}"), &alice).await;
    let res = h
        .post_form_with_cookie(
            &format!("/connect/{ELIC}"),
            &format!(
                "csrf_token={}&decision=approve&api_key=sk-live-123",
                enc(&hidden(&page.body, "csrf_token"))
            ),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let page = h.get_with_cookie("/connections", &alice).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(
            r#"<time datetime="2027-01-15T08:00:00Z" title="2027-01-15T08:00:00Z">just now</time>"#
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"aria-label="Remove Example CRM""#));
    let text = page.body.replace("&#x2f;", "/");
    assert!(
        text.contains(&format!(r#"action="{ISSUER}/logout""#)),
        "{text}"
    );
    assert!(page.body.contains(">Sign out</button>"));
}

/// `POST /logout` needs the page's CSRF token (without it nothing changes); with it the
/// browser is signed out: `/connections` sends it to the sign-in page again.
#[tokio::test]
async fn logout_needs_csrf_and_signs_the_browser_out() {
    let h = harness().await;
    let alice = sign_in(&h, "/connections").await;
    let page = h.get_with_cookie("/connections", &alice).await;
    assert_eq!(page.status, StatusCode::OK);
    let res = h
        .post_form_with_cookie("/logout", "csrf_token=forged", &alice)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.get_with_cookie("/connections", &alice).await.status,
        StatusCode::OK,
        "a refused sign-out leaves the session"
    );
    let res = h
        .post_form_with_cookie(
            "/logout",
            &format!("csrf_token={}", enc(&hidden(&page.body, "csrf_token"))),
            &alice,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Signed out"));
    let signed_out = session_cookie(&res);
    let after = h.get_with_cookie("/connections", &signed_out).await;
    assert_eq!(after.status, StatusCode::FOUND);
    assert!(after.header("location").contains("/login?return_to="));
}

/// The sign-in page shows the same client identity as the consent page: a self-registered
/// client's name carries the "Not verified" badge, and the page names the redirect host.
#[tokio::test]
async fn sign_in_page_marks_a_self_registered_client_not_verified() {
    let h = harness().await;
    let mut dynamic = client("dcr-client", TokenEndpointAuthMethod::None, None);
    dynamic.client_name = Some("Totally Official App".into());
    dynamic.source = ClientSource::Dynamic;
    h.stores.clients.put(&dynamic).await.unwrap();
    let query = authorize_query("").replace(PUBLIC, "dcr-client");
    let page = h.get(&query).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(r#"<span class="badge unverified">Not verified</span> <strong>Totally Official App</strong>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("then sends you to <strong>127.0.0.1</strong>")
    );
    let page = h.get(&authorize_query("")).await;
    assert!(
        page.body
            .contains(r#"<span class="badge operator">Registered</span>"#)
    );
}

/// CIMD-UI-3: "only redirects to this computer" is said of a public client whose redirect URIs
/// are all loopback (an app on the user's device), never of a confidential client such as a
/// server-side connector registered with a secret, even on a loopback demo.
#[tokio::test]
async fn loopback_warning_is_for_public_clients_only() {
    let h = harness().await;
    let warning = "only redirects to this computer";
    let consent_of = |client_id: &'static str| {
        let h = &h;
        async move {
            let q = authorize_query("&scope=mcp%3Atools").replace(PUBLIC, client_id);
            let login = h.get(&q).await;
            let res = h
                .post_form_with_cookie(
                    "/authorize/login",
                    &format!(
                        "csrf_token={}&request={}&username=alice&password={}",
                        enc(&hidden(&login.body, "csrf_token")),
                        enc(&hidden(&login.body, "request")),
                        enc(PASSWORD)
                    ),
                    &session_cookie(&login),
                )
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            res.body
        }
    };
    assert!(consent_of(PUBLIC).await.contains(warning));
    assert!(!consent_of(BASIC).await.contains(warning));
}
