//! DPoP, OAuth 2.0 Demonstrating Proof of Possession ([RFC 9449]): the protocol logic the
//! authorization server's token endpoint and the resource server's layer share, free of any
//! HTTP framework.
//!
//! | part | what | RFC 9449 |
//! |---|---|---|
//! | [`ProofVerifier`] | one proof checked against one request: `typ`, `alg` allow-list, public `jwk` only, signature, `jti`, `htm`, `htu`, `iat` window, `ath`, `nonce` | §4.2, §4.3, §7.1 |
//! | [`jwk_thumbprint`] | the RFC 7638 SHA-256 thumbprint of the proof key, the `jkt` of `cnf` | §6.1 |
//! | [`htu_matches`] | `htu` compared with the request URI, without query and fragment, after syntax- and scheme-based normalisation | §4.3 item 9 |
//! | [`DpopNonces`] | stateless server nonces: a timestamp sealed with AES-256-GCM under a key derived from a shared secret and rotated every lifetime, so every node accepts every node's nonce | §8, §9 |
//! | [`claim_jti`] | the proof's `jti` recorded once in a [`ReplayCache`] for as long as the proof is acceptable | §11.1 |
//! | [`access_token_hash`] | `ath`: base64url of the SHA-256 of the access token | §4.2 |
//!
//! ECDSA proofs are accepted with high or low `S`: browsers' WebCrypto signs high-S about half
//! the time, and a proof's uniqueness rests on its `jti`, not on its signature bytes. (The low-S
//! rule of [`crate::ecdsa`] is for the tokens this project signs.)
//!
//! [RFC 9449]: https://www.rfc-editor.org/rfc/rfc9449

mod htu;
mod nonce;
mod proof;
mod proof_header;
mod proof_jwk;
mod thumbprint;

pub use htu::htu_matches;
pub use nonce::{DpopNonces, NonceKeyError};
pub use proof::{NonceRule, ProofExpectations, ProofVerifier, VerifiedProof};
pub use thumbprint::jwk_thumbprint;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::UnixTime;
use crate::error::{ErrorCode, OAuthError, StoreError};
use crate::store::ReplayCache;

/// The JWS `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";

/// The `token_type` of a DPoP-bound access token and the authentication scheme that presents it
/// (RFC 9449 §5, §7.1).
pub const TOKEN_TYPE: &str = "DPoP";

/// The name of the header that carries a proof (RFC 9449 §4.1).
pub const HEADER: &str = "DPoP";

/// The name of the header that carries a server nonce (RFC 9449 §8.1).
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// Default half-width of the accepted `iat` window, seconds: a proof made up to five minutes
/// before or after the server's now is accepted (RFC 9449 §11.1 leaves the window to the server).
pub const DEFAULT_IAT_WINDOW: u64 = 300;

/// Why a DPoP proof is refused. Every variant but the two nonce ones is answered with
/// `invalid_dpop_proof` (RFC 9449 §5, §7.1); [`DpopError::NonceRequired`] and
/// [`DpopError::BadNonce`] with `use_dpop_nonce` and a fresh `DPoP-Nonce` (§8, §9). The
/// `Display` text is a public description and never carries the proof or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The request carries more than one `DPoP` header (§4.3 item 1).
    #[error("more than one DPoP header")]
    SeveralProofs,
    /// A proof was needed and none was sent (§5.2, §7.1).
    #[error("a DPoP proof is required")]
    Missing,
    /// Not a compact JWS whose header and payload are JSON objects (§4.3 items 2, 3).
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// The header `typ` is not `dpop+jwt` (§4.3 item 4).
    #[error("the DPoP proof typ is not dpop+jwt")]
    WrongType,
    /// The header `alg` is `none`, symmetric, unknown or outside the allow-list (§4.3 item 5).
    #[error("the DPoP proof alg is not accepted")]
    DisallowedAlgorithm,
    /// The header `jwk` is missing, not a public key of a supported type, or does not fit `alg`
    /// (§4.3 item 7).
    #[error("the DPoP proof jwk is not a usable public key")]
    BadKey,
    /// The header `jwk` carries private key members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`;
    /// §4.3 item 7).
    #[error("the DPoP proof jwk contains a private key")]
    PrivateKey,
    /// The signature does not verify with the header `jwk` (§4.3 item 6).
    #[error("the DPoP proof signature is invalid")]
    BadSignature,
    /// A required claim is missing or of the wrong type (§4.3 item 3).
    #[error("the DPoP proof lacks a valid {0} claim")]
    MissingClaim(&'static str),
    /// `htm` is not the request's method (§4.3 item 8).
    #[error("the DPoP proof htm does not match the request method")]
    WrongMethod,
    /// `htu` is not the request's URI (§4.3 item 9).
    #[error("the DPoP proof htu does not match the request URI")]
    WrongUri,
    /// `iat` is outside the accepted window (§4.3 item 11).
    #[error("the DPoP proof iat is outside the accepted window")]
    IatOutOfWindow,
    /// The `jti` was seen before within the window (§4.3 item 12, §11.1).
    #[error("the DPoP proof was already used")]
    Replayed,
    /// `ath` is missing or is not the hash of the presented access token (§4.3 item 10, §7.1).
    #[error("the DPoP proof ath does not match the access token")]
    WrongAccessTokenHash,
    /// The proof's key is not the key the access token is bound to (`cnf.jkt`, §7.1).
    #[error("the DPoP proof key does not match the access token binding")]
    KeyMismatch,
    /// The proof's `content_digest` is not the digest of the request body (SEP-1932).
    #[error("the DPoP proof content_digest does not match the request body")]
    ContentDigestMismatch,
    /// The server demands a nonce and the proof has none (§8, §9): `use_dpop_nonce`.
    #[error("a DPoP nonce is required")]
    NonceRequired,
    /// The proof's nonce was not issued by this server or has expired: `use_dpop_nonce`.
    #[error("the DPoP nonce is invalid or expired")]
    BadNonce,
}

