//! Where a `private_key_jwt` client's public keys come from: its inline `jwks` or its
//! `jwks_uri` (RFC 7591 §2, spec §2.3.1 item 6, §3.7), through the one JWKS module
//! ([`mcp_auth_core::jose`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::client::Client;
use mcp_auth_core::clock::Clock;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::{
    CacheTiming, FetchError, JwksCache, JwksFetcher, KeySource, VerifyingKey,
};
use mcp_auth_core::types::is_loopback_host;

use super::AuthFailure;
use super::inline_key_sets::InlineKeySets;

/// The public keys of clients, for checking their `private_key_jwt` assertions.
///
/// (Named `ClientKeySource` so as not to be confused with the resource server's
/// `JwksSource`, which says where a trusted issuer's keys come from.)
#[async_trait]
pub trait ClientKeySource: Send + Sync {
    /// The key of `client` that verifies an assertion whose header has `alg` and `kid`
    /// ([`mcp_auth_core::jose::KeySet::select`]: by `kid`, else the only key fitting `alg`; key type, the key's `alg`
    /// and `use` must fit).
    ///
    /// # Errors
    /// `invalid_client` when the client has no keys, they cannot be obtained, or none fits; the
    /// reason is the logged source only.
    async fn key_for(
        &self,
        client: &Client,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, OAuthError>;
}

/// `invalid_client` with a key-selection or fetch failure as its logged reason.
pub(super) fn key_failure(e: impl std::fmt::Display) -> OAuthError {
    AuthFailure::invalid_client(format!("client key: {e}"))
}

/// The default [`ClientKeySource`]: the client's inline `jwks` if it has one (parsed once per
/// client and document, at most 1,024 clients kept), else its `jwks_uri` through a
/// [`JwksCache`].
///
/// Fetches ([`HttpJwksFetcher`]) use one shared HTTP client: `GET` with
/// `Accept: application/json`, no redirects followed, no proxy, connect timeout 2 s, total
/// timeout 5 s, the body read up to [`Self::MAX_BODY_BYTES`] and abandoned beyond, only status
/// 200 with a JSON content type (`application/json` or `application/…+json`) accepted. Only
/// `https` URLs are fetched, unless [`Self::insecure_allow_http_loopback`] also allows `http` to
/// a loopback host. A fetched set is used for [`Self::CACHE_TTL_SECS`] seconds of the injected
/// clock and never after (no stale keys); an unknown `kid` refetches it, and fetches of one URL
/// happen at most once per [`Self::MIN_REFETCH_INTERVAL_SECS`].
///
/// This type does not resolve and screen addresses (spec §3.3 SSRF rules); pass a guarded client
/// with [`Self::with_http_client`] where `jwks_uri` values are untrusted.
pub struct ClientJwksSource {
    cache: JwksCache,
    inline: InlineKeySets,
    allow_http_loopback: bool,
}

impl ClientJwksSource {
    /// How long a fetched set is reused, in seconds.
    pub const CACHE_TTL_SECS: i64 = 300;
    /// Least time between two fetches of one `jwks_uri`, in seconds.
    pub const MIN_REFETCH_INTERVAL_SECS: i64 = 30;
    /// Largest accepted `jwks_uri` response body, in bytes.
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    /// Connect timeout of a fetch.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// Total timeout of a fetch.
    pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

    /// A source with its own HTTP client (no redirects, no proxy, the timeouts above).
    ///
    /// # Errors
    /// The HTTP client could not be built (TLS backend initialisation failed).
    pub fn new(clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        // A registered client's `jwks_uri` is administrator configuration: any address (a
        // metadata-document client's goes through the CIMD resolver's screening client instead,
        // `with_http_client`); plain `http` only past `insecure_allow_http_loopback`'s URL check.
        let http = mcp_auth_outbound::OutboundClient::builder()
            .timeouts(Self::CONNECT_TIMEOUT, Self::TOTAL_TIMEOUT)
            .max_body_bytes(Self::MAX_BODY_BYTES)
            .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
            .allow_http()
            .build()?;
        Ok(Self::with_http_client(http.http().clone(), clock))
    }

