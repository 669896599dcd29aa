//! Feature `elicitation`: the connection vault of a real rmcp server behind the bearer layer,
//! against a fake authorization server implementing `POST /connect/token` and
//! `POST /connect/status` of the issue 11 contract, with rmcp clients of both revisions.
//! Everything on 127.0.0.1.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, StatusCode};
use mcp_auth_conformance::{TestAuthServer, TestKey};
use mcp_auth_core::{FixedClock, Secret};
use mcp_auth_resource_server::elicitation::{ConnectionVault, RequestStateKey};
use mcp_auth_resource_server::{
    BearerAuthLayer, JwtValidator, Principal, ResourceServerConfig, ScopeRequirements,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, CustomNotification, Implementation, ProtocolVersion, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RequestContext, RunningService,
    ServiceError,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt, tool,
    tool_handler, tool_router,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

const SERVER_CLIENT: &str = "calendar-mcp";
const SERVER_SECRET: &str = "s3cret+/=";
const CONNECTION: &str = "calendar";
const MESSAGE: &str = "Connect your Example Calendar account to continue.";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// The fake authorization server: /connect/token and /connect/status per contract.md.

#[derive(Debug, Clone)]
struct Elicitation {
    sub: String,
    client_id: String,
    connection: String,
    status: &'static str,
}

#[derive(Default)]
struct AsState {
    connected: HashSet<(String, String)>,
    elicitations: HashMap<String, Elicitation>,
    /// Every request: headers and body, as text.
    requests: Vec<String>,
    exchanges: usize,
    unavailable: bool,
    next: u64,
}

#[derive(Clone)]
struct FakeAs {
    base: String,
    state: Arc<Mutex<AsState>>,
    changed: Arc<watch::Sender<u64>>,
}

impl FakeAs {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, _) = watch::channel(0);
        let this = Self {
            base,
            state: Arc::default(),
            changed: Arc::new(tx),
        };
        let app = Router::new()
            .route("/connect/token", post(token))
            .route("/connect/status", post(status))
            .with_state(this.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        this
    }

    fn set_status(&self, id: &str, status: &'static str) {
        let mut s = self.state.lock().unwrap();
        let e = s.elicitations.get_mut(id).unwrap();
        e.status = status;
        if status == "completed" {
            let key = (e.sub.clone(), e.connection.clone());
            s.connected.insert(key);
        }
        drop(s);
        self.changed.send_modify(|g| *g += 1);
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn exchanges(&self) -> usize {
        self.state.lock().unwrap().exchanges
    }
}

fn record(s: &FakeAs, headers: &HeaderMap, body: &str) {
    let mut text = String::new();
    for (k, v) in headers {
        text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("")));
    }
    text.push_str(body);
    s.state.lock().unwrap().requests.push(text);
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({"error": code}))).into_response()
}

fn client_ok(headers: &HeaderMap) -> bool {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(SERVER_CLIENT), enc(SERVER_SECRET)))
    );
    headers.get_all(http::header::AUTHORIZATION).iter().count() == 1
        && headers
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

