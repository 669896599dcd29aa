//! [`ReplayCache`] over PostgreSQL: one upsert decides first use; the same upsert over a batch
//! for the group commit of [`crate::storage::replay_front::FrontedReplayCache`].

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::PgPool;

use super::db_error;
use crate::storage::replay_front::ReplayBatchWriter;

/// Every this many inserts, expired entries are deleted.
const PURGE_EVERY: u64 = 256;

/// Single-use keys in the `replay_cache` table, shared by every node.
///
/// `insert_once` is one `INSERT … ON CONFLICT (key) DO UPDATE … WHERE expires_at <= now`: it
/// changes a row only when the key is new or its earlier entry has expired, and that change is
/// the "first". PostgreSQL's upsert is atomic: a concurrent insert of the same key waits for the
/// first to commit, then takes the conflict path and re-checks the `WHERE` against the committed
/// row. Expired rows are deleted every 256 inserts, and by [`ReplayCache::purge`].
#[derive(Debug)]
pub struct PgReplayCache {
    pool: PgPool,
    inserts: AtomicU64,
}

impl PgReplayCache {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            inserts: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl ReplayCache for PgReplayCache {
    async fn insert_once(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if self.inserts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            ReplayCache::purge(self, now).await?;
        }
        let done = sqlx::query(
            "INSERT INTO replay_cache (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE replay_cache.expires_at <= $3",
        )
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    /// Delete entries that expired at or before `now`; returns how many.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM replay_cache WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ReplayBatchWriter for PgReplayCache {
    /// One `INSERT … SELECT FROM UNNEST … ON CONFLICT DO UPDATE … WHERE expires_at <= now
    /// RETURNING key`: a single statement and a single commit for the whole batch, each key
    /// decided atomically as in [`ReplayCache::insert_once`].
    async fn insert_batch(
        &self,
        entries: &[(String, UnixTime)],
        now: UnixTime,
    ) -> Result<Vec<bool>, StoreError> {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let expiries: Vec<i64> = entries.iter().map(|(_, e)| *e).collect();
        let stored: Vec<String> = sqlx::query_scalar(
            "INSERT INTO replay_cache (key, expires_at) \
             SELECT * FROM UNNEST($1::text[], $2::int8[]) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE replay_cache.expires_at <= $3 \
             RETURNING key",
        )
        .bind(&keys)
        .bind(&expiries)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let stored: std::collections::HashSet<String> = stored.into_iter().collect();
        Ok(keys.iter().map(|k| stored.contains(*k)).collect())
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        ReplayCache::purge(self, now).await
    }
}