    /// A source using `http`, which the caller has configured (it should not follow redirects).
    pub fn with_http_client(http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        let fetcher = Arc::new(HttpJwksFetcher::new(http, Self::MAX_BODY_BYTES));
        Self {
            cache: JwksCache::new(fetcher, clock).with_timing(CacheTiming {
                refresh_after: Self::CACHE_TTL_SECS,
                max_stale: Self::CACHE_TTL_SECS,
                min_refetch_interval: Self::MIN_REFETCH_INTERVAL_SECS,
            }),
            inline: InlineKeySets::default(),
            allow_http_loopback: false,
        }
    }

    /// Also fetch plain `http` URLs whose host is loopback (`127.0.0.0/8`, `localhost`, `[::1]`).
    /// For development and tests only; logs a warning.
    pub fn insecure_allow_http_loopback(mut self) -> Self {
        tracing::warn!("jwks_uri fetches over plain http to loopback hosts are allowed (insecure)");
        self.allow_http_loopback = true;
        self
    }

    fn check_url(&self, uri: &str) -> Result<(), OAuthError> {
        let url = reqwest::Url::parse(uri)
            .map_err(|_| AuthFailure::invalid_client("jwks_uri is not a URL"))?;
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "https" if !host.is_empty() => Ok(()),
            "http" if self.allow_http_loopback && is_loopback_host(host) => Ok(()),
            _ => Err(AuthFailure::invalid_client(format!(
                "jwks_uri {uri} is not an https URL"
            ))),
        }
    }
}

#[async_trait]
impl ClientKeySource for ClientJwksSource {
    async fn key_for(
        &self,
        client: &Client,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, OAuthError> {
        if let Some(inline) = &client.jwks {
            return self
                .inline
                .get_or_parse(client.client_id.as_str(), inline)
                .and_then(|set| set.select(kid, alg))
                .map_err(key_failure);
        }
        let Some(uri) = &client.jwks_uri else {
            return Err(AuthFailure::invalid_client(
                "client has neither jwks nor jwks_uri",
            ));
        };
        self.check_url(uri)?;
        self.cache
            .key(&KeySource::JwksUri(uri.clone()), kid, alg)
            .await
            .map_err(key_failure)
    }
}

impl std::fmt::Debug for ClientJwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientJwksSource")
            .field("allow_http_loopback", &self.allow_http_loopback)
            .finish_non_exhaustive()
    }
}

/// A [`JwksFetcher`] over a reqwest client the caller configured (for `jwks_uri`s of untrusted
/// clients: the SSRF-guarded client of `cimd-resolver`, handed over by [`crate::cimd::lend`]).
///
/// `GET` with `Accept: application/json`; only status 200 with a JSON content type is
/// accepted; the body is read up to a size limit and abandoned beyond it. Redirects are not
/// followed if the client does not follow them.
#[derive(Debug, Clone)]
pub struct HttpJwksFetcher {
    http: reqwest::Client,
    max_body_bytes: usize,
}

impl HttpJwksFetcher {
    /// A fetcher using `http`, accepting bodies of at most `max_body_bytes` bytes.
    pub fn new(http: reqwest::Client, max_body_bytes: usize) -> Self {
        Self {
            http,
            max_body_bytes,
        }
    }
}

#[async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let result = self.fetch_counted(url).await;
        crate::metrics::jwks_fetch(result.is_ok());
        result
    }
}

