//! The sign-in form when every password-check slot is taken (issue #8 item 2). In-crate
//! because the test holds the engine's hashing slots itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::store::{Stores, User};
use mcp_auth_core::{Client, ClientSource, FixedClock, GrantType, TokenEndpointAuthMethod};
use tower::ServiceExt;

use crate::settings::ServerSettings;
use crate::{AuthorizationServer, HttpOptions};

const REDIRECT: &str = "http://127.0.0.1/callback";
const RESOURCE: &str = "https://mcp.example.com/mcp";

async fn app() -> (axum::Router, AuthorizationServer) {
    let resources = ResourceRegistry::new(
        vec![ProtectedResource {
            resource: RESOURCE.parse().unwrap(),
            scopes_supported: "mcp:basic".parse().unwrap(),
            default_scopes: "mcp:basic".parse().unwrap(),
            access_token_ttl: None,
        }],
        None,
    )
    .unwrap();
    let mut settings = ServerSettings::new("https://auth.example.com".parse().unwrap(), resources);
    settings.signin.hash_threads = 1;
    settings.signin.max_concurrent_hashes = 1;
    settings.signin.hash_wait_ms = 0;
    let stores = Stores::in_memory();
    stores
        .clients
        .put(&Client {
            client_id: "public-client".parse().unwrap(),
            client_name: Some("Public".into()),
            redirect_uris: vec![REDIRECT.parse().unwrap()],
            grant_types: vec![GrantType::authorization_code()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            token_endpoint_auth_methods: Vec::new(),
            secrets: Vec::new(),
            jwks: None,
            jwks_uri: None,
            scope: None,
            client_id_issued_at: 0,
            resources: None,
            source: ClientSource::Admin,
            dpop_bound_access_tokens: false,
        })
        .await
        .unwrap();
    stores
        .users
        .put(&User {
            sub: "user-1".into(),
            username: "alice".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$mXjW1VfK8I0qfqnL3k7rXb0t1nhV0T5y4Gf7n1Qy2Xo".into(),
        })
        .await
        .unwrap();
    let server = AuthorizationServer::builder(settings, stores)
        .clock(Arc::new(FixedClock::new(1_800_000_000)))
        .build()
        .await
        .unwrap();
    let router = super::router(
        server.clone(),
        HttpOptions {
            session_secret: vec![7u8; 64],
        },
    )
    .unwrap();
    (router, server)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Issue #8 item 2: when every password-check slot stays taken for the whole wait, a sign-in
/// gets `429` with `Retry-After: 1` and the form again; it is not counted as a failure.
#[tokio::test]
async fn busy_password_checks_answer_429_with_retry_after() {
    let (app, server) = app().await;
    let query = format!(
        "/authorize?response_type=code&client_id=public-client&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource={}&state=xyz",
        enc(REDIRECT),
        enc(RESOURCE)
    );
    let page = app
        .clone()
        .oneshot(Request::get(&query).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = axum::body::to_bytes(page.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = String::from_utf8(html.to_vec()).unwrap();
    let form = format!(
        "csrf_token={}&request={}&username=alice&password=wrong",
        enc(&hidden(&html, "csrf_token")),
        enc(&hidden(&html, "request")),
    );

    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = {
        let server = server.clone();
        tokio::spawn(async move {
            let hashes = &server.inner.sign_in.hashes;
            hashes.run(move || held.recv().is_ok()).await
        })
    };
    while server.inner.sign_in.hashes.free_slots() != 0 {
        tokio::task::yield_now().await;
    }
    let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
    let res = app
        .clone()
        .oneshot(
            Request::post("/authorize/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .extension(ConnectInfo(peer))
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains("The server is busy"), "{body}");
    assert!(body.contains("name=\"password\""));
    release.send(()).unwrap();
    assert_eq!(holder.await.unwrap(), Ok(true));
    assert_eq!(server.inner.sign_in.limits.failures_from("127.0.0.2"), 0);
}
