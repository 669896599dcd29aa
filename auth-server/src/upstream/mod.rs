//! Upstream identity providers (`[[upstream_idps]]`, issue 23): users sign in through their
//! company's OpenID Provider (OpenID Connect Core §3.1, authorization code with PKCE S256,
//! RFC 9207 mix-up defence, RFC 9700).
//!
//! | part | what |
//! |---|---|
//! | [`Upstreams`] | the configured upstreams, each with its guarded client, metadata and JWKS caches |
//! | [`metadata`] | OpenID Connect Discovery 1.0 §4 metadata, checked and cached |
//! | [`attempt`] | the pending sign-in kept in a signed cookie bound to the browser |
//! | [`id_token`] | ID token verification with [`mcp_auth_core::jose`] (OIDC Core §3.1.3.7) |
//! | [`exchange`] | the token request and the userinfo call (OIDC Core §3.1.3, §5.3) |
//! | [`client_assertion`] | `client_auth = "private_key_jwt"`: the assertion signed with this server's key (RFC 7523 §2.2) |
//! | [`github`] | `kind = "github"`: GitHub's OAuth endpoints and REST API instead of an ID token |
//! | [`rules`] | `allowed_email_domains` and `required_claims` |
//!
//! Every outbound call goes through the one guarded client ([`mcp_auth_outbound`]). The
//! upstream's tokens are used once, to learn who signed in, and dropped: never stored, never
//! logged.

pub mod attempt;
pub mod client_assertion;
pub mod exchange;
pub mod github;
pub mod id_token;
pub mod metadata;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::jose::{CacheTiming, FetchError, JwksCache, JwksFetcher};
use mcp_auth_core::{Clock, Secret};
use mcp_auth_outbound::{AddressPolicy, GUARDED_USER_AGENT, OutboundClient};
use url::Url;

use crate::config::{Config, UpstreamIdpConfig};

pub use attempt::UpstreamAttempt;

/// Largest body read from an upstream (metadata, keys, token and userinfo responses), bytes.
pub const MAX_UPSTREAM_BODY_BYTES: usize = 256 * 1024;
/// Connect timeout of upstream calls.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout of one upstream call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `raw` as an upstream URL: absolute, no userinfo, no fragment, `https`, or `http` on a
/// loopback host when `allow_http_loopback`.
///
/// # Errors
/// A message naming what is wrong (the URL is configuration or metadata, never a secret).
pub fn checked_url(raw: &str, allow_http_loopback: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not an absolute URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry userinfo (user@host)".into());
    }
    if url.fragment().is_some() {
        return Err(format!("{raw} must not have a fragment"));
    }
    let loopback = url
        .host_str()
        .is_some_and(mcp_auth_core::types::is_loopback_host);
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http_loopback && loopback => Ok(url),
        "http" => Err(format!(
            "{raw} must be https (plain http only on loopback with insecure_allow_http_loopback)"
        )),
        other => Err(format!("{raw}: scheme {other} is not https")),
    }
}

/// One configured upstream: its settings, its guarded client, its metadata and key caches.
pub struct Upstream {
    pub(crate) config: UpstreamIdpConfig,
    pub(crate) http: OutboundClient,
    pub(crate) metadata: metadata::MetadataCache,
    pub(crate) jwks: JwksCache,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.config.name)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// The configured name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The text of its sign-in button.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    /// Its issuer identifier, as configured.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Its settings.
    pub fn config(&self) -> &UpstreamIdpConfig {
        &self.config
    }

    /// The client secret (checked present at start).
    pub(crate) fn client_secret(&self) -> &str {
        self.config
            .client_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default()
    }
}

/// Fetches an upstream's JWK Set through its guarded client.
struct UpstreamJwksFetcher(OutboundClient);

#[async_trait::async_trait]
impl JwksFetcher for UpstreamJwksFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let result = self.0.get_json(url).await.map_err(FetchError);
        crate::metrics::jwks_fetch(result.is_ok());
        result
    }
}

/// The configured upstreams, in configuration order.
#[derive(Debug)]
pub struct Upstreams {
    list: Vec<Upstream>,
}

impl Upstreams {
    /// The upstreams of `configs` (already checked by
    /// [`Config::check_upstream_idps`](crate::config::Config::check_upstream_idps)), each with
    /// its own guarded client: public addresses over https only, unless its
    /// `insecure_allow_http_loopback` adds plain http and loopback addresses.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(configs: &[UpstreamIdpConfig], clock: Arc<dyn Clock>) -> Result<Self, String> {
        let list = configs
            .iter()
            .map(|c| {
                let mut builder = OutboundClient::builder()
                    .timeouts(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
                    .max_body_bytes(MAX_UPSTREAM_BODY_BYTES)
                    .user_agent(GUARDED_USER_AGENT);
                if c.insecure_allow_http_loopback {
                    builder = builder
                        .addresses(AddressPolicy::PublicAndLoopback)
                        .allow_http();
                }
                let http = builder.build().map_err(|e| e.to_string())?;
                let fetcher = Arc::new(UpstreamJwksFetcher(http.clone()));
                let jwks =
                    JwksCache::new(fetcher, clock.clone()).with_timing(CacheTiming::default());
                Ok(Upstream {
                    config: c.clone().with_defaults(),
                    http,
                    metadata: metadata::MetadataCache::default(),
                    jwks,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { list })
    }

    /// The upstreams of `config`, or `None` when it has none.
    ///
    /// # Errors
    /// A configuration problem ([`Config::check_upstream_idps`]) or the client failing to build.
    pub fn from_config(
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Arc<Self>>, String> {
        config.check_upstream_idps().map_err(|e| e.to_string())?;
        if config.upstream_idps.is_empty() {
            return Ok(None);
        }
        Self::new(&config.upstream_idps, clock).map(|u| Some(Arc::new(u)))
    }

    /// The upstream named `name`.
    pub fn get(&self, name: &str) -> Option<&Upstream> {
        self.list.iter().find(|u| u.config.name == name)
    }

    /// Every upstream, in configuration order.
    pub fn all(&self) -> &[Upstream] {
        &self.list
    }
}