async fn token(State(s): State<FakeAs>, headers: HeaderMap, body: String) -> Response {
    record(&s, &headers, &body);
    if !client_ok(&headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let f = form(&body);
    if f.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:token-exchange")
        || f.get("subject_token_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:token-type:access_token")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let mut st = s.state.lock().unwrap();
    st.exchanges += 1;
    if st.unavailable {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let Some(claims) = f
        .get("subject_token")
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let sub = claims["sub"].as_str().unwrap_or("").to_owned();
    let client_id = claims["client_id"].as_str().unwrap_or("").to_owned();
    if sub == client_id {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let connection = f.get("audience").cloned().unwrap_or_default();
    if connection != CONNECTION {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_target");
    }
    if st.connected.contains(&(sub.clone(), connection.clone())) {
        let body = json!({
            "access_token": format!("third-party-{sub}"),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600,
        });
        return (
            [(http::header::CACHE_CONTROL, "no-store")],
            axum::Json(body),
        )
            .into_response();
    }
    let open = st
        .elicitations
        .iter()
        .find(|(_, e)| {
            e.sub == sub
                && e.client_id == client_id
                && e.connection == connection
                && matches!(e.status, "pending" | "in_progress")
        })
        .map(|(id, _)| id.clone());
    let id = match open {
        Some(id) => id,
        None => {
            st.next += 1;
            let id = format!("elic{:024}", st.next);
            st.elicitations.insert(
                id.clone(),
                Elicitation {
                    sub,
                    client_id,
                    connection: connection.clone(),
                    status: "pending",
                },
            );
            id
        }
    };
    let body = json!({
        "error": "connection_required",
        "error_description": "the user has not connected Example Calendar",
        "elicitation": {
            "id": id,
            "url": format!("{}/connect/{id}", s.base),
            "expires_in": 900,
            "connection": connection,
            "message": MESSAGE,
        }
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

async fn status(State(s): State<FakeAs>, headers: HeaderMap, body: String) -> Response {
    record(&s, &headers, &body);
    if !client_ok(&headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let f = form(&body);
    let id = f.get("elicitation_id").cloned().unwrap_or_default();
    let wait: u64 = f.get("wait").and_then(|w| w.parse().ok()).unwrap_or(25);
    let mut rx = s.changed.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(30));
    loop {
        let current = s.state.lock().unwrap().elicitations.get(&id).cloned();
        let Some(e) = current else {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "not_found"})),
            )
                .into_response();
        };
        let done = !matches!(e.status, "pending" | "in_progress");
        if done || tokio::time::Instant::now() >= deadline {
            return axum::Json(json!({"elicitation_id": id, "status": e.status})).into_response();
        }
        let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The MCP server: one tool needing the `calendar` connection.

#[derive(Clone)]
struct CalendarServer {
    vault: ConnectionVault,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl CalendarServer {
    #[tool(description = "List the caller's calendar events")]
    async fn list_events(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let token = match self.vault.credential(&ctx, CONNECTION).await {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        };
        let sub = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Principal>())
            .map(|p| p.subject.clone())
            .unwrap_or_default();
        // The credential is used here and never returned (ELIC-14).
        let verdict = if token.expose() == format!("third-party-{sub}") {
            "right"
        } else {
            "WRONG"
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "events of {sub} with the {verdict} credential"
        ))])
        .into())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CalendarServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

struct Fixture {
    key: TestKey,
    auth: TestAuthServer,
    fake: FakeAs,
    mcp_url: String,
    clock: Arc<FixedClock>,
}

impl Fixture {
    /// rmcp's default transport: a stateless 2026-07-28 answer comes as `text/event-stream`.
    async fn start() -> Self {
        Self::start_with(StreamableHttpServerConfig::default()).await
    }

    /// `json_response`: a stateless 2026-07-28 answer comes as `application/json`.
    async fn start_json() -> Self {
        Self::start_with(StreamableHttpServerConfig::default().with_json_response(true)).await
    }

    async fn start_with(server_config: StreamableHttpServerConfig) -> Self {
        let key = TestKey::generate("k1").unwrap();
        let auth = TestAuthServer::start(&[&key]).await.unwrap();
        let fake = FakeAs::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mcp_url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let config = ResourceServerConfig::builder(&mcp_url)
            .authorization_server(auth.issuer())
            .policy(
                ScopeRequirements::builder()
                    .baseline("mcp:tools")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let validator = JwtValidator::builder(&config).build().unwrap();
        let clock = Arc::new(FixedClock::new(now()));
        let vault = ConnectionVault::new(
            &fake.base,
            SERVER_CLIENT,
            Secret::new(SERVER_SECRET),
            RequestStateKey::new([42; 32]),
        )
        .clock(clock.clone());
        let mcp = StreamableHttpService::new(
            move || {
                Ok(CalendarServer {
                    vault: vault.clone(),
                    tool_router: CalendarServer::tool_router(),
                })
            },
            Arc::new(LocalSessionManager::default()),
            server_config,
        );
        let app = Router::new()
            .nest_service("/mcp", mcp)
            .layer(BearerAuthLayer::new(config, validator));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            key,
            auth,
            fake,
            mcp_url,
            clock,
        }
    }

    fn token_for(&self, sub: &str, client_id: &str) -> String {
        self.auth
            .minter(&self.key, &self.mcp_url, now())
            .subject(sub)
            .client_id(client_id)
            .valid("mcp:tools")
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Clients.

#[derive(Clone)]
struct TestClient {
    info: ClientConfig,
    notes: mpsc::UnboundedSender<CustomNotification>,
    /// Every `elicitation/create` the server sent this client (answered `decline`).
    elicitation_requests: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, ErrorData> {
        self.elicitation_requests
            .lock()
            .unwrap()
            .push(serde_json::to_value(&request).unwrap());
        Ok(rmcp::model::ElicitResult::new(
            rmcp::model::ElicitationAction::Decline,
        ))
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.notes.send(notification);
    }
}

fn capabilities(url_mode: bool) -> ClientCapabilities {
    let caps = if url_mode {
        json!({"elicitation": {"url": {}}})
    } else {
        json!({"elicitation": {}})
    };
    serde_json::from_value(caps).unwrap()
}

type Client = RunningService<RoleClient, TestClient>;

async fn connect(
    fx: &Fixture,
    token: &str,
    version: ProtocolVersion,
    url_mode: bool,
) -> (Client, mpsc::UnboundedReceiver<CustomNotification>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let modern = version == ProtocolVersion::V_2026_07_28;
    let info = ClientConfig::new(capabilities(url_mode), Implementation::new("test", "1"))
        .with_protocol_version(version.clone());
    let handler = TestClient {
        info,
        notes: tx,
        elicitation_requests: Arc::default(),
    };
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(fx.mcp_url.clone()).auth_header(token),
    );
    let client = if modern {
        handler
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![version],
                },
            )
            .await
            .unwrap()
    } else {
        handler.serve(transport).await.unwrap()
    };
    (client, rx)
}

fn call() -> CallToolRequestParams {
    CallToolRequestParams::new("list_events")
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn mcp_error(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(e) => e,
        other => panic!("not a JSON-RPC error: {other:?}"),
    }
}

fn elicitation_url(fx: &Fixture, id: &str) -> String {
    format!("{}/connect/{id}", fx.fake.base)
}

/// The only open elicitation id at the fake AS.
fn only_elicitation(fx: &Fixture) -> String {
    let st = fx.fake.state.lock().unwrap();
    assert_eq!(st.elicitations.len(), 1, "{:?}", st.elicitations.keys());
    st.elicitations.keys().next().unwrap().clone()
}

/// One raw 2026-07-28 `tools/call` (no session), for the exact wire bytes; returns the HTTP
/// status and the JSON-RPC message (JSON or the `data:` line of an SSE body).
async fn raw_modern_call(
    fx: &Fixture,
    token: &str,
    url_mode: bool,
    request_state: Option<&str>,
) -> (StatusCode, Value) {
    let (status, _, _, message) = raw_modern_exchange(fx, token, url_mode, request_state).await;
    (status, message)
}

/// As [`raw_modern_call`], also returning the response `Content-Type` and the raw body text.
async fn raw_modern_exchange(
    fx: &Fixture,
    token: &str,
    url_mode: bool,
    request_state: Option<&str>,
) -> (StatusCode, String, String, Value) {
    let mut params = json!({
        "name": "list_events",
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": capabilities(url_mode),
        }
    });
    if let Some(s) = request_state {
        params["requestState"] = json!(s);
        params["inputResponses"] = json!({"connect_calendar": {"action": "accept"}});
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params});
    let resp = rmcp_reqwest::Client::new()
        .post(&fx.mcp_url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_events")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.unwrap();
    let json_text = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or(text.clone(), str::to_owned);
    let message = serde_json::from_str(&json_text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, content_type, text, message)
}

