//! [`XaaExtension`]: installs the ID-JAG grant, its metadata and the extension identifier;
//! [`XaaFactory`]: makes it from `[extensions.xaa]`.

use std::sync::Arc;

use mcp_auth_core::ext::{
    ExtensionConfigError, ExtensionFactory, ExtensionSection, ExtensionServices, Registry,
    RegistryError, ServerExtension,
};
use mcp_auth_core::jose::{CacheTiming, JwksCache, JwksFetcher};

use super::config::{NAME, TrustedIdp, XaaConfig, XaaConfigError, check_subject_prefixes};
use super::fetch::IdpKeyFetcher;
use super::grant::{IdJagGrant, IdpEntry};

/// The MCP extension identifier of Enterprise-Managed Authorization (spec §6.1).
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/enterprise-managed-authorization";

/// The AS metadata member listing supported authorization grant profiles (spec EMA-M2).
pub const GRANT_PROFILES_MEMBER: &str = "authorization_grant_profiles_supported";

/// The ID-JAG grant profile identifier (spec EMA-M2, EMA-R2-04).
pub const ID_JAG_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";

/// The redeeming side of Cross App Access as a [`ServerExtension`].
///
/// `install` adds:
/// - the [`IdJagGrant`] as the ID-JAG redeemer of `urn:ietf:params:oauth:grant-type:jwt-bearer`
///   (the one [`mcp_auth_core::ext::JwtBearerGrant`] routes assertions with `typ:
///   oauth-id-jag+jwt` to it, EMA-R2-06), so `grant_types_supported` lists the grant (EMA-M1);
/// - `authorization_grant_profiles_supported: ["urn:ietf:params:oauth:grant-profile:id-jag"]`
///   (EMA-M2);
/// - the extension identifier [`EXTENSION_ID`].
///
/// The trusted IdP list is never published (EMA-M3). `install` fails (the server refuses to
/// start) when a trusted issuer is this server's own issuer (EMA-14), or when two IdPs'
/// subject prefixes could produce the same subject ([`check_subject_prefixes`]).
///
/// ```
/// use mcp_auth_core::ext::ServerExtension;
/// use mcp_auth_ext_xaa::redeem::{TrustedIdpConfig, XaaExtension};
///
/// let idp = TrustedIdpConfig::new("https://idp.example.com").validate().unwrap();
/// let ext = XaaExtension::new(vec![idp]);
/// assert_eq!(ext.name(), "xaa");
/// ```
pub struct XaaExtension {
    idps: Vec<TrustedIdp>,
    allow_public_clients: bool,
    fetcher: Option<Arc<dyn JwksFetcher>>,
    timing: CacheTiming,
}

impl std::fmt::Debug for XaaExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XaaExtension")
            .field("idps", &self.idps)
            .field("allow_public_clients", &self.allow_public_clients)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl XaaExtension {
    /// The extension trusting `idps`, for confidential clients only, fetching keys with
    /// [`IdpKeyFetcher`] and caching them with [`CacheTiming::default`].
    pub fn new(idps: Vec<TrustedIdp>) -> Self {
        Self {
            idps,
            allow_public_clients: false,
            fetcher: None,
            timing: CacheTiming::default(),
        }
    }

    /// The extension `config` describes.
    ///
    /// # Errors
    /// [`XaaConfigError`] from [`XaaConfig::trusted`].
    pub fn from_config(config: &XaaConfig) -> Result<Self, XaaConfigError> {
        Ok(Self::new(config.trusted()?).allow_public_clients(config.allow_public_clients))
    }

    /// Let public clients redeem ID-JAGs (spec EMA-13: off by default). Logs a warning when on.
    pub fn allow_public_clients(mut self, allow: bool) -> Self {
        if allow {
            tracing::warn!("xaa: public clients may redeem ID-JAGs (allow_public_clients)");
        }
        self.allow_public_clients = allow;
        self
    }

    /// Fetch keys through `fetcher` instead of [`IdpKeyFetcher`] (it then decides which URLs
    /// it fetches).
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

fn own_issuer_error(issuer: &str) -> RegistryError {
    RegistryError::Extension(
        NAME.to_owned(),
        format!(
            "trusted_idps: {issuer} is this server's own issuer; it never accepts ID-JAGs it issued (EMA-14)"
        ),
    )
}

impl ServerExtension for XaaExtension {
    fn name(&self) -> &str {
        NAME
    }

    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        services: &ExtensionServices,
    ) -> Result<(), RegistryError> {
        let own = services.issuer.as_str();
        check_subject_prefixes(&self.idps)
            .map_err(|e| RegistryError::Extension(NAME.to_owned(), e.0))?;
        let mut entries = Vec::with_capacity(self.idps.len());
        for idp in self.idps {
            if crate::redeem::grant::same_issuer(&idp.issuer, own) {
                return Err(own_issuer_error(&idp.issuer));
            }
            let fetcher: Arc<dyn JwksFetcher> = match &self.fetcher {
                Some(f) => f.clone(),
                None => Arc::new(
                    IdpKeyFetcher::new(idp.allow_http_loopback)
                        .map_err(|e| RegistryError::Extension(NAME.to_owned(), e.0))?,
                ),
            };
            let keys = JwksCache::new(fetcher, services.clock.clone()).with_timing(self.timing);
            entries.push(Arc::new(IdpEntry { idp, keys }));
        }
        if entries.is_empty() {
            tracing::warn!("xaa: no trusted IdP is configured; every ID-JAG will be refused");
        }
        let grant = IdJagGrant::new(
            entries,
            services.issuer.clone(),
            services.replay.clone(),
            self.allow_public_clients,
        );
        registry.add_assertion_redeemer(Arc::new(grant))?;
        registry.add_metadata(GRANT_PROFILES_MEMBER, serde_json::json!([ID_JAG_PROFILE]))?;
        registry.add_extension_id(EXTENSION_ID);
        Ok(())
    }
}

