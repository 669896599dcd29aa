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
use mcp_auth_outbound::{
    AddressPolicy, GUARDED_USER_AGENT, OutboundClient, OutboundError, UrlError, UrlRules,
};
use url::Url;

use crate::config::{Config, UpstreamIdpConfig};

pub use attempt::UpstreamAttempt;

/// Largest body read from an upstream (metadata, keys, token and userinfo responses), bytes.
pub const MAX_UPSTREAM_BODY_BYTES: usize = 256 * 1024;
/// Connect timeout of upstream calls.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout of one upstream call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The addresses an upstream's guarded client may connect to: public ones, plus loopback with
/// the `insecure_allow_http_loopback` test switch.
fn address_policy(allow_http_loopback: bool) -> AddressPolicy {
    if allow_http_loopback {
        AddressPolicy::PublicAndLoopback
    } else {
        AddressPolicy::PublicOnly
    }
}

/// `raw` as an upstream URL ([`mcp_auth_outbound::check_configured_url`]): absolute, no
/// userinfo, no fragment, `https` naming no IP literal the upstream's client would refuse, or
/// `http` on a loopback host when `allow_http_loopback`.
///
/// # Errors
/// The [`UrlError`] found (it names the URL, which is configuration or metadata, never a secret).
pub fn checked_url(raw: &str, allow_http_loopback: bool) -> Result<Url, UrlError> {
    mcp_auth_outbound::check_configured_url(
        raw,
        UrlRules {
            allow_http_loopback,
            addresses: address_policy(allow_http_loopback),
        },
    )
}

/// Why upstreams could not be set up, or an upstream's metadata could not be had. For logs and
/// start-up errors; never holds a secret or a response body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// `[[upstream_idps]]` breaks a rule ([`Config::check_upstream_idps`]).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An upstream's HTTP client could not be built (TLS backend).
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// An endpoint URL (configured, derived or from metadata) is unusable.
    #[error("{field}: {source}")]
    Url {
        /// Which endpoint (`authorization_endpoint`, `jwks_uri`…).
        field: &'static str,
        /// Why.
        source: UrlError,
    },
    /// The metadata document could not be fetched.
    #[error("fetching {url}: {source}")]
    Fetch {
        /// The metadata URL.
        url: String,
        /// Why.
        source: OutboundError,
    },
    /// The metadata document is not the JSON object OpenID Connect Discovery 1.0 §3 describes.
    #[error("metadata of {url}: {reason}")]
    Metadata {
        /// The metadata URL.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// The metadata names another issuer than the configured one (OIDC Discovery §4.3).
    #[error("metadata names issuer {found:?}, not {configured:?}")]
    IssuerMismatch {
        /// The `issuer` in the document.
        found: String,
        /// The configured issuer.
        configured: String,
    },
}

impl UpstreamError {
    /// [`UpstreamError::Url`] for `field`.
    pub(crate) fn url(field: &'static str) -> impl FnOnce(UrlError) -> Self {
        move |source| Self::Url { field, source }
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
        let result = self.0.get_json(url).await.map_err(FetchError::from);
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
    /// [`UpstreamError::Client`]: the HTTP client could not be built.
    pub fn new(
        configs: &[UpstreamIdpConfig],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UpstreamError> {
        let list = configs
            .iter()
            .map(|c| {
                let mut builder = OutboundClient::builder()
                    .timeouts(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
                    .max_body_bytes(MAX_UPSTREAM_BODY_BYTES)
                    .user_agent(GUARDED_USER_AGENT);
                builder = builder.addresses(address_policy(c.insecure_allow_http_loopback));
                if c.insecure_allow_http_loopback {
                    builder = builder.allow_http();
                }
                let http = builder.build().map_err(UpstreamError::Client)?;
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
            .collect::<Result<Vec<_>, UpstreamError>>()?;
        Ok(Self { list })
    }

    /// The upstreams of `config`, or `None` when it has none.
    ///
    /// # Errors
    /// [`UpstreamError::Config`] ([`Config::check_upstream_idps`]) or
    /// [`UpstreamError::Client`].
    pub fn from_config(
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Arc<Self>>, UpstreamError> {
        config.check_upstream_idps()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream URL (configured, or named by the upstream's metadata) may not name an IP
    /// literal its guarded client would refuse: IP literals never reach the screening resolver,
    /// so `https://169.254.169.254/…` in metadata is refused here, before any request.
    #[test]
    fn special_use_ip_literals_are_refused_by_the_clients_policy() {
        for raw in [
            "https://169.254.169.254/userinfo",
            "https://10.0.0.1/token",
            "https://[fd00::1]/jwks",
            "https://127.0.0.1/token",
        ] {
            assert!(
                matches!(checked_url(raw, false), Err(UrlError::SpecialUse { .. })),
                "{raw}"
            );
        }
        assert!(checked_url("https://127.0.0.1/token", true).is_ok());
        assert!(checked_url("https://10.0.0.1/token", true).is_err());
        assert!(checked_url("https://idp.example.com/token", false).is_ok());
    }

    /// Userinfo, fragments, other schemes and plain http off loopback are refused.
    #[test]
    fn odd_upstream_urls_are_refused() {
        for raw in [
            "https://user:pw@idp.example.com/",
            "https://idp.example.com/#f",
            "ftp://idp.example.com/",
            "http://idp.example.com/",
            "idp.example.com",
        ] {
            assert!(checked_url(raw, true).is_err(), "{raw}");
        }
        assert!(matches!(
            checked_url("http://127.0.0.1:9/", false),
            Err(UrlError::PlainHttp(_))
        ));
        assert!(checked_url("http://127.0.0.1:9/", true).is_ok());
    }
}
