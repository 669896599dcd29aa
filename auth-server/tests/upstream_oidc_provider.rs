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
//! A second test does the same with the TypeScript MCP SDK as the client
//! (`tests/oidc-provider/ts-client.mjs`, the SDK's own OAuth support), and a third with our
//! server authenticating at node-oidc-provider by `private_key_jwt` (its client registered with
//! our `/jwks` as `jwks_uri`, no secret).
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
use mcp_auth_server::config::{UpstreamClientAuth, UpstreamIdpConfig};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthorizationManager, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use chromium::{Chromium, Process, submit, wait_for};

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

/// How our server authenticates as a client at node-oidc-provider's token endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpAuth {
    /// `client_secret_basic` with [`OP_CLIENT_SECRET`].
    Secret,
    /// `private_key_jwt` (issue 23): node-oidc-provider reads our keys from our `/jwks`.
    PrivateKeyJwt,
}

/// Start node-oidc-provider on `port` for our server at `issuer` (its redirect URI
/// `{issuer}/upstream/callback`), our client authenticating by `auth`; returns once it listens.
fn start_provider(port: u16, issuer: &str, auth: OpAuth) -> Process {
    let mut command = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()));
    command
        .arg("provider.mjs")
        .current_dir(provider_dir())
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", format!("{issuer}/upstream/callback"))
        .env("CLIENT_ID", OP_CLIENT_ID)
        .env("NODE_ENV", "development");
    match auth {
        OpAuth::Secret => command.env("CLIENT_SECRET", OP_CLIENT_SECRET),
        OpAuth::PrivateKeyJwt => command.env("CLIENT_JWKS_URI", format!("{issuer}/jwks")),
    };
    let mut child = command
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

/// Our upstream configuration for node-oidc-provider at `issuer`, authenticating by `auth`.
fn upstream(issuer: &str, auth: OpAuth) -> UpstreamIdpConfig {
    let mut c: UpstreamIdpConfig = serde_json::from_value(json!({
        "name": "op", "display_name": "node-oidc-provider", "issuer": issuer,
        "client_id": OP_CLIENT_ID, "insecure_allow_http_loopback": true,
        "allowed_email_domains": ["example.com"],
        "required_claims": {"groups": "mcp-users"},
        "claims_to_tokens": ["email", "groups"],
    }))
    .unwrap();
    match auth {
        OpAuth::Secret => c.client_secret = Some(mcp_auth_core::Secret::new(OP_CLIENT_SECRET)),
        OpAuth::PrivateKeyJwt => c.client_auth = UpstreamClientAuth::PrivateKeyJwt,
    }
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
    let login = wait_for(b, "input[name=login]", WAIT).await;
    login.send_keys("alice").await.unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("any password")
        .await
        .unwrap();
    submit(b).await;
    wait_for(b, "input[name=prompt][value=consent]", WAIT).await;
    submit(b).await;
    let approve = wait_for(b, "button[value=approve]", WAIT).await;
    let page = b.source().await.unwrap();
    assert!(
        page.contains("User alice"),
        "the consent page names the user: {page}"
    );
    approve.click().await.unwrap();
    wait_for_url(b, redirect_uri).await
}

/// One browser at a time: the tests share two cores with everything else.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Everything but the MCP client: node-oidc-provider, our server with it as the only upstream,
/// the example MCP server, the client's redirect target.
struct Peers {
    issuer: String,
    op_issuer: String,
    mcp_url: String,
    redirect_uri: String,
    kit: InProcessServer,
    _op: Process,
}

async fn start_peers(auth: OpAuth) -> Peers {
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let op_port = free_port();
    let op_issuer = format!("http://127.0.0.1:{op_port}");
    let op = start_provider(op_port, &issuer, auth);

    let registry = resources(&[(&mcp_url, "mcp:tools", "mcp:tools")], None).unwrap();
    let mut settings = kit_settings(&issuer, registry).unwrap();
    settings.signin.passwords = false;
    let configs = vec![upstream(&op_issuer, auth)];
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
    Peers {
        issuer,
        op_issuer,
        mcp_url,
        redirect_uri: start_redirect_target().await,
        kit,
        _op: op,
    }
}

