//! The client resolver for registered clients (admin and dynamic registration), with a short
//! in-memory cache in front of the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mcp_auth_core::ext::ClientResolver;
use mcp_auth_core::store::ClientStore;
use mcp_auth_core::{Client, ClientId, Clock, OAuthError, UnixTime};

/// Most client records kept in the cache; past it, expired entries are swept and, if still full,
/// the cache is emptied.
const MAX_CACHED_CLIENTS: usize = 10_000;

/// Resolves any `client_id` from the client store. URL-shaped ids (SEP-991) are left to a
/// metadata-document resolver: this one never answers for them, so a registered record can never
/// impersonate a metadata document.
///
/// Found records are cached for `cache_ttl` seconds (0 turns the cache off), so the token
/// endpoint does not read the database for every request of a busy client. The price: a client
/// removed or changed by another process (the admin commands) is seen at most `cache_ttl`
/// seconds later by this one. Unknown ids are never cached.
pub struct StoreClientResolver {
    clients: Arc<dyn ClientStore>,
    clock: Arc<dyn Clock>,
    cache_ttl: i64,
    cache: Mutex<HashMap<ClientId, (Client, UnixTime)>>,
}

impl StoreClientResolver {
    /// A resolver over `clients` with no cache.
    pub fn new(clients: Arc<dyn ClientStore>) -> Self {
        Self::with_cache(clients, Arc::new(mcp_auth_core::SystemClock), 0)
    }

    /// A resolver over `clients` caching found records for `cache_ttl` seconds on `clock`.
    pub fn with_cache(
        clients: Arc<dyn ClientStore>,
        clock: Arc<dyn Clock>,
        cache_ttl: u64,
    ) -> Self {
        Self {
            clients,
            clock,
            cache_ttl: i64::try_from(cache_ttl).unwrap_or(i64::MAX),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, client_id: &ClientId, now: UnixTime) -> Option<Client> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(client_id)
            .filter(|(_, at)| now >= *at && now - *at < self.cache_ttl)
            .map(|(client, _)| client.clone())
    }

    fn remember(&self, client: &Client, now: UnixTime) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_CLIENTS {
            let ttl = self.cache_ttl;
            cache.retain(|_, (_, at)| now >= *at && now - *at < ttl);
            if cache.len() >= MAX_CACHED_CLIENTS {
                cache.clear();
            }
        }
        cache.insert(client.client_id.clone(), (client.clone(), now));
    }
}

#[async_trait]
impl ClientResolver for StoreClientResolver {
    fn handles(&self, client_id: &ClientId) -> bool {
        !client_id.is_metadata_document_url()
    }

    async fn resolve(&self, client_id: &ClientId) -> Result<Option<Client>, OAuthError> {
        if self.cache_ttl == 0 {
            return Ok(crate::metrics::timed("client_get", self.clients.get(client_id)).await?);
        }
        let now = self.clock.now();
        if let Some(client) = self.cached(client_id, now) {
            return Ok(Some(client));
        }
        let found = crate::metrics::timed("client_get", self.clients.get(client_id)).await?;
        if let Some(client) = &found {
            self.remember(client, now);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::store::MemoryClientStore;
    use mcp_auth_core::{ClientSource, FixedClock, GrantType, TokenEndpointAuthMethod};

    fn client(id: &str, name: &str) -> Client {
        Client {
            client_id: id.parse().unwrap(),
            client_name: Some(name.into()),
            redirect_uris: vec![],
            grant_types: vec![GrantType::authorization_code()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            token_endpoint_auth_methods: Vec::new(),
            secrets: vec![],
            jwks: None,
            jwks_uri: None,
            scope: None,
            resources: None,
            client_id_issued_at: 0,
            source: ClientSource::Admin,
        }
    }

    /// The `client_name` of the record `resolver` answers for `id`.
    async fn name_of(resolver: &StoreClientResolver, id: &ClientId) -> Option<String> {
        resolver.resolve(id).await.unwrap().unwrap().client_name
    }

    #[tokio::test]
    async fn cached_record_is_served_until_the_ttl_then_reread() {
        let store = Arc::new(MemoryClientStore::default());
        let clock = Arc::new(FixedClock::new(1000));
        let resolver = StoreClientResolver::with_cache(store.clone(), clock.clone(), 2);
        let id: ClientId = "c1".parse().unwrap();
        store.put(&client("c1", "old")).await.unwrap();
        assert_eq!(name_of(&resolver, &id).await.as_deref(), Some("old"));
        store.put(&client("c1", "new")).await.unwrap();
        clock.advance(1);
        assert_eq!(name_of(&resolver, &id).await.as_deref(), Some("old"));
        clock.advance(1);
        assert_eq!(name_of(&resolver, &id).await.as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn removed_client_disappears_after_the_ttl() {
        let store = Arc::new(MemoryClientStore::default());
        let clock = Arc::new(FixedClock::new(1000));
        let resolver = StoreClientResolver::with_cache(store.clone(), clock.clone(), 1);
        let id: ClientId = "c1".parse().unwrap();
        store.put(&client("c1", "x")).await.unwrap();
        assert!(resolver.resolve(&id).await.unwrap().is_some());
        store.delete(&id).await.unwrap();
        clock.advance(1);
        assert!(resolver.resolve(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn without_cache_every_change_is_seen() {
        let store = Arc::new(MemoryClientStore::default());
        let resolver = StoreClientResolver::new(store.clone());
        let id: ClientId = "c1".parse().unwrap();
        store.put(&client("c1", "a")).await.unwrap();
        resolver.resolve(&id).await.unwrap();
        store.put(&client("c1", "b")).await.unwrap();
        assert_eq!(name_of(&resolver, &id).await.as_deref(), Some("b"));
    }

    #[test]
    fn metadata_document_ids_are_not_handled() {
        let resolver = StoreClientResolver::new(Arc::new(MemoryClientStore::default()));
        assert!(!resolver.handles(&"https://app.example/c.json".parse().unwrap()));
        assert!(resolver.handles(&"mcp_abc".parse().unwrap()));
    }
}
