//! An upstream's OpenID Provider metadata (OpenID Connect Discovery 1.0 §3–4), read from
//! `{issuer}/.well-known/openid-configuration` through the guarded client, checked, and cached
//! for an hour (a failed refresh is retried on the next sign-in).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use mcp_auth_core::UnixTime;
use serde::Deserialize;
use url::Url;

use super::{Upstream, UpstreamError, checked_url};
use crate::config::UpstreamKind;

/// How long fetched metadata is used before it is read again, seconds.
pub const METADATA_TTL: i64 = 3600;

/// What this server uses of an upstream's metadata, every URL checked like the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The authorization endpoint (OIDC Core §3.1.2).
    pub authorization_endpoint: Url,
    /// The token endpoint (OIDC Core §3.1.3).
    pub token_endpoint: Url,
    /// The userinfo endpoint (OIDC Core §5.3), when published.
    pub userinfo_endpoint: Option<Url>,
    /// The JWK Set URL.
    pub jwks_uri: String,
    /// RFC 9207 §3: the upstream sends `iss` with every authorization response.
    pub iss_parameter_supported: bool,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// How long the sign-in page waits for the metadata of all upstreams together (it needs their
/// authorization origins for its `form-action`); past it the page renders without them.
pub const PAGE_METADATA_WAIT: Duration = Duration::from_millis(1500);

/// After the sign-in page failed to get an upstream's metadata, how long it does not try again,
/// seconds (the button still tries, with the full timeouts).
pub const PAGE_RETRY_AFTER: i64 = 30;

/// The cached metadata of one upstream, and when the sign-in page last failed to get it.
#[derive(Debug, Default)]
pub struct MetadataCache {
    fetched: RwLock<Option<(Arc<ProviderMetadata>, UnixTime)>>,
    page_failed_at: RwLock<Option<UnixTime>>,
}

impl MetadataCache {
    /// The cached metadata, when fetched less than [`METADATA_TTL`] before `now`.
    pub fn cached(&self, now: UnixTime) -> Option<Arc<ProviderMetadata>> {
        let slot = self.fetched.read().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|(_, at)| now < at.saturating_add(METADATA_TTL))
            .map(|(m, _)| m.clone())
    }

    fn store(&self, metadata: Arc<ProviderMetadata>, now: UnixTime) {
        *self.fetched.write().unwrap_or_else(PoisonError::into_inner) = Some((metadata, now));
    }

    /// Whether the sign-in page failed less than [`PAGE_RETRY_AFTER`] before `now`.
    fn page_failed_recently(&self, now: UnixTime) -> bool {
        let slot = self
            .page_failed_at
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        slot.is_some_and(|at| now < at.saturating_add(PAGE_RETRY_AFTER))
    }

    fn page_failed(&self, now: UnixTime) {
        *self
            .page_failed_at
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
    }
}

impl Upstream {
    /// The origin of the authorization endpoint, when the metadata is cached (the sign-in
    /// page's `form-action`).
    pub fn cached_origin(&self, now: UnixTime) -> Option<String> {
        self.metadata
            .cached(now)
            .map(|m| m.authorization_endpoint.origin().ascii_serialization())
    }

    /// The metadata for the sign-in page: cached, or fetched now unless the page failed to get
    /// it in the last [`PAGE_RETRY_AFTER`] seconds, giving up at `deadline` (a failure or the
    /// deadline is remembered, so the next page does not wait again).
    pub async fn metadata_for_page(
        &self,
        now: UnixTime,
        deadline: tokio::time::Instant,
    ) -> Option<Arc<ProviderMetadata>> {
        if let Some(m) = self.metadata.cached(now) {
            return Some(m);
        }
        if self.metadata.page_failed_recently(now) || tokio::time::Instant::now() >= deadline {
            return None;
        }
        match tokio::time::timeout_at(deadline, self.provider_metadata(now)).await {
            Ok(Ok(m)) => Some(m),
            Ok(Err(reason)) => {
                tracing::warn!(upstream = %self.config.name, %reason, "upstream metadata unavailable for the sign-in page");
                self.metadata.page_failed(now);
                None
            }
            Err(_) => {
                tracing::warn!(upstream = %self.config.name, "upstream metadata too slow for the sign-in page");
                self.metadata.page_failed(now);
                None
            }
        }
    }

    /// The upstream's metadata: cached, or fetched and checked now.
    ///
    /// # Errors
    /// Why it could not be had, for logs: [`UpstreamError::Fetch`] (unreachable, not a JSON
    /// `200`), [`UpstreamError::Metadata`], [`UpstreamError::IssuerMismatch`],
    /// [`UpstreamError::Url`].
    pub async fn provider_metadata(
        &self,
        now: UnixTime,
    ) -> Result<Arc<ProviderMetadata>, UpstreamError> {
        if let Some(m) = self.metadata.cached(now) {
            return Ok(m);
        }
        if self.config.kind == UpstreamKind::Github {
            let metadata = Arc::new(self.github_metadata()?);
            self.metadata.store(metadata.clone(), now);
            return Ok(metadata);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let body = match self.http.get_json(&url).await {
            Ok(body) => body,
            Err(source) => return Err(UpstreamError::Fetch { url, source }),
        };
        let doc: Document = match serde_json::from_slice(&body) {
            Ok(doc) => doc,
            Err(e) => {
                let reason = e.to_string();
                return Err(UpstreamError::Metadata { url, reason });
            }
        };
        let metadata = Arc::new(self.checked(doc)?);
        self.metadata.store(metadata.clone(), now);
        Ok(metadata)
    }

    /// OIDC Discovery §4.3: the document's `issuer` is the configured one, exactly; every
    /// endpoint is https (or loopback http with the test switch).
    fn checked(&self, doc: Document) -> Result<ProviderMetadata, UpstreamError> {
        if doc.issuer != self.config.issuer {
            return Err(UpstreamError::IssuerMismatch {
                found: doc.issuer,
                configured: self.config.issuer.clone(),
            });
        }
        let allow = self.config.insecure_allow_http_loopback;
        let url = |field: &'static str, raw: &str| {
            checked_url(raw, allow).map_err(UpstreamError::url(field))
        };
        Ok(ProviderMetadata {
            authorization_endpoint: url("authorization_endpoint", &doc.authorization_endpoint)?,
            token_endpoint: url("token_endpoint", &doc.token_endpoint)?,
            userinfo_endpoint: doc
                .userinfo_endpoint
                .as_deref()
                .map(|u| url("userinfo_endpoint", u))
                .transpose()?,
            jwks_uri: url("jwks_uri", &doc.jwks_uri)?.to_string(),
            iss_parameter_supported: doc.authorization_response_iss_parameter_supported,
        })
    }
}