impl Peers {
    /// The user created just in time is alice of node-oidc-provider, and `token` is hers: our
    /// `sub`, our issuer, the MCP server's audience, and the copied upstream claims.
    async fn check_user_and_token(&self, token: &str) -> String {
        let users = self.kit.stores.users.list_federated().await.unwrap();
        assert_eq!(users.len(), 1, "one user, created just in time");
        assert_eq!(users[0].upstream_issuer, self.op_issuer);
        assert_eq!(users[0].upstream_sub, "alice");
        assert_eq!(users[0].email.as_deref(), Some("alice@example.com"));
        let claims = jwt_claims(token);
        assert_eq!(claims["sub"], json!(users[0].sub));
        assert_eq!(claims["iss"], json!(self.issuer));
        assert_eq!(claims["aud"], json!(self.mcp_url));
        assert_eq!(claims["email"], json!("alice@example.com"));
        assert_eq!(claims["groups"], json!(["mcp-users"]));
        users[0].sub.clone()
    }
}

/// Issue 23's end-to-end test with rmcp: rmcp + Chromium + node-oidc-provider + our server +
/// the example MCP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_signs_in_through_node_oidc_provider_and_calls_a_tool() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    tokio::time::timeout(FLOW_TIMEOUT, rmcp_flow(OpAuth::Secret))
        .await
        .expect("the flow finished in time");
}

/// Issue 23, `client_auth = "private_key_jwt"`: the same, with our server authenticating at
/// node-oidc-provider's token endpoint by a client assertion signed with its own key, which
/// node-oidc-provider checks against our `/jwks` (its client has no secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_at_node_oidc_provider_with_our_jwks() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    tokio::time::timeout(FLOW_TIMEOUT, rmcp_flow(OpAuth::PrivateKeyJwt))
        .await
        .expect("the flow finished in time");
}

async fn rmcp_flow(auth: OpAuth) {
    let p = start_peers(auth).await;
    let manager = AuthorizationManager::new_allowing_private_addresses(p.mcp_url.as_str())
        .await
        .unwrap();
    let mut oauth = OAuthState::Unauthorized(manager);
    oauth
        .start_authorization(
            AuthorizationRequest::new(p.redirect_uri.clone()).with_client_name("rmcp upstream e2e"),
        )
        .await
        .unwrap();
    let authorization_url = oauth.get_authorization_url().await.unwrap();
    assert!(authorization_url.starts_with(&format!("{}/authorize?", p.issuer)));

    let browser = Chromium::start().await;
    let callback = browse(&browser, &authorization_url, &p.op_issuer, &p.redirect_uri).await;
    drop(browser);
    oauth.handle_callback_url(&callback).await.unwrap();
    let token = oauth
        .into_authorization_manager()
        .expect("authorized after the callback")
        .get_access_token()
        .await
        .unwrap();
    let sub = p.check_user_and_token(&token).await;

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(p.mcp_url.clone()).auth_header(token),
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
    assert_eq!(text, format!("{sub}: hello"));
}

/// The same with the TypeScript MCP SDK as the client (`tests/oidc-provider/ts-client.mjs`,
/// the SDK's own OAuth: discovery, registration, authorization code + PKCE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_client_signs_in_through_node_oidc_provider_and_calls_a_tool() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    tokio::time::timeout(FLOW_TIMEOUT, typescript_flow())
        .await
        .expect("the flow finished in time");
}

async fn typescript_flow() {
    use std::io::Write;
    let p = start_peers(OpAuth::Secret).await;
    let mut child = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
        .arg("ts-client.mjs")
        .arg(&p.mcp_url)
        .arg(&p.redirect_uri)
        .current_dir(provider_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let client = Process(child);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut next = async || rx.recv().await.expect("the TypeScript client ended early");
    let authorization_url = loop {
        if let Some(url) = next().await.strip_prefix("AUTHORIZE ") {
            break url.to_owned();
        }
    };
    assert!(authorization_url.starts_with(&format!("{}/authorize?", p.issuer)));

    let browser = Chromium::start().await;
    let callback = browse(&browser, &authorization_url, &p.op_issuer, &p.redirect_uri).await;
    drop(browser);
    writeln!(stdin, "{callback}").unwrap();
    let (mut token, mut text) = (None, None);
    while token.is_none() || text.is_none() {
        let line = next().await;
        if let Some(t) = line.strip_prefix("TOKEN ") {
            token = Some(t.to_owned());
        } else if let Some(t) = line.strip_prefix("RESULT ") {
            text = Some(t.to_owned());
        }
    }
    drop(client);
    let sub = p.check_user_and_token(&token.unwrap()).await;
    assert_eq!(text.unwrap(), format!("{sub}: hello"));
}

fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