/// ELIC-R2-02: the one URL-mode `elicitation/create` of a 2026-07-28 `input_required` answer
/// has exactly `mode`, `message` and `url` in its `params`: no `elicitationId`, not even empty,
/// anywhere in the raw body.
fn assert_no_elicitation_id(fx: &Fixture, raw: &str, message: &Value) {
    let id = only_elicitation(fx);
    let result = &message["result"];
    assert_eq!(result["resultType"], "input_required");
    let request = &result["inputRequests"]["connect_calendar"];
    assert_eq!(request["method"], "elicitation/create");
    let params = request["params"].as_object().unwrap();
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    assert_eq!(keys, ["message", "mode", "url"], "{raw}");
    assert_eq!(params["mode"], "url");
    assert_eq!(params["message"], MESSAGE);
    assert_eq!(params["url"], elicitation_url(fx, &id));
    assert!(!raw.contains("elicitationId"), "{raw}");
}

/// Neither the user's MCP token in any field but `subject_token` (ELIC-15), nor in anything the
/// client could see.
fn assert_token_only_in_subject_token(fx: &Fixture, token: &str) {
    let requests = fx.fake.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let (headers, body) = r.rsplit_once('\n').unwrap_or(("", r));
        assert!(!headers.contains(token), "token in headers: {headers}");
        let fields = form(body);
        for (k, v) in &fields {
            if k != "subject_token" {
                assert!(!v.contains(token), "token in {k}");
            }
        }
        if body.contains("grant_type") {
            assert_eq!(fields.get("subject_token").map(String::as_str), Some(token));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2025-11-25.

/// ELIC-02, ELIC-03, ELIC-04, ELIC-05, ELIC-06, ELIC-09, ELIC-14, ELIC-15, ELIC-R2-11: a
/// 2025-11-25 client that declared `elicitation.url` gets `-32042` with exactly one URL-mode
/// entry (`mode`, `elicitationId`, `url` = the AS's opaque `/connect/{id}`, `message`); when the
/// AS reports completion, exactly one `notifications/elicitation/complete` with that id reaches
/// this session within 2 s and no other session; the retry returns data made with the
/// third-party credential, which never reaches the client; the MCP token reaches the AS only as
/// `subject_token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_url_client_gets_32042_then_one_completion_notification_then_data() {
    let fx = Fixture::start().await;
    let token = fx.token_for("alice", "client-a");
    let (client, mut notes) = connect(&fx, &token, ProtocolVersion::V_2025_11_25, true).await;
    // A second session of the same user: it must not get the notification (ELIC-05).
    let (other, mut other_notes) = connect(&fx, &token, ProtocolVersion::V_2025_11_25, true).await;

    let err = mcp_error(client.call_tool(call()).await.unwrap_err());
    let id = only_elicitation(&fx);
    assert_eq!(err.code.0, -32042);
    assert_eq!(err.message, "This request requires more information.");
    assert_eq!(
        err.data,
        Some(json!({"elicitations": [{
            "mode": "url",
            "elicitationId": id,
            "url": elicitation_url(&fx, &id),
            "message": MESSAGE,
        }]}))
    );
    // ELIC-09: the URL is the AS's path plus the opaque id, nothing else.
    let url = url::Url::parse(&elicitation_url(&fx, &id)).unwrap();
    assert_eq!(url.query(), None);
    assert!(!url.as_str().contains("alice") && !url.as_str().contains(&token));

    // Let the watcher reach its long-poll, then complete.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let completed_at = tokio::time::Instant::now();
    fx.fake.set_status(&id, "completed");
    let note = tokio::time::timeout(Duration::from_secs(2), notes.recv())
        .await
        .expect("no completion notification within 2 s")
        .unwrap();
    assert!(completed_at.elapsed() < Duration::from_secs(2));
    assert_eq!(note.method, "notifications/elicitation/complete");
    assert_eq!(note.params, Some(json!({"elicitationId": id})));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(notes.try_recv().is_err(), "a second notification arrived");
    assert!(
        other_notes.try_recv().is_err(),
        "another session got the notification"
    );

    let result = client.call_tool(call()).await.unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        text_of(&result),
        "events of alice with the right credential"
    );
    // ELIC-14: the third-party credential never reaches the client.
    assert!(
        !serde_json::to_string(&result)
            .unwrap()
            .contains("third-party-")
    );
    assert_token_only_in_subject_token(&fx, &token);
    other.cancel().await.unwrap();
    client.cancel().await.unwrap();
}

