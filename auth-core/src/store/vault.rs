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

impl SealedEntry {
    /// True when `self` and `other` are the same sealing of the same slot: equal (`iss`, `sub`,
    /// connection), key id, nonce and ciphertext. `updated_at` is not compared. This is the
    /// comparison of [`VaultStore::replace`] and [`VaultStore::delete_if`].
    pub fn same_sealing(&self, other: &SealedEntry) -> bool {
        self.same_slot(other)
            && self.key_id == other.key_id
            && self.nonce == other.nonce
            && self.ciphertext == other.ciphertext
    }

    /// True when `self` and `other` belong to the same (`iss`, `sub`, connection).
    pub fn same_slot(&self, other: &SealedEntry) -> bool {
        self.iss == other.iss && self.sub == other.sub && self.connection == other.connection
    }
}

/// The token vault's entries, one per (`iss`, `sub`, connection).
///
/// Contract: `put` inserts or replaces the entry of its slot (last write wins); `get` returns
/// it; `delete` removes it and says whether there was one; `list_for_subject` returns a user's
/// entries ordered by connection; `list` returns every entry ordered by (`iss`, `sub`,
/// connection).
///
/// The conditional writes are compare-and-swap on one slot, atomic against every other write
/// of the store (one SQL statement, or under the memory store's mutex): `replace(old, new)`
/// stores `new` only when the slot still holds exactly `old` ([`SealedEntry::same_sealing`]:
/// key id, nonce and ciphertext; `updated_at` is not compared) and answers whether it did; an
/// empty slot is never filled by it. `delete_if(old)` removes the slot's entry only when it is
/// still exactly `old`. Of any number of concurrent `replace` calls from the same `old`,
/// exactly one returns `true`. They let a refresh that raced with a removal, a reconnect or
/// another node's refresh lose instead of undoing the other write.
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// Insert or replace the entry of `entry`'s slot.
    async fn put(&self, entry: &SealedEntry) -> Result<(), StoreError>;
    /// Store `new` in place of `old` when the slot still holds exactly `old` (compared by key
    /// id, nonce and ciphertext); `true` when it did, `false` when the slot holds something
    /// else or nothing (then nothing is written).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails, or when `new` is not for `old`'s slot (nothing
    /// is written).
    async fn replace(&self, old: &SealedEntry, new: &SealedEntry) -> Result<bool, StoreError>;
    /// Remove the slot's entry when it is still exactly `old` (key id, nonce, ciphertext);
    /// `true` when it did.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn delete_if(&self, old: &SealedEntry) -> Result<bool, StoreError>;
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
///
/// The reference implementation of the [`VaultStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
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

    async fn replace(&self, old: &SealedEntry, new: &SealedEntry) -> Result<bool, StoreError> {
        if !old.same_slot(new) {
            return Err(StoreError::conflict(
                "vault replace: the new entry is for another slot",
            ));
        }
        let mut map = lock(&self.0);
        match map.get_mut(&slot(&old.iss, &old.sub, &old.connection)) {
            Some(current) if current.same_sealing(old) => {
                *current = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_if(&self, old: &SealedEntry) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        let key = slot(&old.iss, &old.sub, &old.connection);
        if map
            .get(&key)
            .is_some_and(|current| current.same_sealing(old))
        {
            map.remove(&key);
            Ok(true)
        } else {
            Ok(false)
        }
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
