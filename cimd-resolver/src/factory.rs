//! [`CimdFactory`]: Client ID Metadata Documents through the extension seam, configured by
//! `[extensions.cimd]` ([`CimdSettings`]) and built from what the server lends
//! ([`mcp_auth_core::ext::ExtensionServices`]).

use std::path::PathBuf;
use std::sync::Arc;

use mcp_auth_core::ext::{
    ExtensionConfigError, ExtensionFactory, ExtensionSection, ExtensionServices, Registry,
    RegistryError, ServerExtension,
};
use serde::{Deserialize, Serialize};

use crate::cache::{CimdCache, InMemoryCimdCache};
use crate::extension::CimdExtension;
use crate::resolver::{CimdBuildError, CimdResolver};

/// The `<name>` of the configuration section, `[extensions.cimd]`.
pub const SECTION: &str = "cimd";

/// The `[extensions.cimd]` section (the top-level `[cimd]` section of the `auth-server`
/// configuration is an alias of it). Every key is optional; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CimdSettings {
    /// Accept URL-shaped client ids and advertise `client_id_metadata_document_supported`
    /// (default true).
    pub enabled: bool,
    /// When non-empty, only these hosts (or `*.domain` patterns) may serve documents.
    pub allow_hosts: Vec<String>,
    /// Hosts (or `*.domain` patterns) whose documents are never fetched.
    pub deny_hosts: Vec<String>,
    /// Hosts whose clients are trusted: after sign-in their requests are approved without a
    /// consent prompt (CIMD-UI-5).
    pub trusted_hosts: Vec<String>,
    /// Shortest time a fetched document is cached, seconds (default 60).
    pub min_cache_ttl: u64,
    /// Longest time a fetched document is cached, seconds (default 86400).
    pub max_cache_ttl: u64,
    /// Fetches allowed per host per minute (default 10).
    pub fetches_per_host_per_minute: u32,
    /// Show the client_id host when a document has no `client_name`, instead of refusing it.
    pub lenient_client_name: bool,
    /// Testing only: allow documents on loopback hosts. Refused unless the server itself is
    /// bound to a loopback address (spec §10 A6); logs a warning.
    pub insecure_allow_loopback: bool,
    /// Testing only: a PEM file of an extra root certificate to trust for document fetches.
    pub insecure_ca_file: Option<PathBuf>,
}

impl Default for CimdSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            trusted_hosts: Vec::new(),
            min_cache_ttl: 60,
            max_cache_ttl: 86_400,
            fetches_per_host_per_minute: 10,
            lenient_client_name: false,
            insecure_allow_loopback: false,
            insecure_ca_file: None,
        }
    }
}

/// How the server adapts the CIMD extension, lent through
/// [`ExtensionServices::shared`]: it gets the built resolver and returns the extension to
/// install (e.g. one that counts refusals for metrics, and hands the resolver's screening
/// client to the `jwks_uri` fetcher, CIMD-20). Without it, [`CimdExtension`] is installed.
#[derive(Clone)]
pub struct CimdInstaller(pub Arc<dyn Fn(CimdResolver) -> Box<dyn ServerExtension> + Send + Sync>);

impl std::fmt::Debug for CimdInstaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CimdInstaller(..)")
    }
}

/// The document cache the server lends through [`ExtensionServices::shared`] (PostgreSQL:
/// one node's fetch serves every node). Without it, each node keeps its own
/// [`InMemoryCimdCache`].
#[derive(Clone)]
pub struct SharedCimdCache(pub Arc<dyn CimdCache>);

impl std::fmt::Debug for SharedCimdCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCimdCache(..)")
    }
}

/// The [`ExtensionFactory`] of Client ID Metadata Documents (`[extensions.cimd]`).
///
/// ```
/// use mcp_auth_core::ext::{ExtensionFactory, ExtensionSection, ExtensionServices, Registry};
/// use mcp_auth_cimd_resolver::CimdFactory;
///
/// let section = ExtensionSection::new("cimd", serde_json::json!({"enabled": true}));
/// let extension = CimdFactory.create(&section).unwrap();
/// let mut registry = Registry::new();
/// let services = ExtensionServices::in_memory("https://as.example.com".parse().unwrap());
/// extension.install(&mut registry, &services).unwrap();
/// assert_eq!(registry.metadata()["client_id_metadata_document_supported"], true);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CimdFactory;

impl ExtensionFactory for CimdFactory {
    fn name(&self) -> &'static str {
        SECTION
    }

    /// # Errors
    /// A malformed section, an unreadable `insecure_ca_file`, or a setting out of range.
    fn create(
        &self,
        section: &ExtensionSection,
    ) -> Result<Box<dyn ServerExtension>, ExtensionConfigError> {
        let settings: CimdSettings = section.parse()?;
        let ca_pem =
            match &settings.insecure_ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    section.error(format!("insecure_ca_file {}: {e}", path.display()))
                })?),
                None => None,
            };
        let configured = ConfiguredCimd { settings, ca_pem };
        // Every range check now, before the server opens its database.
        configured
            .resolver(&ExtensionServices::in_memory(
                "https://check.invalid"
                    .parse()
                    .map_err(|_| section.error("internal: placeholder issuer does not parse"))?,
            ))
            .map_err(|e| section.error(e.to_string()))?;
        Ok(Box::new(configured))
    }
}

