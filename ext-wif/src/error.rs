//! [`WifError`]: why a workload assertion was refused, and its one mapping to [`OAuthError`].

use mcp_auth_core::{ErrorCode, OAuthError, StoreError};

/// Why the JWT bearer grant refused a workload assertion (SEP-1933; EXT-R2-08…EXT-R2-12).
///
/// Each variant maps to one RFC 6749 §5.2 / RFC 8707 §2 code in `From<WifError> for
/// OAuthError`. The `Display` text is the public `error_description`: it names the defect and
/// never echoes the assertion or a claim value the caller chose (a subject, a `jti`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WifError {
    /// Not a compact JWS, or a header that does not decode or names no supported `alg`
    /// (`alg: none` included) (`invalid_grant`).
    #[error("the assertion is not a signed JWT ({0})")]
    Malformed(&'static str),
    /// Header `typ` is neither absent nor `JWT` (an ID-JAG, an access token, a DPoP proof…)
    /// (`invalid_grant`).
    #[error("the assertion's typ is not a workload identity token's (absent or JWT)")]
    WrongType,
    /// An HMAC or otherwise unaccepted `alg` (`invalid_grant`).
    #[error("the assertion's signing algorithm {0} is not accepted")]
    DisallowedAlgorithm(&'static str),
    /// `iss` missing or not a trusted workload issuer (`invalid_grant`).
    #[error("the assertion's issuer is not a trusted workload issuer")]
    UntrustedIssuer,
    /// No key of the issuer verifies the signature (`invalid_grant`).
    #[error("the assertion's signature could not be verified: {0}")]
    Signature(&'static str),
    /// `aud` does not contain the expected audience (`invalid_grant`).
    #[error("the assertion's audience does not name this authorization server")]
    WrongAudience,
    /// `exp` missing (`invalid_grant`).
    #[error("the assertion has no exp")]
    MissingExpiry,
    /// `exp` is past, beyond the clock skew (`invalid_grant`).
    #[error("the assertion has expired")]
    Expired,
    /// `nbf` or `iat` is in the future, beyond the clock skew (`invalid_grant`).
    #[error("the assertion is not valid yet")]
    NotYetValid,
    /// The lifetime (`exp - iat`, or `exp - now` without `iat`) exceeds the limit, or `exp`
    /// is before `iat` (`invalid_grant`).
    #[error("the assertion's lifetime exceeds {0} seconds")]
    TooLongLived(i64),
    /// `jti` missing: single use cannot be enforced, so the assertion is refused
    /// (`invalid_grant`).
    #[error("the assertion has no jti")]
    MissingJti,
    /// The `jti` was already used (`invalid_grant`).
    #[error("the assertion was already used")]
    Replayed,
    /// `sub` missing or empty (`invalid_grant`).
    #[error("the assertion has no sub")]
    MissingSubject,
    /// `sub` matches none of the issuer's `allowed_subjects` (`invalid_grant`).
    #[error("this workload is not allowed to obtain tokens here")]
    SubjectNotAllowed,
    /// A claim has the wrong JSON type (`invalid_grant`).
    #[error("the assertion's {0} claim is malformed")]
    MalformedClaim(&'static str),
    /// The request's client is not the one the issuer maps to (`invalid_grant`).
    #[error("the assertion is not for this client")]
    ClientMismatch,
    /// The request's `scope` is malformed (`invalid_scope`).
    #[error("{0}")]
    MalformedScope(String),
    /// A requested scope is outside the issuer's (and the client's) allowed scopes
    /// (`invalid_scope`).
    #[error("scope {0} is not allowed for this workload")]
    ScopeNotAllowed(String),
    /// No allowed scope remains for the resource (`invalid_scope`).
    #[error("this workload is allowed no scope of the resource")]
    NoScope,
    /// The resource is not one the issuer's workloads (or the client) may get tokens for, or
    /// the request's `resource` is malformed, repeated or unknown (`invalid_target`).
    #[error("{0}")]
    Target(String),
    /// The replay store failed (`temporarily_unavailable` or `server_error`, as the store says).
    #[error("the replay store is unavailable")]
    Store(StoreError),
}

impl From<WifError> for OAuthError {
    fn from(e: WifError) -> Self {
        let code = match &e {
            WifError::MalformedScope(_) | WifError::ScopeNotAllowed(_) | WifError::NoScope => {
                ErrorCode::InvalidScope
            }
            WifError::Target(_) => ErrorCode::InvalidTarget,
            WifError::Store(store) => return OAuthError::from(store.clone()),
            _ => ErrorCode::InvalidGrant,
        };
        OAuthError::new(code, e.to_string())
    }
}

/// A claim of the wrong shape, read by [`mcp_auth_core::jose::str_claim`] and its siblings.
impl From<mcp_auth_core::jose::MalformedClaim> for WifError {
    fn from(e: mcp_auth_core::jose::MalformedClaim) -> Self {
        Self::MalformedClaim(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_rfc_code() {
        for (err, code) in [
            (WifError::Expired, ErrorCode::InvalidGrant),
            (WifError::Replayed, ErrorCode::InvalidGrant),
            (WifError::SubjectNotAllowed, ErrorCode::InvalidGrant),
            (
                WifError::ScopeNotAllowed("admin".into()),
                ErrorCode::InvalidScope,
            ),
            (WifError::NoScope, ErrorCode::InvalidScope),
            (
                WifError::Target("unknown resource".into()),
                ErrorCode::InvalidTarget,
            ),
        ] {
            assert_eq!(OAuthError::from(err.clone()).code(), code, "{err:?}");
        }
    }

    #[test]
    fn store_failure_keeps_no_details() {
        let store = StoreError::backend("disk full at /var/db");
        let err = OAuthError::from(WifError::Store(store));
        assert!(!err.description().contains("/var/db"));
    }
}
