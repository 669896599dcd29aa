//! End to end against a real third-party OpenID Provider (issue 23): node-oidc-provider (npm
//! `oidc-provider`, pinned in `tests/oidc-provider/package-lock.json`), started by the test on
//! loopback with its development sign-in pages, is the upstream of our authorization server.
//! rmcp's client discovers our server from the example MCP server, registers, and starts
//! authorization code + PKCE; headless Chromium signs in at node-oidc-provider, approves there,
//! comes back to our server, approves our consent page and reaches the client's redirect URI;
//! the client redeems the code and calls a tool on the example MCP server with the token.
//!
//! node-oidc-provider puts `email`, `email_verified` and `groups` in userinfo only (not in the
//! ID token), so the sign-in rules (`allowed_email_domains`, `required_claims`) and
//! `claims_to_tokens` are met through our userinfo call.
//!
//! Needs Node.js 20 or later with `npm ci` run in `auth-server/tests/oidc-provider`
//! (`scripts/test` does it), and Chromium with chromedriver (see the `chromium` module). When
//! either is missing the test FAILS, saying so; it is never skipped.
//!
//! Everything listens on and connects to 127.0.0.1 only.

#[allow(dead_code)]
mod chromium;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator};
use mcp_auth_conformance::server::{InProcessServer, resources, settings as kit_settings};
use mcp_auth_core::{Clock, SystemClock};
use mcp_auth_server::config::UpstreamIdpConfig;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthorizationManager, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use chromium::{Chromium, Process};

const OP_CLIENT_ID: &str = "mcp-auth";
const OP_CLIENT_SECRET: &str = "mcp-auth-upstream-secret-0123456789";
/// Longest wait for a page element or a navigation.
const WAIT: Duration = Duration::from_secs(30);
/// Bound on the whole flow.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);

/// A loopback port nobody listens on now (for node-oidc-provider, which binds it itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `auth-server/tests/oidc-provider`, with its `node_modules` installed.
fn provider_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
    assert!(
        dir.join("node_modules/oidc-provider/package.json")
            .is_file(),
        "node-oidc-provider is not installed: run `npm ci` in {} (scripts/test does it)",
        dir.display()
    );
    dir
}

/// Start node-oidc-provider on `port` for our `redirect_uri`; returns once it listens.
fn start_provider(port: u16, redirect_uri: &str) -> Process {
    let mut child = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
        .arg("provider.mjs")
        .current_dir(provider_dir())
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect_uri)
        .env("CLIENT_ID", OP_CLIENT_ID)
        .env("CLIENT_SECRET", OP_CLIENT_SECRET)
        .env("NODE_ENV", "development")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node (Node.js 20 or later is needed): {e}"));
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("listening ") => break,
            Some(Ok(_)) => continue,
            other => panic!("node-oidc-provider did not start: {other:?}"),
        }
    }
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    process
}

/// Our upstream configuration for node-oidc-provider at `issuer`.
fn upstream(issuer: &str) -> UpstreamIdpConfig {
    let mut c: UpstreamIdpConfig = serde_json::from_value(json!({
        "name": "op", "display_name": "node-oidc-provider", "issuer": issuer,
        "client_id": OP_CLIENT_ID, "insecure_allow_http_loopback": true,
        "allowed_email_domains": ["example.com"],
        "required_claims": {"groups": "mcp-users"},
        "claims_to_tokens": ["email", "groups"],
    }))
    .unwrap();
    c.client_secret = Some(mcp_auth_core::Secret::new(OP_CLIENT_SECRET));
    c
}