/// The extension a [`CimdFactory`] makes: the resolver is built at install, from the services.
struct ConfiguredCimd {
    settings: CimdSettings,
    ca_pem: Option<Vec<u8>>,
}

impl ConfiguredCimd {
    fn resolver(&self, services: &ExtensionServices) -> Result<CimdResolver, CimdBuildError> {
        let s = &self.settings;
        let cache = services
            .shared
            .get::<SharedCimdCache>()
            .map(|c| c.0.clone())
            .unwrap_or_else(|| Arc::new(InMemoryCimdCache::new()));
        let mut builder = CimdResolver::builder()
            .clock(services.clock.clone())
            .cache(cache)
            .cache_ttl_bounds(s.min_cache_ttl, s.max_cache_ttl)
            .fetch_rate_limit(s.fetches_per_host_per_minute, 60)
            .lenient_client_name(s.lenient_client_name)
            .insecure_allow_loopback(s.insecure_allow_loopback);
        for host in &s.allow_hosts {
            builder = builder.allow_host(host);
        }
        for host in &s.deny_hosts {
            builder = builder.deny_host(host);
        }
        for host in &s.trusted_hosts {
            builder = builder.trusted_host(host);
        }
        if let Some(pem) = &self.ca_pem {
            builder = builder.insecure_add_root_certificate_pem(pem);
        }
        builder.build()
    }
}

impl ServerExtension for ConfiguredCimd {
    fn name(&self) -> &str {
        SECTION
    }

    /// # Errors
    /// [`RegistryError::Extension`] for `insecure_allow_loopback` on a server not bound to
    /// loopback (spec §10 A6).
    fn preflight(&self, bound_to_loopback: bool) -> Result<(), RegistryError> {
        if self.settings.insecure_allow_loopback && !bound_to_loopback {
            return Err(RegistryError::Extension(
                SECTION.into(),
                "cimd.insecure_allow_loopback is only allowed when the server is bound to loopback"
                    .into(),
            ));
        }
        Ok(())
    }

    /// # Errors
    /// [`RegistryError::Extension`] for `insecure_allow_loopback` on a server not bound to
    /// loopback (spec §10 A6) or a resolver that cannot be built; as [`CimdExtension`].
    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        services: &ExtensionServices,
    ) -> Result<(), RegistryError> {
        let refuse = |message: String| RegistryError::Extension(SECTION.into(), message);
        self.preflight(services.bound_to_loopback)?;
        let resolver = self.resolver(services).map_err(|e| refuse(e.to_string()))?;
        let extension = match services.shared.get::<CimdInstaller>() {
            Some(installer) => (installer.0)(resolver),
            None => Box::new(CimdExtension::new(resolver)),
        };
        extension.install(registry, services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(bound_to_loopback: bool) -> ExtensionServices {
        let mut s = ExtensionServices::in_memory("https://as.example.com".parse().unwrap());
        s.bound_to_loopback = bound_to_loopback;
        s
    }

    fn section(value: serde_json::Value) -> ExtensionSection {
        ExtensionSection::new(SECTION, value)
    }

    /// Spec §10 A6: loopback documents only for a server bound to loopback.
    #[test]
    fn insecure_loopback_is_refused_off_loopback() {
        let s = section(serde_json::json!({"enabled": true, "insecure_allow_loopback": true}));
        let err = CimdFactory
            .create(&s)
            .unwrap()
            .install(&mut Registry::new(), &services(false))
            .unwrap_err();
        assert!(err.to_string().contains("insecure_allow_loopback"), "{err}");
        CimdFactory
            .create(&s)
            .unwrap()
            .install(&mut Registry::new(), &services(true))
            .unwrap();
        // The same refusal before any storage exists (issue 22 §2: every configuration error
        // before anything is written).
        let extension = CimdFactory.create(&s).unwrap();
        let err = extension.preflight(false).unwrap_err();
        assert!(err.to_string().contains("insecure_allow_loopback"), "{err}");
        extension.preflight(true).unwrap();
    }

    #[test]
    fn out_of_range_settings_are_refused_at_create() {
        let s = section(serde_json::json!({"enabled": true, "max_cache_ttl": 100000}));
        let err = CimdFactory.create(&s).err().unwrap();
        assert_eq!(err.section, "cimd");
        assert!(err.message.contains("max_ttl"), "{err}");
        let typo = section(serde_json::json!({"enabled": true, "alow_hosts": []}));
        assert!(CimdFactory.create(&typo).is_err());
    }

    /// The server's installer decides which extension goes in (metrics, CIMD-20 key fetches).
    #[test]
    fn a_lent_installer_wraps_the_resolver() {
        let mut s = services(true);
        s.shared.insert(CimdInstaller(Arc::new(|resolver| {
            Box::new(CimdExtension::new(resolver)) as Box<dyn ServerExtension>
        })));
        let mut registry = Registry::new();
        CimdFactory
            .create(&section(serde_json::json!({"enabled": true})))
            .unwrap()
            .install(&mut registry, &s)
            .unwrap();
        assert_eq!(registry.metadata()[crate::METADATA_MEMBER], true);
    }
}
