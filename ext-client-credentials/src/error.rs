//! The grant's refusals and their one mapping to [`OAuthError`].

use mcp_auth_core::{ErrorCode, OAuthError};

/// Why the `client_credentials` grant refused a request.
///
/// Each variant is mapped deliberately to one OAuth error code by `From<GrantError> for
/// OAuthError`; the `Display` text is the public `error_description` and never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The client is public (`token_endpoint_auth_method: none`): `unauthorized_client`
    /// (spec CC-08, RFC 6749 §4.4).
    #[error("public clients may not use the client_credentials grant")]
    PublicClient,
    /// The client record did not come from an operator (dynamic registration or a metadata
    /// document) and such clients are not allowed: `unauthorized_client` (spec §5.1: machine
    /// clients are pre-registered).
    #[error("only operator-registered clients may use the client_credentials grant")]
    NotOperatorRegistered,
    /// The `resource` is missing while the configuration requires it: `invalid_target`
    /// (RFC 8707 §2, spec CC-09).
    #[error("the resource parameter is required (RFC 8707)")]
    ResourceRequired,
    /// The client may not get tokens for this resource: `invalid_target` (spec CC-09).
    #[error("this client may not get tokens for resource {0}")]
    ResourceNotAllowed(String),
    /// A requested scope is not defined for the resource: `invalid_scope` (spec CC-10).
    #[error("scope {scope} is not defined for resource {resource}")]
    ScopeUnknown {
        /// The offending scope.
        scope: String,
        /// The chosen resource.
        resource: String,
    },
    /// A requested scope is outside the client's allowed scopes: `invalid_scope` (spec CC-10).
    #[error("scope {0} is not allowed for this client")]
    ScopeNotAllowed(String),
    /// No scope was requested and the client is allowed none of the resource's scopes:
    /// `invalid_scope` (spec CC-10).
    #[error("this client is allowed no scope of resource {0}")]
    NoScope(String),
}

impl From<GrantError> for OAuthError {
    fn from(e: GrantError) -> Self {
        let code = match &e {
            GrantError::PublicClient | GrantError::NotOperatorRegistered => {
                ErrorCode::UnauthorizedClient
            }
            GrantError::ResourceRequired | GrantError::ResourceNotAllowed(_) => {
                ErrorCode::InvalidTarget
            }
            GrantError::ScopeUnknown { .. }
            | GrantError::ScopeNotAllowed(_)
            | GrantError::NoScope(_) => ErrorCode::InvalidScope,
        };
        OAuthError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_client_maps_to_unauthorized_client() {
        let err = OAuthError::from(GrantError::PublicClient);
        assert_eq!(err.code(), ErrorCode::UnauthorizedClient);
        assert_eq!(err.http_status(), 400);
    }

    #[test]
    fn resource_errors_map_to_invalid_target() {
        assert_eq!(
            OAuthError::from(GrantError::ResourceRequired).code(),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            OAuthError::from(GrantError::ResourceNotAllowed("https://x.example".into())).code(),
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn scope_errors_map_to_invalid_scope() {
        assert_eq!(
            OAuthError::from(GrantError::ScopeNotAllowed("a".into())).code(),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            OAuthError::from(GrantError::NoScope("r".into())).code(),
            ErrorCode::InvalidScope
        );
    }
}
