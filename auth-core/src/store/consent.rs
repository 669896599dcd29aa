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
/// consent given to a client; `list_for_user` returns a user's consents sorted by client id
/// then resource; `revoke_user` forgets a user's consents (all, or those given to one client)
/// and returns how many (client, resource) entries it forgot.
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
    /// Every consent the user `sub` gave, sorted by client id, then resource.
    async fn list_for_user(&self, sub: &str) -> Result<Vec<Consent>, StoreError>;
    /// Forget the consents the user `sub` gave: to `client_id` only when given, else to every
    /// client. Returns the number of (client, resource) entries forgotten.
    async fn revoke_user(&self, sub: &str, client_id: Option<&str>) -> Result<u64, StoreError>;
}

/// One remembered consent of a user, as listed by [`ConsentStore::list_for_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The client the user approved.
    pub client_id: String,
    /// The resource (RFC 8707) the approval is for.
    pub resource: ResourceUri,
    /// The approved scopes (the union of every grant).
    pub scopes: ScopeSet,
}

type Key = (String, String, String);

/// In-memory [`ConsentStore`].
///
/// The reference implementation of the [`ConsentStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
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
    async fn list_for_user(&self, sub: &str) -> Result<Vec<Consent>, StoreError> {
        let map = lock(&self.0);
        let mut out = Vec::new();
        for ((s, c, r), scopes) in map.iter() {
            if s != sub {
                continue;
            }
            let resource = r
                .parse()
                .map_err(|e: crate::types::ParseError| StoreError::backend(e.0))?;
            out.push(Consent {
                client_id: c.clone(),
                resource,
                scopes: scopes.clone(),
            });
        }
        out.sort_by(|a, b| {
            (a.client_id.as_str(), a.resource.as_str())
                .cmp(&(b.client_id.as_str(), b.resource.as_str()))
        });
        Ok(out)
    }
    async fn revoke_user(&self, sub: &str, client_id: Option<&str>) -> Result<u64, StoreError> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|(s, c, _), _| !(s == sub && client_id.is_none_or(|want| c == want)));
        Ok((before - map.len()) as u64)
    }
}
