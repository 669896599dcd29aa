//! 2026-07-28 transport headers through the bearer layer in front of a real rmcp server
//! (streamable HTTP, stateless 2026-07-28 requests): the layer decides the scope of a
//! `tools/call` from the body's `params.name`, never from `Mcp-Name` or `Mcp-Method`, and rmcp
//! refuses a header that disagrees with the body with `400` and JSON-RPC `-32020` after the
//! layer has authorized the request (delta 2026-07-28 RS-R2-10, RS-R2-11, EXT-R2-14). Plus the
//! default of RS-R2-12: `server/discover` needs a token like every other method.
//!
//! The policy: baseline `mcp:tools`; `read_item` needs `items:read`, `delete_item` needs
//! `items:write`; `echo` and any other name the baseline only. Every tool answers
//! `called {its name}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use mcp_auth_conformance::{TestKey, TokenMinter, jwks_of};
use mcp_auth_core::FixedClock;
use mcp_auth_resource_server::{
    BearerAuthLayer, JwksSource, JwtValidator, ResourceServerConfig, ScopeRequirements,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tower::ServiceExt;

const NOW: i64 = 1_767_225_600;
const ISSUER: &str = "https://auth.acme.test";
const RESOURCE: &str = "http://127.0.0.1/mcp";
const PRM_URL: &str = "http://127.0.0.1/.well-known/oauth-protected-resource/mcp";
const R2: &str = "2026-07-28";
/// JSON-RPC `HeaderMismatch` (2026-07-28).
const HEADER_MISMATCH: i64 = -32020;
/// The tools and the scope each needs beyond the baseline.
const TOOLS: [(&str, Option<&str>); 3] = [
    ("echo", None),
    ("read_item", Some("items:read")),
    ("delete_item", Some("items:write")),
];
const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

// ---------------------------------------------------------------------------------------------
// The MCP server and the protected app.

#[derive(Clone)]
struct Items {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Items {
    #[tool(description = "Answer with this tool's name (baseline scope)")]
    fn echo(&self) -> String {
        "called echo".to_owned()
    }

    #[tool(description = "Answer with this tool's name (needs items:read)")]
    fn read_item(&self) -> String {
        "called read_item".to_owned()
    }

    #[tool(description = "Answer with this tool's name (needs items:write)")]
    fn delete_item(&self) -> String {
        "called delete_item".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Items {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

struct App {
    router: Router,
    key: TestKey,
}

impl App {
    fn new() -> Self {
        Self::with_discover_public(false)
    }

    fn with_discover_public(discover_public: bool) -> Self {
        let key = TestKey::generate("k1").unwrap();
        let mut policy = ScopeRequirements::builder().baseline("mcp:tools");
        for (tool, scope) in TOOLS {
            if let Some(scope) = scope {
                policy = policy.tool(tool, scope);
            }
        }
        let config = ResourceServerConfig::builder(RESOURCE)
            .authorization_server(ISSUER)
            .policy(policy.build().unwrap())
            .discover_public(discover_public)
            .build()
            .unwrap();
        let validator = JwtValidator::builder(&config)
            .jwks_source(ISSUER, JwksSource::Static(jwks_of(&[&key])))
            .clock(Arc::new(FixedClock::new(NOW)))
            .build()
            .unwrap();
        let mcp = StreamableHttpService::new(
            || {
                Ok(Items {
                    tool_router: Items::tool_router(),
                })
            },
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_json_response(true),
        );
        let router = Router::new()
            .nest_service("/mcp", mcp)
            .layer(BearerAuthLayer::new(config, validator));
        Self { router, key }
    }

    fn token(&self, scope: &str) -> String {
        TokenMinter::new(&self.key, ISSUER, RESOURCE, NOW)
            .valid(scope)
            .unwrap()
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Option<String>, String) {
        let resp: Response<Body> = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            challenge,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }
}

/// The `_meta` every 2026-07-28 request carries.
fn r2_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": R2,
        "io.modelcontextprotocol/clientInfo": {"name": "prop", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A 2026-07-28 POST of `body` with these `Mcp-Method` and `Mcp-Name` values.
fn r2_post(
    token: Option<&str>,
    body: &Value,
    mcp_method: Option<&str>,
    mcp_name: Option<&str>,
) -> Request<Body> {
    let mut b = Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", R2);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(m) = mcp_method {
        b = b.header("mcp-method", m);
    }
    if let Some(n) = mcp_name {
        b = b.header("mcp-name", n);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn tools_call(name: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}, "_meta": r2_meta()},
    })
}

/// The JSON-RPC message of a response body (JSON, or the last `data:` of an event stream).
fn message(body: &str) -> Option<Value> {
    let last_data = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|l| !l.is_empty());
    serde_json::from_str(last_data.unwrap_or(body)).ok()
}

/// The `scope` parameter of a challenge, as a set.
fn challenge_scope(challenge: &str) -> Vec<String> {
    let Some((_, rest)) = challenge.split_once("scope=\"") else {
        return Vec::new();
    };
    let value = rest.split('"').next().unwrap_or_default();
    value.split(' ').map(str::to_owned).collect()
}

fn scope_of(tool: &str) -> Option<&'static str> {
    TOOLS.iter().find(|(t, _)| *t == tool).and_then(|(_, s)| *s)
}

fn encoded(value: &[u8]) -> String {
    format!(
        "{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}",
        STANDARD.encode(value)
    )
}

// ---------------------------------------------------------------------------------------------
// The property.

/// How a case sends `Mcp-Name`.
#[derive(Debug, Clone)]
enum NameHeader {
    /// No `Mcp-Name`.
    Missing,
    /// The value as is (visible ASCII, not shaped like the sentinel).
    Plain(String),
    /// `=?base64?{base64 of the value}?=`.
    Encoded(String),
    /// The sentinel around something that does not decode to UTF-8 text.
    Malformed(String),
}

impl NameHeader {
    /// The header value sent.
    fn raw(&self) -> Option<String> {
        match self {
            Self::Missing => None,
            Self::Plain(v) | Self::Malformed(v) => Some(v.clone()),
            Self::Encoded(v) => Some(encoded(v.as_bytes())),
        }
    }

    /// The name after decoding; `None` when missing or malformed.
    fn decoded(&self) -> Option<&str> {
        match self {
            Self::Plain(v) | Self::Encoded(v) => Some(v),
            Self::Missing | Self::Malformed(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    /// The body's `params.name`.
    name: String,
    header: NameHeader,
    /// `Mcp-Method`: `tools/call` or another method.
    mcp_method: String,
    /// Scopes of the token beyond the baseline.
    granted: Vec<&'static str>,
}

/// A value that travels as a bare header value: visible ASCII, not the sentinel's shape.
fn header_safe(v: &str) -> bool {
    !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_graphic())
        && !(v.starts_with(SENTINEL_PREFIX) && v.ends_with(SENTINEL_SUFFIX))
}

fn arb_tool_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(TOOLS.iter().map(|(t, _)| (*t).to_owned()).collect::<Vec<_>>()),
        1 => "[a-z_][a-z0-9_./-]{0,15}",
        1 => "\\PC{0,12}",
    ]
}

fn arb_malformed() -> impl Strategy<Value = String> {
    prop_oneof![
        // A character outside the standard alphabet.
        "[A-Za-z0-9+/]{0,8}[!*_~.-][A-Za-z0-9+/]{0,8}"
            .prop_map(|inner| format!("{SENTINEL_PREFIX}{inner}{SENTINEL_SUFFIX}")),
        // Missing or wrong padding.
        prop::sample::select(vec!["QQ", "QQ=", "QUI", "Q", "====", "ZGVsZXRlX2l0ZW0"])
            .prop_map(|inner| format!("{SENTINEL_PREFIX}{inner}{SENTINEL_SUFFIX}")),
        // Base64 of bytes that are not UTF-8.
        prop::collection::vec(0x80u8..=0xff, 1..6).prop_map(|bytes| encoded(&bytes)),
    ]
}

fn arb_case() -> impl Strategy<Value = Case> {
    let methods = prop_oneof![
        6 => Just("tools/call".to_owned()),
        1 => prop::sample::select(vec![
            "tools/list".to_owned(),
            "prompts/get".to_owned(),
            "resources/read".to_owned(),
            "TOOLS/CALL".to_owned(),
        ]),
    ];
    let granted = prop::sample::subsequence(vec!["items:read", "items:write"], 0..=2);
    (arb_tool_name(), methods, granted)
        .prop_flat_map(|(name, mcp_method, granted)| {
            let same = if header_safe(&name) {
                prop_oneof![
                    Just(NameHeader::Plain(name.clone())),
                    Just(NameHeader::Encoded(name.clone()))
                ]
                .boxed()
            } else {
                Just(NameHeader::Encoded(name.clone())).boxed()
            };
            let header = prop_oneof![
                4 => same,
                2 => arb_tool_name().prop_filter_map("plain header value", |other| {
                    header_safe(&other).then_some(NameHeader::Plain(other))
                }),
                2 => arb_tool_name().prop_map(NameHeader::Encoded),
                2 => arb_malformed().prop_map(NameHeader::Malformed),
                1 => Just(NameHeader::Missing),
            ];
            (Just(name), header, Just(mcp_method), Just(granted))
        })
        .prop_map(|(name, header, mcp_method, granted)| Case {
            name,
            header,
            mcp_method,
            granted,
        })
}

/// Which of the three answers a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// 403 `insufficient_scope` for the body tool.
    Forbidden,
    /// Dispatched to the body's tool.
    Dispatched,
    /// 400 with JSON-RPC -32020.
    HeaderMismatch,
}

