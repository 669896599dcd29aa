use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::types::{ResourceUri, ScopeSet};

use super::lock;

/// Remembered consent, per (user, client, resource): the scopes the user has approved. The
/// resource is the canonical [`ResourceUri`] (RFC 8707), compared by its string.
///
/// Contract: `grant` adds scopes to what is remembered (union); `granted` returns the union of
/// everything granted for the triple, or `None` if nothing was; `revoke_client` forgets every
/// consent given to a client.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Scopes the user approved for this client and resource.
    async fn granted(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
    ) -> Result<Option<ScopeSet>, StoreError>;
    /// Remember approval of `scopes`.
    async fn grant(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        scopes: &ScopeSet,
    ) -> Result<(), StoreError>;
    /// Forget every consent given to `client_id`.
    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError>;
}

type Key = (String, String, String);

/// In-memory [`ConsentStore`].
#[derive(Debug, Default)]
pub struct MemoryConsentStore(Mutex<HashMap<Key, ScopeSet>>);

#[async_trait]
impl ConsentStore for MemoryConsentStore {
    async fn granted(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
    ) -> Result<Option<ScopeSet>, StoreError> {
        let key = (
            sub.to_owned(),
            client_id.to_owned(),
            resource.as_str().to_owned(),
        );
        Ok(lock(&self.0).get(&key).cloned())
    }
    async fn grant(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        scopes: &ScopeSet,
    ) -> Result<(), StoreError> {
        let key = (
            sub.to_owned(),
            client_id.to_owned(),
            resource.as_str().to_owned(),
        );
        let mut map = lock(&self.0);
        let entry = map.entry(key).or_default();
        *entry = entry.union(scopes);
        Ok(())
    }
    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError> {
        lock(&self.0).retain(|(_, c, _), _| c != client_id);
        Ok(())
    }
}
