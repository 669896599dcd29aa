//! The client resolver for registered clients (admin and dynamic registration), with a short
//! in-memory cache in front of the store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::ext::ClientResolver;
use mcp_auth_core::store::ClientStore;
use mcp_auth_core::{Client, ClientId, Clock, OAuthError, UnixTime};

/// Most client records kept in the cache; past it, the cache evicts the least used.
const MAX_CACHED_CLIENTS: u64 = 10_000;

/// Resolves any `client_id` from the client store. URL-shaped ids (SEP-991) are left to a
/// metadata-document resolver: this one never answers for them, so a registered record can never
/// impersonate a metadata document.
///
/// Found records are cached for `cache_ttl` seconds (0 turns the cache off), so the token
/// endpoint does not read the database for every request of a busy client; concurrent requests
/// for an id not cached share one read. The price: a client removed or changed by another
/// process (the admin commands) is seen at most `cache_ttl` seconds later by this one. Unknown
/// ids are never cached.
pub struct StoreClientResolver {
    clients: Arc<dyn ClientStore>,
    clock: Arc<dyn Clock>,
    cache_ttl: i64,
    /// Found records and when they were read (on `clock`, which decides freshness; the cache's
    /// own time-to-live, `cache_ttl` on the system clock, only lets memory go).
    cache: moka::future::Cache<ClientId, (Client, UnixTime)>,
}

/// Why a cache load gave no record to keep.
#[derive(Debug)]
enum Miss {
    /// The store has no such client (not cached).
    Unknown,
    /// The store failed.
    Store(mcp_auth_core::StoreError),
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
            cache: moka::future::Cache::builder()
                .max_capacity(MAX_CACHED_CLIENTS)
                .time_to_live(Duration::from_secs(cache_ttl.max(1)))
                .build(),
        }
    }

    /// Whether a record read at `at` is still fresh at `now`.
    fn fresh(&self, at: UnixTime, now: UnixTime) -> bool {
        now >= at && now - at < self.cache_ttl
    }

    /// The record for `client_id` from the cache, or read once from the store (concurrent
    /// misses wait for one read).
    async fn cached(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<Option<Client>, OAuthError> {
        if let Some((client, at)) = self.cache.get(client_id).await {
            if self.fresh(at, now) {
                return Ok(Some(client));
            }
            self.cache.invalidate(client_id).await;
        }
        let load = async {
            match crate::metrics::timed("client_get", self.clients.get(client_id)).await {
                Ok(Some(client)) => Ok((client, now)),
                Ok(None) => Err(Miss::Unknown),
                Err(e) => Err(Miss::Store(e)),
            }
        };
        match self.cache.try_get_with_by_ref(client_id, load).await {
            Ok((client, _)) => Ok(Some(client)),
            Err(miss) => match &*miss {
                Miss::Unknown => Ok(None),
                Miss::Store(e) => Err(e.clone().into()),
            },
        }
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
        self.cached(client_id, self.clock.now()).await
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
            dpop_bound_access_tokens: false,
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

    /// A client store that counts its reads and answers each after a pause.
    #[derive(Default)]
    struct SlowCountingStore {
        inner: MemoryClientStore,
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl ClientStore for SlowCountingStore {
        async fn get(&self, id: &ClientId) -> Result<Option<Client>, mcp_auth_core::StoreError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            self.inner.get(id).await
        }
        async fn put(&self, client: &Client) -> Result<(), mcp_auth_core::StoreError> {
            self.inner.put(client).await
        }
        async fn delete(&self, id: &ClientId) -> Result<bool, mcp_auth_core::StoreError> {
            self.inner.delete(id).await
        }
        async fn list(&self) -> Result<Vec<Client>, mcp_auth_core::StoreError> {
            self.inner.list().await
        }
    }

    /// Concurrent requests for a client not cached share one store read; an unknown id is
    /// read again each time (never cached).
    #[tokio::test]
    async fn concurrent_misses_share_one_read_and_unknown_ids_are_not_cached() {
        let store = Arc::new(SlowCountingStore::default());
        store.put(&client("c1", "x")).await.unwrap();
        let clock = Arc::new(FixedClock::new(1000));
        let resolver = StoreClientResolver::with_cache(store.clone(), clock, 60);
        let id: ClientId = "c1".parse().unwrap();
        let (a, b, c) = tokio::join!(
            resolver.resolve(&id),
            resolver.resolve(&id),
            resolver.resolve(&id)
        );
        assert!(a.unwrap().is_some() && b.unwrap().is_some() && c.unwrap().is_some());
        assert_eq!(store.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        let unknown: ClientId = "nobody".parse().unwrap();
        assert!(resolver.resolve(&unknown).await.unwrap().is_none());
        assert!(resolver.resolve(&unknown).await.unwrap().is_none());
        assert_eq!(store.reads.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn metadata_document_ids_are_not_handled() {
        let resolver = StoreClientResolver::new(Arc::new(MemoryClientStore::default()));
        assert!(!resolver.handles(&"https://app.example/c.json".parse().unwrap()));
        assert!(resolver.handles(&"mcp_abc".parse().unwrap()));
    }
}
