//! Issue #8 items 1 and 6 through the real example server (rmcp behind the bearer layer) and
//! the mcp-auth authorization server, both in-process on 127.0.0.1. Tokens come from the
//! client credentials grant for machine clients provisioned in the store; MCP messages are
//! sent as raw HTTP so that malformed ones can be sent.

mod support;

use std::time::Duration;

use mcp_auth_core::{
    Client, ClientSecretHash, ClientSource, GrantType, TokenEndpointAuthMethod, TokenHash,
};
use mcp_auth_ext_client_credentials::ClientCredentialsExtension;
use protected_mcp_server::{AppOptions, MAX_SESSIONS_PER_PRINCIPAL};
use support::{FLOW_TIMEOUT, Servers};

const SECRET: &str = "machine-secret-0123456789abcdef";

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw-http","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
/// The issue's reproduction: an extra `uri` of another type beside the tool name.
const REPRODUCTION: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_item","arguments":{"id":"42"},"uri":0}}"#;

async fn start(options: impl FnOnce(AppOptions) -> AppOptions) -> Servers {
    support::start_with(
        |b| b.extension(Box::new(ClientCredentialsExtension::new())),
        options,
    )
    .await
}

/// A machine client `id` that may ask for `mcp:tools files:write`.
async fn provision(servers: &Servers, id: &str) {
    let client = Client {
        client_id: id.parse().unwrap(),
        client_name: Some(format!("{id} (machine)")),
        redirect_uris: vec![],
        grant_types: vec![GrantType::new(GrantType::CLIENT_CREDENTIALS)],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        token_endpoint_auth_methods: Vec::new(),
        secrets: vec![ClientSecretHash {
            hash: TokenHash::of(SECRET).as_str().to_owned(),
            expires_at: None,
        }],
        jwks: None,
        jwks_uri: None,
        scope: Some("mcp:tools files:write".parse().unwrap()),
        resources: Some(vec![servers.mcp_url.parse().unwrap()]),
        client_id_issued_at: 0,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: false,
    };
    servers.stores.clients.put(&client).await.unwrap();
}

/// An access token of client `id` for the example server with `scope`.
async fn token(servers: &Servers, id: &str, scope: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/token", servers.issuer))
        .basic_auth(id, Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", servers.mcp_url.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "token endpoint");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// POST one MCP message; returns the status, the `Mcp-Session-Id` and `WWW-Authenticate`
/// headers, and the body text.
async fn post(
    servers: &Servers,
    token: &str,
    session: Option<&str>,
    body: &str,
) -> (u16, Option<String>, Option<String>, String) {
    let mut req = reqwest::Client::new()
        .post(&servers.mcp_url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let resp = req.send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (session, challenge) = (header("mcp-session-id"), header("www-authenticate"));
    let status = resp.status().as_u16();
    (status, session, challenge, resp.text().await.unwrap())
}

/// `initialize` and `notifications/initialized`: the id of a ready session.
async fn open_session(servers: &Servers, token: &str) -> String {
    let (status, session, _, body) = post(servers, token, None, INITIALIZE).await;
    assert_eq!(status, 200, "initialize: {body}");
    let session = session.unwrap_or_else(|| panic!("no session id: {body}"));
    let (status, _, _, _) = post(servers, token, Some(&session), INITIALIZED).await;
    assert_eq!(status, 202, "notifications/initialized");
    session
}

async fn delete(servers: &Servers, token: &str, session: &str) -> u16 {
    reqwest::Client::new()
        .delete(&servers.mcp_url)
        .bearer_auth(token)
        .header("mcp-session-id", session)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Issue #8 item 1: the reproduction gets 403 naming `files:write`; the same body with a token
/// holding `files:write` runs the tool, so the 403 is the layer's doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reproduction_is_403_through_the_example_server() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers = start(|o| o).await;
        provision(&servers, "m2m-a").await;
        let tools_only = token(&servers, "m2m-a", "mcp:tools").await;
        let session = open_session(&servers, &tools_only).await;
        let (status, _, challenge, _) =
            post(&servers, &tools_only, Some(&session), REPRODUCTION).await;
        assert_eq!(status, 403);
        assert_eq!(
            challenge.as_deref(),
            Some(
                format!(
                    r#"Bearer error="insufficient_scope", error_description="files:write required", resource_metadata="{}", scope="files:write mcp:tools""#,
                    servers.metadata_url()
                )
                .as_str()
            )
        );
        let writer = token(&servers, "m2m-a", "mcp:tools files:write").await;
        let (status, _, _, body) = post(&servers, &writer, Some(&session), REPRODUCTION).await;
        assert_eq!(status, 200);
        assert!(body.contains("deleted 42 for m2m-a"), "{body}");
    })
    .await
    .expect("the flow finished in time");
}

/// Issue #8 item 1: tool calls whose name cannot be read the way rmcp reads it get 400
/// `invalid_request`, never the baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_tool_calls_are_400_through_the_example_server() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers = start(|o| o).await;
        provision(&servers, "m2m-a").await;
        let tools_only = token(&servers, "m2m-a", "mcp:tools").await;
        let session = open_session(&servers, &tools_only).await;
        for (body, description) in [
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","name":"delete_item","arguments":{"id":"42"}}}"#,
                "a JSON-RPC member name appears twice",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":{"0":"delete_item"},"arguments":{"id":"42"}}}"#,
                "tools/call needs params.name as a string",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"delete_item","arguments":{"id":"42"}}}]"#,
                "JSON-RPC batches are not accepted",
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call2","params":{"name":"delete_item"}}"#,
                "the JSON-RPC method is not covered by the scope policy",
            ),
        ] {
            let (status, _, challenge, _) =
                post(&servers, &tools_only, Some(&session), body).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(
                challenge.as_deref(),
                Some(
                    format!(
                        r#"Bearer error="invalid_request", error_description="{description}", resource_metadata="{}""#,
                        servers.metadata_url()
                    )
                    .as_str()
                ),
                "{body}"
            );
        }
    })
    .await
    .expect("the flow finished in time");
}

