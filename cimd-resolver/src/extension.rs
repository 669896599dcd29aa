//! [`CimdExtension`]: installs the resolver into an authorization server.

use std::sync::Arc;

use mcp_auth_core::ext::{Registry, RegistryError, ServerExtension};

use crate::resolver::CimdResolver;

/// The AS metadata member that advertises CIMD support (CIMD-01).
pub const METADATA_MEMBER: &str = "client_id_metadata_document_supported";

/// A [`ServerExtension`] that adds a [`CimdResolver`] to the registry's client resolvers and
/// advertises `client_id_metadata_document_supported: true` in the AS metadata (CIMD-01).
///
/// Extensions are installed before the built-in store resolver, which never answers for
/// `https://` ids, so URL-shaped ids reach this resolver.
#[derive(Debug, Clone)]
pub struct CimdExtension {
    resolver: CimdResolver,
}

impl CimdExtension {
    /// An extension installing `resolver`.
    pub fn new(resolver: CimdResolver) -> Self {
        Self { resolver }
    }
}

impl ServerExtension for CimdExtension {
    fn name(&self) -> &str {
        "cimd"
    }

    /// # Errors
    /// [`RegistryError::DuplicateMetadata`] when the metadata member is already set (the
    /// extension was installed twice).
    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        _services: &mcp_auth_core::ext::ExtensionServices,
    ) -> Result<(), RegistryError> {
        registry.add_metadata(METADATA_MEMBER, serde_json::Value::Bool(true))?;
        registry.add_resolver(Arc::new(self.resolver));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ClientId;

    fn services() -> mcp_auth_core::ext::ExtensionServices {
        mcp_auth_core::ext::ExtensionServices::in_memory("https://as.example.com".parse().unwrap())
    }

    /// CIMD-01: installing adds the metadata flag and a resolver for URL-shaped ids only.
    #[test]
    fn install_advertises_support_and_resolves_url_ids() {
        let resolver = CimdResolver::builder().build().unwrap();
        let mut registry = Registry::new();
        Box::new(CimdExtension::new(resolver.clone()))
            .install(&mut registry, &services())
            .unwrap();
        assert_eq!(
            registry.metadata().get(METADATA_MEMBER),
            Some(&serde_json::Value::Bool(true))
        );
        let url: ClientId = "https://app.example.com/client.json".parse().unwrap();
        let plain: ClientId = "dcr_abc".parse().unwrap();
        assert!(registry.resolver_for(&url).is_some());
        assert!(registry.resolver_for(&plain).is_none());
        let twice = Box::new(CimdExtension::new(resolver)).install(&mut registry, &services());
        assert_eq!(
            twice,
            Err(RegistryError::DuplicateMetadata(METADATA_MEMBER.into()))
        );
    }
}
