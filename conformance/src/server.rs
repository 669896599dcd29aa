//! An in-process `mcp-auth-server` for tests (cargo feature `server`): in-memory stores, a fixed
//! clock, a deterministic secret generator, and the real router driven with
//! `tower::ServiceExt::oneshot` (no socket). Extensions are added through the builder, so an
//! extension crate tests its grant against the real token endpoint in a few lines.
//!
//! ```
//! use mcp_auth_conformance::server::{InProcessServer, resources, settings};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_auth_conformance::KitError> {
//! let registry = resources(&[("https://mcp.example.com/mcp", "mcp:basic", "mcp:basic")], None)?;
//! let h = InProcessServer::start(settings("https://auth.example.com", registry)?, |b| b).await?;
//! let res = h.get("/.well-known/oauth-authorization-server").await;
//! assert_eq!(res.status, 200);
//! assert_eq!(res.json()["issuer"], "https://auth.example.com");
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::secret::SequentialSecretGenerator;
use mcp_auth_core::store::Stores;
use mcp_auth_core::{
    Client, ClientSecretHash, ClientSource, FixedClock, GrantType, TokenEndpointAuthMethod,
    TokenHash, UnixTime,
};
use mcp_auth_server::{
    AuthorizationServer, AuthorizationServerBuilder, HttpOptions, ServerSettings, router,
};
use tower::ServiceExt;

use crate::KitError;

/// The fixed time the fixture's clock starts at: 2027-01-15T08:00:00Z, seconds since the epoch.
pub const FIXED_NOW: UnixTime = 1_800_000_000;

/// The session cookie master secret of the fixture's router (64 bytes of `9`).
pub const SESSION_SECRET: [u8; 64] = [9u8; 64];

/// An authorization server running in the test's own process.
pub struct InProcessServer {
    /// The engine, for calling its methods directly.
    pub server: AuthorizationServer,
    /// Its router (every route, with the session secret [`SESSION_SECRET`]).
    pub app: Router,
    /// The clock, starting at [`FIXED_NOW`]; advance it to expire things.
    pub clock: Arc<FixedClock>,
    /// The in-memory stores, to provision clients and users directly.
    pub stores: Stores,
}

impl std::fmt::Debug for InProcessServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A response read to the end: status, headers and the body as text.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as UTF-8 (lossy).
    pub body: String,
}

impl TestResponse {
    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON (the message shows it).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The value of header `name`.
    ///
    /// # Panics
    /// When the header is missing or not visible ASCII.
    pub fn header(&self, name: &str) -> &str {
        self.header_value(name)
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// The value of header `name`, if present and visible ASCII.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header as a URL.
    ///
    /// # Panics
    /// When it is missing or not an absolute URL.
    pub fn location(&self) -> url::Url {
        url::Url::parse(self.header("location")).unwrap_or_else(|e| panic!("Location: {e}"))
    }

    /// The `error` member of a JSON error body (RFC 6749 §5.2), or `""`.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// The claims of the `access_token` of a JSON token response, unverified.
    ///
    /// # Panics
    /// When the body has no `access_token` or it is not a compact JWT.
    pub fn access_token_claims(&self) -> serde_json::Value {
        let json = self.json();
        let token = json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {}", self.body));
        jwt_parts(token).1
    }
}

impl InProcessServer {
    /// Build a server over `settings` with in-memory stores, a [`FixedClock`] at [`FIXED_NOW`]
    /// and a [`SequentialSecretGenerator`]; `customize` may add extensions or plug-ins to the
    /// builder. Nothing is provisioned: put clients and users into [`InProcessServer::stores`].
    ///
    /// # Errors
    /// [`KitError::Server`] when the builder or the router refuses (a wiring mistake).
    pub async fn start(
        settings: ServerSettings,
        customize: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
    ) -> Result<Self, KitError> {
        Self::start_at(settings, FIXED_NOW, customize).await
    }

    /// [`InProcessServer::start`] with the clock fixed at `now` (seconds since the epoch), e.g.
    /// the real time when a peer checks the tokens' `exp` against its own clock.
    ///
    /// # Errors
    /// [`KitError::Server`] when the builder or the router refuses (a wiring mistake).
    pub async fn start_at(
        settings: ServerSettings,
        now: UnixTime,
        customize: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
    ) -> Result<Self, KitError> {
        let stores = Stores::in_memory();
        let clock = Arc::new(FixedClock::new(now));
        let server = customize(AuthorizationServer::builder(settings, stores.clone()))
            .clock(clock.clone())
            .secrets(Arc::new(SequentialSecretGenerator::default()))
            .build()
            .await
            .map_err(|e| KitError::Server(e.to_string()))?;
        let app = router(
            server.clone(),
            HttpOptions {
                session_secret: SESSION_SECRET.to_vec(),
            },
        )
        .map_err(|e| KitError::Server(e.to_string()))?;
        Ok(Self {
            server,
            app,
            clock,
            stores,
        })
    }

