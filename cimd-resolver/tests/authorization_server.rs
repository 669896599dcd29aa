//! The resolver inside a real `mcp_auth_server::AuthorizationServer`, fetching from a local HTTPS
//! server (127.0.0.1, test CA trusted through the insecure test switches).

mod support;

use std::sync::Arc;

use mcp_auth_cimd_resolver::{CimdExtension, CimdResolver};
use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::store::Stores;
use mcp_auth_core::{ClientSource, ErrorCode, FixedClock, TokenEndpointAuthMethod};
use mcp_auth_server::engine::authorize::AuthorizeError;
use mcp_auth_server::{AuthorizationServer, ServerSettings};
use support::{FakeDns, Reply, TestServer, document};

const NOW: i64 = 1_800_000_000;
const HOST: &str = "client.test";
const PATH: &str = "/oauth/client.json";
const RESOURCE: &str = "https://mcp.example.com/mcp";
/// RFC 7636 Appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn server_with_cimd(docs: &TestServer) -> AuthorizationServer {
    server_on(docs, Stores::in_memory()).await
}

/// [`server_with_cimd`] over `stores` (two servers over one set: two nodes of one database).
async fn server_on(docs: &TestServer, stores: Stores) -> AuthorizationServer {
    let clock = Arc::new(FixedClock::new(NOW));
    let resolver = CimdResolver::builder()
        .clock(clock.clone())
        .dns_lookup(FakeDns::new(&[(HOST, &["127.0.0.1"])]))
        .insecure_allow_loopback(true)
        .insecure_add_root_certificate_pem(docs.ca_pem.as_bytes())
        .build()
        .unwrap();
    let resources = ResourceRegistry::new(
        vec![ProtectedResource {
            resource: RESOURCE.parse().unwrap(),
            scopes_supported: "mcp:basic files:read".parse().unwrap(),
            default_scopes: "mcp:basic".parse().unwrap(),
            access_token_ttl: None,
        }],
        None,
    )
    .unwrap();
    let settings = ServerSettings::new("https://auth.example.com".parse().unwrap(), resources);
    AuthorizationServer::builder(settings, stores)
        .clock(clock)
        .extension(Box::new(CimdExtension::new(resolver)))
        .build()
        .await
        .unwrap()
}

fn authorize_query(client_id: &str, redirect_uri: &str) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE)
        .append_pair("scope", "mcp:basic")
        .append_pair("state", "xyz")
        .finish()
        .into_bytes()
}

/// CIMD-01: the AS metadata advertises `client_id_metadata_document_supported: true`.
#[tokio::test]
async fn metadata_advertises_cimd_support() {
    let docs = TestServer::start(&[HOST]).await;
    let server = server_with_cimd(&docs).await;
    let metadata = serde_json::to_value(server.metadata()).unwrap();
    assert_eq!(
        metadata["client_id_metadata_document_supported"],
        serde_json::Value::Bool(true)
    );
}

/// CIMD-02, CIMD-06: an authorization request from a CIMD client is validated against the
/// fetched document, including the loopback port rule.
#[tokio::test]
async fn authorization_request_resolves_a_cimd_client() {
    let docs = TestServer::start(&[HOST]).await;
    let client_id = docs.url(HOST, PATH);
    docs.set(
        PATH,
        Reply::json(document(&client_id, "Example MCP Desktop"))
            .header("Cache-Control", "max-age=3600"),
    );
    let server = server_with_cimd(&docs).await;
    let request = server
        .validate_authorization_request(&authorize_query(
            &client_id,
            "http://127.0.0.1:51234/callback",
        ))
        .await
        .unwrap();
    assert_eq!(request.client.client_id.as_str(), client_id);
    assert_eq!(request.client.source, ClientSource::MetadataDocument);
    assert_eq!(
        request.client.client_name.as_deref(),
        Some("Example MCP Desktop")
    );
    assert_eq!(
        request.client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::None
    );
    assert_eq!(
        request.redirect_uri.as_str(),
        "http://127.0.0.1:51234/callback"
    );
    assert_eq!(request.resource.resource.as_str(), RESOURCE);
    assert_eq!(request.scope.to_string(), "mcp:basic");
    let seen = docs.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert_eq!(seen[0].header("cookie"), None);
    assert_eq!(seen[0].header("authorization"), None);
}

/// CIMD-05: a redirect URI the document does not list is an error page, not a redirect.
#[tokio::test]
async fn unlisted_redirect_uri_is_an_error_page() {
    let docs = TestServer::start(&[HOST]).await;
    let client_id = docs.url(HOST, PATH);
    docs.set(PATH, Reply::json(document(&client_id, "Example")));
    let server = server_with_cimd(&docs).await;
    let err = server
        .validate_authorization_request(&authorize_query(&client_id, "https://attacker.example/cb"))
        .await
        .unwrap_err();
    match err {
        AuthorizeError::Page(e) => assert_eq!(e.code(), ErrorCode::InvalidRequest),
        AuthorizeError::Redirect { location, .. } => panic!("redirected to {location}"),
    }
}

/// CIMD-03, A8: a document that fails validation is an `invalid_client` error page.
#[tokio::test]
async fn invalid_document_is_an_invalid_client_page() {
    let docs = TestServer::start(&[HOST]).await;
    let client_id = docs.url(HOST, PATH);
    docs.set(
        PATH,
        Reply::json(document("https://evil.example/oauth/client.json", "Evil")),
    );
    let server = server_with_cimd(&docs).await;
    let err = server
        .validate_authorization_request(&authorize_query(
            &client_id,
            "http://127.0.0.1:3000/callback",
        ))
        .await
        .unwrap_err();
    match err {
        AuthorizeError::Page(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidClient);
            assert_eq!(
                e.description(),
                "client_id in metadata document does not match its URL"
            );
        }
        AuthorizeError::Redirect { location, .. } => panic!("redirected to {location}"),
    }
}

/// Issue 25 §2: a metadata document client is recorded (`cimd_client_seen`) the first time it
/// is fetched and admitted, once: not again at the next fetch (`no-store`: every request
/// fetches), nor on another node sharing the database. An unusable document records nothing.
#[tokio::test]
async fn first_sight_of_a_cimd_client_is_audited_once() {
    let docs = TestServer::start(&[HOST]).await;
    let client_id = docs.url(HOST, PATH);
    docs.set(
        PATH,
        Reply::json(document(&client_id, "Example MCP Desktop"))
            .header("Cache-Control", "no-store"),
    );
    let stores = Stores::in_memory();
    let node_a = server_on(&docs, stores.clone()).await;
    let node_b = server_on(&docs, stores.clone()).await;
    let query = authorize_query(&client_id, "http://127.0.0.1:51234/callback");
    for node in [&node_a, &node_a, &node_b] {
        node.validate_authorization_request(&query).await.unwrap();
    }
    assert_eq!(
        docs.requests().len(),
        3,
        "every request fetched the document"
    );
    let other = docs.url(HOST, "/oauth/broken.json");
    docs.set("/oauth/broken.json", Reply::json("{\"client_id\": 7}"));
    let refused = node_a
        .validate_authorization_request(&authorize_query(&other, "http://127.0.0.1:51234/callback"))
        .await;
    assert!(refused.is_err());
    let rows = stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["cimd_client_seen"]);
    let event: serde_json::Value = serde_json::from_str(&rows[0].data).unwrap();
    assert_eq!(event["client_id"], client_id);
    assert_eq!(event["client_name"], "Example MCP Desktop");
    assert_eq!(rows[0].client_id.as_deref(), Some(client_id.as_str()));
}
