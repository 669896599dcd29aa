//! End to end with a Client ID Metadata Document (SEP-991): rmcp's client uses an `https` URL
//! as its `client_id`; the in-process authorization server fetches the document from a local
//! HTTPS host (test CA, 127.0.0.1) through cimd-resolver, and the client completes
//! authorization code + PKCE and calls a tool on the example server.

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_cimd_resolver::{CimdExtension, CimdResolver, DnsLookup};
use mcp_auth_server::client_auth::ClientJwksSource;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::ClientInitializeError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationManager, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, StreamableHttpClientTransportConfig,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{FLOW_TIMEOUT, REDIRECT_URI, browse, find_source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The document host's name; [`TestDns`] sends it to 127.0.0.1.
const HOST: &str = "client.test";
const PATH: &str = "/oauth/client.json";

/// Resolves [`HOST`] to 127.0.0.1 and nothing else.
struct TestDns;

#[async_trait]
impl DnsLookup for TestDns {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        if host == HOST {
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} is not known to the test"),
            ))
        }
    }
}

/// A test CA (PEM) and a TLS server config with a certificate it issued for [`HOST`].
fn test_pki() -> (String, rustls::ServerConfig) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "protected-mcp-server test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![HOST.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone(), CertificateDer::from(ca.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    (ca.pem(), config)
}

/// Serve `document` at [`PATH`] over HTTPS on 127.0.0.1 (one request per connection).
/// Returns the port and the CA certificate to trust.
async fn start_document_host(document: impl Fn(u16) -> String + Send + 'static) -> (u16, String) {
    let (ca_pem, config) = test_pki();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = Arc::new(document(port));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut chunk = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let found = head.split(' ').nth(1) == Some(PATH);
                let (status, body) = if found {
                    ("200 OK", body.as_str())
                } else {
                    ("404 Not Found", "")
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: max-age=300\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca_pem)
}

/// Issue 4: a CIMD client authorizes with rmcp and calls a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_with_a_metadata_document_url_authorizes_and_calls_a_tool() {
    tokio::time::timeout(FLOW_TIMEOUT, async {
        let (port, ca_pem) = start_document_host(|port| {
            serde_json::json!({
                "client_id": format!("https://{HOST}:{port}{PATH}"),
                "client_name": "rmcp CIMD end-to-end client",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            })
            .to_string()
        })
        .await;
        let client_id = format!("https://{HOST}:{port}{PATH}");

        let resolver = CimdResolver::builder()
            .dns_lookup(Arc::new(TestDns))
            .insecure_allow_loopback(true)
            .insecure_add_root_certificate_pem(ca_pem.as_bytes())
            .build()
            .unwrap();
        let jwks = ClientJwksSource::with_http_client(
            resolver.http_client(),
            Arc::new(mcp_auth_core::SystemClock),
        );
        let servers = support::start(move |builder| {
            builder
                .extension(Box::new(CimdExtension::new(resolver)))
                .client_key_source(Arc::new(jwks))
        })
        .await;

        // The first request has no token: 401 with the challenge.
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(servers.mcp_url.clone()),
        );
        let err = match ().serve(transport).await {
            Ok(_) => panic!("an unauthenticated initialize was accepted"),
            Err(e) => e,
        };
        let ClientInitializeError::TransportError { error, .. } = &err else {
            panic!("not a transport error: {err:?}");
        };
        let challenge = find_source::<AuthRequiredError>(error)
            .unwrap_or_else(|| panic!("no 401 challenge in {err:?}"))
            .www_authenticate_header
            .clone();

        // Authorization with the document URL as client_id: no registration.
        let manager =
            AuthorizationManager::new_allowing_private_addresses(servers.mcp_url.as_str())
                .await
                .unwrap();
        let mut oauth = OAuthState::Unauthorized(manager);
        oauth
            .start_authorization(
                AuthorizationRequest::new(REDIRECT_URI)
                    .with_client_metadata_url(client_id.clone())
                    .with_challenge(challenge),
            )
            .await
            .unwrap();
        let authorization_url = oauth.get_authorization_url().await.unwrap();
        let sent_client_id = url::Url::parse(&authorization_url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned());
        assert_eq!(sent_client_id.as_deref(), Some(client_id.as_str()));
        let callback = browse(&authorization_url).await;
        oauth.handle_callback_url(&callback).await.unwrap();
        let (registered_id, _) = oauth.get_credentials().await.unwrap();
        assert_eq!(registered_id, client_id);
        let manager = oauth
            .into_authorization_manager()
            .unwrap_or_else(|| panic!("not authorized after the callback"));

        let transport = StreamableHttpClientTransport::with_client(
            AuthClient::new(rmcp_reqwest::Client::new(), manager),
            StreamableHttpClientTransportConfig::with_uri(servers.mcp_url.clone()),
        );
        let client = ().serve(transport).await.unwrap();
        let mut args = serde_json::Map::new();
        args.insert("text".into(), "from a metadata document".into());
        let result = client
            .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
            .await
            .unwrap();
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        assert_eq!(text, "dev-user: from a metadata document");
        client.cancel().await.unwrap();
    })
    .await
    .unwrap_or_else(|_| panic!("the flow took longer than {FLOW_TIMEOUT:?}"));
}
