//! [`ClientCredentialsExtension`]: installs the grant into the server's registry.

use std::sync::Arc;

use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_core::ext::{Registry, RegistryError, ServerExtension};

use crate::grant::{ClientCredentialsGrant, ResourcePolicy};

/// The MCP extension identifier (SEP-2133; spec §5.1, §8.2).
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/oauth-client-credentials";

/// The client authentication methods a `client_credentials` client may use (spec CC-02, CC-03,
/// CC-07, §10 A11): both secret transports, because real clients differ, and `private_key_jwt`
/// (RECOMMENDED).
pub const AUTH_METHODS: [TokenEndpointAuthMethod; 3] = [
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
];

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
/// authenticators. `install` checks them and fails (the server refuses to start) when an
/// authenticator for one of [`AUTH_METHODS`] is missing, or when an advertised signing algorithm
/// is `none` or `HS*` (spec CC-03, CC-04, §2.3.1 item 1).
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

fn wiring(message: impl Into<String>) -> RegistryError {
    RegistryError::Extension("client_credentials".into(), message.into())
}

impl ServerExtension for ClientCredentialsExtension {
    fn name(&self) -> &str {
        "client_credentials"
    }

    fn install(self: Box<Self>, registry: &mut Registry) -> Result<(), RegistryError> {
        for method in AUTH_METHODS {
            if registry.authenticator(method).is_none() {
                return Err(wiring(format!("no authenticator for {method}")));
            }
        }
        if let Some(weak) = registry
            .signing_alg_values()
            .into_iter()
            .find(|a| a.eq_ignore_ascii_case("none") || a.to_ascii_uppercase().starts_with("HS"))
        {
            return Err(wiring(format!(
                "assertion algorithm {weak} must not be advertised"
            )));
        }
        registry.add_grant(Arc::new(self.grant))?;
        registry.add_extension_id(EXTENSION_ID);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_without_authenticators_is_a_wiring_error() {
        let mut reg = Registry::new();
        let err = Box::new(ClientCredentialsExtension::new())
            .install(&mut reg)
            .unwrap_err();
        assert_eq!(
            err,
            wiring("no authenticator for client_secret_basic".to_owned())
        );
        assert!(reg.grant_types().is_empty());
    }
}