impl DpopError {
    /// True for the errors answered with `use_dpop_nonce` (RFC 9449 §8.1, §9.1) rather than
    /// `invalid_dpop_proof`.
    pub fn is_nonce_error(&self) -> bool {
        matches!(self, Self::NonceRequired | Self::BadNonce)
    }

    /// The wire error code: `use_dpop_nonce` or `invalid_dpop_proof` (RFC 9449 §12.2).
    pub fn code(&self) -> &'static str {
        if self.is_nonce_error() {
            "use_dpop_nonce"
        } else {
            "invalid_dpop_proof"
        }
    }
}

/// The token endpoint's answer (RFC 9449 §5): `invalid_dpop_proof`, or `use_dpop_nonce` for the
/// nonce errors (the caller attaches the fresh nonce with [`OAuthError::with_dpop_nonce`]).
impl From<DpopError> for OAuthError {
    fn from(e: DpopError) -> Self {
        let code = if e.is_nonce_error() {
            ErrorCode::UseDpopNonce
        } else {
            ErrorCode::InvalidDpopProof
        };
        OAuthError::new(code, e.to_string())
    }
}

/// `ath` of an access token (RFC 9449 §4.2): base64url (no padding) of the SHA-256 of its ASCII
/// value.
pub fn access_token_hash(access_token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The `content_digest` of a request body in the MCP profile of DPoP (SEP-1932; the RFC 9530
/// `Content-Digest` field's value syntax): `sha-256=:<standard base64 of SHA-256(body)>:`.
///
/// ```
/// use mcp_auth_core::jose::dpop::content_digest;
///
/// assert_eq!(content_digest(b""), "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
/// ```
pub fn content_digest(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// Record `proof`'s `jti` in `cache` for as long as a proof with its `iat` is acceptable
/// (`iat + iat_window` seconds, plus one), keyed by the proof key's thumbprint and the `jti`
/// (hashed, so the key has a fixed length whatever the client sent). Every node sharing `cache`
/// sees the record (RFC 9449 §11.1).
///
/// # Errors
/// [`ClaimError::Replayed`] when the `jti` of that key is already recorded;
/// [`ClaimError::Store`] when the cache fails.
pub async fn claim_jti(
    cache: &dyn ReplayCache,
    proof: &VerifiedProof,
    iat_window: u64,
    now: UnixTime,
) -> Result<(), ClaimError> {
    let mut input = Vec::with_capacity(proof.jkt.len() + proof.jti.len() + 1);
    input.extend_from_slice(proof.jkt.as_bytes());
    input.push(0);
    input.extend_from_slice(proof.jti.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let key = format!("dpop:{}", URL_SAFE_NO_PAD.encode(digest.as_ref()));
    let window = i64::try_from(iat_window).unwrap_or(i64::MAX / 4);
    let expires_at = proof.iat.max(now).saturating_add(window).saturating_add(1);
    if cache.insert_once(&key, expires_at, now).await? {
        Ok(())
    } else {
        Err(ClaimError::Replayed)
    }
}

/// Why [`claim_jti`] refused a proof.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The `jti` was recorded before: [`DpopError::Replayed`].
    #[error("the DPoP proof was already used")]
    Replayed,
    /// The replay cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryReplayCache;

    fn proof(jkt: &str, jti: &str) -> VerifiedProof {
        VerifiedProof {
            jkt: jkt.into(),
            jti: jti.into(),
            iat: 1000,
            content_digest: None,
        }
    }

    #[tokio::test]
    async fn a_jti_is_claimed_once_per_key_within_the_window() {
        let cache = MemoryReplayCache::default();
        claim_jti(&cache, &proof("k1", "j"), 300, 1000)
            .await
            .unwrap();
        assert!(matches!(
            claim_jti(&cache, &proof("k1", "j"), 300, 1200).await,
            Err(ClaimError::Replayed)
        ));
        claim_jti(&cache, &proof("k2", "j"), 300, 1000)
            .await
            .unwrap();
        // After the window the proof itself is refused for its `iat`; the record may go.
        claim_jti(&cache, &proof("k1", "j"), 300, 1302)
            .await
            .unwrap();
    }

    /// RFC 9449 §4.2 example: `ath` of the access token `Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU`.
    #[test]
    fn ath_is_the_base64url_sha256_of_the_token() {
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn nonce_errors_have_their_own_code() {
        assert_eq!(DpopError::NonceRequired.code(), "use_dpop_nonce");
        assert_eq!(DpopError::BadNonce.code(), "use_dpop_nonce");
        assert_eq!(DpopError::WrongType.code(), "invalid_dpop_proof");
    }
}
