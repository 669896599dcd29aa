//! Branding and scope descriptions over HTTP (issue 14, "Users"): the stylesheet and logo the
//! server serves itself, the strict page policy, scope descriptions on the consent page, the
//! product name, and the request id on error pages.

mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use mcp_auth_server::web::ui::{Logo, ScopeDescriptions, UiSettings};

const LOGO_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"/>";

fn branded() -> mcp_auth_server::ServerSettings {
    let mut s = settings(ISSUER);
    s.ui = UiSettings {
        product_name: "Acme MCP".into(),
        logo: Some(Logo::from_bytes("svg", LOGO_SVG.as_bytes().to_vec()).unwrap()),
        primary_color: Some("#0b6e4f".parse().unwrap()),
        templates_dir: None,
        scope_descriptions: ScopeDescriptions::new(BTreeMap::from([(
            "mcp:tools".to_owned(),
            "Use the tools of your MCP servers".to_owned(),
        )]))
        .unwrap()
        .with_resource(
            RESOURCE,
            BTreeMap::from([(
                "files:write".to_owned(),
                "Create, change and delete your files".to_owned(),
            )]),
        )
        .unwrap(),
    };
    s
}

async fn consent_page(h: &Harness, scope: &str) -> TestResponse {
    let login = h
        .get(&authorize_query(&format!("&scope={}", enc(scope))))
        .await;
    let cookie = session_cookie(&login);
    let form = format!(
        "csrf_token={}&request={}&username=alice&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
        enc(PASSWORD)
    );
    h.post_form_with_cookie("/authorize/login", &form, &cookie)
        .await
}

/// Issue 14: the pages load only the server's own stylesheet and images; no inline style or
/// script is allowed.
#[tokio::test]
async fn page_policy_allows_only_own_stylesheet_and_images() {
    let h = Harness::new().await;
    let login = h.get(&authorize_query("")).await;
    let csp = login.header("content-security-policy");
    assert!(csp.starts_with("default-src 'none'; style-src 'self'; img-src 'self'; "));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(!login.body.contains("<style"), "no inline style");
    assert!(!login.body.contains("<script"), "no script");
    assert!(
        login
            .body
            .contains("<link rel=\"stylesheet\" href=\"https:&#x2f;&#x2f;auth.example.com&#x2f;ui&#x2f;style.css?v="),
        "{}",
        login.body
    );
}

/// Issue 14: the stylesheet is served as CSS, with the configured primary colour as `--primary`.
#[tokio::test]
async fn stylesheet_is_served_with_the_primary_colour() {
    let h = Harness::with_settings(branded()).await;
    let css = h.get("/ui/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert_eq!(css.header("x-content-type-options"), "nosniff");
    assert!(css.body.contains("button.primary"));
    assert!(css.body.ends_with(":root { --primary: #0b6e4f; }\n"));
}

/// Issue 14: the logo is served by the server itself with the type of its file, sandboxed so
/// an SVG opened on its own cannot run script; without a logo the path is `404`.
#[tokio::test]
async fn logo_is_served_by_the_server_itself() {
    let h = Harness::with_settings(branded()).await;
    let logo = h.get("/ui/logo").await;
    assert_eq!(logo.status, StatusCode::OK);
    assert_eq!(logo.header("content-type"), "image/svg+xml");
    assert_eq!(logo.body, LOGO_SVG);
    assert!(logo.header("content-security-policy").contains("sandbox"));
    let login = h.get(&authorize_query("")).await;
    assert!(
        login
            .body
            .contains("src=\"https:&#x2f;&#x2f;auth.example.com&#x2f;ui&#x2f;logo?v="),
        "{}",
        login.body
    );
    let plain = Harness::new().await;
    assert_eq!(plain.get("/ui/logo").await.status, StatusCode::NOT_FOUND);
    assert!(!plain.get(&authorize_query("")).await.body.contains("<img"));
}

/// Issue 14: the consent page shows each scope's description next to its raw name (the
/// resource's own description, else the global one, else the name alone), the product name,
/// and Approve as the primary action.
#[tokio::test]
async fn consent_page_shows_scope_descriptions_and_branding() {
    let h = Harness::with_settings(branded()).await;
    let consent = consent_page(&h, "mcp:tools files:write mcp:basic").await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let b = &consent.body;
    assert!(
        b.contains(
            "<span class=\"description\">Create, change and delete your files</span> <code>files:write</code>"
        ),
        "{b}"
    );
    assert!(b.contains(
        "<span class=\"description\">Use the tools of your MCP servers</span> <code>mcp:tools</code>"
    ));
    assert!(
        b.contains("<li><code>mcp:basic</code>"),
        "no description: name only"
    );
    assert!(b.contains("Acme MCP"));
    assert!(b.contains(
        "<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary\">Approve</button>"
    ));
    assert!(b.contains(
        "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>"
    ));
}

/// Issue 14: an error page shows the request's `X-Request-Id` so the user can quote it; an id
/// with characters outside the allowed set is not shown.
#[tokio::test]
async fn error_page_shows_the_request_id() {
    let h = Harness::new().await;
    let get = |id: &'static str| {
        Request::get("/authorize?client_id=nobody")
            .header("x-request-id", id)
            .body(Body::empty())
            .unwrap()
    };
    let page = h.send(get("req-0123abcd")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("Request id: <code>req-0123abcd</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("What you can do"));
    let odd = h.send(get("<b>x</b>")).await;
    assert!(!odd.body.contains("Request id"), "{}", odd.body);
}
