//! [`IdpExtension`]: installs the IdP role.

use std::sync::Arc;

use mcp_auth_core::ext::{
    ExtensionConfigError, ExtensionFactory, ExtensionSection, ExtensionServices, Registry,
    RegistryError, ServerExtension,
};

use super::ID_JAG_TOKEN_TYPE;
use super::config::IdpConfig;
use super::grant::IdJagExchanger;

/// The name of the role and of its section, `[extensions.xaa_idp]`.
pub const NAME: &str = "xaa_idp";

/// The IdP role as a [`ServerExtension`]. `install`:
/// - turns on OpenID Connect sign-in (ID tokens for `openid` requests, and the discovery
///   members), since the role's subject tokens are this server's ID tokens;
/// - adds the [`IdJagExchanger`] to the token-exchange grant, so `grant_types_supported` lists
///   `urn:ietf:params:oauth:grant-type:token-exchange`;
/// - advertises `identity_chaining_requested_token_types_supported` =
///   `["urn:ietf:params:oauth:token-type:id-jag"]` (SEP-990 EMA-M5).
///
/// ```
/// use mcp_auth_core::ext::{ExtensionServices, Registry, ServerExtension};
/// use mcp_auth_ext_xaa::idp::{IdpConfig, IdpExtension};
///
/// let config: IdpConfig = serde_json::from_value(serde_json::json!({"enabled": true})).unwrap();
/// let services = ExtensionServices::in_memory("https://idp.example.com".parse().unwrap());
/// let mut registry = Registry::new();
/// Box::new(IdpExtension::new(config)).install(&mut registry, &services).unwrap();
/// assert!(registry.openid_connect());
/// ```
#[derive(Debug, Clone)]
pub struct IdpExtension {
    config: IdpConfig,
}

impl IdpExtension {
    /// The role with `config` (checked again against the server's issuer at install).
    pub fn new(config: IdpConfig) -> Self {
        Self { config }
    }
}

impl ServerExtension for IdpExtension {
    fn name(&self) -> &str {
        NAME
    }

    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        services: &ExtensionServices,
    ) -> Result<(), RegistryError> {
        self.config
            .check(services.issuer.as_str())
            .map_err(|e| RegistryError::Extension(NAME.into(), e.to_string()))?;
        registry.enable_openid_connect();
        registry.add_token_exchanger(Arc::new(IdJagExchanger::new(
            Arc::new(self.config),
            services.clone(),
        )))?;
        registry.add_metadata(
            "identity_chaining_requested_token_types_supported",
            serde_json::json!([ID_JAG_TOKEN_TYPE]),
        )
    }
}

/// Makes the role from `[extensions.xaa_idp]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdpFactory;

impl ExtensionFactory for IdpFactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(
        &self,
        section: &ExtensionSection,
    ) -> Result<Box<dyn ServerExtension>, ExtensionConfigError> {
        let config: IdpConfig = section.parse()?;
        // The issuer is known at install; check what can be checked now.
        let config = config.checked(section, "")?;
        Ok(Box::new(IdpExtension::new(config)))
    }
}
