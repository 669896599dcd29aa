//! The token vault's encryption: third-party tokens and secrets sealed with AES-256-GCM under a
//! keyring whose keys have ids, so keys can rotate (spec §7.4 "Store the tokens encrypted at
//! rest, keyed by (`iss`, `sub`, `provider`)"; ELIC-CB-04, ELIC-CB-08).
//!
//! - Each entry is sealed under the keyring's current key with a fresh random 96-bit nonce.
//! - The additional authenticated data binds the ciphertext to its place: (`iss`, `sub`,
//!   connection, key id), each length-prefixed. An entry copied to another user, another
//!   connection or relabelled with another key id does not open.
//! - Older keys only open entries; [`VaultKeyring::needs_reseal`] tells a caller to seal an
//!   entry again under the current key.
//!
//! ```
//! use mcp_auth_core::vault::{VaultKeyring, VaultSlot};
//! use mcp_auth_core::Secret;
//!
//! let keyring = VaultKeyring::new(&[("k1", &Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="))]).unwrap();
//! let slot = VaultSlot::new("https://auth.example.com", "user-1", "calendar");
//! let entry = keyring.seal(&slot, b"{\"access_token\":\"...\"}", 1_767_225_600).unwrap();
//! assert_eq!(keyring.open(&entry).unwrap().expose(), "{\"access_token\":\"...\"}");
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::clock::UnixTime;
use crate::secret::Secret;
use crate::store::SealedEntry;

/// Length of a vault key, bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// Longest key id, characters.
const MAX_KEY_ID_LEN: usize = 64;

/// Where an entry belongs: the user (`iss`, `sub` of the MCP access token that asked for it) and
/// the connection's configured name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultSlot {
    /// The issuer of the user's identity.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The connection, e.g. `calendar`.
    pub connection: String,
}

impl VaultSlot {
    /// The slot of `connection` for user (`iss`, `sub`).
    pub fn new(
        iss: impl Into<String>,
        sub: impl Into<String>,
        connection: impl Into<String>,
    ) -> Self {
        Self {
            iss: iss.into(),
            sub: sub.into(),
            connection: connection.into(),
        }
    }
}

/// Why the keyring could not be built, or an entry not sealed or opened. The texts never carry
/// key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No key was given.
    #[error("the vault needs at least one key")]
    NoKey,
    /// A key is not standard base64 of exactly 32 bytes.
    #[error("vault key {0}: not base64 of exactly 32 bytes")]
    BadKey(String),
    /// A key id is empty, too long, not visible ASCII, or given twice.
    #[error("vault key id {0:?}: ids are 1 to 64 visible ASCII characters, each used once")]
    BadKeyId(String),
    /// The entry was sealed under a key this keyring does not have.
    #[error("vault key {0} is not configured")]
    UnknownKey(String),
    /// The entry does not open: tampered, moved to another slot, or a wrong key.
    #[error("a vault entry failed to open")]
    Corrupt,
    /// The operating system's random generator failed.
    #[error("the random generator failed")]
    Random,
}

struct VaultKey {
    id: String,
    key: LessSafeKey,
}

/// The vault keys: the first seals, every one opens entries sealed under it. `Debug` prints the
/// key ids only.
pub struct VaultKeyring {
    keys: Vec<VaultKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for VaultKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyring")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl VaultKeyring {
    /// A keyring of `(key id, base64 key)` pairs, the current key first.
    ///
    /// # Errors
    /// [`VaultError::NoKey`], [`VaultError::BadKey`] (not base64 of exactly [`KEY_LEN`] bytes),
    /// [`VaultError::BadKeyId`].
    pub fn new(keys: &[(&str, &Secret)]) -> Result<Self, VaultError> {
        if keys.is_empty() {
            return Err(VaultError::NoKey);
        }
        let mut out: Vec<VaultKey> = Vec::with_capacity(keys.len());
        for (id, material) in keys {
            let id_ok = !id.is_empty()
                && id.len() <= MAX_KEY_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic())
                && !out.iter().any(|k| k.id == *id);
            if !id_ok {
                return Err(VaultError::BadKeyId((*id).to_owned()));
            }
            let bytes = STANDARD
                .decode(material.expose().trim())
                .map_err(|_| VaultError::BadKey((*id).to_owned()))?;
            if bytes.len() != KEY_LEN {
                return Err(VaultError::BadKey((*id).to_owned()));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| VaultError::BadKey((*id).to_owned()))?;
            out.push(VaultKey {
                id: (*id).to_owned(),
                key: LessSafeKey::new(unbound),
            });
        }
        Ok(Self {
            keys: out,
            rng: SystemRandom::new(),
        })
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seal `plaintext` for `slot` under the current key; `now` is the entry's `updated_at`.
    ///
    /// # Errors
    /// [`VaultError::Random`], [`VaultError::Corrupt`] when the cipher refuses (never for
    /// sizes a vault holds).
    pub fn seal(
        &self,
        slot: &VaultSlot,
        plaintext: &[u8],
        now: UnixTime,
    ) -> Result<SealedEntry, VaultError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut in_out = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(slot, &key.id)),
                &mut in_out,
            )
            .map_err(|_| VaultError::Corrupt)?;
        Ok(SealedEntry {
            iss: slot.iss.clone(),
            sub: slot.sub.clone(),
            connection: slot.connection.clone(),
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext: in_out,
            updated_at: now,
        })
    }

    /// Open `entry`, checking that it belongs to its slot and key id. The plaintext must be
    /// UTF-8 (the vault stores JSON).
    ///
    /// # Errors
    /// [`VaultError::UnknownKey`]; [`VaultError::Corrupt`] for a tampered, moved or relabelled
    /// entry, a nonce of the wrong length, or a plaintext that is not UTF-8.
    pub fn open(&self, entry: &SealedEntry) -> Result<Secret, VaultError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == entry.key_id)
            .ok_or_else(|| VaultError::UnknownKey(entry.key_id.clone()))?;
        let nonce: [u8; NONCE_LEN] = entry
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Corrupt)?;
        let slot = VaultSlot::new(&entry.iss, &entry.sub, &entry.connection);
        let mut in_out = entry.ciphertext.clone();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&slot, &key.id)),
                &mut in_out,
            )
            .map_err(|_| VaultError::Corrupt)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Corrupt)?;
        Ok(Secret::new(text))
    }

    /// True when `entry` was sealed under a key other than the current one: seal it again.
    pub fn needs_reseal(&self, entry: &SealedEntry) -> bool {
        entry.key_id != self.current_key_id()
    }
}

