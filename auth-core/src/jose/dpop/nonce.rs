//! Stateless DPoP server nonces (RFC 9449 §8, §9).
//!
//! A nonce is the time it was issued, sealed with AES-256-GCM. The key of each period of
//! `lifetime` seconds is derived with HKDF-SHA256 from a secret every node shares and the
//! period's number, so keys rotate on their own and any node opens any node's nonce without
//! storing anything. A nonce is accepted while it is at most `lifetime` seconds old (and not from
//! the future beyond a small skew between nodes' clocks), sealed under the key of its own period,
//! the current one or the one before.
//!
//! Wire form: base64url (no padding) of `period (8 bytes, big-endian) ‖ AEAD nonce (12) ‖
//! sealed issue time (8) ‖ tag (16)`: 59 characters of the RFC 9449 §8.1 `NQCHAR` set. The
//! period is the additional authenticated data; the HKDF info also names a context (the issuer
//! or resource), so a nonce of one server does not open at another sharing the secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Prk, Salt};
use ring::rand::{SecureRandom, SystemRandom};

use crate::clock::UnixTime;

/// Shortest accepted shared secret, bytes.
const MIN_SECRET_LEN: usize = 32;

/// Seconds a nonce may appear to come from the future (clock skew between nodes).
const FUTURE_SKEW: i64 = 5;

/// Length of the decoded wire form: period, AEAD nonce, issue time, tag.
const WIRE_LEN: usize = 8 + NONCE_LEN + 8 + 16;

/// Why nonce keys could not be made, or a nonce not issued. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceKeyError {
    /// The shared secret is shorter than 32 bytes.
    #[error("the DPoP nonce secret must be at least 32 bytes")]
    ShortSecret,
    /// The lifetime is 0 or over a day.
    #[error("the DPoP nonce lifetime must be 1 to 86400 seconds")]
    Lifetime,
    /// The system random number generator failed.
    #[error("the random generator failed")]
    Random,
    /// A period key could not be derived or used.
    #[error("the DPoP nonce key could not be derived")]
    Derive,
}

/// Issues and checks stateless DPoP nonces. `Debug` prints the lifetime only.
pub struct DpopNonces {
    prk: Prk,
    context: Vec<u8>,
    lifetime: i64,
    rng: SystemRandom,
}

