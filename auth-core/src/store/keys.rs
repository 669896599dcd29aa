use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;
use crate::secret::Secret;

use super::lock;

/// A signing key as stored: its `kid`, `alg`, the PKCS#8 private key (base64url, a [`Secret`]),
/// and its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// Key id, the JWS `kid`.
    pub kid: String,
    /// JWS algorithm, e.g. `ES256`.
    pub alg: String,
    /// PKCS#8 DER of the private key, base64url without padding.
    pub private_pkcs8: Secret,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it stopped signing; `None` for the current key. A retired key is still published
    /// until every token it signed has expired.
    pub retired_at: Option<UnixTime>,
}

/// Signing keys (RFC 7517, RFC 9068 §4).
///
/// Contract: `list` returns every key, oldest first; at most one key has `retired_at == None`
/// after `rotate`. `rotate(new, now)` atomically retires the current key at `now` and inserts
/// `new` as current.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key, oldest first.
    async fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Retire the current key (if any) and make `key` current.
    async fn rotate(&self, key: &StoredSigningKey, now: UnixTime) -> Result<(), StoreError>;
    /// Delete keys retired before `retired_before`; returns how many.
    async fn purge_retired(&self, retired_before: UnixTime) -> Result<u64, StoreError>;
}

/// In-memory [`SigningKeyStore`].
///
/// The reference implementation of the [`SigningKeyStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemorySigningKeyStore(Mutex<Vec<StoredSigningKey>>);

#[async_trait]
impl SigningKeyStore for MemorySigningKeyStore {
    async fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(lock(&self.0).clone())
    }
    async fn rotate(&self, key: &StoredSigningKey, now: UnixTime) -> Result<(), StoreError> {
        let mut keys = lock(&self.0);
        for k in keys.iter_mut().filter(|k| k.retired_at.is_none()) {
            k.retired_at = Some(now);
        }
        let mut new = key.clone();
        new.retired_at = None;
        keys.push(new);
        Ok(())
    }
    async fn purge_retired(&self, retired_before: UnixTime) -> Result<u64, StoreError> {
        let mut keys = lock(&self.0);
        let before = keys.len();
        keys.retain(|k| k.retired_at.is_none_or(|r| r >= retired_before));
        Ok((before - keys.len()) as u64)
    }
}
