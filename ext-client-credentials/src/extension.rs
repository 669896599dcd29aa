//! [`ClientCredentialsExtension`]: installs the grant into the server's registry.

use std::sync::Arc;

use mcp_auth_core::ext::{
    ExtensionConfigError, ExtensionFactory, ExtensionSection, Registry, RegistryError,
    ServerExtension,
};
use serde::Deserialize;

use crate::grant::{ClientCredentialsGrant, ResourcePolicy};

/// The MCP extension identifier (SEP-2133; spec §5.1, §8.2).
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/oauth-client-credentials";

/// The `client_credentials` extension (SEP-1046) as a [`ServerExtension`].
///
/// `install` adds:
/// - the [`ClientCredentialsGrant`] handler, so `grant_types_supported` lists
///   `client_credentials` (spec CC-01);
/// - the extension identifier [`EXTENSION_ID`], which the server lists in
///   `extensions_supported` (spec §8.2).
///
/// The advertised `token_endpoint_auth_methods_supported` and
/// `token_endpoint_auth_signing_alg_values_supported` are generated from the server's
/// authenticators. The server's `build()` checks the whole registry once every extension has
/// installed and fails (the server refuses to start) when an authenticator for one of
/// [`AUTH_METHODS`] is missing, or when an advertised signing algorithm is `none` or `HS*`
/// (spec CC-03, CC-04, §2.3.1 item 1).
///
/// ```
/// use mcp_auth_core::ext::ServerExtension;
/// use mcp_auth_ext_client_credentials::{ClientCredentialsExtension, ResourcePolicy};
///
/// let ext = ClientCredentialsExtension::new().with_resource_policy(ResourcePolicy::Require);
/// assert_eq!(ext.name(), "client_credentials");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientCredentialsExtension {
    grant: ClientCredentialsGrant,
}

impl ClientCredentialsExtension {
    /// The extension with the default grant ([`ClientCredentialsGrant::new`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The extension installing `grant`.
    pub fn with_grant(grant: ClientCredentialsGrant) -> Self {
        Self { grant }
    }

    /// Use `policy` when a request omits `resource`.
    pub fn with_resource_policy(mut self, policy: ResourcePolicy) -> Self {
        self.grant = self.grant.with_resource_policy(policy);
        self
    }
}

impl ServerExtension for ClientCredentialsExtension {
    fn name(&self) -> &str {
        NAME
    }

    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        _services: &mcp_auth_core::ext::ExtensionServices,
    ) -> Result<(), RegistryError> {
        registry.add_grant(Arc::new(self.grant))?;
        registry.add_extension_id(EXTENSION_ID);
        Ok(())
    }
}

/// The extension's name and the `<name>` of its configuration section.
pub const NAME: &str = "client_credentials";

/// The `[extensions.client_credentials]` section of the server configuration.
///
/// ```toml
/// [extensions.client_credentials]
/// enabled = true                 # default false; `client_credentials = true` is a shorthand
/// require_resource = false       # true: `resource` is required even with a default resource
/// dangerous_allow_self_registered_clients = false
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientCredentialsConfig {
    /// Install the extension.
    pub enabled: bool,
    /// [`ResourcePolicy::Require`] when true, else [`ResourcePolicy::ServerDefault`].
    pub require_resource: bool,
    /// See [`ClientCredentialsGrant::dangerous_allow_self_registered_clients`]; logs a warning.
    pub dangerous_allow_self_registered_clients: bool,
}

impl ClientCredentialsConfig {
    /// The extension this configuration describes.
    pub fn extension(&self) -> ClientCredentialsExtension {
        let mut grant =
            ClientCredentialsGrant::new().with_resource_policy(if self.require_resource {
                ResourcePolicy::Require
            } else {
                ResourcePolicy::ServerDefault
            });
        if self.dangerous_allow_self_registered_clients {
            grant = grant.dangerous_allow_self_registered_clients();
        }
        ClientCredentialsExtension::with_grant(grant)
    }
}

/// Makes the extension from `[extensions.client_credentials]` (the `auth-server` binary's
/// factory list holds one).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCredentialsFactory;

impl ExtensionFactory for ClientCredentialsFactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(
        &self,
        section: &ExtensionSection,
    ) -> Result<Box<dyn ServerExtension>, ExtensionConfigError> {
        let config: ClientCredentialsConfig = section.parse()?;
        Ok(Box::new(config.extension()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ext::GrantHandler;

    fn services() -> mcp_auth_core::ext::ExtensionServices {
        mcp_auth_core::ext::ExtensionServices::in_memory("https://as.example.com".parse().unwrap())
    }

    #[test]
    fn install_adds_the_grant_and_the_extension_id() {
        let mut reg = Registry::new();
        Box::new(ClientCredentialsExtension::new())
            .install(&mut reg, &services())
            .unwrap();
        assert_eq!(reg.grant_types(), vec!["client_credentials".to_owned()]);
        assert_eq!(reg.extension_ids(), vec![EXTENSION_ID.to_owned()]);
    }

    /// Without authenticators for its methods, the registry fails its start-up check.
    #[test]
    fn install_without_authenticators_fails_validation() {
        let mut reg = Registry::new();
        Box::new(ClientCredentialsExtension::new())
            .install(&mut reg, &services())
            .unwrap();
        assert_eq!(
            reg.validate(),
            Err(RegistryError::MissingAuthenticator {
                grant: "client_credentials".into(),
                method: "client_secret_basic".into()
            })
        );
    }

    #[test]
    fn the_section_configures_the_grant() {
        let section = ExtensionSection::new(
            NAME,
            serde_json::json!({"enabled": true, "require_resource": true}),
        );
        let config: ClientCredentialsConfig = section.parse().unwrap();
        assert_eq!(
            config.extension().grant.resource_policy(),
            ResourcePolicy::Require
        );
        let typo = ExtensionSection::new(NAME, serde_json::json!({"enabeld": true}));
        let err = ClientCredentialsFactory.create(&typo).err().unwrap();
        assert_eq!(err.section, "client_credentials");
        assert_eq!(
            ClientCredentialsFactory.create(&section).unwrap().name(),
            "client_credentials"
        );
        assert_eq!(
            ClientCredentialsGrant::new().grant_type().as_str(),
            "client_credentials"
        );
    }
}
