//! Shared end-to-end fixtures: the mcp-auth authorization server in-process (the conformance
//! kit's `InProcessServer`: development profile, in-memory stores) and the example MCP server, both on 127.0.0.1 port 0, plus the
//! "browser" step of the authorization code flow.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_conformance::server::{InProcessServer, resources, settings as kit_settings};
use mcp_auth_core::store::{Stores, User};
use mcp_auth_core::{Clock, SystemClock};
use mcp_auth_server::AuthorizationServerBuilder;
use protected_mcp_server::{AppOptions, app_with_session_manager};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::net::TcpListener;

/// Every scope the authorization server knows for the example server.
pub const AS_SCOPES: &str = "mcp:basic mcp:tools files:write";
/// Granted when an authorization request names no scope: the example server's baseline.
pub const DEFAULT_SCOPES: &str = "mcp:tools";
/// The client's redirect URI. Nothing listens there: the test reads the redirect itself.
pub const REDIRECT_URI: &str = "http://127.0.0.1:33418/callback";
/// Bound on every end-to-end flow.
pub const FLOW_TIMEOUT: Duration = Duration::from_secs(60);

/// The two servers, running until the test ends.
pub struct Servers {
    /// The issuer of the authorization server, `http://127.0.0.1:PORT`.
    pub issuer: String,
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub mcp_url: String,
    /// The authorization server's stores, to provision clients directly.
    pub stores: Stores,
    /// The example server's rmcp session manager.
    pub sessions: Arc<LocalSessionManager>,
}

impl Servers {
    /// The example server's protected resource metadata URL.
    pub fn metadata_url(&self) -> String {
        self.mcp_url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    }
}

/// Start both servers. `customize` may add extensions to the authorization server.
pub async fn start(
    customize: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Servers {
    start_with(customize, |o| o).await
}

/// As [`start`], with the example server's options adjusted by `options`.
pub async fn start_with(
    customize: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
    options: impl FnOnce(AppOptions) -> AppOptions,
) -> Servers {
    // The example's public URL must be known before the AS settings name it as a resource.
    let mcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_addr = mcp_listener.local_addr().unwrap();
    let mcp_url = format!("http://{mcp_addr}/mcp");
    let as_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());

    let registry = resources(&[(&mcp_url, AS_SCOPES, DEFAULT_SCOPES)], None).unwrap();
    let mut settings = kit_settings(&issuer, registry).unwrap();
    settings.dangerous_dev_mode = true;
    // The clock is fixed at the real time: the example server checks `exp` against its own.
    let kit = InProcessServer::start_at(settings, SystemClock.now(), customize)
        .await
        .unwrap();
    kit.stores
        .users
        .put(&User {
            sub: "dev-user".into(),
            username: mcp_auth_server::DEV_USERNAME.into(),
            password_hash: mcp_auth_server::web::password::hash_password("unused dev password")
                .unwrap(),
        })
        .await
        .unwrap();
    kit.serve(as_listener);
    let stores = kit.stores.clone();

    let (mcp_app, sessions) =
        app_with_session_manager(options(AppOptions::new(issuer.clone(), mcp_url.clone())))
            .unwrap();
    tokio::spawn(async move { axum::serve(mcp_listener, mcp_app).await });
    Servers {
        issuer,
        mcp_url,
        stores,
        sessions,
    }
}

/// The user agent's part: open the authorization URL (the development profile signs the
/// development user in and skips consent) and return where the authorization server sends the
/// browser back to.
pub async fn browse(authorization_url: &str) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = browser.get(authorization_url).send().await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    let location = location.unwrap_or_else(|| {
        panic!("no redirect from the authorization endpoint ({status}): {body}")
    });
    assert_eq!(status, 302, "authorization endpoint status");
    assert!(
        location.starts_with(REDIRECT_URI),
        "redirected to {location}, not the client"
    );
    location
}

/// The first error of type `E` in `err`'s source chain.
pub fn find_source<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}
