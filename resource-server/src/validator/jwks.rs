//! Where a trusted issuer's keys come from, and the lookup of one token's key through the one
//! JWKS module of the workspace ([`mcp_auth_core::jose`]): keys discovered from RFC 8414
//! metadata (or configured), pre-built per key, refetched on an unknown `kid` at most once per
//! interval, and kept past a failed refresh only until a hard expiry.

use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use mcp_auth_core::Issuer;
use mcp_auth_core::jose::{
    AllowedAlgorithms, FetchError, JwksCache, JwksError, JwksFetcher, KeyError, KeySet, KeySource,
    VerifyingKey,
};

use crate::config::ConfigError;
use crate::error::{TokenError, Unavailable, ValidationError};

/// Largest JWKS or metadata document accepted, bytes.
const MAX_DOCUMENT: usize = 256 * 1024;

/// Where a trusted issuer's keys come from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JwksSource {
    /// Read `jwks_uri` from the issuer's RFC 8414 metadata
    /// (`<origin>/.well-known/oauth-authorization-server<path>`), whose `issuer` must be
    /// byte-identical to the configured one (RFC 8414 §3.3).
    Discover,
    /// Fetch this JWKS URL directly.
    JwksUri(String),
    /// Use these keys (`{"keys":[…]}`); never refetched.
    Static(serde_json::Value),
}

/// An issuer whose tokens are accepted, with where its keys come from.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedIssuer {
    /// The issuer, compared byte for byte with the token `iss`.
    pub issuer: Issuer,
    /// Its key source.
    pub source: JwksSource,
}

/// Where one issuer's keys are looked up.
enum Keys {
    /// Configured keys, parsed once.
    Static(KeySet),
    /// Fetched keys, in the validator's [`JwksCache`].
    Fetched(KeySource),
}

/// The keys of one trusted issuer.
pub(crate) struct IssuerKeys {
    issuer: Issuer,
    keys: Keys,
}

impl IssuerKeys {
    /// The keys of `trusted`; a static set is parsed now and must hold a key for some algorithm
    /// of `allowed`.
    pub(crate) fn new(
        trusted: TrustedIssuer,
        allowed: &AllowedAlgorithms,
    ) -> Result<Self, ConfigError> {
        let keys = match trusted.source {
            JwksSource::Static(doc) => {
                let set = KeySet::from_json(&doc)
                    .map_err(|e| ConfigError::Validator(format!("{}: {e}", trusted.issuer)))?;
                if !set.supports_any(allowed) {
                    return Err(ConfigError::Validator(format!(
                        "the static JWKS of {} has no usable key",
                        trusted.issuer
                    )));
                }
                Keys::Static(set)
            }
            JwksSource::JwksUri(uri) => Keys::Fetched(KeySource::JwksUri(uri)),
            JwksSource::Discover => Keys::Fetched(KeySource::Discover(trusted.issuer.clone())),
        };
        Ok(Self {
            issuer: trusted.issuer,
            keys,
        })
    }

    pub(crate) fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The key for a token with header `kid` and `alg` (`alg` already on the allow-list).
    pub(crate) async fn key(
        &self,
        cache: &JwksCache,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, ValidationError> {
        let found = match &self.keys {
            Keys::Static(set) => set.select(kid, alg).map_err(JwksError::Key),
            Keys::Fetched(source) => cache.key(source, kid, alg).await,
        };
        found.map_err(|e| match e {
            JwksError::Unavailable(why) => Unavailable(why).into(),
            JwksError::Key(
                KeyError::KeyTypeMismatch(_)
                | KeyError::AlgorithmMismatch { .. }
                | KeyError::DisallowedAlgorithm(_),
            ) => TokenError::DisallowedAlgorithm.into(),
            // Unknown kid, no or several keys for a kid-less token, an encryption key.
            _ => TokenError::UnknownKey.into(),
        })
    }
}

/// The [`JwksFetcher`] of the resource server: its own HTTP client (default: 5 s timeout, no
/// redirects), `Accept: application/json`, a 2xx status, at most 256 KiB.
pub(crate) struct HttpFetcher {
    pub(crate) http: reqwest::Client,
}

#[async_trait]
impl JwksFetcher for HttpFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let resp = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(FetchError(format!("GET {url}: status {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_DOCUMENT as u64)
        {
            return Err(FetchError(format!("GET {url}: document too large")));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
        if body.len() > MAX_DOCUMENT {
            return Err(FetchError(format!("GET {url}: document too large")));
        }
        Ok(body.to_vec())
    }
}