/// The expected outcome of `case`, and the check of the answer against it.
async fn check(
    app: &App,
    tokens: &BTreeMap<Vec<&'static str>, String>,
    case: Case,
) -> Result<Outcome, TestCaseError> {
    let token = &tokens[&case.granted];
    let raw = case.header.raw();
    let req = r2_post(
        Some(token),
        &tools_call(&case.name),
        Some(&case.mcp_method),
        raw.as_deref(),
    );
    let (status, challenge, body) = app.send(req).await;
    let needed = scope_of(&case.name);
    let allowed = needed.is_none_or(|s| case.granted.contains(&s));
    let agree =
        case.header.decoded() == Some(case.name.as_str()) && case.mcp_method == "tools/call";
    let rpc = message(&body);
    let rpc_error = rpc.as_ref().and_then(|m| m["error"]["code"].as_i64());
    if !allowed {
        // RS-R2-11, RS-R2-10: the body's name decides, before any header check: 403 naming
        // the body tool's scope, whatever the headers say.
        prop_assert_eq!(status, StatusCode::FORBIDDEN, "{}", body);
        let challenge = challenge.unwrap_or_default();
        prop_assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{}",
            challenge
        );
        prop_assert!(
            challenge_scope(&challenge)
                .iter()
                .any(|s| Some(s.as_str()) == needed),
            "{}",
            challenge
        );
        prop_assert_eq!(
            rpc_error,
            None,
            "no JSON-RPC error from the layer: {}",
            body
        );
        Ok(Outcome::Forbidden)
    } else if agree {
        // Equal after decoding: dispatched to the body's tool.
        prop_assert_eq!(status, StatusCode::OK, "{}", body);
        prop_assert!(challenge.is_none());
        let rpc = rpc.unwrap_or_default();
        if scope_of(&case.name).is_some() || case.name == "echo" {
            let expected = format!("called {}", case.name);
            prop_assert_eq!(
                rpc["result"]["content"][0]["text"].as_str(),
                Some(expected.as_str()),
                "{}",
                body
            );
        } else {
            prop_assert!(rpc["error"].is_object(), "unknown tool: {}", body);
            prop_assert_ne!(rpc_error, Some(HEADER_MISMATCH), "{}", body);
        }
        Ok(Outcome::Dispatched)
    } else {
        // EXT-R2-14: missing, different or malformed: 400 -32020, after authorization
        // (RS-R2-10: no challenge).
        prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body);
        prop_assert!(challenge.is_none(), "{:?}", challenge);
        prop_assert_eq!(rpc_error, Some(HEADER_MISMATCH), "{}", body);
        Ok(Outcome::HeaderMismatch)
    }
}

