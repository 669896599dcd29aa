//! The grant's refusals and their one mapping to [`OAuthError`].
//!
//! Scope and resource refusals (`invalid_scope`, `invalid_target`) are not here: the engine
//! applies the scope policy and resource rules to every grant's decision
//! ([`mcp_auth_core::ext::PolicyError`]). Public clients are refused by the engine too, from the
//! grant's [`mcp_auth_core::ext::ClientAuthPolicy`].

use mcp_auth_core::{ErrorCode, OAuthError};

/// Why the `client_credentials` grant refused a request.
///
/// Each variant is mapped deliberately to one OAuth error code by `From<GrantError> for
/// OAuthError`; the `Display` text is the public `error_description` and never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The client record did not come from an operator (dynamic registration or a metadata
    /// document) and such clients are not allowed: `unauthorized_client` (spec §5.1: machine
    /// clients are pre-registered).
    #[error("only operator-registered clients may use the client_credentials grant")]
    NotOperatorRegistered,
}

impl From<GrantError> for OAuthError {
    fn from(e: GrantError) -> Self {
        let code = match &e {
            GrantError::NotOperatorRegistered => ErrorCode::UnauthorizedClient,
        };
        OAuthError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_registered_client_maps_to_unauthorized_client() {
        let err = OAuthError::from(GrantError::NotOperatorRegistered);
        assert_eq!(err.code(), ErrorCode::UnauthorizedClient);
        assert_eq!(err.http_status(), 400);
        assert_eq!(
            err.description(),
            "only operator-registered clients may use the client_credentials grant"
        );
    }
}
