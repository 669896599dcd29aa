//! A `client_credentials` token provider for Rust programs that call MCP servers (feature
//! `client`).
//!
//! [`TokenProvider`] discovers the authorization server from the MCP server's protected resource
//! metadata (RFC 9728) and the server's metadata (RFC 8414), obtains an access token with the
//! `client_credentials` grant (RFC 6749 §4.4) through the [`oauth2`] crate, and caches it until
//! shortly before it expires. It authenticates with `client_secret_basic`, `client_secret_post`
//! or `private_key_jwt` (RFC 7523, ES256 assertions from [`Es256Key`]).
//!
//! It plugs into reqwest with [`TokenProvider::authorize`] (adds `Authorization: Bearer …` to a
//! `RequestBuilder`) or [`TokenProvider::authorization_header`]. After a 401 from the MCP server,
//! call [`TokenProvider::invalidate`] and retry once.
//!
//! ```no_run
//! use mcp_auth_ext_client_credentials::provider::{ClientAuth, TokenProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = TokenProvider::builder(
//!     "https://mcp.example.com/mcp",
//!     ClientAuth::secret_basic("svc-reporter", std::env::var("CLIENT_SECRET")?),
//! )
//! .scope("mcp:basic reports:read")
//! .discover()
//! .await?;
//! let http = reqwest::Client::new();
//! let res = provider
//!     .authorize(http.post("https://mcp.example.com/mcp"))
//!     .await?
//!     .send()
//!     .await?;
//! # let _ = res;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::{Clock, Secret, SystemClock, UnixTime};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use reqwest::header::HeaderValue;
use tokio::sync::Mutex;

/// Why the provider could not discover the authorization server or obtain a token (the shared
/// client-side error of `mcp-auth-outbound`).
pub use mcp_auth_outbound::client::ClientError as ProviderError;
pub use mcp_auth_outbound::client::{
    CLIENT_ASSERTION_TYPE, ClientAuth, Discovery, Es256Key, discover, discover_for_grant,
    well_known_url,
};

/// A cached access token.
#[derive(Clone)]
struct Cached {
    token: Secret,
    /// When to fetch a new one, seconds since the epoch.
    refresh_at: UnixTime,
}

struct Inner {
    discovery: Discovery,
    auth: ClientAuth,
    scope: Option<String>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    refresh_margin_secs: i64,
    assertion_lifetime_secs: i64,
    cache: Mutex<Option<Cached>>,
}

/// Obtains and caches `client_credentials` access tokens for one MCP server. Cheap to clone;
/// clones share the cache.
///
/// Cache rule: a token with `expires_in` = *L* seconds is reused until *L* − min(margin, *L*/2)
/// seconds after it was obtained (margin default 60 s, [`TokenProviderBuilder::refresh_margin`]);
/// a response without `expires_in` is reused for 60 s at most under the same rule. Concurrent
/// callers wait for one token request instead of each sending their own.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("discovery", &self.inner.discovery)
            .field("client_id", &self.inner.auth.client_id())
            .field("method", &self.inner.auth.method())
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenProvider`]; ends in [`TokenProviderBuilder::discover`] or
/// [`TokenProviderBuilder::with_discovery`].
pub struct TokenProviderBuilder {
    resource_url: String,
    auth: ClientAuth,
    scope: Option<String>,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
    refresh_margin_secs: i64,
    assertion_lifetime_secs: i64,
}

impl std::fmt::Debug for TokenProviderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProviderBuilder")
            .field("resource_url", &self.resource_url)
            .field("client_id", &self.auth.client_id())
            .field("method", &self.auth.method())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// Start building a provider for the MCP server at `resource_url` (its canonical URI, e.g.
    /// `https://mcp.example.com/mcp`).
    pub fn builder(resource_url: impl Into<String>, auth: ClientAuth) -> TokenProviderBuilder {
        TokenProviderBuilder {
            resource_url: resource_url.into(),
            auth,
            scope: None,
            clock: None,
            http: None,
            refresh_margin_secs: 60,
            assertion_lifetime_secs: 60,
        }
    }

    /// What discovery found.
    pub fn discovery(&self) -> &Discovery {
        &self.inner.discovery
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    ///
    /// # Errors
    /// [`ProviderError::Refused`] with the server's OAuth error, [`ProviderError::Request`],
    /// [`ProviderError::Key`].
    pub async fn access_token(&self) -> Result<Secret, ProviderError> {
        let inner = &self.inner;
        let mut cache = inner.cache.lock().await;
        let now = inner.clock.now();
        if let Some(c) = cache.as_ref()
            && now < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.request_token(now).await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// `Bearer <token>` as a header value marked sensitive (RFC 6750 §2.1).
    ///
    /// # Errors
    /// As [`TokenProvider::access_token`]; [`ProviderError::Request`] if the token is not a
    /// valid header value.
    pub async fn authorization_header(&self) -> Result<HeaderValue, ProviderError> {
        let token = self.access_token().await?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| ProviderError::Request("access token is not a header value".into()))?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `request` with `Authorization: Bearer <token>`.
    ///
    /// # Errors
    /// As [`TokenProvider::authorization_header`].
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let value = self.authorization_header().await?;
        Ok(request.header(reqwest::header::AUTHORIZATION, value))
    }

    /// Forget the cached token (e.g. after the MCP server answered 401), so the next call
    /// obtains a new one.
    pub async fn invalidate(&self) {
        *self.inner.cache.lock().await = None;
    }

    async fn request_token(&self, now: UnixTime) -> Result<Cached, ProviderError> {
        let inner = &self.inner;
        let d = &inner.discovery;
        let token_url = TokenUrl::new(d.token_endpoint.clone())
            .map_err(|e| ProviderError::InvalidUrl(format!("{}: {e}", d.token_endpoint)))?;
        let mut client = BasicClient::new(ClientId::new(inner.auth.client_id().to_owned()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        let mut assertion = None;
        match &inner.auth {
            ClientAuth::SecretBasic { secret, .. } => {
                client = client
                    .set_auth_type(AuthType::BasicAuth)
                    .set_client_secret(ClientSecret::new(secret.expose().to_owned()));
            }
            ClientAuth::SecretPost { secret, .. } => {
                client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
            }
            ClientAuth::PrivateKeyJwt { client_id, key } => {
                assertion = Some(key.assertion(
                    client_id,
                    &d.issuer,
                    now,
                    inner.assertion_lifetime_secs,
                )?);
            }
            other => {
                return Err(ProviderError::Unsupported(format!(
                    "the {} client authentication method",
                    other.method()
                )));
            }
        }
        let mut request = client
            .exchange_client_credentials()
            .add_extra_param("resource", d.resource.clone());
        if let Some(scope) = &inner.scope {
            request = request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.into())));
        }
        if let Some(a) = assertion {
            request = request
                .add_extra_param("client_assertion_type", CLIENT_ASSERTION_TYPE)
                .add_extra_param("client_assertion", a);
        }
        let response = request
            .request_async(&inner.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => ProviderError::Refused {
                    error: r.error().to_string(),
                    description: r.error_description().cloned(),
                },
                other => ProviderError::Request(other.to_string()),
            })?;
        let lifetime = response
            .expires_in()
            .map_or(60, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let margin = inner.refresh_margin_secs.min(lifetime / 2);
        Ok(Cached {
            token: Secret::new(response.access_token().secret().clone()),
            refresh_at: now.saturating_add(lifetime - margin),
        })
    }
}

