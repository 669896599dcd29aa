//! Issue 25 §1: the account page. `GET /account` lists the apps the signed-in user authorized
//! (name, verified domain or not, resource, scopes in words, first and last use, refresh token)
//! and "Remove access" (`POST /account/remove`, CSRF-protected) revokes the consent, the refresh
//! tokens and every access token introspection can stop, at once; codes in flight stop too. Every
//! page with a session carries the sign-out form.

mod common;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::{ResourceUri, TokenEndpointAuthMethod};

/// A confidential client without the refresh_token grant: its access tokens are stopped only by
/// the cut-off, never by a refresh token family.
const CODE_ONLY: &str = "code-only-client";
const CODE_ONLY_SECRET: &str = "code-only-secret-0123456789";

async fn harness() -> Harness {
    let mut settings = settings(ISSUER);
    settings.ui.scope_descriptions = settings
        .ui
        .scope_descriptions
        .clone()
        .with_resource(
            RESOURCE,
            [(
                "files:write".to_owned(),
                "Create, change and delete your files".to_owned(),
            )]
            .into_iter()
            .collect(),
        )
        .unwrap();
    let h = Harness::with_settings(settings).await;
    h.stores
        .clients
        .put(&mcp_auth_conformance::server::client(
            CODE_ONLY,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(CODE_ONLY_SECRET),
            &["authorization_code"],
            &[REDIRECT],
        ))
        .await
        .unwrap();
    h
}

/// Sign in as alice at `/login`, returning to `/account`: the signed-in session cookie.
async fn sign_in(h: &Harness) -> String {
    let page = h.get("/login?return_to=%2Faccount").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("Sign in to see the apps you authorized and remove their access"),
        "{}",
        page.body
    );
    let res = h
        .post_form_with_cookie(
            "/login",
            &format!(
                "csrf_token={}&return_to=%2Faccount&username=alice&password={}",
                enc(&hidden(&page.body, "csrf_token")),
                enc(PASSWORD)
            ),
            &session_cookie(&page),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.header("location"), format!("{ISSUER}/account"));
    session_cookie(&res)
}