/// The additional authenticated data of a slot and key id: each part length-prefixed, so no two
/// different tuples share it.
fn aad(slot: &VaultSlot, key_id: &str) -> Vec<u8> {
    let mut out = b"mcp-auth-vault-v1".to_vec();
    for part in [&slot.iss, &slot.sub, &slot.connection, key_id] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HxweHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";

    fn ring(keys: &[(&str, &str)]) -> VaultKeyring {
        let secrets: Vec<(&str, Secret)> =
            keys.iter().map(|(i, k)| (*i, Secret::new(*k))).collect();
        let refs: Vec<(&str, &Secret)> = secrets.iter().map(|(i, s)| (*i, s)).collect();
        VaultKeyring::new(&refs).unwrap()
    }

    fn slot() -> VaultSlot {
        VaultSlot::new("https://auth.example.com", "user-1", "calendar")
    }

    #[test]
    fn sealed_entries_open_and_hide_the_plaintext() {
        let k = ring(&[("k1", K1)]);
        let e = k.seal(&slot(), b"top-secret-token", 7).unwrap();
        assert_eq!(e.key_id, "k1");
        assert_eq!(e.updated_at, 7);
        assert_eq!(e.nonce.len(), NONCE_LEN);
        assert!(!e.ciphertext.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open(&e).unwrap().expose(), "top-secret-token");
        // A fresh nonce each time.
        assert_ne!(
            k.seal(&slot(), b"top-secret-token", 7).unwrap().nonce,
            e.nonce
        );
    }

    /// ELIC-CB-04: an entry is bound to its user and connection; moved, it does not open.
    #[test]
    fn a_moved_or_tampered_entry_does_not_open() {
        let k = ring(&[("k1", K1)]);
        let e = k.seal(&slot(), b"token-of-user-1", 7).unwrap();
        for moved in [
            SealedEntry {
                sub: "user-2".into(),
                ..e.clone()
            },
            SealedEntry {
                connection: "crm".into(),
                ..e.clone()
            },
            SealedEntry {
                iss: "https://other.example.com".into(),
                ..e.clone()
            },
        ] {
            assert_eq!(k.open(&moved), Err(VaultError::Corrupt));
        }
        let mut flipped = e.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(k.open(&flipped), Err(VaultError::Corrupt));
        let mut short = e.clone();
        short.nonce.pop();
        assert_eq!(k.open(&short), Err(VaultError::Corrupt));
    }

    #[test]
    fn rotation_seals_with_the_first_key_and_opens_with_any() {
        let old = ring(&[("k1", K1)]);
        let e1 = old.seal(&slot(), b"sealed-under-k1", 1).unwrap();
        let rotated = ring(&[("k2", K2), ("k1", K1)]);
        assert_eq!(rotated.current_key_id(), "k2");
        assert!(rotated.needs_reseal(&e1));
        assert_eq!(rotated.open(&e1).unwrap().expose(), "sealed-under-k1");
        let e2 = rotated.seal(&slot(), b"sealed-under-k2", 2).unwrap();
        assert!(!rotated.needs_reseal(&e2));
        assert_eq!(old.open(&e2), Err(VaultError::UnknownKey("k2".into())));
        // Relabelling an entry with another configured key id does not open it either.
        let relabelled = SealedEntry {
            key_id: "k1".into(),
            ..e2
        };
        assert_eq!(rotated.open(&relabelled), Err(VaultError::Corrupt));
    }

    #[test]
    fn bad_keys_are_refused_and_never_printed() {
        let s = |v: &str| Secret::new(v);
        assert_eq!(VaultKeyring::new(&[]).unwrap_err(), VaultError::NoKey);
        let short = s("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==");
        assert_eq!(
            VaultKeyring::new(&[("k1", &short)]).unwrap_err(),
            VaultError::BadKey("k1".into())
        );
        let not_b64 = s("not base64 at all!");
        assert!(VaultKeyring::new(&[("k1", &not_b64)]).is_err());
        let k1 = s(K1);
        assert_eq!(
            VaultKeyring::new(&[("k1", &k1), ("k1", &k1)]).unwrap_err(),
            VaultError::BadKeyId("k1".into())
        );
        assert!(VaultKeyring::new(&[("", &k1)]).is_err());
        assert!(VaultKeyring::new(&[("a b", &k1)]).is_err());
        let k = ring(&[("k1", K1)]);
        let printed = format!("{k:?}");
        assert_eq!(printed, r#"VaultKeyring { key_ids: ["k1"] }"#);
    }
}
