//! [`SharedCounters`] over PostgreSQL: the rate-limit counts every node adds to, in the
//! `rate_limits` table (migration `0004_rate_limits.sql`).

use async_trait::async_trait;
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::PgPool;

use super::db_error;
use crate::limits_shared::{SharedCounters, window_bounds};

/// Fixed-window counters, one row per (key, window start).
///
/// `hit` is one upsert, `INSERT … ON CONFLICT (key, window_start) DO UPDATE SET count =
/// count + 1 RETURNING count`: concurrent hits from any node serialise on the row and each sees
/// its own total. `refund` is one conditional `UPDATE … WHERE count > 0`.
#[derive(Debug, Clone)]
pub struct PgSharedCounters {
    pool: PgPool,
}

impl PgSharedCounters {
    /// Counters over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SharedCounters for PgSharedCounters {
    async fn hit(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<u64, StoreError> {
        let (start, end) = window_bounds(window_secs, now);
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, count, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 \
             RETURNING count",
        )
        .bind(key)
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(n.max(0) as u64)
    }

    async fn count(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<u64, StoreError> {
        let (start, _) = window_bounds(window_secs, now);
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT count FROM rate_limits WHERE key = $1 AND window_start = $2",
        )
        .bind(key)
        .bind(start)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    async fn refund(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<(), StoreError> {
        let (start, _) = window_bounds(window_secs, now);
        sqlx::query(
            "UPDATE rate_limits SET count = count - 1 \
             WHERE key = $1 AND window_start = $2 AND count > 0",
        )
        .bind(key)
        .bind(start)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
