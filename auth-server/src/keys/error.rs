//! Errors of key handling.

/// A signing key could not be generated, loaded or used, or the issuer could not be built.
///
/// These are start-up or operator errors; on a request path they become `server_error` with this
/// value as the logged source. No variant ever carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The system random number generator failed while generating a key.
    #[error("key generation failed")]
    Generate,
    /// The stored private key is not unpadded base64url.
    #[error("signing key {kid}: private key is not base64url")]
    Encoding {
        /// The stored `kid`.
        kid: String,
    },
    /// The PKCS#8 document was rejected by the crypto library (wrong curve, corrupt, …).
    #[error("signing key {kid}: PKCS#8 rejected: {reason}")]
    Rejected {
        /// The stored `kid`.
        kid: String,
        /// The library's reason.
        reason: String,
    },
    /// The stored `alg` is not `ES256`, the only algorithm this server signs with.
    #[error("signing key {kid}: unsupported alg {alg}")]
    UnsupportedAlgorithm {
        /// The stored `kid`.
        kid: String,
        /// The stored `alg`.
        alg: String,
    },
    /// The stored `kid` is not the RFC 7638 thumbprint of the key.
    #[error("signing key {stored}: kid is not the key thumbprint {computed}")]
    KidMismatch {
        /// The stored `kid`.
        stored: String,
        /// The thumbprint computed from the key.
        computed: String,
    },
    /// No stored key is current (`retired_at` is `None` for none of them).
    #[error("no current signing key")]
    NoCurrentKey,
    /// More than one stored key is current.
    #[error("{0} signing keys are current; exactly one must be")]
    SeveralCurrentKeys(usize),
    /// The public key could not be turned into a verification key.
    #[error("signing key {kid}: cannot build verification key: {reason}")]
    VerificationKey {
        /// The key's `kid`.
        kid: String,
        /// The library's reason.
        reason: String,
    },
    /// Signing failed (the random number generator failed).
    #[error("signing failed")]
    Sign,
    /// The claims could not be serialised.
    #[error("claims could not be serialised: {0}")]
    Claims(String),
    /// The claims name another issuer than this one.
    #[error("claims iss {0} is not this issuer")]
    WrongIssuer(String),
}