/// ELIC-03, ELIC-01, ELIC-11: a 2025-11-25 client without URL mode (it declared form mode
/// only) never gets `-32042` nor any `elicitation/create`: the credential is never asked for
/// in a form, and no form carries the link; a tool result with `isError: true` names where to
/// connect instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_client_without_url_mode_gets_is_error_result() {
    let fx = Fixture::start().await;
    let token = fx.token_for("bob", "client-b");
    let (client, mut notes) = connect(&fx, &token, ProtocolVersion::V_2025_11_25, false).await;
    let result = client.call_tool(call()).await.unwrap();
    let id = only_elicitation(&fx);
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        text_of(&result),
        format!(
            "{MESSAGE} Open {} in your browser, then try again.",
            elicitation_url(&fx, &id)
        )
    );
    assert!(
        client
            .service()
            .elicitation_requests
            .lock()
            .unwrap()
            .is_empty(),
        "no elicitation/create of any mode"
    );
    // No watcher: no status poll, no notification.
    fx.fake.set_status(&id, "completed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(notes.try_recv().is_err());
    assert!(
        fx.fake
            .requests()
            .iter()
            .all(|r| !r.contains("elicitation_id="))
    );
    client.cancel().await.unwrap();
}

/// ELIC-R2-09: a client-credentials token (`sub` = `client_id`) never gets an elicitation, in
/// either revision, and is not even sent to the AS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_token_never_gets_an_elicitation() {
    let fx = Fixture::start().await;
    let token = fx.token_for("svc-reporter", "svc-reporter");
    let (client, _notes) = connect(&fx, &token, ProtocolVersion::V_2025_11_25, true).await;
    let result = client.call_tool(call()).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        text_of(&result),
        "This tool needs a user's connected account; an access token without a user (client credentials) cannot have one."
    );
    client.cancel().await.unwrap();
    let (status, msg) = raw_modern_call(&fx, &token, true, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(msg["result"]["isError"], json!(true));
    assert!(msg["result"].get("inputRequests").is_none());
    assert_eq!(fx.fake.exchanges(), 0);
    assert!(fx.fake.state.lock().unwrap().elicitations.is_empty());
}

