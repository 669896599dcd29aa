//! Shared fixture: a test AS on 127.0.0.1, a protected axum app, a fixed clock.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt;
use mcp_auth_conformance::{TestAuthServer, TestKey, TokenMinter};
use mcp_auth_core::FixedClock;
use mcp_auth_resource_server::{
    BearerAuthLayer, JwtValidator, Principal, ResourceServerConfig, RootMetadata,
    ScopeRequirements, SessionBinding, cors_layer, metadata_router,
};
use tower::ServiceExt;

pub const NOW: i64 = 1_767_225_600;
pub const RESOURCE: &str = "https://mcp.acme.test/mcp";
pub const PRM_URL: &str = "https://mcp.acme.test/.well-known/oauth-protected-resource/mcp";

pub struct Fixture {
    pub key: TestKey,
    pub auth: TestAuthServer,
    pub clock: Arc<FixedClock>,
    pub config: ResourceServerConfig,
    pub app: Router,
}

pub fn policy() -> ScopeRequirements {
    ScopeRequirements::builder()
        .baseline("mcp:basic")
        .tool("delete_repo", "repo:write")
        .tool("sync_repo", "repo:read repo:write")
        .implies("repo:admin", "repo:write")
        .prompt("release_notes", "repo:read")
        .resource("repo://secrets", "repo:admin")
        .build()
        .unwrap()
}

/// Session ids handed out by the fixture's MCP stand-in.
static SESSIONS: AtomicU64 = AtomicU64::new(1);

/// The MCP stand-in: answers with the caller; an `initialize` without `Mcp-Session-Id` creates a
/// session (`Mcp-Session-Id: s-N` on the response), a `DELETE` ends one (202).
async fn handler(
    principal: Principal,
    method: http::Method,
    headers: HeaderMap,
    body: String,
) -> Response<Body> {
    let text = format!(
        "sub={} authorization={}",
        principal.subject,
        headers.contains_key(http::header::AUTHORIZATION)
    );
    let mut resp = Response::new(Body::from(text));
    if method == http::Method::DELETE {
        *resp.status_mut() = http::StatusCode::ACCEPTED;
    } else if !headers.contains_key("mcp-session-id") && body.contains(r#""method":"initialize""#) {
        let id = format!("s-{}", SESSIONS.fetch_add(1, Ordering::SeqCst));
        resp.headers_mut()
            .insert("mcp-session-id", id.parse().unwrap());
    }
    resp
}

pub async fn fixture() -> Fixture {
    fixture_with(RootMetadata::Off).await
}

pub async fn fixture_with(root: RootMetadata) -> Fixture {
    fixture_with_hook(root, None).await
}

/// [`fixture_with`], the layer telling `hook` its decisions when given.
pub async fn fixture_with_hook(
    root: RootMetadata,
    hook: Option<Arc<dyn mcp_auth_resource_server::DecisionHook>>,
) -> Fixture {
    let key = TestKey::generate("k1").unwrap();
    let auth = TestAuthServer::start(&[&key]).await.unwrap();
    let clock = Arc::new(FixedClock::new(NOW));
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server(auth.issuer())
        .policy(policy())
        .root_metadata(root)
        .resource_name("Acme Files MCP")
        .body_limit(4096)
        .build()
        .unwrap();
    let validator = JwtValidator::builder(&config)
        .clock(clock.clone())
        .jwks_min_refetch_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut layer = BearerAuthLayer::new(config.clone(), validator)
        .clock(clock.clone())
        .session_binding(
            SessionBinding::default()
                .max_sessions_per_principal(2)
                .max_sessions(3)
                .idle_timeout(Duration::from_secs(300)),
        );
    if let Some(hook) = hook {
        layer = layer.decision_hook(hook);
    }
    let app = Router::new()
        .route("/mcp", post(handler).get(handler).delete(handler))
        .layer(layer)
        .merge(metadata_router(&config))
        .layer(cors_layer());
    Fixture {
        key,
        auth,
        clock,
        config,
        app,
    }
}

impl Fixture {
    pub fn minter(&self) -> TokenMinter<'_> {
        self.auth.minter(&self.key, RESOURCE, NOW)
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.unwrap()
    }
}

pub fn rpc(method: &str, params: serde_json::Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

pub fn post_rpc(token: Option<&str>, body: String) -> Request<Body> {
    let mut b = Request::post("/mcp").header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body)).unwrap()
}

pub fn call_tool(token: Option<&str>, tool: &str) -> Request<Body> {
    post_rpc(
        token,
        rpc(
            "tools/call",
            serde_json::json!({"name": tool, "arguments": {}}),
        ),
    )
}

pub fn tools_list(token: Option<&str>) -> Request<Body> {
    post_rpc(token, rpc("tools/list", serde_json::json!({})))
}

pub fn initialize(token: Option<&str>) -> Request<Body> {
    post_rpc(
        token,
        rpc(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        ),
    )
}

/// `req` with `Mcp-Session-Id: id`.
pub fn in_session(mut req: Request<Body>, id: &str) -> Request<Body> {
    req.headers_mut()
        .insert("mcp-session-id", id.parse().unwrap());
    req
}

/// The session the response created.
pub fn session_of(resp: &Response<Body>) -> String {
    resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The exact JSON body of a refusal.
pub fn error_body(code: &str, description: &str) -> String {
    serde_json::json!({"error": code, "error_description": description}).to_string()
}

/// The exact 400 `invalid_request` challenge with this description.
pub fn invalid_request(description: &str) -> String {
    format!(
        r#"Bearer error="invalid_request", error_description="{description}", resource_metadata="{PRM_URL}""#
    )
}

pub fn challenge(resp: &Response<Body>) -> Option<String> {
    resp.headers()
        .get(http::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub async fn text(resp: Response<Body>) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

/// The exact 401 `invalid_token` challenge with this description and the baseline scope.
pub fn invalid_token(description: &str) -> String {
    format!(
        r#"Bearer error="invalid_token", error_description="{description}", resource_metadata="{PRM_URL}", scope="mcp:basic""#
    )
}