/// A loopback page for the MCP client's redirect URI (the browser lands there at the end).
async fn start_redirect_target() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async { axum::response::Html("<!doctype html><title>done</title>") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Wait until the browser's URL starts with `prefix`; the URL.
async fn wait_for_url(b: &Client, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = b.current_url().await.unwrap().to_string();
        if url.starts_with(prefix) {
            return url;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the browser is at {url}, not {prefix}: {}",
            b.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The browser's part: sign in as `login` at node-oidc-provider's development pages, approve
/// there, then approve our consent page; returns the client's redirect URL with the code.
async fn browse(
    b: &Client,
    authorization_url: &str,
    op_issuer: &str,
    redirect_uri: &str,
) -> String {
    b.goto(authorization_url).await.unwrap();
    wait_for_url(b, &format!("{op_issuer}/interaction/")).await;
    let login = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    login.send_keys("alice").await.unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("any password")
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("input[name=prompt][value=consent]"))
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let approve = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("button[value=approve]"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(
        page.contains("User alice"),
        "the consent page names the user: {page}"
    );
    approve.click().await.unwrap();
    wait_for_url(b, redirect_uri).await
}

/// Issue 23's end-to-end test: rmcp + Chromium + node-oidc-provider + our server + the example
/// MCP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_signs_in_through_node_oidc_provider_and_calls_a_tool() {
    tokio::time::timeout(FLOW_TIMEOUT, flow())
        .await
        .expect("the flow finished in time");
}

async fn flow() {
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let op_port = free_port();
    let op_issuer = format!("http://127.0.0.1:{op_port}");
    let _op = start_provider(op_port, &format!("{issuer}/upstream/callback"));

    let registry = resources(&[(&mcp_url, "mcp:tools", "mcp:tools")], None).unwrap();
    let mut settings = kit_settings(&issuer, registry).unwrap();
    settings.signin.passwords = false;
    let configs = vec![upstream(&op_issuer)];
    // The clock is the real time: node-oidc-provider and the MCP server check times with theirs.
    let kit = InProcessServer::start_at(settings, SystemClock.now(), move |b| {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let u = mcp_auth_server::upstream::Upstreams::new(&configs, clock).unwrap();
        b.upstreams(Arc::new(u))
    })
    .await
    .unwrap();
    kit.serve(as_listener);
    let mcp_app = protected_mcp_server::app(protected_mcp_server::AppOptions::new(
        issuer.clone(),
        mcp_url.clone(),
    ))
    .unwrap();
    tokio::spawn(async move { axum::serve(mcp_listener, mcp_app).await });
    let redirect_uri = start_redirect_target().await;

    let manager = AuthorizationManager::new_allowing_private_addresses(mcp_url.as_str())
        .await
        .unwrap();
    let mut oauth = OAuthState::Unauthorized(manager);
    oauth
        .start_authorization(
            AuthorizationRequest::new(redirect_uri.clone()).with_client_name("rmcp upstream e2e"),
        )
        .await
        .unwrap();
    let authorization_url = oauth.get_authorization_url().await.unwrap();
    assert!(authorization_url.starts_with(&format!("{issuer}/authorize?")));

    let browser = Chromium::start().await;
    let callback = browse(&browser, &authorization_url, &op_issuer, &redirect_uri).await;
    drop(browser);
    oauth.handle_callback_url(&callback).await.unwrap();
    let token = oauth
        .into_authorization_manager()
        .expect("authorized after the callback")
        .get_access_token()
        .await
        .unwrap();

    let users = kit.stores.users.list_federated().await.unwrap();
    assert_eq!(users.len(), 1, "one user, created just in time");
    assert_eq!(users[0].upstream_issuer, op_issuer);
    assert_eq!(users[0].upstream_sub, "alice");
    assert_eq!(users[0].email.as_deref(), Some("alice@example.com"));
    let claims = jwt_claims(&token);
    assert_eq!(claims["sub"], json!(users[0].sub));
    assert_eq!(claims["iss"], json!(issuer));
    assert_eq!(claims["aud"], json!(mcp_url));
    assert_eq!(claims["email"], json!("alice@example.com"));
    assert_eq!(claims["groups"], json!(["mcp-users"]));

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.clone()).auth_header(token),
    );
    let client = ().serve(transport).await.unwrap();
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "hello".into());
    let result = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert_eq!(text, format!("{}: hello", users[0].sub));
}

fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