/// An AS that answers 5xx: a tool error saying the connection service is unavailable, with no
/// URL of the AS and no token in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_authorization_server_is_a_tool_error() {
    let fx = Fixture::start().await;
    fx.fake.state.lock().unwrap().unavailable = true;
    let token = fx.token_for("carol", "client-c");
    let (client, _notes) = connect(&fx, &token, ProtocolVersion::V_2025_11_25, true).await;
    let result = client.call_tool(call()).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        text_of(&result),
        "The connection service is unavailable; try again later."
    );
    client.cancel().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2026-07-28.

/// ELIC-R2-01, ELIC-R2-02, ELIC-R2-03, ELIC-R2-07, ELIC-R2-10, ELIC-09, ELIC-14, ELIC-15: a 2026-07-28
/// request declaring `elicitation.url` in its `_meta` gets `resultType: "input_required"` with
/// one URL-mode `elicitation/create` (`mode`, `message`, `url`) and a `requestState`; no
/// `-32042`, no notification; a retry with the same state while pending gets the same answer
/// byte for byte; after completion the retry gets the data; a replayed state is re-checked
/// with the AS every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_url_client_gets_input_required_then_data_on_retry() {
    let fx = Fixture::start().await;
    let token = fx.token_for("dave", "client-d");
    let (status, content_type, raw, first) = raw_modern_exchange(&fx, &token, true, None).await;
    assert_eq!(status, StatusCode::OK);
    // rmcp's default transport answers with SSE: the event is rewritten by the bearer layer.
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let id = only_elicitation(&fx);
    let result = &first["result"];
    let state = result["requestState"].as_str().unwrap().to_owned();
    assert!(state.len() > 40);
    // ELIC-R2-02: no `elicitationId` at all (rmcp 3.9 writes `""`; the layer removes it).
    assert_no_elicitation_id(&fx, &raw, &first);
    assert!(first.get("error").is_none());
    let mut keys: Vec<&String> = result.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["inputRequests", "requestState", "resultType"]);

    // ELIC-R2-10: the same state while pending → the same answer.
    let (status, again) = raw_modern_call(&fx, &token, true, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["result"], first["result"]);

    fx.fake.set_status(&id, "completed");
    let (status, done) = raw_modern_call(&fx, &token, true, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["result"]["isError"], json!(false));
    assert_eq!(
        done["result"]["content"][0]["text"],
        "events of dave with the right credential"
    );
    assert!(!done.to_string().contains("third-party-"));
    assert!(!done.to_string().contains(&token));

    // ELIC-R2-07: the state is no capability by itself; every retry asks the AS again. After
    // the user's connection is gone, the same good state gets a new elicitation, not data.
    fx.fake.state.lock().unwrap().connected.clear();
    let (status, replay) = raw_modern_call(&fx, &token, true, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay["result"]["resultType"], "input_required");
    assert_ne!(
        replay["result"]["requestState"].as_str(),
        Some(state.as_str())
    );
    assert_eq!(fx.fake.state.lock().unwrap().elicitations.len(), 2);
    assert_token_only_in_subject_token(&fx, &token);
}