/// RS-R2-11, RS-R2-10, EXT-R2-14: for any body `params.name` and any `Mcp-Name` (plain,
/// `=?base64?…?=`-encoded, malformed Base64 or not UTF-8, or missing) and `Mcp-Method` on a
/// 2026-07-28 `tools/call` through the layer, with a token holding any subset of the tools'
/// scopes: a token without the body tool's scope gets 403 naming it whatever the headers say;
/// otherwise headers equal to the body after decoding run the body's tool, and any other
/// header is 400 with JSON-RPC -32020 and no challenge.
#[test]
fn mcp_name_never_decides_the_scope_and_a_mismatch_is_32020_or_403() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async { App::new() });
    let mut tokens = BTreeMap::new();
    for granted in [
        vec![],
        vec!["items:read"],
        vec!["items:write"],
        vec!["items:read", "items:write"],
    ] {
        let scope = std::iter::once("mcp:tools")
            .chain(granted.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        tokens.insert(granted, app.token(&scope));
    }
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let seen = Mutex::new(BTreeMap::<Outcome, usize>::new());
    let result = runner.run(&arb_case(), |case| {
        let outcome = rt.block_on(check(&app, &tokens, case))?;
        *seen.lock().unwrap().entry(outcome).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator reaches every answer often (about a quarter or more of the cases each).
    let seen = seen.into_inner().unwrap();
    for outcome in [
        Outcome::Forbidden,
        Outcome::Dispatched,
        Outcome::HeaderMismatch,
    ] {
        let n = seen.get(&outcome).copied().unwrap_or(0);
        assert!(n >= 25, "{outcome:?} in {n} of 256 cases: {seen:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The same rules, one example each.

/// RS-R2-11: an `Mcp-Name` naming a tool the token may call never unlocks the body's tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_naming_an_allowed_tool_never_unlocks_another() {
    let app = App::new();
    let token = app.token("mcp:tools");
    for header in ["echo".to_owned(), encoded(b"echo")] {
        let req = r2_post(
            Some(&token),
            &tools_call("delete_item"),
            Some("tools/call"),
            Some(&header),
        );
        let (status, challenge, body) = app.send(req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            challenge.unwrap(),
            format!(
                r#"Bearer error="insufficient_scope", error_description="items:write required", resource_metadata="{PRM_URL}", scope="items:write mcp:tools""#
            )
        );
    }
}

/// EXT-R2-14, RS-R2-10: a missing `Mcp-Name`, or one that does not decode, is 400 -32020 once
/// the token is accepted; an encoded name equal to the body runs the tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_malformed_mcp_name_is_32020_and_encoded_equal_name_runs() {
    let app = App::new();
    let token = app.token("mcp:tools items:write");
    for header in [
        None,
        Some("=?base64?ZGVsZXRlX2l0ZW0?="),
        Some("=?base64?!!?="),
    ] {
        let req = r2_post(
            Some(&token),
            &tools_call("delete_item"),
            Some("tools/call"),
            header,
        );
        let (status, challenge, body) = app.send(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header:?}: {body}");
        assert_eq!(challenge, None);
        assert_eq!(
            message(&body).unwrap()["error"]["code"],
            HEADER_MISMATCH,
            "{body}"
        );
    }
    let req = r2_post(
        Some(&token),
        &tools_call("delete_item"),
        Some("tools/call"),
        Some(&encoded(b"delete_item")),
    );
    let (status, _, body) = app.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        message(&body).unwrap()["result"]["content"][0]["text"],
        "called delete_item"
    );
}

/// RS-R2-12 (default): `server/discover` is protected like every other method: without a token
/// it is 401 with the baseline scope; with one it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_discover_needs_a_token() {
    let app = App::new();
    let discover = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": {"_meta": r2_meta()},
    });
    let (status, challenge, _) = app
        .send(r2_post(None, &discover, Some("server/discover"), None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.unwrap(),
        format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:tools""#)
    );
    let token = app.token("mcp:tools");
    let (status, _, body) = app
        .send(r2_post(
            Some(&token),
            &discover,
            Some("server/discover"),
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let supported = &message(&body).unwrap()["result"]["supportedVersions"];
    assert!(
        supported.as_array().unwrap().iter().any(|v| v == R2),
        "{body}"
    );
}

/// RS-R2-12 (`discover_public`): with the option on, a `server/discover` without a token is
/// answered; any other method without a token, a `server/discover` with an invalid token, and a
/// `tools/call` dressed with `Mcp-Method: server/discover` headers still get 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_discover_may_be_public_by_option() {
    let app = App::with_discover_public(true);
    let discover = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": {"_meta": r2_meta()},
    });
    let (status, challenge, body) = app
        .send(r2_post(None, &discover, Some("server/discover"), None))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(challenge.is_none());
    let supported = &message(&body).unwrap()["result"]["supportedVersions"];
    assert!(
        supported.as_array().unwrap().iter().any(|v| v == R2),
        "{body}"
    );

    let (status, _, _) = app
        .send(r2_post(
            Some("not-a-token"),
            &discover,
            Some("server/discover"),
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let call = json!({
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {}, "_meta": r2_meta()},
    });
    let (status, challenge, _) = app
        .send(r2_post(None, &call, Some("server/discover"), None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.is_some());
}
