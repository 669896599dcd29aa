//! End to end with a real MCP client: rmcp's streamable HTTP client and its OAuth support
//! against the example server and the mcp-auth authorization server, both in-process on
//! 127.0.0.1. Dynamic client registration, authorization code + PKCE, then a step-up after
//! `403 insufficient_scope`.

mod support;

use rmcp::RoleClient;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{ClientInitializeError, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationCallback, AuthorizationManager, AuthorizationRequest, OAuthState,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClientTransportConfig,
};
use support::{FLOW_TIMEOUT, REDIRECT_URI, Servers, browse, find_source};

fn call(tool: &'static str, key: &str, value: &str) -> CallToolRequestParams {
    let mut args = serde_json::Map::new();
    args.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
    CallToolRequestParams::new(tool).with_arguments(args)
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// The first MCP request, with no token, gets 401 and the challenge names the PRM and the
/// baseline scope. Returns the challenge.
async fn first_request_is_challenged(servers: &Servers) -> String {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(servers.mcp_url.clone()),
    );
    let err = match ().serve(transport).await {
        Ok(_) => panic!("an unauthenticated initialize was accepted"),
        Err(e) => e,
    };
    assert!(err.is_authorization_required(), "{err}");
    let ClientInitializeError::TransportError { error, .. } = &err else {
        panic!("not a transport error: {err:?}");
    };
    let challenge = find_source::<AuthRequiredError>(error)
        .unwrap_or_else(|| panic!("no 401 challenge in {err:?}"))
        .www_authenticate_header
        .clone();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer resource_metadata="{}", scope="mcp:tools""#,
            servers.metadata_url()
        )
    );
    challenge
}

/// Discovery from the challenge, registration, authorization code + PKCE, asking for `scopes`
/// (none: rmcp picks them from the challenge). Checks the authorization URL asks for
/// `expected_scope`. Returns the authorized manager.
async fn authorize(
    servers: &Servers,
    challenge: String,
    scopes: &[String],
    expected_scope: &str,
) -> AuthorizationManager {
    let manager = AuthorizationManager::new_allowing_private_addresses(servers.mcp_url.as_str())
        .await
        .unwrap();
    let mut oauth = OAuthState::Unauthorized(manager);
    oauth
        .start_authorization(
            AuthorizationRequest::new(REDIRECT_URI)
                .with_client_name("rmcp end-to-end client")
                .with_challenge(challenge)
                .with_scopes(scopes.iter().cloned()),
        )
        .await
        .unwrap();
    let authorization_url = oauth.get_authorization_url().await.unwrap();
    let query: Vec<(String, String)> = url::Url::parse(&authorization_url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert!(authorization_url.starts_with(&format!("{}/authorize?", servers.issuer)));
    assert_eq!(param("resource").as_deref(), Some(servers.mcp_url.as_str()));
    assert_eq!(param("scope").as_deref(), Some(expected_scope));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    let callback = browse(&authorization_url).await;
    let parsed = AuthorizationCallback::from_redirect_url(&callback).unwrap();
    assert_eq!(parsed.issuer.as_deref(), Some(servers.issuer.as_str()));
    oauth.handle_callback_url(&callback).await.unwrap();
    oauth
        .into_authorization_manager()
        .unwrap_or_else(|| panic!("not authorized after the callback"))
}

async fn connect(
    manager: AuthorizationManager,
    servers: &Servers,
) -> (
    RunningService<RoleClient, ()>,
    std::sync::Arc<tokio::sync::Mutex<AuthorizationManager>>,
) {
    let auth_client = AuthClient::new(rmcp_reqwest::Client::new(), manager);
    let handle = auth_client.auth_manager.clone();
    let transport = StreamableHttpClientTransport::with_client(
        auth_client,
        StreamableHttpClientTransportConfig::with_uri(servers.mcp_url.clone()),
    );
    let client = ().serve(transport).await.unwrap();
    (client, handle)
}

/// Issue 3: the whole protected-MCP flow with rmcp as the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_authorizes_calls_tools_and_steps_up_on_insufficient_scope() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers = support::start(|b| b).await;
        let challenge = first_request_is_challenged(&servers).await;
        // rmcp adds `offline_access` because the AS lists it (SEP-2207); the AS keeps it out of
        // the access token's scope (AS-R2-11) and answers with a refresh token.
        let manager = authorize(&servers, challenge, &[], "mcp:tools offline_access").await;
        assert_eq!(manager.get_current_scopes().await, vec!["mcp:tools"]);
        let (client, manager) = connect(manager, &servers).await;

        let mut tools: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        tools.sort();
        assert_eq!(tools, vec!["delete_item", "echo"]);

        let echoed = client.call_tool(call("echo", "text", "hello")).await.unwrap();
        assert_eq!(text_of(&echoed), "dev-user: hello");

        let err = client
            .call_tool(call("delete_item", "id", "item-7"))
            .await
            .unwrap_err();
        let ServiceError::TransportSend(error) = &err else {
            panic!("not a transport error: {err:?}");
        };
        let insufficient = find_source::<InsufficientScopeError>(error)
            .unwrap_or_else(|| panic!("no 403 challenge in {err:?}"));
        assert_eq!(
            insufficient.www_authenticate_header,
            format!(
                r#"Bearer error="insufficient_scope", error_description="files:write required", resource_metadata="{}", scope="files:write mcp:tools""#,
                servers.metadata_url()
            )
        );
        let required = insufficient.get_required_scope().unwrap().to_owned();
        assert_eq!(required, "files:write mcp:tools");

        // Step-up (SEP-835) in place: rmcp asks for the union of the granted and the challenged
        // scopes with the same client registration; the running MCP session carries on with the
        // new token.
        let upgrade_url = manager
            .lock()
            .await
            .request_scope_upgrade(&required)
            .await
            .unwrap();
        let scope_asked: Vec<String> = url::Url::parse(&upgrade_url)
            .unwrap()
            .query_pairs()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(scope_asked.len(), 1);
        let mut asked: Vec<&str> = scope_asked[0]
            .split(' ')
            .filter(|s| *s != "offline_access")
            .collect();
        asked.sort_unstable();
        assert_eq!(asked, vec!["files:write", "mcp:tools"]);
        let callback = browse(&upgrade_url).await;
        let parsed = AuthorizationCallback::from_redirect_url(&callback).unwrap();
        manager
            .lock()
            .await
            .exchange_code_for_token_with_issuer(
                &parsed.code,
                &parsed.csrf_token,
                parsed.issuer.as_deref(),
            )
            .await
            .unwrap();
        let mut granted = manager.lock().await.get_current_scopes().await;
        granted.sort();
        assert_eq!(granted, vec!["files:write", "mcp:tools"]);

        let deleted = client
            .call_tool(call("delete_item", "id", "item-7"))
            .await
            .unwrap();
        assert_eq!(text_of(&deleted), "deleted item-7 for dev-user");
        client.cancel().await.unwrap();
    })
    .await
    .unwrap_or_else(|_| panic!("the flow took longer than {FLOW_TIMEOUT:?}"));
}
