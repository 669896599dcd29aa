//! [`ReplayCache`] over SQLite: one upsert decides first use.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::SqlitePool;

/// Every this many inserts, expired entries are deleted.
const PURGE_EVERY: u64 = 256;

/// Single-use keys in the `replay_cache` table.
///
/// `insert_once` is one `INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now`: it changes a
/// row only when the key is new or its earlier entry has expired, and that change is the "first".
/// Expired rows are deleted every 256 inserts, and by [`ReplayCache::purge`].
#[derive(Debug)]
pub struct SqliteReplayCache {
    pool: SqlitePool,
    inserts: AtomicU64,
}

impl SqliteReplayCache {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            inserts: AtomicU64::new(0),
        }
    }
}

/// Delete entries that expired at or before `now`; returns how many.
pub(super) async fn purge(pool: &SqlitePool, now: UnixTime) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM replay_cache WHERE expires_at <= ?")
        .bind(now)
        .execute(pool)
        .await
        .map_err(super::db_error)?;
    Ok(done.rows_affected())
}

#[async_trait]
impl ReplayCache for SqliteReplayCache {
    async fn insert_once(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if self.inserts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            purge(&self.pool, now).await?;
        }
        let done = sqlx::query(
            "INSERT INTO replay_cache (key, expires_at) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE replay_cache.expires_at <= ?",
        )
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(super::db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        purge(&self.pool, now).await
    }
}
