//! [`AccessTokenDenylist`] over SQLite.

use async_trait::async_trait;
use mcp_auth_core::store::AccessTokenDenylist;
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::SqlitePool;

/// Denied access token `jti`s in the `access_token_denylist` table, each with the `exp` until
/// which it is denied. Denying a `jti` twice keeps the later `exp`, so a denial is never
/// shortened. Expired rows are deleted by [`AccessTokenDenylist::purge`].
#[derive(Debug, Clone)]
pub struct SqliteAccessTokenDenylist {
    pool: SqlitePool,
}

impl SqliteAccessTokenDenylist {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AccessTokenDenylist for SqliteAccessTokenDenylist {
    async fn deny(&self, jti: &str, exp: UnixTime) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO access_token_denylist (jti, exp) VALUES (?, ?) \
             ON CONFLICT (jti) DO UPDATE SET exp = MAX(exp, excluded.exp)",
        )
        .bind(jti)
        .bind(exp)
        .execute(&self.pool)
        .await
        .map_err(super::db_error)?;
        Ok(())
    }

    async fn is_denied(&self, jti: &str, now: UnixTime) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM access_token_denylist WHERE jti = ? AND exp > ?)",
        )
        .bind(jti)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(super::db_error)
    }

    /// Delete denials whose `exp` is at or before `now`; returns how many.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM access_token_denylist WHERE exp <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(super::db_error)?;
        Ok(done.rows_affected())
    }
}
