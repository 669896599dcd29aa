//! The `list_events` tool end to end on 127.0.0.1: the example server (with connections) and
//! the `calendar-api` router, a stand-in authorization server serving the MCP server's keys and
//! the issue 11 `/connect/token` + `/connect/status` endpoints, and a third-party issuer
//! (`TestAuthServer`) whose tokens the calendar API trusts. rmcp's client as the MCP client.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, StatusCode};
use mcp_auth_conformance::{TestAuthServer, TestKey, TokenMinter, jwks_of};
use mcp_auth_core::Secret;
use mcp_auth_resource_server::elicitation::RequestStateKey;
use protected_mcp_server::{AppOptions, CalendarApiOptions, ConnectionOptions, app, calendar_api};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig};
use rmcp::service::ServiceError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const CLIENT_ID: &str = "calendar-mcp";
const CLIENT_SECRET: &str = "calendar-mcp-secret";
const MESSAGE: &str = "Connect your Example Calendar account to continue.";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The stand-in authorization server of the MCP server.
#[derive(Clone)]
struct Stand {
    issuer: String,
    mcp_key: Arc<TestKey>,
    third_party: Arc<TestAuthServer>,
    tp_key: Arc<TestKey>,
    calendar_url: String,
    connected: Arc<Mutex<HashSet<String>>>,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn metadata(State(s): State<Stand>) -> Json<Value> {
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "response_types_supported": ["code"],
    }))
}

async fn jwks(State(s): State<Stand>) -> Json<Value> {
    Json(jwks_of(&[&s.mcp_key]))
}

async fn connect_token(State(s): State<Stand>, headers: HeaderMap, body: String) -> Response {
    s.bodies.lock().unwrap().push(body.clone());
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").map(|v| v.as_bytes()) != Some(basic.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let claims: Value = form
        .get("subject_token")
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice(&p).ok())
        .unwrap_or_default();
    let sub = claims["sub"].as_str().unwrap_or_default().to_owned();
    assert_eq!(form.get("audience").map(String::as_str), Some("calendar"));
    if s.connected.lock().unwrap().contains(&sub) {
        let token = TokenMinter::new(&s.tp_key, s.third_party.issuer(), &s.calendar_url, now())
            .subject(&sub)
            .client_id("mcp-auth-connector")
            .valid("calendar:read")
            .unwrap();
        return Json(json!({
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 900,
        }))
        .into_response();
    }
    let id = format!("elic-{sub}-0123456789abcdef0123");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": "connection_required",
            "error_description": "the user has not connected Example Calendar",
            "elicitation": {
                "id": id,
                "url": format!("{}/connect/{id}", s.issuer),
                "expires_in": 900,
                "connection": "calendar",
                "message": MESSAGE,
            }
        })),
    )
        .into_response()
}

async fn connect_status(State(s): State<Stand>, body: String) -> Json<Value> {
    let id = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("elicitation_id="))
        .unwrap_or_default()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let done = s
        .connected
        .lock()
        .unwrap()
        .iter()
        .any(|sub| id.starts_with(&format!("elic-{sub}-")));
    Json(json!({"elicitation_id": id, "status": if done {"completed"} else {"pending"}}))
}

struct Servers {
    stand: Stand,
    mcp_url: String,
    calendar_url: String,
}

async fn start() -> Servers {
    let tp_key = Arc::new(TestKey::generate("tp").unwrap());
    let third_party = Arc::new(TestAuthServer::start(&[&tp_key]).await.unwrap());
    // The calendar API, trusting only the third party.
    let cal_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let calendar_url = format!("http://{}/api", cal_listener.local_addr().unwrap());
    let cal = calendar_api(CalendarApiOptions::new(third_party.issuer(), &calendar_url)).unwrap();
    tokio::spawn(async move { axum::serve(cal_listener, cal).await.unwrap() });
    // The MCP server's authorization server stand-in.
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let stand = Stand {
        issuer: issuer.clone(),
        mcp_key: Arc::new(TestKey::generate("mcp").unwrap()),
        third_party,
        tp_key,
        calendar_url: calendar_url.clone(),
        connected: Arc::default(),
        bodies: Arc::default(),
    };
    let as_app = Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/jwks", get(jwks))
        .route("/connect/token", post(connect_token))
        .route("/connect/status", post(connect_status))
        .with_state(stand.clone());
    tokio::spawn(async move { axum::serve(as_listener, as_app).await.unwrap() });
    // The MCP server.
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());
    let options = AppOptions::new(&issuer, &mcp_url).with_connections(ConnectionOptions::new(
        CLIENT_ID,
        Secret::new(CLIENT_SECRET),
        RequestStateKey::new([9; 32]),
        &calendar_url,
    ));
    let router = app(options).unwrap();
    tokio::spawn(async move { axum::serve(mcp_listener, router).await.unwrap() });
    Servers {
        stand,
        mcp_url,
        calendar_url,
    }
}