/// Makes the extension from `[extensions.xaa]` (the `auth-server` binary's factory list holds
/// one).
#[derive(Debug, Clone, Copy, Default)]
pub struct XaaFactory;

impl ExtensionFactory for XaaFactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(
        &self,
        section: &ExtensionSection,
    ) -> Result<Box<dyn ServerExtension>, ExtensionConfigError> {
        let config: XaaConfig = section.parse()?;
        let ext = XaaExtension::from_config(&config).map_err(|e| section.error(e.0))?;
        Ok(Box::new(ext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redeem::TrustedIdpConfig;

    fn services() -> ExtensionServices {
        ExtensionServices::in_memory("https://as.example.com".parse().unwrap())
    }

    #[test]
    fn install_adds_the_grant_the_profile_and_the_extension_id() {
        let idp = TrustedIdpConfig::new("https://idp.example.com")
            .validate()
            .unwrap();
        let mut reg = Registry::new();
        Box::new(XaaExtension::new(vec![idp]))
            .install(&mut reg, &services())
            .unwrap();
        assert_eq!(
            reg.grant_types(),
            vec!["urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()]
        );
        assert_eq!(reg.extension_ids(), vec![EXTENSION_ID.to_owned()]);
        assert_eq!(
            reg.metadata()[GRANT_PROFILES_MEMBER],
            serde_json::json!([ID_JAG_PROFILE])
        );
    }

    /// EMA-14: the server's own issuer cannot be trusted.
    #[test]
    fn own_issuer_is_a_start_up_error() {
        let idp = TrustedIdpConfig::new("https://as.example.com/")
            .validate()
            .unwrap();
        let mut reg = Registry::new();
        let err = Box::new(XaaExtension::new(vec![idp]))
            .install(&mut reg, &services())
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Extension(ref n, ref m) if n == "xaa" && m.contains("EMA-14")),
            "{err}"
        );
    }

    #[test]
    fn the_factory_refuses_unknown_keys_and_bad_entries() {
        let typo = ExtensionSection::new(NAME, serde_json::json!({"enabled": true, "trusted": []}));
        assert_eq!(XaaFactory.create(&typo).err().unwrap().section, "xaa");
        let http = ExtensionSection::new(
            NAME,
            serde_json::json!({"enabled": true, "trusted_idps": [{"issuer": "http://127.0.0.1:9"}]}),
        );
        let err = XaaFactory.create(&http).err().unwrap();
        assert!(
            err.message.contains("insecure_allow_http_loopback"),
            "{err}"
        );
        let ok = ExtensionSection::new(
            NAME,
            serde_json::json!({"enabled": true, "trusted_idps": [{"issuer": "https://idp.example.com"}]}),
        );
        assert_eq!(XaaFactory.create(&ok).unwrap().name(), "xaa");
    }
}