impl HttpJwksFetcher {
    /// [`JwksFetcher::fetch`], before counting it ([`crate::metrics::jwks_fetch`]).
    async fn fetch_counted(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        mcp_auth_outbound::get_json(&self.http, url, self.max_body_bytes)
            .await
            .map_err(FetchError::from)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mcp_auth_core::clock::FixedClock;
    use mcp_auth_core::error::ErrorCode;
    use mcp_auth_core::types::TokenEndpointAuthMethod;

    use super::*;
    use crate::client_auth::test_support::{NOW, client};
    use crate::keys::SigningKey;

    fn jwks_json() -> serde_json::Value {
        let key = SigningKey::from_stored(&SigningKey::generate(NOW).unwrap()).unwrap();
        serde_json::json!({"keys": [key.public_jwk(), {"kty": "unknown-kind"}]})
    }

    /// The key of `c` for an ES256 assertion without `kid`.
    async fn es256_key(
        source: &ClientJwksSource,
        c: &Client,
    ) -> Result<Arc<VerifyingKey>, OAuthError> {
        source.key_for(c, None, Algorithm::ES256).await
    }

    fn pkjwt_client() -> Client {
        client("c1", TokenEndpointAuthMethod::PrivateKeyJwt)
    }

    /// A server on 127.0.0.1 serving `body` at `/jwks.json`, counting requests.
    async fn serve(body: serde_json::Value) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let counter = counter.clone();
                let body = body.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    axum::Json(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}/jwks.json"), hits)
    }

    #[tokio::test]
    async fn inline_jwks_is_used_and_unknown_members_skipped() {
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW))).unwrap();
        let mut c = pkjwt_client();
        c.jwks = Some(jwks_json());
        c.jwks_uri = Some("https://unreachable.invalid/jwks.json".into());
        es256_key(&source, &c).await.unwrap();
    }

    #[tokio::test]
    async fn client_without_keys_is_invalid_client() {
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW))).unwrap();
        let err = es256_key(&source, &pkjwt_client()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn plain_http_jwks_uri_is_refused_without_a_request() {
        let (uri, hits) = serve(jwks_json()).await;
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW))).unwrap();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);
        let err = es256_key(&source, &c).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        assert_eq!(err.description(), "client authentication failed");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn insecure_switch_allows_only_loopback_http() {
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW)))
            .unwrap()
            .insecure_allow_http_loopback();
        assert!(source.check_url("http://127.0.0.1:9/jwks.json").is_ok());
        assert!(source.check_url("http://localhost:9/jwks.json").is_ok());
        let err = source
            .check_url("http://keys.example.com/jwks.json")
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn fetched_set_is_cached_for_300_seconds() {
        let (uri, hits) = serve(jwks_json()).await;
        let clock = Arc::new(FixedClock::new(NOW));
        let source = ClientJwksSource::new(clock.clone())
            .unwrap()
            .insecure_allow_http_loopback();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);

        es256_key(&source, &c).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        clock.advance(ClientJwksSource::CACHE_TTL_SECS - 1);
        es256_key(&source, &c).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        clock.advance(1);
        es256_key(&source, &c).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unknown_kid_refetches_the_jwks_uri_at_most_every_30_seconds() {
        let (uri, hits) = serve(jwks_json()).await;
        let clock = Arc::new(FixedClock::new(NOW));
        let source = ClientJwksSource::new(clock.clone())
            .unwrap()
            .insecure_allow_http_loopback();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);
        es256_key(&source, &c).await.unwrap();
        let unknown = || source.key_for(&c, Some("rotated-in"), Algorithm::ES256);

        clock.advance(ClientJwksSource::MIN_REFETCH_INTERVAL_SECS - 1);
        let err = unknown().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        clock.advance(1);
        unknown().await.unwrap_err();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        unknown().await.unwrap_err();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn oversized_body_is_invalid_client() {
        let padding = "x".repeat(ClientJwksSource::MAX_BODY_BYTES);
        let (uri, _) = serve(serde_json::json!({"keys": [], "pad": padding})).await;
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW)))
            .unwrap()
            .insecure_allow_http_loopback();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);
        let err = es256_key(&source, &c).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }
}
