//! What runs beside a server built from the configuration: the warm-up of the third-party
//! connections, the periodic purge of expired entries, and the reload of rotated signing keys.

use std::sync::Arc;
use std::time::Duration;

use crate::connections::Connections;
use crate::server::AuthorizationServer;
use crate::storage::postgres::PgCimdCache;

/// The tasks of one server, started by [`Background::spawn`] once it listens.
pub struct Background {
    pub(super) server: AuthorizationServer,
    pub(super) connections: Option<Arc<Connections>>,
    pub(super) document_cache: Option<Arc<PgCimdCache>>,
    pub(super) key_reload_interval: Duration,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("connections", &self.connections.is_some())
            .field("shared_document_cache", &self.document_cache.is_some())
            .field("key_reload_interval", &self.key_reload_interval)
            .finish_non_exhaustive()
    }
}

impl Background {
    /// Spawn the tasks on the current Tokio runtime: discover the third parties' endpoints now,
    /// so the first connect page is quick (a failure is retried on first use); every ten
    /// minutes purge what has expired; every `key_reload_interval` (at least a second) reload
    /// the signing keys.
    pub fn spawn(self) {
        if let Some(c) = self.connections {
            tokio::spawn(async move { c.warm_up().await });
        }
        spawn_purge(self.server.clone(), self.document_cache);
        spawn_key_reload(self.server, self.key_reload_interval);
    }
}

/// Every `interval` (`key_reload_interval`, default a minute), pick up signing keys rotated by
/// `auth-server keys rotate` (or another node) and drop retired keys whose tokens have all
/// expired from the JWKS.
fn spawn_key_reload(server: AuthorizationServer, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = server.reload_signing_keys().await {
                tracing::warn!(error = %e, "reloading the signing keys failed; keeping the current ones");
            }
        }
    });
}

/// Every ten minutes, drop expired codes, refresh tokens, replay-cache entries and denials,
/// through the store traits (whatever the backend), and what has expired in the state shared
/// by PostgreSQL nodes.
fn spawn_purge(server: AuthorizationServer, document_cache: Option<Arc<PgCimdCache>>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = server.clock().now();
            let stores = server.stores();
            if let Err(e) = stores.codes.purge(now).await {
                tracing::warn!(error = %e, "purging authorization codes failed");
            }
            if let Err(e) = stores.refresh_tokens.purge(now).await {
                tracing::warn!(error = %e, "purging refresh tokens failed");
            }
            if let Err(e) = stores.replay.purge(now).await {
                tracing::warn!(error = %e, "purging the replay cache failed");
            }
            if let Err(e) = stores.denylist.purge(now).await {
                tracing::warn!(error = %e, "purging the access token denylist failed");
            }
            if let Err(e) = stores.elicitations.purge_expired(now).await {
                tracing::warn!(error = %e, "purging expired elicitations failed");
            }
            if let Err(e) = server.purge_cut_offs().await {
                tracing::warn!(error = %e, "purging grant cut-offs failed");
            }
            if let Err(e) = server.purge_unused_clients().await {
                tracing::warn!(error = %e, "purging unused registrations failed");
            }
            if let Err(e) = server.prune_audit().await {
                tracing::warn!(error = %e, "pruning the audit trail failed");
            }
            if let Some(counters) = server.shared_counters()
                && let Err(e) = counters.purge(now).await
            {
                tracing::warn!(error = %e, "purging the shared rate-limit counters failed");
            }
            if let Some(cache) = &document_cache
                && let Err(e) = cache.purge(now).await
            {
                tracing::warn!(error = %e, "purging the shared metadata document cache failed");
            }
        }
    });
}
