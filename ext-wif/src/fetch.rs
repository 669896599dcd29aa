//! [`IssuerKeyFetcher`]: fetching workload issuers' discovery documents and JWK Sets for the
//! [`mcp_auth_core::jose::JwksCache`], through the guarded outbound client.

use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::jose::{FetchError, JwksFetcher};
use mcp_auth_outbound::{AddressPolicy, OutboundClient};

use crate::config::check_url;

/// Connect timeout of key fetches.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout of one key fetch.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest accepted discovery document or JWK Set, bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A [`JwksFetcher`] over one [`OutboundClient`]: `https` with certificate validation, no
/// redirects, no proxy, names resolving to special-use addresses refused; plain `http` only to
/// `127.0.0.1`, `[::1]` or `localhost`, and only when built with `allow_http_loopback` (tests).
/// Only `200` with a JSON content type, at most [`MAX_BODY_BYTES`], within [`TOTAL_TIMEOUT`].
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
}

#[async_trait]
impl JwksFetcher for IssuerKeyFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        check_url(url, self.allow_http_loopback).map_err(FetchError)?;
        self.http
            .get_json(url)
            .await
            .map_err(|e| FetchError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the insecure switch, plain http is refused before any connection (port 9,
    /// discard, is never contacted); other hosts are refused even with it.
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
}