impl std::fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopNonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces under keys derived from `secret` (at least 32 bytes, the same on every node) for
    /// `context` (the issuer or resource URI), valid `lifetime` seconds (1 to 86400).
    ///
    /// # Errors
    /// [`NonceKeyError::ShortSecret`], [`NonceKeyError::Lifetime`].
    pub fn new(secret: &[u8], context: &str, lifetime: u64) -> Result<Self, NonceKeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(NonceKeyError::ShortSecret);
        }
        if lifetime == 0 || lifetime > 86_400 {
            return Err(NonceKeyError::Lifetime);
        }
        let prk = Salt::new(HKDF_SHA256, b"mcp-auth DPoP nonce v1").extract(secret);
        Ok(Self {
            prk,
            context: context.as_bytes().to_vec(),
            lifetime: lifetime as i64,
            rng: SystemRandom::new(),
        })
    }

    /// Nonces under a random secret: only this process accepts them (one node, or tests).
    ///
    /// # Errors
    /// [`NonceKeyError::Random`], [`NonceKeyError::Lifetime`].
    pub fn random(context: &str, lifetime: u64) -> Result<Self, NonceKeyError> {
        let mut secret = [0u8; MIN_SECRET_LEN];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| NonceKeyError::Random)?;
        Self::new(&secret, context, lifetime)
    }

    /// How long a nonce is accepted, seconds.
    pub fn lifetime(&self) -> u64 {
        self.lifetime as u64
    }

    /// A fresh nonce issued at `now`.
    ///
    /// # Errors
    /// [`NonceKeyError::Random`] when the random generator fails.
    pub fn issue(&self, now: UnixTime) -> Result<String, NonceKeyError> {
        let period = now.div_euclid(self.lifetime);
        let key = self.key(period).ok_or(NonceKeyError::Derive)?;
        let mut iv = [0u8; NONCE_LEN];
        self.rng.fill(&mut iv).map_err(|_| NonceKeyError::Random)?;
        let mut sealed = now.to_be_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(period.to_be_bytes()),
            &mut sealed,
        )
        .map_err(|_| NonceKeyError::Derive)?;
        let mut wire = Vec::with_capacity(WIRE_LEN);
        wire.extend_from_slice(&period.to_be_bytes());
        wire.extend_from_slice(&iv);
        wire.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(wire))
    }

    /// True when `nonce` was issued by a holder of the same secret for the same context, at
    /// most [`Self::lifetime`] seconds before `now`.
    pub fn check(&self, nonce: &str, now: UnixTime) -> bool {
        let Ok(wire) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if wire.len() != WIRE_LEN {
            return false;
        }
        let (period_bytes, rest) = wire.split_at(8);
        let (iv, sealed) = rest.split_at(NONCE_LEN);
        let Ok(period_bytes) = <[u8; 8]>::try_from(period_bytes) else {
            return false;
        };
        let period = i64::from_be_bytes(period_bytes);
        let current = now.div_euclid(self.lifetime);
        if period != current && period != current - 1 {
            return false;
        }
        let Ok(iv) = <[u8; NONCE_LEN]>::try_from(iv) else {
            return false;
        };
        let Some(key) = self.key(period) else {
            return false;
        };
        let mut in_out = sealed.to_vec();
        let Ok(plain) = key.open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(period_bytes),
            &mut in_out,
        ) else {
            return false;
        };
        let Ok(issued) = <[u8; 8]>::try_from(&plain[..]) else {
            return false;
        };
        let issued = i64::from_be_bytes(issued);
        issued.div_euclid(self.lifetime) == period
            && issued <= now + FUTURE_SKEW
            && now - issued <= self.lifetime
    }

    /// The AES-256-GCM key of `period` (HKDF-SHA256 expand of 32 bytes, which is within its
    /// output limit, so `None` does not happen in practice).
    fn key(&self, period: i64) -> Option<LessSafeKey> {
        let period = period.to_be_bytes();
        let info = [self.context.as_slice(), b"\0", &period[..]];
        let okm = self.prk.expand(&info, &AES_256_GCM).ok()?;
        Some(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn nonces() -> DpopNonces {
        DpopNonces::new(SECRET, "https://as.example.com", 300).unwrap()
    }

    #[test]
    fn a_nonce_is_accepted_for_its_lifetime_only() {
        let n = nonces();
        let now = 1_767_225_600;
        let nonce = n.issue(now).unwrap();
        assert_eq!(nonce.len(), 59);
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(n.check(&nonce, now));
        assert!(n.check(&nonce, now + 300));
        assert!(!n.check(&nonce, now + 301));
        assert!(!n.check(&nonce, now - 6));
    }

    /// Another node with the same secret and context accepts it: nothing is stored.
    #[test]
    fn another_holder_of_the_secret_accepts_it() {
        let now = 1_767_225_999;
        let nonce = nonces().issue(now).unwrap();
        assert!(nonces().check(&nonce, now + 10));
        let other_context = DpopNonces::new(SECRET, "https://rs.example.com", 300).unwrap();
        assert!(!other_context.check(&nonce, now));
        let other_secret = DpopNonces::new(&[7u8; 32], "https://as.example.com", 300).unwrap();
        assert!(!other_secret.check(&nonce, now));
    }

    #[test]
    fn a_tampered_or_relabelled_nonce_is_refused() {
        let n = nonces();
        let now = 1_767_225_600;
        let nonce = n.issue(now).unwrap();
        let mut wire = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        wire[20] ^= 1;
        assert!(!n.check(&URL_SAFE_NO_PAD.encode(&wire), now));
        // Claiming the previous period: a different key and AAD, so it does not open.
        let mut wire = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        let period = i64::from_be_bytes(wire[..8].try_into().unwrap()) - 1;
        wire[..8].copy_from_slice(&period.to_be_bytes());
        assert!(!n.check(&URL_SAFE_NO_PAD.encode(&wire), now));
        for junk in ["", "abc", "!!!!", &"A".repeat(59)] {
            assert!(!n.check(junk, now), "{junk}");
        }
    }

    #[test]
    fn short_secret_and_bad_lifetime_are_refused() {
        assert_eq!(
            DpopNonces::new(b"short", "c", 300).unwrap_err(),
            NonceKeyError::ShortSecret
        );
        assert_eq!(
            DpopNonces::new(SECRET, "c", 0).unwrap_err(),
            NonceKeyError::Lifetime
        );
    }
}
