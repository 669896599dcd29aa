//! The pending upstream sign-in: which upstream, the hash of `state`, the `nonce`, the PKCE
//! verifier, the pending `/authorize` request and an expiry. The HTTP layer keeps it in a
//! signed, short-lived, `HttpOnly`, `SameSite=Lax` cookie, so it is bound to the browser that
//! started it and any node can take the callback (RFC 9700 §4.7.1, OIDC Core §15.5.2).

use mcp_auth_core::UnixTime;
use mcp_auth_core::secret::constant_time_eq;
use serde::{Deserialize, Serialize};

/// How long an attempt may take, from the start to the callback, seconds.
pub const ATTEMPT_TTL: i64 = 600;

/// What the browser carries between the start and the callback. `Debug` redacts the nonce and
/// the verifier.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamAttempt {
    /// The upstream's configured name.
    pub upstream: String,
    /// SHA-256 of `state`, hex: the callback's `state` must hash to it.
    pub state_hash: String,
    /// The `nonce` sent; the ID token must carry it.
    pub nonce: String,
    /// The PKCE `code_verifier` (RFC 7636).
    pub verifier: String,
    /// The pending authorization request's query string, continued after sign-in.
    pub request: String,
    /// When the attempt stops being accepted, seconds since the epoch.
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for UpstreamAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAttempt")
            .field("upstream", &self.upstream)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of `state`, lower-case hex.
pub fn state_hash(state: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, state.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl UpstreamAttempt {
    /// Whether `state` is this attempt's (constant time).
    pub fn matches(&self, state: &str) -> bool {
        constant_time_eq(&self.state_hash, &state_hash(state))
    }
}

pub use mcp_auth_core::pkce::s256_challenge;

/// A PKCE `code_verifier` (RFC 7636 §4.1: 43 to 128 of `[A-Za-z0-9-._~]`) made from the random
/// `secret`: its SHA-256 in base64url, 43 characters whatever the secret generator's alphabet
/// and length, so an upstream never refuses its shape.
pub fn pkce_verifier(secret: &str) -> String {
    s256_challenge(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn challenge_is_rfc7636_s256() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    /// Whatever the secret, the verifier has the shape RFC 7636 §4.1 requires.
    #[test]
    fn verifier_has_the_rfc7636_shape_for_any_secret() {
        for secret in ["", "test0000000000000001", &"x".repeat(300), "ü ö/+="] {
            let v = pkce_verifier(secret);
            assert!(
                mcp_auth_core::pkce::is_valid_pkce_value(&v),
                "{secret:?}: {v}"
            );
        }
    }

    #[test]
    fn attempt_matches_only_its_state_and_hides_secrets() {
        let a = UpstreamAttempt {
            upstream: "acme".into(),
            state_hash: state_hash("s1"),
            nonce: "n".into(),
            verifier: "v".into(),
            request: String::new(),
            expires_at: 0,
        };
        assert!(a.matches("s1"));
        assert!(!a.matches("s2"));
        let printed = format!("{a:?}");
        assert!(
            !printed.contains("verifier") && !printed.contains("nonce"),
            "{printed}"
        );
    }
}
