//! The logged reason behind an `invalid_client`. The bounds on failed client authentications
//! ([`ClientAuthThrottle`]) are in [`crate::rate_limit::client_auth`].

use mcp_auth_core::error::{ChallengeHint, OAuthError};

pub use crate::rate_limit::client_auth::ClientAuthThrottle;

/// Why client authentication failed. Attached to `invalid_client` with
/// [`OAuthError::with_source`] so it reaches the logs, never the response. Never contains a
/// secret or an assertion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client authentication failed: {0}")]
pub struct AuthFailure(pub String);

impl AuthFailure {
    /// `invalid_client` with `reason` as its logged source and no challenge.
    pub fn invalid_client(reason: impl Into<String>) -> OAuthError {
        OAuthError::invalid_client().with_source(Self(reason.into()))
    }

    /// `invalid_client` with `reason` as its logged source and the `Basic` challenge (the client
    /// tried HTTP Basic, RFC 6749 §5.2; spec AS-19).
    pub fn invalid_client_basic(reason: impl Into<String>) -> OAuthError {
        Self::invalid_client(reason).with_challenge(ChallengeHint::Basic)
    }
}