impl Servers {
    fn mcp_token(&self, sub: &str) -> String {
        TokenMinter::new(
            &self.stand.mcp_key,
            &self.stand.issuer,
            &self.mcp_url,
            now(),
        )
        .subject(sub)
        .client_id("some-mcp-client")
        .valid("mcp:tools")
        .unwrap()
    }

    async fn client(
        &self,
        token: &str,
    ) -> rmcp::service::RunningService<rmcp::RoleClient, ClientConfig> {
        let caps: ClientCapabilities =
            serde_json::from_value(json!({"elicitation": {"url": {}}})).unwrap();
        let info = ClientConfig::new(caps, rmcp::model::Implementation::new("t", "1"))
            .with_protocol_version(rmcp::model::ProtocolVersion::V_2025_11_25);
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.mcp_url.clone()).auth_header(token),
        );
        info.serve(transport).await.unwrap()
    }
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// ELIC-14, ELIC-15, ELIC-R2-11: a connected user's `list_events` returns the calendar API's
/// JSON for that user; the third-party token is not in the answer; the MCP token reached the
/// authorization server only as `subject_token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_events_returns_the_calendar_of_a_connected_user() {
    let servers = start().await;
    servers
        .stand
        .connected
        .lock()
        .unwrap()
        .insert("alice".into());
    let token = servers.mcp_token("alice");
    let client = servers.client(&token).await;
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(tools.contains(&"list_events".to_owned()), "{tools:?}");
    let result = client
        .call_tool(CallToolRequestParams::new("list_events"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    let events: Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(
        events,
        json!({"owner": "alice", "events": [
            {"title": "Standup", "start": "2026-01-05T09:00:00Z"},
            {"title": "Planning", "start": "2026-01-05T14:00:00Z"},
        ]})
    );
    let answer = serde_json::to_string(&result).unwrap();
    assert!(
        !answer.contains("eyJ"),
        "a token reached the client: {answer}"
    );
    let bodies = servers.stand.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(bodies[0].as_bytes())
        .into_owned()
        .collect();
    for (k, v) in &form {
        assert_eq!(v == &token, k == "subject_token", "{k}");
    }
    client.cancel().await.unwrap();
}

/// ELIC-02, ELIC-04: an unconnected user gets `-32042` with the AS's URL;
/// once connected, the retry returns the events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_events_elicits_for_an_unconnected_user_then_works() {
    let servers = start().await;
    let token = servers.mcp_token("bob");
    let client = servers.client(&token).await;
    let err = match client
        .call_tool(CallToolRequestParams::new("list_events"))
        .await
    {
        Err(ServiceError::McpError(e)) => e,
        other => panic!("expected -32042, got {other:?}"),
    };
    let id = "elic-bob-0123456789abcdef0123";
    assert_eq!(err.code.0, -32042);
    assert_eq!(
        err.data,
        Some(json!({"elicitations": [{
            "mode": "url",
            "elicitationId": id,
            "url": format!("{}/connect/{id}", servers.stand.issuer),
            "message": MESSAGE,
        }]}))
    );
    servers.stand.connected.lock().unwrap().insert("bob".into());
    let result = client
        .call_tool(CallToolRequestParams::new("list_events"))
        .await
        .unwrap();
    let events: Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(events["owner"], "bob");
    client.cancel().await.unwrap();
}

/// ELIC-15: the calendar API (the third party) refuses the user's MCP access token and a
/// missing token with 401, and accepts the third party's own token for its audience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_api_accepts_only_third_party_tokens() {
    let servers = start().await;
    let http = reqwest::Client::new();
    let events = format!("{}/events", servers.calendar_url);
    let resp = http.get(&events).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let mcp_token = servers.mcp_token("carol");
    let resp = http
        .get(&events)
        .bearer_auth(&mcp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let tp_token = TokenMinter::new(
        &servers.stand.tp_key,
        servers.stand.third_party.issuer(),
        &servers.calendar_url,
        now(),
    )
    .subject("carol")
    .valid("calendar:read")
    .unwrap();
    let resp = http
        .get(&events)
        .bearer_auth(&tp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["owner"], "carol");
    assert_eq!(body["events"][0]["title"], "Standup");
}
