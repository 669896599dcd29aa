//! Counting Client ID Metadata Document work (SEP-991):
//!
//! - [`CountingCimdCache`] wraps the resolver's cache and counts lookups
//!   ([`super::names::CIMD_CACHE`]: `hit`/`miss`) and stored documents, one per fetch
//!   ([`super::names::CIMD_FETCHES`]: `fetched`);
//! - [`CountingCimdExtension`] installs the resolver like
//!   [`mcp_auth_cimd_resolver::CimdExtension`], wrapped so that each refusal is counted in
//!   [`super::names::CIMD_FETCHES`] by its reason ([`refusal_reason`]).

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_cimd_resolver::{CachedDocument, CimdCache, CimdError, CimdResolver, METADATA_MEMBER};
use mcp_auth_core::ext::{
    ClientResolver, ExtensionServices, Registry, RegistryError, ServerExtension,
};
use mcp_auth_core::{Client, ClientId, OAuthError, StoreError};

/// Counts what passes through the wrapped cache; behaves exactly like it otherwise.
pub struct CountingCimdCache {
    inner: Arc<dyn CimdCache>,
}

impl CountingCimdCache {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn CimdCache>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Debug for CountingCimdCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingCimdCache").finish_non_exhaustive()
    }
}

#[async_trait]
impl CimdCache for CountingCimdCache {
    async fn get(&self, url: &str) -> Result<Option<CachedDocument>, StoreError> {
        let found = self.inner.get(url).await?;
        super::cimd_cache(found.is_some());
        Ok(found)
    }

    async fn put(&self, url: &str, entry: CachedDocument) -> Result<(), StoreError> {
        super::cimd_fetch("fetched");
        self.inner.put(url, entry).await
    }

    async fn remove(&self, url: &str) -> Result<(), StoreError> {
        self.inner.remove(url).await
    }
}

/// The `result` label of a refused or failed resolution: one word per [`CimdError`] kind
/// (`invalid_url`, `host_not_allowed`, `blocked_address`, `dns`, `rate_limited`, `redirect`,
/// `status`, `content_type`, `body_too_large`, `timeout`, `transport`, `invalid_document`,
/// `cache`), `other` for anything else. Never the URL or the host.
pub fn refusal_reason(error: &OAuthError) -> &'static str {
    let Some(cimd) = error
        .internal_source()
        .and_then(|s| s.downcast_ref::<CimdError>())
    else {
        return "other";
    };
    match cimd {
        CimdError::InvalidUrl(_) => "invalid_url",
        CimdError::HostNotAllowed(_) => "host_not_allowed",
        CimdError::BlockedAddress { .. } => "blocked_address",
        CimdError::Dns { .. } => "dns",
        CimdError::RateLimited(_) => "rate_limited",
        CimdError::Redirect(_) => "redirect",
        CimdError::Status(_) => "status",
        CimdError::ContentType(_) => "content_type",
        CimdError::BodyTooLarge(_) => "body_too_large",
        CimdError::Timeout => "timeout",
        CimdError::Transport(_) => "transport",
        CimdError::InvalidDocument(_) => "invalid_document",
        CimdError::Cache(_) => "cache",
        _ => "other",
    }
}

/// A [`ClientResolver`] that counts the refusals of the one it wraps.
struct CountingResolver(CimdResolver);

#[async_trait]
impl ClientResolver for CountingResolver {
    fn handles(&self, client_id: &ClientId) -> bool {
        self.0.handles(client_id)
    }

    async fn resolve(&self, client_id: &ClientId) -> Result<Option<Client>, OAuthError> {
        let result = self.0.resolve(client_id).await;
        if let Err(e) = &result {
            super::cimd_fetch(refusal_reason(e));
        }
        result
    }

    fn is_trusted(&self, client_id: &ClientId) -> bool {
        ClientResolver::is_trusted(&self.0, client_id)
    }
}

/// [`mcp_auth_cimd_resolver::CimdExtension`] with its resolver's refusals counted: adds the
/// resolver to the registry and advertises `client_id_metadata_document_supported` (CIMD-01).
#[derive(Debug, Clone)]
pub struct CountingCimdExtension {
    resolver: CimdResolver,
}

impl CountingCimdExtension {
    /// An extension installing `resolver`.
    pub fn new(resolver: CimdResolver) -> Self {
        Self { resolver }
    }
}

impl ServerExtension for CountingCimdExtension {
    fn name(&self) -> &str {
        "cimd"
    }

    /// # Errors
    /// [`RegistryError::DuplicateMetadata`] when installed twice.
    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        _services: &ExtensionServices,
    ) -> Result<(), RegistryError> {
        registry.add_metadata(METADATA_MEMBER, serde_json::Value::Bool(true))?;
        registry.add_resolver(Arc::new(CountingResolver(self.resolver)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_cimd_resolver::UrlError;

    #[test]
    fn refusals_are_labelled_by_kind_never_by_host() {
        let host = OAuthError::from(CimdError::HostNotAllowed("evil.example".into()));
        assert_eq!(refusal_reason(&host), "host_not_allowed");
        let url = OAuthError::from(CimdError::InvalidUrl(UrlError::NotHttps));
        assert_eq!(refusal_reason(&url), "invalid_url");
        assert_eq!(
            refusal_reason(&OAuthError::from(CimdError::Timeout)),
            "timeout"
        );
        assert_eq!(
            refusal_reason(&OAuthError::invalid_request("not from the resolver")),
            "other"
        );
    }

    /// CIMD-01 still holds with the counting wrapper: the member is advertised and URL-shaped
    /// ids go to the resolver.
    #[test]
    fn counting_extension_installs_like_the_plain_one() {
        let resolver = CimdResolver::builder().build().unwrap();
        let mut registry = Registry::new();
        let services = ExtensionServices::in_memory("https://as.example.com".parse().unwrap());
        Box::new(CountingCimdExtension::new(resolver))
            .install(&mut registry, &services)
            .unwrap();
        assert_eq!(
            registry.metadata().get(METADATA_MEMBER),
            Some(&serde_json::Value::Bool(true))
        );
        let url: ClientId = "https://app.example.com/client.json".parse().unwrap();
        let plain: ClientId = "dcr_abc".parse().unwrap();
        assert!(registry.resolver_for(&url).is_some());
        assert!(registry.resolver_for(&plain).is_none());
    }
}
