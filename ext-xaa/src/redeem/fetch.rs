//! [`IdpKeyFetcher`]: the one piece of I/O of the redeeming side, fetching trusted IdPs'
//! metadata and JWK Sets for the [`mcp_auth_core::jose::JwksCache`] (spec §6.5 V8, EMA-12).

use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::jose::{FetchError, JwksFetcher};
use mcp_auth_outbound::{AddressPolicy, OutboundClient};

use super::config::check_url;

/// Connect timeout of key fetches.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout of one key fetch.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest accepted metadata or JWK Set body, bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A [`JwksFetcher`] for trusted IdPs' keys, through one [`OutboundClient`].
///
/// - `https` URLs: certificate validation, no redirects, no proxy, names resolving to
///   special-use addresses refused ([`mcp_auth_outbound::AddressPolicy::PublicOnly`]);
///   IP-literal hosts in the special-use ranges are refused before any connection.
/// - plain `http` only to `127.0.0.1`, `[::1]` or `localhost`, and only when built with
///   `allow_http_loopback` (tests; EMA-12), which also lets names resolve to loopback.
/// - `GET` with `Accept: application/json`; only `200` with a JSON content type; the body is
///   read up to [`MAX_BODY_BYTES`] and abandoned beyond; [`TOTAL_TIMEOUT`] per fetch.
#[derive(Debug, Clone)]
pub struct IdpKeyFetcher {
    http: OutboundClient,
    allow_http_loopback: bool,
}

impl IdpKeyFetcher {
    /// A fetcher screening every address, allowing loopback `http` when
    /// `allow_http_loopback`.
    ///
    /// # Errors
    /// [`FetchError`] when the HTTP client cannot be built.
    pub fn new(allow_http_loopback: bool) -> Result<Self, FetchError> {
        let mut builder = OutboundClient::builder()
            .timeouts(CONNECT_TIMEOUT, TOTAL_TIMEOUT)
            .max_body_bytes(MAX_BODY_BYTES)
            .user_agent(mcp_auth_outbound::GUARDED_USER_AGENT);
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

    fn check(&self, url: &str) -> Result<(), FetchError> {
        check_url(url, self.allow_http_loopback)
            .map(drop)
            .map_err(FetchError)
    }
}

#[async_trait]
impl JwksFetcher for IdpKeyFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.check(url)?;
        Ok(self.http.get_json(url).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EMA-12: without the insecure switch, plain http is refused before any connection
    /// (port 9, discard, is never contacted).
    #[tokio::test]
    async fn plain_http_is_refused_without_the_switch() {
        let fetcher = IdpKeyFetcher::new(false).unwrap();
        let err = fetcher.fetch("http://127.0.0.1:9/jwks").await.unwrap_err();
        assert!(err.0.contains("insecure_allow_http_loopback"), "{err}");
    }

    /// EMA-12: with the switch, only the three loopback spellings pass the URL check.
    #[test]
    fn the_switch_allows_loopback_only() {
        let fetcher = IdpKeyFetcher::new(true).unwrap();
        assert!(fetcher.check("http://127.0.0.1:9/jwks").is_ok());
        assert!(fetcher.check("http://localhost:9/jwks").is_ok());
        assert!(fetcher.check("http://[::1]:9/jwks").is_ok());
        assert!(fetcher.check("http://idp.example.com/jwks").is_err());
        assert!(fetcher.check("https://192.168.1.1/jwks").is_err());
        assert!(fetcher.check("ftp://idp.example.com/jwks").is_err());
    }

    /// EMA-12 / SSRF: an `https` name resolving to loopback is refused by the guarded resolver
    /// before any connection.
    #[tokio::test]
    async fn https_name_resolving_to_loopback_is_refused() {
        let fetcher = IdpKeyFetcher::new(false).unwrap();
        let err = fetcher.fetch("https://localhost:9/jwks").await.unwrap_err();
        let chain = format!("{err}");
        assert!(chain.contains("host localhost resolves to"), "{chain}");
        let source = fetcher
            .http
            .http()
            .get("https://localhost:9/jwks")
            .send()
            .await
            .unwrap_err();
        let mut text = String::new();
        let mut cur: Option<&dyn std::error::Error> = Some(&source);
        while let Some(e) = cur {
            text.push_str(&format!("{e} / "));
            cur = e.source();
        }
        assert!(text.contains("host localhost resolves to"), "{text}");
    }
}
