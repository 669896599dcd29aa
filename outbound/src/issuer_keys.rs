//! [`IssuerKeyFetcher`]: the [`JwksFetcher`] of every party whose signed assertions this server
//! accepts (trusted ID-JAG issuers, workload issuers): their discovery documents and JWK Sets,
//! through one guarded [`OutboundClient`].

use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::jose::{FetchError, JwksFetcher};

use crate::address::AddressPolicy;
use crate::client_builder::{GUARDED_USER_AGENT, OutboundClient};
use crate::url_check::check_issuer_url;

/// Connect timeout of key fetches.
pub const KEY_FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout of one key fetch.
pub const KEY_FETCH_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest accepted discovery document or JWK Set, bytes.
pub const KEY_FETCH_MAX_BODY_BYTES: usize = 256 * 1024;

/// A [`JwksFetcher`] over one [`OutboundClient`]:
/// - every URL passes [`check_issuer_url`] first: `https` naming no special-use IP literal, or
///   plain `http` only to `127.0.0.1`, `[::1]` or `localhost` when built with
///   `allow_http_loopback` (tests), which also lets names resolve to loopback;
/// - no redirects, no proxy, names resolving to special-use addresses refused
///   ([`AddressPolicy::PublicOnly`]);
/// - `GET` with `Accept: application/json`; only `200` with a JSON content type; at most
///   [`KEY_FETCH_MAX_BODY_BYTES`], within [`KEY_FETCH_TOTAL_TIMEOUT`].
#[derive(Debug, Clone)]
pub struct IssuerKeyFetcher {
    http: OutboundClient,
    allow_http_loopback: bool,
}

impl IssuerKeyFetcher {
    /// A fetcher screening every address, allowing loopback `http` when `allow_http_loopback`.
    ///
    /// # Errors
    /// [`FetchError`] when the HTTP client cannot be built.
    pub fn new(allow_http_loopback: bool) -> Result<Self, FetchError> {
        let mut builder = OutboundClient::builder()
            .timeouts(KEY_FETCH_CONNECT_TIMEOUT, KEY_FETCH_TOTAL_TIMEOUT)
            .max_body_bytes(KEY_FETCH_MAX_BODY_BYTES)
            .user_agent(GUARDED_USER_AGENT);
        if allow_http_loopback {
            builder = builder
                .addresses(AddressPolicy::PublicAndLoopback)
                .allow_http();
        }
        let http = builder
            .build()
            .map_err(|e| FetchError(format!("https client: {e}")))?;
        Ok(Self {
            http,
            allow_http_loopback,
        })
    }

    /// `url` by [`check_issuer_url`], the switch named in the error for an operator.
    fn check(&self, url: &str) -> Result<(), FetchError> {
        check_issuer_url(url, self.allow_http_loopback)
            .map(drop)
            .map_err(|e| FetchError(e.with_switch("insecure_allow_http_loopback")))
    }
}

#[async_trait]
impl JwksFetcher for IssuerKeyFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.check(url)?;
        Ok(self.http.get_json(url).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EMA-12: without the insecure switch, plain http is refused before any connection
    /// (port 9, discard, is never contacted); other hosts are refused even with it.
    #[tokio::test]
    async fn plain_http_needs_the_switch_and_loopback() {
        let strict = IssuerKeyFetcher::new(false).unwrap();
        let err = strict.fetch("http://127.0.0.1:9/jwks").await.unwrap_err();
        assert!(err.0.contains("insecure_allow_http_loopback"), "{err}");
        let loose = IssuerKeyFetcher::new(true).unwrap();
        let err = loose
            .fetch("http://k8s.example.com/jwks")
            .await
            .unwrap_err();
        assert!(err.0.contains("use https"), "{err}");
        let err = loose.fetch("https://10.1.2.3/jwks").await.unwrap_err();
        assert!(err.0.contains("special-use"), "{err}");
    }

    /// EMA-12: with the switch, only the three loopback spellings pass the URL check.
    #[test]
    fn the_switch_allows_loopback_only() {
        let fetcher = IssuerKeyFetcher::new(true).unwrap();
        assert!(fetcher.check("http://127.0.0.1:9/jwks").is_ok());
        assert!(fetcher.check("http://localhost:9/jwks").is_ok());
        assert!(fetcher.check("http://[::1]:9/jwks").is_ok());
        assert!(fetcher.check("http://127.0.0.2:9/jwks").is_err());
        assert!(fetcher.check("http://idp.example.com/jwks").is_err());
        assert!(fetcher.check("https://192.168.1.1/jwks").is_err());
        assert!(fetcher.check("ftp://idp.example.com/jwks").is_err());
    }

    /// EMA-12 / SSRF: an `https` name resolving to loopback is refused by the guarded resolver
    /// before any connection, and the error says so.
    #[tokio::test]
    async fn https_name_resolving_to_loopback_is_refused() {
        let fetcher = IssuerKeyFetcher::new(false).unwrap();
        let err = fetcher.fetch("https://localhost:9/jwks").await.unwrap_err();
        assert!(err.0.contains("host localhost resolves to"), "{err}");
    }
}