/// ELIC-R2-02 with `application/json` answers (`json_response`): the `input_required` body
/// carries no `elicitationId`, its `Content-Length` (if any) matches the rewritten body, and
/// the retry with its `requestState` still gets the data after completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_json_answer_has_no_elicitation_id() {
    let fx = Fixture::start_json().await;
    let token = fx.token_for("hank", "client-h");
    let (status, content_type, raw, first) = raw_modern_exchange(&fx, &token, true, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), first);
    assert_no_elicitation_id(&fx, &raw, &first);
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();
    let (status, content_type, raw, again) =
        raw_modern_exchange(&fx, &token, true, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(!raw.contains("elicitationId"), "{raw}");
    assert_eq!(again["result"], first["result"]);
    fx.fake.set_status(&only_elicitation(&fx), "completed");
    let (status, _, _, done) = raw_modern_exchange(&fx, &token, true, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        done["result"]["content"][0]["text"],
        "events of hank with the right credential"
    );
}

/// ELIC-R2-01, ELIC-R2-10 with rmcp's own 2026-07-28 client (`server/discover`, per-request
/// `_meta` capabilities, `call_tool_once` with `requestState`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_rmcp_client_round_trip() {
    let fx = Fixture::start().await;
    let token = fx.token_for("erin", "client-e");
    let (client, mut notes) = connect(&fx, &token, ProtocolVersion::V_2026_07_28, true).await;
    let CallToolResponse::InputRequired(first) = client.call_tool_once(call()).await.unwrap()
    else {
        panic!("not input_required");
    };
    let state = first.request_state.clone().unwrap();
    let id = only_elicitation(&fx);
    fx.fake.set_status(&id, "completed");
    let retry = call().with_input_responses(
        [("connect_calendar".to_owned(), json!({"action": "accept"}))].into(),
    );
    let mut retry = retry;
    retry.request_state = Some(state);
    let CallToolResponse::Complete(done) = client.call_tool_once(retry).await.unwrap() else {
        panic!("not complete");
    };
    assert_eq!(text_of(&done), "events of erin with the right credential");
    assert!(notes.try_recv().is_err(), "R2 got a notification");
    client.cancel().await.unwrap();
}

