//! [`WorkloadIdentityExtension`]: installs the workload assertion redeemer and the extension
//! identifier; [`WorkloadIdentityFactory`]: makes it from `[extensions.workload_identity]`.

use std::sync::Arc;

use mcp_auth_core::ext::{
    ExtensionConfigError, ExtensionFactory, ExtensionSection, ExtensionServices, Registry,
    RegistryError, ServerExtension,
};
use mcp_auth_core::jose::{CacheTiming, JwksCache, JwksFetcher};

use crate::config::{NAME, TrustedIssuer, WifConfigError, WorkloadIdentityConfig};
use crate::fetch::IssuerKeyFetcher;
use crate::grant::{IssuerEntry, WorkloadAssertionGrant};

/// The MCP extension identifier of workload identity federation (conformance
/// `source.extensionId`; EXT-R2-22: it may change while SEP-1933 is a draft).
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/auth/wif";

/// Workload identity federation as a [`ServerExtension`].
///
/// `install` adds the [`WorkloadAssertionGrant`] as a redeemer of the JWT bearer grant (so
/// `grant_types_supported` lists `urn:ietf:params:oauth:grant-type:jwt-bearer`, EXT-R2-12),
/// beside the ID-JAG redeemer when Cross App Access is on too, and the extension identifier.
/// The trusted issuer list is never published. `install` fails when a trusted issuer is this
/// server's own issuer.
///
/// ```
/// use mcp_auth_core::ext::ServerExtension;
/// use mcp_auth_ext_wif::{TrustedIssuerConfig, WorkloadIdentityExtension};
///
/// let issuer = TrustedIssuerConfig::new(
///     "https://token.actions.githubusercontent.com",
///     &["repo:acme/*:ref:refs/heads/main"],
///     "ci-deployer",
///     &["mcp:tools"],
///     &["https://mcp.example.com/mcp"],
/// )
/// .validate()
/// .unwrap();
/// let ext = WorkloadIdentityExtension::new(vec![issuer]);
/// assert_eq!(ext.name(), "workload_identity");
/// ```
pub struct WorkloadIdentityExtension {
    issuers: Vec<TrustedIssuer>,
    fetcher: Option<Arc<dyn JwksFetcher>>,
    timing: CacheTiming,
}

impl std::fmt::Debug for WorkloadIdentityExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentityExtension")
            .field("issuers", &self.issuers)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl WorkloadIdentityExtension {
    /// The extension trusting `issuers`, fetching keys with [`IssuerKeyFetcher`] and caching
    /// them with [`CacheTiming::default`].
    pub fn new(issuers: Vec<TrustedIssuer>) -> Self {
        Self {
            issuers,
            fetcher: None,
            timing: CacheTiming::default(),
        }
    }

    /// The extension `config` describes.
    ///
    /// # Errors
    /// [`WifConfigError`] from [`WorkloadIdentityConfig::trusted`].
    pub fn from_config(config: &WorkloadIdentityConfig) -> Result<Self, WifConfigError> {
        Ok(Self::new(config.trusted()?))
    }

    /// Fetch keys through `fetcher` instead of [`IssuerKeyFetcher`].
    pub fn with_fetcher(mut self, fetcher: Arc<dyn JwksFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Cache keys with `timing` instead of the default.
    pub fn with_cache_timing(mut self, timing: CacheTiming) -> Self {
        self.timing = timing;
        self
    }
}

fn extension_error(message: String) -> RegistryError {
    RegistryError::Extension(NAME.to_owned(), message)
}

impl ServerExtension for WorkloadIdentityExtension {
    fn name(&self) -> &str {
        NAME
    }

    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        services: &ExtensionServices,
    ) -> Result<(), RegistryError> {
        let own = services.issuer.as_str();
        let mut entries = Vec::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            if issuer.issuer.strip_suffix('/').unwrap_or(&issuer.issuer)
                == own.strip_suffix('/').unwrap_or(own)
            {
                return Err(extension_error(format!(
                    "trusted_issuers: {} is this server's own issuer",
                    issuer.issuer
                )));
            }
            let fetcher: Arc<dyn JwksFetcher> = match &self.fetcher {
                Some(f) => f.clone(),
                None => Arc::new(
                    IssuerKeyFetcher::new(issuer.allows_http_loopback())
                        .map_err(|e| extension_error(e.0))?,
                ),
            };
            let keys = JwksCache::new(fetcher, services.clock.clone()).with_timing(self.timing);
            entries.push(Arc::new(IssuerEntry { issuer, keys }));
        }
        if entries.is_empty() {
            tracing::warn!(
                "workload_identity: no trusted issuer is configured; every workload assertion will be refused"
            );
        }
        let grant = WorkloadAssertionGrant::new(entries, services.replay.clone());
        registry.add_assertion_redeemer(Arc::new(grant))?;
        registry.add_extension_id(EXTENSION_ID);
        Ok(())
    }
}

/// Makes the extension from `[extensions.workload_identity]` (the `auth-server` binary's
/// factory list holds one).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkloadIdentityFactory;

impl ExtensionFactory for WorkloadIdentityFactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(
        &self,
        section: &ExtensionSection,
    ) -> Result<Box<dyn ServerExtension>, ExtensionConfigError> {
        let config: WorkloadIdentityConfig = section.parse()?;
        let ext =
            WorkloadIdentityExtension::from_config(&config).map_err(|e| section.error(e.0))?;
        Ok(Box::new(ext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrustedIssuerConfig;

    fn services() -> ExtensionServices {
        ExtensionServices::in_memory("https://as.example.com".parse().unwrap())
    }

    fn issuer(iss: &str) -> TrustedIssuer {
        TrustedIssuerConfig::new(
            iss,
            &["system:serviceaccount:ns:*"],
            "workloads",
            &["mcp:tools"],
            &["https://mcp.example.com/mcp"],
        )
        .validate()
        .unwrap()
    }

    /// EXT-R2-12: the grant type is listed; the extension id is declared.
    #[test]
    fn install_adds_the_jwt_bearer_grant_and_the_extension_id() {
        let mut reg = Registry::new();
        Box::new(WorkloadIdentityExtension::new(vec![issuer(
            "https://k8s.example.com",
        )]))
        .install(&mut reg, &services())
        .unwrap();
        assert_eq!(
            reg.grant_types(),
            vec!["urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()]
        );
        assert_eq!(reg.extension_ids(), vec![EXTENSION_ID.to_owned()]);
        reg.validate().unwrap();
    }

    #[test]
    fn own_issuer_is_a_start_up_error() {
        let mut reg = Registry::new();
        let err = Box::new(WorkloadIdentityExtension::new(vec![issuer(
            "https://as.example.com/",
        )]))
        .install(&mut reg, &services())
        .unwrap_err();
        assert!(err.to_string().contains("own issuer"), "{err}");
    }

    #[test]
    fn the_factory_refuses_unknown_keys_and_bad_entries() {
        let typo = ExtensionSection::new(NAME, serde_json::json!({"enabled": true, "issuers": []}));
        assert_eq!(
            WorkloadIdentityFactory.create(&typo).err().unwrap().section,
            NAME
        );
        let http = ExtensionSection::new(
            NAME,
            serde_json::json!({"enabled": true, "trusted_issuers": [{
                "issuer": "http://127.0.0.1:9", "allowed_subjects": ["a:*"], "client_id": "c",
                "scopes": ["s"], "resources": ["https://mcp.example.com/mcp"]}]}),
        );
        let err = WorkloadIdentityFactory.create(&http).err().unwrap();
        assert!(
            err.message.contains("insecure_allow_http_loopback"),
            "{err}"
        );
    }
}
