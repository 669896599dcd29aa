//! Client helpers for Cross App Access (feature `client`; spec §6.2).
//!
//! | leg | function | what |
//! |---|---|---|
//! | 1 | [`request_id_jag`] with an [`IdJagRequest`] | RFC 8693 token exchange at the enterprise IdP: the user's ID token for an [`IdJag`] whose audience is the MCP authorization server |
//! | 2 | [`discover`], then [`redeem_id_jag`] | find the MCP authorization server through the MCP server's RFC 9728 metadata and its RFC 8414 metadata, then the RFC 7523 JWT bearer grant: the ID-JAG for an [`AccessToken`] |
//! | both | [`XaaClient`] | discovery once, then both legs per access token |
//!
//! Client authentication, at the IdP and at the MCP authorization server (two separate
//! registrations), uses [`ClientAuth`] of `mcp-auth-ext-client-credentials`:
//! `client_secret_basic`, `client_secret_post`, or `private_key_jwt` with an
//! [`mcp_auth_outbound::client::Es256Key`].
//!
//! ID-JAGs and access tokens are [`mcp_auth_core::Secret`]s: `Debug` prints `[redacted]`, and
//! errors never carry them.
//!
//! ```no_run
//! use mcp_auth_core::Secret;
//! use mcp_auth_outbound::client::ClientAuth;
//! use mcp_auth_ext_xaa::client::{IdpEndpoint, XaaClient};
//!
//! # async fn run(id_token: Secret) -> Result<(), Box<dyn std::error::Error>> {
//! let client = XaaClient::discover(
//!     "https://mcp.example.com/mcp",
//!     IdpEndpoint::new("https://acme.idp.example/oauth2/token"),
//!     ClientAuth::secret_basic("client-at-idp", std::env::var("IDP_SECRET")?),
//!     ClientAuth::secret_basic("client-at-mcp-as", std::env::var("AS_SECRET")?),
//! )
//! .await?;
//! let token = client.access_token(&id_token, Some("files:read")).await?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

mod auth;
mod error;
mod exchange;
mod http;
mod redeem;

use std::sync::Arc;

use mcp_auth_core::{Clock, Secret, SystemClock};
pub use mcp_auth_outbound::client::ClientAuth;

pub use error::{ClientError, XaaClientError};
pub use exchange::{
    ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, IdJag, IdJagRequest, SAML2_TOKEN_TYPE, TOKEN_EXCHANGE,
    request_id_jag,
};
pub use http::default_http_client;
pub use redeem::{AccessToken, JWT_BEARER, McpAuthServer, discover, redeem_id_jag};

/// The enterprise IdP's token endpoint, and the `aud` of `private_key_jwt` assertions sent to
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpEndpoint {
    /// The IdP's token endpoint.
    pub token_endpoint: String,
    /// `aud` of client assertions (the IdP's issuer); default: the token endpoint.
    pub assertion_audience: Option<String>,
}

impl IdpEndpoint {
    /// The IdP token endpoint `token_endpoint`.
    pub fn new(token_endpoint: impl Into<String>) -> Self {
        Self {
            token_endpoint: token_endpoint.into(),
            assertion_audience: None,
        }
    }

    /// Sign client assertions for `audience` (the IdP issuer).
    pub fn assertion_audience(mut self, audience: impl Into<String>) -> Self {
        self.assertion_audience = Some(audience.into());
        self
    }
}

/// Both legs for one MCP server: discovery once ([`XaaClient::discover`]), then
/// [`XaaClient::access_token`] per token (a fresh ID-JAG each time: ID-JAGs are single-use).
pub struct XaaClient {
    http: reqwest::Client,
    server: McpAuthServer,
    idp: IdpEndpoint,
    idp_auth: ClientAuth,
    as_auth: ClientAuth,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for XaaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XaaClient")
            .field("server", &self.server)
            .field("idp", &self.idp)
            .field("idp_client_id", &self.idp_auth.client_id())
            .field("as_client_id", &self.as_auth.client_id())
            .finish_non_exhaustive()
    }
}

impl XaaClient {
    /// Discover the authorization server of the MCP server at `resource_url` ([`discover`])
    /// with [`default_http_client`].
    ///
    /// # Errors
    /// As [`discover`].
    pub async fn discover(
        resource_url: &str,
        idp: IdpEndpoint,
        idp_auth: ClientAuth,
        as_auth: ClientAuth,
    ) -> Result<Self, XaaClientError> {
        let http = default_http_client()?;
        let server = discover(&http, resource_url).await?;
        Ok(Self::with_server(http, server, idp, idp_auth, as_auth))
    }

    /// A client for an already discovered `server`, using `http` (which should not follow
    /// redirects).
    pub fn with_server(
        http: reqwest::Client,
        server: McpAuthServer,
        idp: IdpEndpoint,
        idp_auth: ClientAuth,
        as_auth: ClientAuth,
    ) -> Self {
        Self {
            http,
            server,
            idp,
            idp_auth,
            as_auth,
            clock: Arc::new(SystemClock),
        }
    }

    /// Use `clock` for client assertion times (tests: [`mcp_auth_core::FixedClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What discovery found.
    pub fn server(&self) -> &McpAuthServer {
        &self.server
    }

    /// Leg 1 for this MCP server: an ID-JAG for the user of `id_token`, with `audience` = the
    /// discovered issuer, `resource` = the MCP server, and `scope` when given.
    ///
    /// # Errors
    /// As [`request_id_jag`].
    pub async fn id_jag(
        &self,
        id_token: &Secret,
        scope: Option<&str>,
    ) -> Result<IdJag, XaaClientError> {
        let mut request = IdJagRequest::new(
            self.idp.token_endpoint.clone(),
            self.server.issuer.clone(),
            id_token.clone(),
        )
        .resource(self.server.resource.clone());
        request.assertion_audience = self.idp.assertion_audience.clone();
        if let Some(s) = scope {
            request = request.scope(s);
        }
        request_id_jag(&self.http, &self.idp_auth, &request, self.clock.now()).await
    }

    /// Both legs: an ID-JAG from the IdP, redeemed at the MCP authorization server.
    ///
    /// # Errors
    /// As [`request_id_jag`] and [`redeem_id_jag`].
    pub async fn access_token(
        &self,
        id_token: &Secret,
        scope: Option<&str>,
    ) -> Result<AccessToken, XaaClientError> {
        let id_jag = self.id_jag(id_token, scope).await?;
        self.redeem(&id_jag, None).await
    }

    /// Leg 2 for this MCP server: redeem `id_jag`, optionally narrowing to `scope`.
    ///
    /// # Errors
    /// As [`redeem_id_jag`].
    pub async fn redeem(
        &self,
        id_jag: &IdJag,
        scope: Option<&str>,
    ) -> Result<AccessToken, XaaClientError> {
        redeem_id_jag(
            &self.http,
            &self.as_auth,
            &self.server,
            id_jag,
            scope,
            self.clock.now(),
        )
        .await
    }
}