/// ELIC-R2-04, ELIC-R2-03: a 2026-07-28 request without `elicitation.url` in its own `_meta`
/// gets HTTP 400 with JSON-RPC `-32021` and `data.requiredCapabilities =
/// {"elicitation":{"url":{}}}`, even right after a request that declared it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_without_url_mode_gets_32021_http_400() {
    let fx = Fixture::start().await;
    let token = fx.token_for("frank", "client-f");
    let (status, _) = raw_modern_call(&fx, &token, true, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, msg) = raw_modern_call(&fx, &token, false, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(msg["error"]["code"], json!(-32021));
    assert_eq!(
        msg["error"]["data"],
        json!({"requiredCapabilities": {"elicitation": {"url": {}}}})
    );
    assert!(msg.get("result").is_none());
}

/// ELIC-R2-05, ELIC-R2-06: a retry whose `requestState` is tampered, foreign (another
/// user, or another client of the same user), for another request, or expired is refused with
/// `-32602` naming `requestState`, even once the credential exists; the good state still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_bad_request_states_are_refused() {
    let fx = Fixture::start().await;
    let token = fx.token_for("gina", "client-g");
    let (_, first) = raw_modern_call(&fx, &token, true, None).await;
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();
    let id = only_elicitation(&fx);
    fx.fake.set_status(&id, "completed");

    let refused = |msg: &Value| {
        assert_eq!(msg["error"]["code"], json!(-32602), "{msg}");
        assert!(
            msg["error"]["message"]
                .as_str()
                .unwrap()
                .contains("requestState")
        );
        assert!(msg.get("result").is_none());
    };
    // Tampered: one bit flipped.
    let mut raw = URL_SAFE_NO_PAD.decode(&state).unwrap();
    raw[20] ^= 1;
    let (_, msg) = raw_modern_call(&fx, &token, true, Some(&URL_SAFE_NO_PAD.encode(&raw))).await;
    refused(&msg);
    let (_, msg) = raw_modern_call(&fx, &token, true, Some("not-a-state")).await;
    refused(&msg);
    // Foreign principal: another user, then the same user through another client.
    let mallory = fx.token_for("mallory", "client-g");
    let (_, msg) = raw_modern_call(&fx, &mallory, true, Some(&state)).await;
    refused(&msg);
    let other_client = fx.token_for("gina", "client-x");
    let (_, msg) = raw_modern_call(&fx, &other_client, true, Some(&state)).await;
    refused(&msg);
    // Another request: same tool, other arguments (raw, different digest).
    let body = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
    "name": "list_events", "arguments": {"day": "monday"}, "requestState": state,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}},
    }}});
    let resp = rmcp_reqwest::Client::new()
        .post(&fx.mcp_url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_events")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let line = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or(text.clone(), str::to_owned);
    refused(&serde_json::from_str(&line).unwrap());
    // Expired: 15 minutes later.
    fx.clock.advance(901);
    let (_, msg) = raw_modern_call(&fx, &token, true, Some(&state)).await;
    refused(&msg);
    fx.clock.advance(-901);
    // The good state, by the right principal, for the same request: data.
    let (_, msg) = raw_modern_call(&fx, &token, true, Some(&state)).await;
    assert_eq!(
        msg["result"]["content"][0]["text"],
        "events of gina with the right credential"
    );
}

/// ELIC-16: URL-mode elicitation never stands in for MCP authorization. A `tools/call` without
/// a bearer token, or with one the layer refuses, is answered by the bearer layer with `401`
/// and a `WWW-Authenticate: Bearer` challenge (the client must authorize to the MCP server
/// itself); the vault is never reached, so no elicitation is made and the AS sees no exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_mcp_authorization_is_a_401_challenge_never_an_elicitation() {
    let fx = Fixture::start().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_events", "arguments": {},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": capabilities(true)}}});
    for token in [None, Some("not-a-token")] {
        let mut req = rmcp_reqwest::Client::new()
            .post(&fx.mcp_url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "token {token:?}");
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("input_required") && !text.contains("-32042"),
            "{text}"
        );
    }
    assert_eq!(fx.fake.exchanges(), 0);
    assert!(fx.fake.state.lock().unwrap().elicitations.is_empty());
}