/// `POST /introspect` by the MCP server's client ([`BASIC`]): is `token` active?
async fn active(h: &Harness, token: &str) -> bool {
    let res = h
        .post_form(
            "/introspect",
            &format!("token={}", enc(token)),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()["active"].as_bool().unwrap()
}

/// The page's text with `/` unescaped (minijinja escapes it in attributes).
fn text(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

/// The form body that removes `client_id`, with the page's CSRF token.
fn remove_form(page: &TestResponse, client_id: &str) -> String {
    format!(
        "csrf_token={}&client_id={}",
        enc(&hidden(&page.body, "csrf_token")),
        enc(client_id)
    )
}

/// Not signed in: `/account` sends the browser to sign in, and the sign-in comes back to it.
#[tokio::test]
async fn account_page_asks_to_sign_in_first_then_comes_back() {
    let h = harness().await;
    let res = h.get("/account").await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(
        res.header("location"),
        format!("{ISSUER}/login?return_to=%2Faccount")
    );
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie("/account", &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("You have not authorized any app."));
}

/// An authorized app is listed with its name, "Not verified", the resource, its scopes in words
/// (the raw name beside them), first and last use, that it holds a refresh token, and a
/// labelled "Remove access" form; the page carries the pages' CSP and the sign-out form, and
/// no script.
#[tokio::test]
async fn account_page_lists_what_the_user_authorized() {
    let h = harness().await;
    h.public_tokens(Some("mcp:basic files:write")).await;
    h.clock.advance(7_200);
    let tokens = h.public_tokens(Some("mcp:basic")).await;
    assert!(tokens["refresh_token"].is_string());
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie("/account", &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = text(&page.body);
    for needle in [
        "<h2>public-client name</h2>",
        r#"<span class="badge unverified">Not verified</span>"#,
        &format!("<code>{RESOURCE}</code>"),
        r#"<span class="description">Create, change and delete your files</span> <code>files:write</code>"#,
        "<code>mcp:basic</code>",
        r#"<time datetime="2027-01-15T08:00:00Z" title="2027-01-15T08:00:00Z">2 hours ago</time>"#,
        r#"<time datetime="2027-01-15T10:00:00Z" title="2027-01-15T10:00:00Z">just now</time>"#,
        "yes: it holds a refresh token",
        r#"aria-label="Remove access of public-client name""#,
        &format!(r#"action="{ISSUER}/account/remove""#),
        r#"<input type="hidden" name="client_id" value="public-client">"#,
        &format!(r#"action="{ISSUER}/logout""#),
        ">Sign out</button>",
    ] {
        assert!(body.contains(needle), "{needle} in\n{body}");
    }
    assert!(!body.contains("<script"), "{body}");
    assert_eq!(
        page.header("content-security-policy"),
        mcp_auth_server::web::pages::CONTENT_SECURITY_POLICY
    );
    assert_eq!(page.header("cache-control"), "no-store");
}

/// "Remove access": the consent is forgotten, the refresh token is refused, and the access
/// token answers `active: false` at introspection at once; the page no longer lists the app.
#[tokio::test]
async fn remove_access_revokes_consent_refresh_and_access_tokens_at_once() {
    let h = harness().await;
    let tokens = h.public_tokens(Some("mcp:basic")).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(active(&h, access).await);
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie("/account", &alice).await;
    let res = h
        .post_form_with_cookie("/account/remove", &remove_form(&page, PUBLIC), &alice)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.header("location"), format!("{ISSUER}/account"));
    assert!(!active(&h, access).await, "introspection stops it at once");
    let resource: ResourceUri = RESOURCE.parse().unwrap();
    assert_eq!(
        h.stores
            .consent
            .granted("user-1", PUBLIC, &resource)
            .await
            .unwrap(),
        None
    );
    let res = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={}",
            enc(refresh)
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_grant");
    let page = h.get_with_cookie("/account", &alice).await;
    assert!(
        page.body.contains("You have not authorized any app."),
        "{}",
        page.body
    );
}

/// An access token issued without any refresh token (the client may not refresh) is stopped by
/// the cut-off alone; another user's and another client's tokens stay active, and a new
/// authorization after the removal works.
#[tokio::test]
async fn remove_access_stops_access_tokens_without_refresh_tokens_and_only_those() {
    let h = harness().await;
    let code = h.code_for(CODE_ONLY, Some("mcp:basic")).await;
    let res = h
        .post_form(
            "/token",
            &format!(
                "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
                enc(REDIRECT)
            ),
            Some(&basic(CODE_ONLY, CODE_ONLY_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let body = res.json();
    assert!(body.get("refresh_token").is_none(), "{body}");
    let code_only_access = body["access_token"].as_str().unwrap().to_owned();
    let public = h.public_tokens(Some("mcp:basic")).await;
    let public_access = public["access_token"].as_str().unwrap();
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie("/account", &alice).await;
    assert!(text(&page.body).contains("<h2>code-only-client name</h2>"));
    let res = h
        .post_form_with_cookie("/account/remove", &remove_form(&page, CODE_ONLY), &alice)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(!active(&h, &code_only_access).await);
    assert!(active(&h, public_access).await, "another client's token");
    // The same user authorizes the app again a moment later: its new token is active.
    h.clock.advance(1);
    let code = h.code_for(CODE_ONLY, Some("mcp:basic")).await;
    let res = h
        .post_form(
            "/token",
            &format!(
                "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
                enc(REDIRECT)
            ),
            Some(&basic(CODE_ONLY, CODE_ONLY_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(active(&h, res.json()["access_token"].as_str().unwrap()).await);
}

/// A code issued before the removal and redeemed after it is `invalid_grant`.
#[tokio::test]
async fn code_issued_before_removal_cannot_be_redeemed() {
    let h = harness().await;
    h.public_tokens(Some("mcp:basic")).await;
    let code = h.code_for(PUBLIC, Some("mcp:basic")).await;
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie("/account", &alice).await;
    let res = h
        .post_form_with_cookie("/account/remove", &remove_form(&page, PUBLIC), &alice)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let res = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.json()["error"], "invalid_grant");
}

/// A wrong CSRF token, a repeated or missing `client_id`, or no session: `400`, nothing
/// changes.
#[tokio::test]
async fn remove_access_refuses_forged_and_malformed_forms() {
    let h = harness().await;
    let tokens = h.public_tokens(Some("mcp:basic")).await;
    let access = tokens["access_token"].as_str().unwrap();
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie("/account", &alice).await;
    let csrf = enc(&hidden(&page.body, "csrf_token"));
    for (body, cookie) in [
        (
            format!("csrf_token=forged&client_id={PUBLIC}"),
            alice.as_str(),
        ),
        (format!("client_id={PUBLIC}"), alice.as_str()),
        (
            format!("csrf_token={csrf}&client_id={PUBLIC}&client_id={PUBLIC}"),
            alice.as_str(),
        ),
        (format!("csrf_token={csrf}"), alice.as_str()),
        (format!("csrf_token={csrf}&client_id="), alice.as_str()),
        (format!("csrf_token={csrf}&client_id={PUBLIC}"), ""),
    ] {
        let res = h
            .post_form_with_cookie("/account/remove", &body, cookie)
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
    }
    assert!(active(&h, access).await, "nothing changed");
    let resource: ResourceUri = RESOURCE.parse().unwrap();
    assert!(
        h.stores
            .consent
            .granted("user-1", PUBLIC, &resource)
            .await
            .unwrap()
            .is_some()
    );
}

/// The consent page, where a session exists, offers the account page and sign-out (after the
/// decision buttons).
#[tokio::test]
async fn consent_page_carries_the_sign_out_form() {
    let h = harness().await;
    let alice = sign_in(&h).await;
    let page = h.get_with_cookie(&authorize_query(""), &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = text(&page.body);
    let approve = body.find(r#"value="approve""#).expect("the consent form");
    let logout = body
        .find(&format!(r#"action="{ISSUER}/logout""#))
        .expect("the sign-out form");
    assert!(approve < logout, "the decision comes first");
    assert!(
        body.contains(&format!(r#"href="{ISSUER}/account""#)),
        "{body}"
    );
}
