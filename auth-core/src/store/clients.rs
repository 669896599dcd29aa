use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::client::Client;
use crate::error::StoreError;
use crate::types::ClientId;

use super::lock;

/// Registered clients (admin and RFC 7591 dynamic registration).
///
/// Contract: `put` inserts or replaces the record for its `client_id`; `get` returns exactly what
/// was last put; `delete` returns whether a record existed; `list` is sorted by `client_id`.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// The client with this id.
    async fn get(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Insert or replace.
    async fn put(&self, client: &Client) -> Result<(), StoreError>;
    /// Remove; `true` when it existed.
    async fn delete(&self, client_id: &ClientId) -> Result<bool, StoreError>;
    /// Every client, sorted by id.
    async fn list(&self) -> Result<Vec<Client>, StoreError>;
}

/// In-memory [`ClientStore`].
///
/// The reference implementation of the [`ClientStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryClientStore(Mutex<BTreeMap<ClientId, Client>>);

#[async_trait]
impl ClientStore for MemoryClientStore {
    async fn get(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(lock(&self.0).get(client_id).cloned())
    }
    async fn put(&self, client: &Client) -> Result<(), StoreError> {
        lock(&self.0).insert(client.client_id.clone(), client.clone());
        Ok(())
    }
    async fn delete(&self, client_id: &ClientId) -> Result<bool, StoreError> {
        Ok(lock(&self.0).remove(client_id).is_some())
    }
    async fn list(&self) -> Result<Vec<Client>, StoreError> {
        Ok(lock(&self.0).values().cloned().collect())
    }
}
