//! The sealed 2026-07-28 `requestState` (SEP-2322 MRTR): AES-256-GCM over the principal (with
//! the MCP server its token is for), an expiry, the request digest and the elicitation id (spec ELIC-R2-05, ELIC-R2-06).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::UnixTime;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Additional authenticated data: binds a sealed state to this format and purpose.
const AAD: &[u8] = b"mcp-auth/request-state/v1";

/// How long a sealed `requestState` is accepted: 15 minutes (spec ELIC-R2-06, our default), or less
/// when the elicitation expires sooner.
pub const REQUEST_STATE_TTL_SECS: i64 = 900;

/// The 32-byte AES-256-GCM key sealing `requestState` values. Give every replica of an MCP
/// server the same key (a state sealed by one is opened by another); a new key makes every
/// outstanding state refused. `Debug` is redacted.
#[derive(Clone)]
pub struct RequestStateKey(LessSafeKey);

impl RequestStateKey {
    /// A key from 32 random bytes (e.g. `openssl rand 32`).
    pub fn new(bytes: [u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key");
        Self(LessSafeKey::new(key))
    }

    /// A key from base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
    ///
    /// # Errors
    /// `None` when the text is not base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let text = text.trim();
        let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(text).ok())?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::new(bytes))
    }
}

impl fmt::Debug for RequestStateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestStateKey([redacted])")
    }
}

/// The plaintext of a sealed state. Field names are short: the value travels in every retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StateClaims {
    /// `iss` of the principal.
    pub iss: String,
    /// `sub` of the principal.
    pub sub: String,
    /// `client_id` of the principal.
    pub cid: String,
    /// `aud` of the principal's access token: the MCP server the state was sealed for.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: UnixTime,
    /// Base64url SHA-256 request digest ([`super::subject::RequestFacts`]).
    pub dig: String,
    /// The connection name.
    pub con: String,
    /// The authorization server's elicitation id.
    pub eid: String,
}

impl RequestStateKey {
    /// `base64url(nonce || ciphertext || tag)` of the claims' JSON.
    pub(crate) fn seal(&self, claims: &StateClaims) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut buf = serde_json::to_vec(claims).ok()?;
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The claims of a state this key sealed; `None` for anything else (not base64url, too
    /// short, tampered, sealed with another key, not our JSON).
    pub(crate) fn open(&self, sealed: &str) -> Option<StateClaims> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::from(AAD), &mut buf).ok()?;
        serde_json::from_slice(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> StateClaims {
        StateClaims {
            iss: "https://as".into(),
            sub: "alice".into(),
            cid: "c".into(),
            aud: "https://mcp.example.com/mcp".into(),
            exp: 10,
            dig: "d".into(),
            con: "calendar".into(),
            eid: "e".into(),
        }
    }

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = RequestStateKey::new([7; 32]);
        let sealed = key.seal(&claims()).unwrap();
        assert_eq!(key.open(&sealed), Some(claims()));
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(raw)), None);
        assert_eq!(RequestStateKey::new([8; 32]).open(&sealed), None);
        assert_eq!(key.open("!!"), None);
        assert_eq!(key.open(""), None);
    }

    #[test]
    fn key_from_base64_needs_32_bytes() {
        assert!(RequestStateKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 32])).is_some());
        assert!(RequestStateKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 31])).is_none());
        assert_eq!(
            format!("{:?}", RequestStateKey::new([0; 32])),
            "RequestStateKey([redacted])"
        );
    }
}
