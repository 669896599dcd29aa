//! One JOSE and JWKS module (feature `jose`): what every verifier of a JWS signed by someone
//! else's key needs, and the one ES256 signer, written once. The authorization server checks `private_key_jwt` client
//! assertions with it, the resource server checks access tokens, and the Cross App Access
//! extension checks ID-JAGs from trusted IdPs.
//!
//! | part | what | source |
//! |---|---|---|
//! | [`AllowedAlgorithms`] | a non-empty allow-list of asymmetric `alg`s: never `none`, never `HS*` | RFC 8725 §3.1–3.2 |
//! | [`KeySet`], [`VerifyingKey`] | JWK Set parsing (unknown members skipped, `oct` keys dropped) and the key for one JWS: by `kid`, else the only key fitting `alg`; key type, curve, the key's `alg` and `use` must fit | RFC 7517 §4–5, RFC 7518 §3.1, RFC 8037 |
//! | [`Audience`], [`numeric_date`] | `aud` as one string or an array; NumericDate as whole seconds | RFC 7519 §2, §4.1.3 |
//! | [`CompactJws`] | a compact JWS read step by step: header, payload on demand, signature checked with a chosen key | RFC 7515 §7.1 |
//! | [`JwksCache`] | one cached set per [`KeySource`] (`jwks_uri`, or issuer discovery through RFC 8414 or OpenID Connect metadata), refresh after 300 s, a rate-limited refetch on an unknown `kid`, stale keys dropped after `max_stale` | RFC 8414 §3, OIDC Discovery §4, RFC 7591 §2 |
//! | [`JwksFetcher`] | the one piece of I/O, injected: the AS passes its SSRF-guarded client, the resource server its own | |
//! | [`dpop`] | DPoP proofs (RFC 9449): proof checks, JWK thumbprints, `htu` matching, stateless server nonces, the `jti` claim | RFC 9449, RFC 7638 |
//! | [`Es256Signer`] | the one ES256 signer: a P-256 PKCS#8 key, its public JWK and RFC 7638 thumbprint, low-S `R‖S` signatures | RFC 7518 §3.4, RFC 7638 |
//!
//! Errors are [`KeyError`] (the set is known; no key of it verifies this JWS) and
//! [`JwksError`] (adds `Unavailable`: keys could not be obtained). Each user maps them to its
//! own wire error (`invalid_client`, `invalid_token`, 503) in one place.
//!
//! jsonwebtoken, which does the signature arithmetic, is re-exported as [`jsonwebtoken`] so
//! that users name the same `Algorithm` and `DecodingKey` types.
//!
//! ```
//! use mcp_auth_core::jose::{AllowedAlgorithms, KeyError, KeySet};
//! use mcp_auth_core::jose::jsonwebtoken::Algorithm;
//!
//! let set = KeySet::from_json(&serde_json::json!({"keys": [{
//!     "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
//!     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tgk5-Cpfz2dQ",
//!     "y": "x_FEzRjGJpAgeHmLzn13a0x6iE8_-hspbNjcDjb4IW0"
//! }]})).unwrap();
//! assert_eq!(set.select(Some("k1"), Algorithm::ES256).unwrap().kid(), Some("k1"));
//! // HMAC keyed with a public key: refused, whatever the set holds.
//! assert_eq!(
//!     set.select(Some("k1"), Algorithm::HS256).unwrap_err(),
//!     KeyError::DisallowedAlgorithm("HS256")
//! );
//! assert!(AllowedAlgorithms::new(&[Algorithm::HS256]).is_err());
//! ```

mod alg;
mod cache;
mod claims;
pub mod dpop;
mod es256;
mod jws;
mod key_set;

pub use alg::{AllowedAlgorithms, algorithm_name};
pub use cache::{CacheTiming, FetchError, JwksCache, JwksError, JwksFetcher, KeySource};
pub use claims::{
    Audience, MalformedClaim, assertion_replay_key, date_claim, jti_claim, numeric_date,
    numeric_date_value, str_claim,
};
pub use es256::{ES256_SIGNATURE_LEN, Es256Error, Es256Signer};
pub use jsonwebtoken;
pub use jws::{CompactJws, JwsError, is_json_object_text};
pub use key_set::{KeySet, VerifyingKey};

/// Why no key of a known set verifies a JWS, or why an allow-list or document is refused.
/// `&'static str` fields are JWA algorithm names (`"ES256"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No key has this `kid`.
    #[error("no key with kid {0}")]
    UnknownKid(String),
    /// No `kid`, and no key fits the algorithm.
    #[error("no key for {0}")]
    NoKey(&'static str),
    /// No `kid`, and several keys fit the algorithm.
    #[error("several keys for {0} and no kid")]
    AmbiguousKey(&'static str),
    /// The key's type or curve does not fit the algorithm (RFC 7518 §3.1).
    #[error("key type does not fit {0}")]
    KeyTypeMismatch(&'static str),
    /// The key states another `alg` (RFC 7517 §4.4).
    #[error("key is for {key}, the JWS uses {jws}")]
    AlgorithmMismatch {
        /// The key's `alg`.
        key: String,
        /// The JWS header's `alg`.
        jws: &'static str,
    },
    /// The key's `use` is not `sig` (RFC 7517 §4.2).
    #[error("key is not a signing key")]
    NotForSigning,
    /// The algorithm is not allowed (every `HS*`, or one outside the allow-list).
    #[error("alg {0} is not accepted")]
    DisallowedAlgorithm(&'static str),
    /// An empty allow-list.
    #[error("no algorithm allowed")]
    NoAlgorithm,
    /// The document has no `keys` array (RFC 7517 §5).
    #[error("JWK Set has no keys array")]
    NoKeysArray,
    /// The document is not JSON.
    #[error("JWK Set is not JSON: {0}")]
    NotJson(String),
}

impl KeyError {
    /// True when the set lacks the key (unknown `kid`, or no key for the `alg`): the case a
    /// refetch may cure.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::UnknownKid(_) | Self::NoKey(_))
    }
}
