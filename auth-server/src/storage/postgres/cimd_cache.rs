//! [`CimdCache`] over PostgreSQL: validated Client ID Metadata Documents shared by every node
//! (issue 13: "CIMD cache entries, so one node's fetch serves all"), in the `cimd_cache` table
//! (migration `0005_cimd_cache.sql`).

use async_trait::async_trait;
use mcp_auth_cimd_resolver::{CachedDocument, CimdCache};
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::PgPool;

use super::db_error;

/// How long a stale entry is kept for revalidation before [`PgCimdCache::purge`] deletes it,
/// seconds (a day).
pub const STALE_CIMD_RETENTION: i64 = 86_400;

/// Cached documents keyed by the exact `client_id` URL, each stored as its [`CachedDocument`]
/// JSON. Only the resolver writes here, and only documents it validated (CIMD-09); a row that
/// does not parse back (written by another version) reads as a miss, so the document is fetched
/// and validated again rather than trusted.
#[derive(Debug, Clone)]
pub struct PgCimdCache {
    pool: PgPool,
}

impl PgCimdCache {
    /// A cache over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Delete entries stale for more than [`STALE_CIMD_RETENTION`] at `now`; returns how many.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM cimd_cache WHERE expires_at < $1")
            .bind(now.saturating_sub(STALE_CIMD_RETENTION))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl CimdCache for PgCimdCache {
    async fn get(&self, url: &str) -> Result<Option<CachedDocument>, StoreError> {
        let entry: Option<String> =
            sqlx::query_scalar("SELECT entry FROM cimd_cache WHERE url = $1")
                .bind(url)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(entry.and_then(|json| match serde_json::from_str(&json) {
            Ok(doc) => Some(doc),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable cached metadata document; fetching again");
                None
            }
        }))
    }

    async fn put(&self, url: &str, entry: CachedDocument) -> Result<(), StoreError> {
        let json = serde_json::to_string(&entry).map_err(StoreError::backend)?;
        sqlx::query(
            "INSERT INTO cimd_cache (url, entry, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (url) DO UPDATE SET entry = excluded.entry, \
             expires_at = excluded.expires_at",
        )
        .bind(url)
        .bind(json)
        .bind(entry.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn remove(&self, url: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cimd_cache WHERE url = $1")
            .bind(url)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
