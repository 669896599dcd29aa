//! [`ReplayBatchWriter`] over SQLite: a batch of claims in one `BEGIN IMMEDIATE` transaction
//! (one commit for the whole batch), for [`super::replay_front::FrontedReplayCache`].

use async_trait::async_trait;
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::SqlitePool;

use super::replay_front::ReplayBatchWriter;
use super::sql::replay::{CLAIM, PURGE};

/// Writes claims into the `replay_cache` table of a SQLite database, each with the same upsert
/// as [`super::sqlite::SqliteReplayCache`], all in one write transaction.
#[derive(Debug, Clone)]
pub struct SqliteReplayBatchWriter {
    pool: SqlitePool,
}

impl SqliteReplayBatchWriter {
    /// A writer over a migrated pool (see [`super::sqlite::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ReplayBatchWriter for SqliteReplayBatchWriter {
    async fn insert_batch(
        &self,
        entries: &[(String, UnixTime)],
        now: UnixTime,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::sqlite::db_error)?;
        let mut firsts = Vec::with_capacity(entries.len());
        for (key, expires_at) in entries {
            let done = sqlx::query(CLAIM)
                .bind(key)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(super::sqlite::db_error)?;
            firsts.push(done.rows_affected() == 1);
        }
        tx.commit().await.map_err(super::sqlite::db_error)?;
        Ok(firsts)
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(PURGE)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(super::sqlite::db_error)?;
        Ok(done.rows_affected())
    }
}
