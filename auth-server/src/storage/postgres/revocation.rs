//! [`AccessTokenDenylist`] over PostgreSQL.

use async_trait::async_trait;
use mcp_auth_core::store::AccessTokenDenylist;
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::PgPool;

use super::db_error;

/// Denied access token `jti`s in the `access_token_denylist` table, each with the `exp` until
/// which it is denied. Denying a `jti` twice keeps the later `exp` (`GREATEST` in one upsert),
/// so a denial is never shortened. Expired rows are deleted by [`AccessTokenDenylist::purge`].
#[derive(Debug, Clone)]
pub struct PgAccessTokenDenylist {
    pool: PgPool,
}

impl PgAccessTokenDenylist {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AccessTokenDenylist for PgAccessTokenDenylist {
    async fn deny(&self, jti: &str, exp: UnixTime) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO access_token_denylist (jti, exp) VALUES ($1, $2) \
             ON CONFLICT (jti) DO UPDATE \
             SET exp = GREATEST(access_token_denylist.exp, excluded.exp)",
        )
        .bind(jti)
        .bind(exp)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn is_denied(&self, jti: &str, now: UnixTime) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM access_token_denylist WHERE jti = $1 AND exp > $2)",
        )
        .bind(jti)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }

    /// Delete denials whose `exp` is at or before `now`; returns how many.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM access_token_denylist WHERE exp <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
