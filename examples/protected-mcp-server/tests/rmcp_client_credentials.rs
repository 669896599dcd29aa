//! End to end for machine clients (SEP-1046): rmcp's client-credentials support, with a client
//! secret and with a `private_key_jwt` assertion, gets a token from the mcp-auth authorization
//! server (client credentials extension installed) and calls a tool on the example server.

mod support;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::{
    Client, ClientSecretHash, ClientSource, GrantType, TokenEndpointAuthMethod, TokenHash,
};
use mcp_auth_ext_client_credentials::ClientCredentialsExtension;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationManager, ClientCredentialsConfig, JwtSigningAlgorithm, OAuthState,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use support::{FLOW_TIMEOUT, Servers};

const SECRET: &str = "machine-secret-0123456789abcdef";

fn machine_client(servers: &Servers, id: &str, method: TokenEndpointAuthMethod) -> Client {
    Client {
        client_id: id.parse().unwrap(),
        client_name: Some(format!("{id} (machine)")),
        redirect_uris: vec![],
        grant_types: vec![GrantType::new(GrantType::CLIENT_CREDENTIALS)],
        token_endpoint_auth_method: method,
        token_endpoint_auth_methods: Vec::new(),
        secrets: vec![],
        jwks: None,
        jwks_uri: None,
        scope: Some("mcp:tools".parse().unwrap()),
        resources: Some(vec![servers.mcp_url.parse().unwrap()]),
        client_id_issued_at: 0,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: false,
    }
}

/// Authenticate with `config`, connect, call `echo`, and return its answer.
async fn echo_as_machine(servers: &Servers, config: ClientCredentialsConfig) -> String {
    let manager = AuthorizationManager::new_allowing_private_addresses(servers.mcp_url.as_str())
        .await
        .unwrap();
    let mut state = OAuthState::Unauthorized(manager);
    state.authenticate_client_credentials(config).await.unwrap();
    let manager = state
        .into_authorization_manager()
        .unwrap_or_else(|| panic!("not authorized after client credentials"));
    let auth_client = AuthClient::new(rmcp_reqwest::Client::new(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        auth_client,
        StreamableHttpClientTransportConfig::with_uri(servers.mcp_url.clone()),
    );
    let client = ().serve(transport).await.unwrap();
    // CC-15: the server advertises the client credentials extension.
    let info = client.peer_info().expect("the server answered initialize");
    let extensions = info.capabilities.extensions.clone().unwrap_or_default();
    assert!(extensions.contains_key(protected_mcp_server::CLIENT_CREDENTIALS_EXTENSION));
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "hello".into());
    let result = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// CC-07, CC-11: rmcp with a client secret (it sends `client_secret_post`) gets a token whose
/// `sub` is the client id, and calls a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_secret_gets_a_token_and_calls_a_tool() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers =
            support::start(|b| b.extension(Box::new(ClientCredentialsExtension::new()))).await;
        let mut client = machine_client(
            &servers,
            "m2m-secret",
            TokenEndpointAuthMethod::ClientSecretPost,
        );
        client.secrets = vec![ClientSecretHash {
            hash: TokenHash::of(SECRET).as_str().to_owned(),
            expires_at: None,
        }];
        servers.stores.clients.put(&client).await.unwrap();
        let echoed = echo_as_machine(
            &servers,
            ClientCredentialsConfig::ClientSecret {
                client_id: "m2m-secret".into(),
                client_secret: SECRET.into(),
                scopes: vec!["mcp:tools".into()],
                resource: Some(servers.mcp_url.clone()),
            },
        )
        .await;
        assert_eq!(echoed, "m2m-secret: hello");
    })
    .await
    .expect("the flow finished in time");
}

/// Issue 5: mcp-auth's own token provider (`mcp_auth_ext_client_credentials::provider`) discovers the
/// authorization server from the example server's protected resource metadata, gets a token,
/// and an MCP client using that token calls a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_token_provider_gets_a_token_that_calls_a_tool() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers =
            support::start(|b| b.extension(Box::new(ClientCredentialsExtension::new()))).await;
        let mut client = machine_client(
            &servers,
            "m2m-provider",
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        client.secrets = vec![ClientSecretHash {
            hash: TokenHash::of(SECRET).as_str().to_owned(),
            expires_at: None,
        }];
        servers.stores.clients.put(&client).await.unwrap();
        let provider = mcp_auth_ext_client_credentials::provider::TokenProvider::builder(
            servers.mcp_url.clone(),
            mcp_auth_ext_client_credentials::provider::ClientAuth::secret_basic(
                "m2m-provider",
                SECRET,
            ),
        )
        .scope("mcp:tools")
        .discover()
        .await
        .unwrap();
        let token = provider.access_token().await.unwrap();
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(servers.mcp_url.clone())
                .auth_header(token.expose().to_owned()),
        );
        let mcp = ().serve(transport).await.unwrap();
        let mut args = serde_json::Map::new();
        args.insert("text".into(), "hello".into());
        let result = mcp
            .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
            .await
            .unwrap();
        mcp.cancel().await.unwrap();
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        assert_eq!(text, "m2m-provider: hello");
    })
    .await
    .expect("the flow finished in time");
}

/// CC-05, CC-06: rmcp with an ES256 `private_key_jwt` assertion gets a token and calls a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_private_key_jwt_gets_a_token_and_calls_a_tool() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let servers =
            support::start(|b| b.extension(Box::new(ClientCredentialsExtension::new()))).await;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let mut client =
            machine_client(&servers, "m2m-jwt", TokenEndpointAuthMethod::PrivateKeyJwt);
        client.jwks = Some(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]}));
        servers.stores.clients.put(&client).await.unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let echoed = echo_as_machine(
            &servers,
            ClientCredentialsConfig::PrivateKeyJwt {
                client_id: "m2m-jwt".into(),
                signing_key: pem.into_bytes(),
                signing_algorithm: JwtSigningAlgorithm::ES256,
                token_endpoint_audience: None,
                scopes: vec!["mcp:tools".into()],
                resource: Some(servers.mcp_url.clone()),
            },
        )
        .await;
        assert_eq!(echoed, "m2m-jwt: hello");
    })
    .await
    .expect("the flow finished in time");
}