/// Issue #8 item 6 (RS-19): a session created by one client is 404 for another; its creator
/// carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_of_another_principal_is_404_through_the_example_server() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers = start(|o| o).await;
        provision(&servers, "m2m-a").await;
        provision(&servers, "m2m-b").await;
        let a = token(&servers, "m2m-a", "mcp:tools").await;
        let b = token(&servers, "m2m-b", "mcp:tools").await;
        let session = open_session(&servers, &a).await;
        let (status, _, challenge, body) = post(&servers, &b, Some(&session), TOOLS_LIST).await;
        assert_eq!(status, 404);
        assert_eq!(challenge, None);
        assert_eq!(
            body,
            r#"{"error":"session_not_found","error_description":"session not found"}"#
        );
        let (status, _, _, body) = post(&servers, &a, Some(&session), TOOLS_LIST).await;
        assert_eq!(status, 200);
        assert!(body.contains("delete_item"), "{body}");
    })
    .await
    .expect("the flow finished in time");
}

/// Issue #8 item 6: one principal opens at most `MAX_SESSIONS_PER_PRINCIPAL` sessions; one more
/// `initialize` gets 429 `too_many_sessions`, and a `DELETE` frees a place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_past_the_per_principal_cap_is_429_through_the_example_server() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers = start(|o| o).await;
        provision(&servers, "m2m-a").await;
        let a = token(&servers, "m2m-a", "mcp:tools").await;
        let mut sessions = Vec::new();
        for _ in 0..MAX_SESSIONS_PER_PRINCIPAL {
            sessions.push(open_session(&servers, &a).await);
        }
        let (status, session, _, body) = post(&servers, &a, None, INITIALIZE).await;
        assert_eq!(status, 429);
        assert_eq!(session, None);
        assert_eq!(
            body,
            r#"{"error":"too_many_sessions","error_description":"too many open MCP sessions for this user and client; end one with DELETE or wait for it to expire"}"#
        );
        assert_eq!(
            servers.sessions.sessions.read().await.len(),
            MAX_SESSIONS_PER_PRINCIPAL
        );
        assert_eq!(delete(&servers, &a, &sessions[0]).await, 202);
        open_session(&servers, &a).await;
    })
    .await
    .expect("the flow finished in time");
}

/// Issue #8 item 6: an idle session is closed by rmcp (its memory freed) and forgotten by the
/// layer. rmcp's idle timer runs on tokio's clock, so this test uses a 2 s idle timeout and
/// waits for the close, polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_session_is_closed_through_the_example_server() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers = start(|mut o| {
            o.session_idle_timeout = Duration::from_secs(2);
            o
        })
        .await;
        provision(&servers, "m2m-a").await;
        let a = token(&servers, "m2m-a", "mcp:tools").await;
        let session = open_session(&servers, &a).await;
        assert_eq!(servers.sessions.sessions.read().await.len(), 1);
        let closed = async {
            while !servers.sessions.sessions.read().await.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), closed)
            .await
            .expect("rmcp closes the idle session");
        let (status, _, _, _) = post(&servers, &a, Some(&session), TOOLS_LIST).await;
        assert_eq!(status, 404);
    })
    .await
    .expect("the flow finished in time");
}
