//! The server's side of Client ID Metadata Documents (SEP-991): what it lends the `cimd`
//! extension ([`mcp_auth_cimd_resolver::CimdFactory`], configured by `[extensions.cimd]` or its
//! alias `[cimd]`) through [`mcp_auth_core::ext::ExtensionServices::shared`]:
//!
//! - the document cache ([`SharedCimdCache`]): PostgreSQL's when given, so one node's fetch
//!   serves every node, else this node's memory; counted for metrics either way;
//! - the installer ([`CimdInstaller`]): the resolver's refusals are counted for metrics, and
//!   its SSRF-screening client also fetches the `jwks_uri` of `private_key_jwt` clients
//!   (CIMD-20), through [`LateClientKeys`].

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use mcp_auth_cimd_resolver::{CimdCache, CimdInstaller, InMemoryCimdCache, SharedCimdCache};
use mcp_auth_core::jose::VerifyingKey;
use mcp_auth_core::{Client, Clock, OAuthError};

use crate::client_auth::{ClientJwksSource, ClientKeySource};
use crate::server::AuthorizationServerBuilder;

/// Lend the CIMD extension its cache and installer, and use [`LateClientKeys`] for
/// `private_key_jwt` keys. Nothing happens unless a `cimd` extension is installed.
///
/// # Errors
/// The default `jwks_uri` client could not be built (TLS backend).
pub fn lend(
    builder: AuthorizationServerBuilder,
    clock: Arc<dyn Clock>,
    shared_cache: Option<Arc<dyn CimdCache>>,
) -> Result<AuthorizationServerBuilder, reqwest::Error> {
    let cache = shared_cache.unwrap_or_else(|| Arc::new(InMemoryCimdCache::new()));
    let keys = Arc::new(LateClientKeys::new(clock.clone())?);
    let late = keys.clone();
    let installer = CimdInstaller(Arc::new(move |resolver| {
        late.use_client(resolver.http_client());
        Box::new(crate::metrics::cimd::CountingCimdExtension::new(resolver))
    }));
    Ok(builder
        .shared_service(SharedCimdCache(Arc::new(
            crate::metrics::cimd::CountingCimdCache::new(cache),
        )))
        .shared_service(installer)
        .client_key_source(keys))
}

/// The `private_key_jwt` key source: [`ClientJwksSource`] with its own client, until the CIMD
/// extension installs and hands over its SSRF-screening client (then every `jwks_uri` goes
/// through that one, CIMD-20).
pub struct LateClientKeys {
    clock: Arc<dyn Clock>,
    default: ClientJwksSource,
    screened: OnceLock<ClientJwksSource>,
}

impl std::fmt::Debug for LateClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LateClientKeys")
            .field("screened", &self.screened.get().is_some())
            .finish_non_exhaustive()
    }
}

impl LateClientKeys {
    /// A source using [`ClientJwksSource::new`] until [`Self::use_client`].
    ///
    /// # Errors
    /// The default client could not be built.
    pub fn new(clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        Ok(Self {
            default: ClientJwksSource::new(clock.clone())?,
            clock,
            screened: OnceLock::new(),
        })
    }

    /// From now on, fetch `jwks_uri`s with `http` (the first call wins).
    pub fn use_client(&self, http: reqwest::Client) {
        let _ = self
            .screened
            .set(ClientJwksSource::with_http_client(http, self.clock.clone()));
    }

    /// Whether [`Self::use_client`] was called.
    pub fn is_screened(&self) -> bool {
        self.screened.get().is_some()
    }
}

#[async_trait]
impl ClientKeySource for LateClientKeys {
    async fn key_for(
        &self,
        client: &Client,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, OAuthError> {
        let source = self.screened.get().unwrap_or(&self.default);
        source.key_for(client, kid, alg).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_cimd_resolver::CimdFactory;
    use mcp_auth_core::SystemClock;
    use mcp_auth_core::ext::{ExtensionFactory, ExtensionSection, ExtensionServices, Registry};

    /// AS-04 and CIMD-20: the lent installer counts refusals (installs the counting extension,
    /// which advertises support) and hands the screening client to the key source.
    #[test]
    fn installing_cimd_switches_jwks_uri_fetches_to_the_screening_client() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let keys = Arc::new(LateClientKeys::new(clock).unwrap());
        let late = keys.clone();
        let mut services = ExtensionServices::in_memory("https://as.example.com".parse().unwrap());
        services
            .shared
            .insert(CimdInstaller(Arc::new(move |resolver| {
                late.use_client(resolver.http_client());
                Box::new(crate::metrics::cimd::CountingCimdExtension::new(resolver))
            })));
        assert!(!keys.is_screened());
        let section = ExtensionSection::new("cimd", serde_json::json!({"enabled": true}));
        let mut registry = Registry::new();
        CimdFactory
            .create(&section)
            .unwrap()
            .install(&mut registry, &services)
            .unwrap();
        assert!(keys.is_screened());
        assert_eq!(
            registry.metadata()["client_id_metadata_document_supported"],
            serde_json::Value::Bool(true)
        );
    }
}
