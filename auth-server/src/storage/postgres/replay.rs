//! [`ReplayCache`](mcp_auth_core::store::ReplayCache) over PostgreSQL (written once in
//! [`crate::storage::sql::replay`]), and the same claim over a whole batch in one statement
//! ([`ReplayBatchWriter`]) for the group commit of
//! [`crate::storage::replay_front::FrontedReplayCache`].

use async_trait::async_trait;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{StoreError, UnixTime};

use super::db_error;
use crate::storage::replay_front::ReplayBatchWriter;

crate::storage::sql::replay::replay_cache! {
    /// Shared by every node: PostgreSQL's upsert is atomic, so a concurrent insert of the same
    /// key waits for the first to commit, then takes the conflict path and re-checks the
    /// `WHERE` against the committed row.
    PgReplayCache over sqlx::Postgres
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