    /// Send `req` through the router and read the whole response. Without a `ConnectInfo`
    /// extension on `req`, every request shares one source address.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = match self.app.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("reading the response body: {e}"));
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET uri`.
    ///
    /// # Panics
    /// The request helpers panic when `uri` or a header value is malformed.
    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(with_body(request("GET", uri), Body::empty()))
            .await
    }

    /// `GET uri` with a `Cookie` header.
    pub async fn get_with_cookie(&self, uri: &str, cookie: &str) -> TestResponse {
        let req = request("GET", uri).header("cookie", cookie);
        self.send(with_body(req, Body::empty())).await
    }

    /// `POST uri` with a form body and, optionally, an `Authorization` header.
    pub async fn post_form(
        &self,
        uri: &str,
        body: &str,
        authorization: Option<&str>,
    ) -> TestResponse {
        let mut req =
            request("POST", uri).header("content-type", "application/x-www-form-urlencoded");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        self.send(with_body(req, Body::from(body.to_owned()))).await
    }

    /// `POST uri` with a form body and a `Cookie` header.
    pub async fn post_form_with_cookie(&self, uri: &str, body: &str, cookie: &str) -> TestResponse {
        let req = request("POST", uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie);
        self.send(with_body(req, Body::from(body.to_owned()))).await
    }

    /// `POST uri` with a JSON body.
    pub async fn post_json(&self, uri: &str, body: &serde_json::Value) -> TestResponse {
        let req = request("POST", uri).header("content-type", "application/json");
        self.send(with_body(req, Body::from(body.to_string())))
            .await
    }

    /// Serve the router on `listener` (bind it to `127.0.0.1:0` first, to know the issuer
    /// before the settings name it) with connection info, until the test's runtime ends.
    pub fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.app.clone();
        tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                panic!("the in-process authorization server stopped: {e}");
            }
        })
    }

    /// `POST /token` with a form body and, optionally, an `Authorization` header.
    pub async fn token(&self, body: &str, authorization: Option<&str>) -> TestResponse {
        self.post_form("/token", body, authorization).await
    }
}

fn request(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

/// `req` with `body`.
///
/// # Panics
/// When the request line or a header is malformed (a mistake in the test itself).
fn with_body(req: axum::http::request::Builder, body: Body) -> Request<Body> {
    req.body(body)
        .unwrap_or_else(|e| panic!("malformed test request: {e}"))
}

/// A [`ResourceRegistry`] of `(resource, scopes_supported, default_scopes)` entries, with an
/// optional default resource.
///
/// # Errors
/// [`KitError::Server`] naming a malformed resource, scope or default.
pub fn resources(
    entries: &[(&str, &str, &str)],
    default_resource: Option<&str>,
) -> Result<ResourceRegistry, KitError> {
    let bad =
        |what: &str, e: mcp_auth_core::ParseError| KitError::Server(format!("{what}: {}", e.0));
    let mut list = Vec::with_capacity(entries.len());
    for (resource, scopes, defaults) in entries {
        list.push(ProtectedResource {
            resource: resource.parse().map_err(|e| bad(resource, e))?,
            scopes_supported: scopes.parse().map_err(|e| bad(scopes, e))?,
            default_scopes: defaults.parse().map_err(|e| bad(defaults, e))?,
            access_token_ttl: None,
        });
    }
    let default_resource = default_resource
        .map(|d| d.parse().map_err(|e| bad(d, e)))
        .transpose()?;
    ResourceRegistry::new(list, default_resource).map_err(|e| KitError::Server(e.to_string()))
}

/// [`ServerSettings`] for `issuer` and `resources`, with the engine's defaults.
///
/// # Errors
/// [`KitError::Server`] when `issuer` is not a valid issuer identifier.
pub fn settings(issuer: &str, resources: ResourceRegistry) -> Result<ServerSettings, KitError> {
    let issuer = issuer
        .parse()
        .map_err(|e: mcp_auth_core::ParseError| KitError::Server(format!("issuer: {}", e.0)))?;
    Ok(ServerSettings::new(issuer, resources))
}

/// An operator-provisioned client ([`ClientSource::Admin`]) with `method`, its secret hashed
/// when given, allowed `grants`, registered for `redirect_uris`, issued at [`FIXED_NOW`].
///
/// # Panics
/// When `id`, a grant or a redirect URI is malformed (a mistake in the test itself).
pub fn client(
    id: &str,
    method: TokenEndpointAuthMethod,
    secret: Option<&str>,
    grants: &[&str],
    redirect_uris: &[&str],
) -> Client {
    Client {
        client_id: id
            .parse()
            .unwrap_or_else(|e| panic!("client id {id}: {e:?}")),
        client_name: Some(format!("{id} name")),
        redirect_uris: redirect_uris
            .iter()
            .map(|r| {
                r.parse()
                    .unwrap_or_else(|e| panic!("redirect URI {r}: {e:?}"))
            })
            .collect(),
        grant_types: grants.iter().map(|g| GrantType::new(*g)).collect(),
        token_endpoint_auth_method: method,
        token_endpoint_auth_methods: Vec::new(),
        secrets: secret
            .map(|s| {
                vec![ClientSecretHash {
                    hash: TokenHash::of(s).as_str().to_owned(),
                    expires_at: None,
                }]
            })
            .unwrap_or_default(),
        jwks: None,
        jwks_uri: None,
        scope: None,
        client_id_issued_at: FIXED_NOW,
        resources: None,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: false,
    }
}

/// `s` percent-encoded for a form body or query (`application/x-www-form-urlencoded`).
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `Authorization` header of `client_secret_basic` (RFC 6749 §2.3.1: id and secret
/// form-encoded, then Base64).
pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The `(header, claims)` of a compact JWT, unverified.
///
/// # Panics
/// When `token` is not three base64url parts with JSON in the first two.
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let decode = |part: Option<&str>| -> serde_json::Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.unwrap_or_default())
            .unwrap_or_else(|e| panic!("not base64url ({e}): {token}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {token}"))
    };
    let mut parts = token.split('.');
    let header = decode(parts.next());
    let claims = decode(parts.next());
    (header, claims)
}