impl TokenProviderBuilder {
    /// Request these scopes (space-separated); default: none, so the server grants the
    /// client's default scopes.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Use this clock (tests: [`mcp_auth_core::FixedClock`]); default [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Use this HTTP client. It should not follow redirects. Default: no redirects, connect
    /// timeout 5 s, total timeout 30 s.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Fetch a new token this long before the cached one expires (at most half its lifetime);
    /// default 60 s.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin_secs = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Lifetime of `private_key_jwt` assertions (`exp` − `iat`), 1 to 300 s; default 60 s.
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.assertion_lifetime_secs = i64::try_from(lifetime.as_secs())
            .unwrap_or(300)
            .clamp(1, 300);
        self
    }

    fn http(&self) -> Result<reqwest::Client, ProviderError> {
        match &self.http {
            Some(h) => Ok(h.clone()),
            None => mcp_auth_outbound::OutboundClient::builder()
                .timeouts(Duration::from_secs(5), Duration::from_secs(30))
                .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
                .allow_http()
                .env_proxy()
                .build()
                .map(|c| c.http().clone())
                .map_err(|e| ProviderError::Request(e.to_string())),
        }
    }

    /// Discover the authorization server ([`discover`]) and build the provider. No token is
    /// requested yet.
    ///
    /// # Errors
    /// As [`discover`]; [`ProviderError::Unsupported`] when the server lists its auth methods
    /// and the client's is not among them.
    pub async fn discover(self) -> Result<TokenProvider, ProviderError> {
        let http = self.http()?;
        let discovery = discover(&http, &self.resource_url).await?;
        self.with_discovery(discovery, http)
    }

    /// Build the provider from an already known [`Discovery`] (no network).
    ///
    /// # Errors
    /// [`ProviderError::Unsupported`] when `discovery.auth_methods` is non-empty and lacks the
    /// client's method; [`ProviderError::InvalidUrl`] for an insecure token endpoint.
    pub fn with_discovery(
        self,
        discovery: Discovery,
        http: reqwest::Client,
    ) -> Result<TokenProvider, ProviderError> {
        let method = self.auth.method();
        if !discovery.auth_methods.is_empty() && !discovery.auth_methods.iter().any(|m| m == method)
        {
            return Err(ProviderError::Unsupported(format!(
                "token endpoint authentication {method}"
            )));
        }
        mcp_auth_outbound::client::checked_url(&discovery.token_endpoint)?;
        Ok(TokenProvider {
            inner: Arc::new(Inner {
                discovery,
                auth: self.auth,
                scope: self.scope,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                http,
                refresh_margin_secs: self.refresh_margin_secs.max(0),
                assertion_lifetime_secs: self.assertion_lifetime_secs,
                cache: Mutex::new(None),
            }),
        })
    }
}
