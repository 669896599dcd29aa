use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;

use super::lock;

/// One sealed vault entry ([`crate::vault::VaultKeyring::seal`]): a user's third-party tokens or
/// secret for one connection, encrypted. Only ciphertext is ever stored. `Debug` prints the
/// slot, the key id and the sizes, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedEntry {
    /// The issuer of the user's identity.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The connection's configured name.
    pub connection: String,
    /// The id of the vault key that sealed it.
    pub key_id: String,
    /// The 96-bit AES-GCM nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 128-bit tag.
    pub ciphertext: Vec<u8>,
    /// When it was sealed, seconds since the epoch.
    pub updated_at: UnixTime,
}

impl std::fmt::Debug for SealedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedEntry")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("connection", &self.connection)
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The token vault's entries, one per (`iss`, `sub`, connection).
///
/// Contract: `put` inserts or replaces the entry of its slot (last write wins); `get` returns
/// it; `delete` removes it and says whether there was one; `list_for_subject` returns a user's
/// entries ordered by connection; `list` returns every entry ordered by (`iss`, `sub`,
/// connection).
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// Insert or replace the entry of `entry`'s slot.
    async fn put(&self, entry: &SealedEntry) -> Result<(), StoreError>;
    /// The entry of a slot.
    async fn get(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<Option<SealedEntry>, StoreError>;
    /// Remove the entry of a slot; `true` when there was one.
    async fn delete(&self, iss: &str, sub: &str, connection: &str) -> Result<bool, StoreError>;
    /// A user's entries, by connection.
    async fn list_for_subject(&self, iss: &str, sub: &str) -> Result<Vec<SealedEntry>, StoreError>;
    /// Every entry (for operators and key rotation).
    async fn list(&self) -> Result<Vec<SealedEntry>, StoreError>;
}

type Slot = (String, String, String);

/// In-memory [`VaultStore`].
#[derive(Debug, Default)]
pub struct MemoryVaultStore(Mutex<BTreeMap<Slot, SealedEntry>>);

fn slot(iss: &str, sub: &str, connection: &str) -> Slot {
    (iss.to_owned(), sub.to_owned(), connection.to_owned())
}

#[async_trait]
impl VaultStore for MemoryVaultStore {
    async fn put(&self, entry: &SealedEntry) -> Result<(), StoreError> {
        lock(&self.0).insert(
            slot(&entry.iss, &entry.sub, &entry.connection),
            entry.clone(),
        );
        Ok(())
    }

    async fn get(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<Option<SealedEntry>, StoreError> {
        Ok(lock(&self.0).get(&slot(iss, sub, connection)).cloned())
    }

    async fn delete(&self, iss: &str, sub: &str, connection: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.0).remove(&slot(iss, sub, connection)).is_some())
    }

    async fn list_for_subject(&self, iss: &str, sub: &str) -> Result<Vec<SealedEntry>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .filter(|e| e.iss == iss && e.sub == sub)
            .cloned()
            .collect())
    }

    async fn list(&self) -> Result<Vec<SealedEntry>, StoreError> {
        Ok(lock(&self.0).values().cloned().collect())
    }
}
