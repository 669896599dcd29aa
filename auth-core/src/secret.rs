//! Secrets, token hashes and the secret generator.
//!
//! Authorization codes, refresh tokens and client secrets are generated with 256 bits from the
//! operating system CSPRNG (SEC-05) and stored only as SHA-256 hashes (SEC-04): a high-entropy
//! value needs no slow hash, and a fast one keeps the token endpoint fast. Hashes are compared in
//! constant time.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// A secret value (code, refresh token, client secret, session id, password). `Debug` prints
/// `[redacted]`, there is no `Display` and no `Serialize`, and the value is read only through
/// [`Secret::expose`]. Equality is constant-time. It deserializes from a JSON or TOML string
/// (configuration files), so a configured secret is a `Secret` from the moment it is read.
#[derive(Clone, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call sites are easy to audit by this name.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash of the secret, for storage and lookup.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// Stands in for a secret in a hand-written `Debug`: prints `[redacted]`.
///
/// ```
/// use mcp_auth_core::secret::Redacted;
/// assert_eq!(format!("{:?}", Redacted), "[redacted]");
/// assert_eq!(format!("{:?}", Redacted::option(&Some("s3cr3t"))), "Some([redacted])");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl Redacted {
    /// `Some(Redacted)` when `value` holds something, `None` otherwise: shows whether an
    /// optional secret is present without showing it.
    pub fn option<T>(value: &Option<T>) -> Option<Redacted> {
        value.as_ref().map(|_| Redacted)
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The SHA-256 hash of a high-entropy secret, as 64 lowercase hex characters. Equality is
/// constant-time.
#[derive(Clone, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hash a secret value.
    pub fn of(secret: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        // Into a string of the right capacity from the start (`hex::encode` collects an
        // iterator of `char`s, several times the cost; every token request hashes).
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for byte in digest.as_ref() {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        Self(hex)
    }

    /// Rebuild a hash read from storage. Returns `None` unless it is 64 lowercase hex characters.
    pub fn from_stored(hex: &str) -> Option<Self> {
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(hex.to_owned()))
    }

    /// The hex string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does `secret` hash to this value? Constant-time in the hash comparison.
    pub fn verify(&self, secret: &str) -> bool {
        self == &TokenHash::of(secret)
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..8.min(self.0.len())])
    }
}

/// Makes random values: codes, refresh tokens, client secrets and session ids (as [`Secret`]s),
/// and public identifiers (`client_id`s, `jti`s, refresh token family ids). Injected so tests can
/// use a deterministic one.
pub trait SecretGenerator: Send + Sync {
    /// A secret of `bytes` random bytes (256 bits for codes, tokens and client secrets: 32),
    /// encoded as unpadded base64url, with `prefix` in front (e.g. `ac_`, `rt_`, `cs_`).
    fn secret(&self, prefix: &str, bytes: usize) -> Secret;

    /// A random identifier that is not a secret (it is shown, logged or put in a token):
    /// `bytes` random bytes as unpadded base64url with `prefix` in front.
    fn identifier(&self, prefix: &str, bytes: usize) -> String {
        self.secret(prefix, bytes).0
    }
}

/// The production generator: the operating system CSPRNG through `ring`.
#[derive(Debug, Clone)]
pub struct OsSecretGenerator {
    rng: SystemRandom,
}

impl OsSecretGenerator {
    /// A generator backed by the OS CSPRNG.
    pub fn new() -> Self {
        Self {
            rng: SystemRandom::new(),
        }
    }
}

impl Default for OsSecretGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl SecretGenerator for OsSecretGenerator {
    fn secret(&self, prefix: &str, bytes: usize) -> Secret {
        let mut buf = vec![0u8; bytes];
        // `SystemRandom::fill` only fails when the OS has no entropy source at all; there is no
        // safe way to continue then.
        if self.rng.fill(&mut buf).is_err() {
            panic!("operating system random number generator failed");
        }
        Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&buf)))
    }
}

/// A deterministic generator for tests: a counter, never for production.
#[derive(Debug, Default)]
pub struct SequentialSecretGenerator {
    next: std::sync::atomic::AtomicU64,
}

impl SecretGenerator for SequentialSecretGenerator {
    fn secret(&self, prefix: &str, _bytes: usize) -> Secret {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Secret(format!("{prefix}test{n:016}"))
    }
}

/// Constant-time comparison of two strings (client secrets from configuration, CSRF tokens).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret([redacted])"
        );
    }

    #[test]
    fn secret_deserializes_from_a_string_and_compares_by_value() {
        let s: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s, Secret::new("hunter2"));
        assert_ne!(s, Secret::new("hunter3"));
    }

    #[test]
    fn identifiers_come_from_the_same_generator() {
        let g = SequentialSecretGenerator::default();
        assert_eq!(g.identifier("mcp_", 16), "mcp_test0000000000000000");
        assert_eq!(g.secret("cs_", 32).expose(), "cs_test0000000000000001");
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(TokenHash::of("abc").verify("abc"));
        assert!(!TokenHash::of("abc").verify("abd"));
    }

    #[test]
    fn os_tokens_have_256_bits() {
        let t = OsSecretGenerator::new().secret("rt_", 32);
        assert_eq!(t.expose().len(), 3 + 43);
        assert!(t.expose().starts_with("rt_"));
        assert_ne!(t, OsSecretGenerator::new().secret("rt_", 32));
    }
}
