//! The third-party credential [`super::ConnectionVault::credential`] returns.

use mcp_auth_core::Secret;

/// `issued_token_type` of an OAuth connection's access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `issued_token_type` of an `api_key` connection's secret (mcp-auth, issue 11 contract).
pub const API_KEY_TYPE: &str = "urn:mcp-auth:token-type:api-key";

/// What kind of secret a [`Credential`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A third-party OAuth access token (`token_type` `Bearer`): send it as
    /// `Authorization: Bearer <token>` to the third party's API.
    AccessToken,
    /// A secret the user entered (an API key, `token_type` `N_A`): use it the way the third
    /// party's API wants.
    ApiKey,
}

/// A user's credential for a third-party service, from the authorization server's vault.
///
/// It is for the tool handler to call the third party with; it must never be returned to the
/// MCP client (spec ELIC-14) nor logged: `Debug` redacts the secret, and there is no `Display`
/// and no `Serialize`.
#[derive(Debug, Clone)]
pub struct Credential {
    pub(crate) secret: Secret,
    pub(crate) kind: CredentialKind,
    pub(crate) expires_in: Option<u64>,
    pub(crate) scope: Option<String>,
}

impl Credential {
    /// The token or key itself. Call sites are easy to audit by this name.
    pub fn expose(&self) -> &str {
        self.secret.expose()
    }

    /// What kind of secret this is.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// Seconds until the third-party token expires, when the authorization server said.
    pub fn expires_in(&self) -> Option<u64> {
        self.expires_in
    }

    /// The scope granted by the third party, when the authorization server said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}
