//! [`IdJagError`]: why an ID-JAG was refused, and its one mapping to [`OAuthError`].

use mcp_auth_core::{ErrorCode, OAuthError};

/// Why the redeeming authorization server refused a JWT bearer request carrying an ID-JAG
/// (spec §6.5, steps V2…V16).
///
/// Each variant maps to one OAuth error code in `From<IdJagError> for OAuthError`. The
/// `Display` text is the public `error_description`: it names the defect and never echoes the
/// assertion or a claim value an attacker chose freely (only issuer and `kid` values that
/// identify configuration, and scope names already checked to be well formed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdJagError {
    /// V2: no `assertion` parameter (`invalid_request`). A repeated one is refused by the
    /// engine's form parser, also `invalid_request`.
    #[error("the assertion parameter is required")]
    MissingAssertion,
    /// V4: not a compact JWS, or its header does not decode or names no supported `alg`
    /// (`alg: none` included) (`invalid_grant`).
    #[error("the assertion is not a signed JWT ({0})")]
    Malformed(&'static str),
    /// V5: header `typ` is not `oauth-id-jag+jwt` (`invalid_grant`, EMA-01).
    #[error("the assertion is not an ID-JAG: header typ must be oauth-id-jag+jwt")]
    WrongType,
    /// V6: `alg` outside the issuer's allow-list (`invalid_grant`, EMA-07).
    #[error("the assertion's signing algorithm {0} is not accepted")]
    DisallowedAlgorithm(&'static str),
    /// V7: `iss` missing or not a trusted identity provider (`invalid_grant`, EMA-07).
    #[error("the ID-JAG issuer is not a trusted identity provider")]
    UntrustedIssuer,
    /// EMA-14: `iss` is this server itself (`invalid_grant`).
    #[error("this authorization server does not accept ID-JAGs it issued itself")]
    OwnIssuer,
    /// V8: no key of the issuer verifies the signature (`invalid_grant`, EMA-07).
    #[error("the ID-JAG signature could not be verified: {0}")]
    Signature(&'static str),
    /// V9: `aud` is not this server's issuer, or an array of more than one (`invalid_grant`,
    /// EMA-02).
    #[error("the ID-JAG audience must be this authorization server's issuer, alone")]
    WrongAudience,
    /// V10: `exp` missing or past (`invalid_grant`, EMA-06).
    #[error("the ID-JAG has expired")]
    Expired,
    /// V10: `iat` missing or in the future (`invalid_grant`).
    #[error("the ID-JAG iat is missing or in the future")]
    BadIssuedAt,
    /// V10: `exp` is earlier than `iat`, refused whatever the clock skew (`invalid_grant`).
    #[error("the ID-JAG exp is earlier than its iat")]
    ExpiresBeforeIssued,
    /// V10: `exp - iat` exceeds the issuer's `max_lifetime` (`invalid_grant`).
    #[error("the ID-JAG lifetime exceeds {0} seconds")]
    TooLongLived(u64),
    /// V11: `jti` missing (`invalid_grant`).
    #[error("the ID-JAG has no jti")]
    MissingJti,
    /// V11: the `jti` was already used (`invalid_grant`, EMA-05).
    #[error("the ID-JAG was already used")]
    Replayed,
    /// V12: `client_id` missing or not the authenticated client, or the client is not allowed
    /// for this issuer (`invalid_grant`, EMA-03).
    #[error("ID-JAG client_id does not match the authenticated client")]
    ClientMismatch,
    /// V12: the issuer's `allowed_client_ids` does not list the client (`invalid_grant`).
    #[error("this client may not redeem ID-JAGs from this identity provider")]
    ClientNotAllowed,
    /// V13: `sub` missing or empty (`invalid_grant`).
    #[error("the ID-JAG has no sub")]
    MissingSubject,
    /// A required claim has the wrong JSON type (`invalid_grant`).
    #[error("the ID-JAG claim {0} is malformed")]
    MalformedClaim(&'static str),
    /// V14: the `resource` claim is not a resource this server serves (`invalid_grant`, EMA-04).
    #[error("the ID-JAG resource is not a resource of this authorization server")]
    UnknownResource,
    /// V14: the resource is not in the issuer's `allowed_resources`, or not in the client's
    /// `resources` list (`invalid_grant` for the claim, `invalid_target` for the request).
    #[error(
        "tokens for this resource may not be obtained with ID-JAGs from this identity provider"
    )]
    ResourceNotAllowed {
        /// True when the resource came from the request, not the claim.
        from_request: bool,
    },
    /// V14: the request's `resource` is missing (with no default resource), unknown, malformed or
    /// repeated (`invalid_target`, RFC 8707 §2); the text is the server's description.
    #[error("{0}")]
    Target(String),
    /// V15: the ID-JAG `scope` names a scope the resource does not define (`invalid_grant`).
    #[error("the ID-JAG scope {0} is not defined for the resource")]
    UnknownScope(String),
    /// V16: the request asks for a scope the ID-JAG does not grant (`invalid_scope`, EMA-09).
    #[error("scope {0} is not granted by the ID-JAG")]
    ScopeWidened(String),
    /// V16: the request asks for a scope outside the client's `scope` list (`invalid_scope`).
    #[error("scope {0} is not allowed for this client")]
    ScopeNotAllowed(String),
    /// V16: the ID-JAG's scopes and the client's `scope` list have nothing in common
    /// (`invalid_scope`).
    #[error("this client is allowed none of the ID-JAG's scopes")]
    NoScope,
    /// The request's `scope` is malformed (`invalid_scope`).
    #[error("malformed scope: {0}")]
    MalformedScope(String),
    /// The replay store failed: `temporarily_unavailable` (HTTP 503 with `Retry-After`, like
    /// every store failure); the store's error is the private source, logged, not sent.
    #[error("the replay store is unavailable")]
    Store(mcp_auth_core::StoreError),
}

impl From<IdJagError> for OAuthError {
    fn from(e: IdJagError) -> Self {
        let code = match &e {
            IdJagError::MissingAssertion => ErrorCode::InvalidRequest,
            IdJagError::ScopeWidened(_)
            | IdJagError::ScopeNotAllowed(_)
            | IdJagError::NoScope
            | IdJagError::MalformedScope(_) => ErrorCode::InvalidScope,
            IdJagError::ResourceNotAllowed { from_request: true } | IdJagError::Target(_) => {
                ErrorCode::InvalidTarget
            }
            IdJagError::Store(store) => {
                return OAuthError::from(store.clone());
            }
            _ => ErrorCode::InvalidGrant,
        };
        OAuthError::new(code, e.to_string())
    }
}

/// A claim of the wrong shape, read by [`mcp_auth_core::jose::str_claim`] and its siblings.
impl From<mcp_auth_core::jose::MalformedClaim> for IdJagError {
    fn from(e: mcp_auth_core::jose::MalformedClaim) -> Self {
        Self::MalformedClaim(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_rfc_6749_code() {
        let cases = [
            (IdJagError::MissingAssertion, ErrorCode::InvalidRequest),
            (IdJagError::WrongType, ErrorCode::InvalidGrant),
            (IdJagError::Replayed, ErrorCode::InvalidGrant),
            (
                IdJagError::ScopeWidened("admin".into()),
                ErrorCode::InvalidScope,
            ),
            (
                IdJagError::ResourceNotAllowed { from_request: true },
                ErrorCode::InvalidTarget,
            ),
            (
                IdJagError::ResourceNotAllowed {
                    from_request: false,
                },
                ErrorCode::InvalidGrant,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(OAuthError::from(err.clone()).code(), code, "{err:?}");
        }
        assert_eq!(
            OAuthError::from(IdJagError::ClientMismatch).description(),
            "ID-JAG client_id does not match the authenticated client"
        );
    }

    #[test]
    fn store_failure_is_temporarily_unavailable_without_details() {
        let store = mcp_auth_core::StoreError::backend("disk full at /var/db");
        let err = OAuthError::from(IdJagError::Store(store.clone()));
        assert_eq!(err.code(), ErrorCode::TemporarilyUnavailable);
        assert!(!err.description().contains("/var/db"));
        assert_eq!(mcp_auth_core::store_error_in(&err), Some(&store));
    }
}
