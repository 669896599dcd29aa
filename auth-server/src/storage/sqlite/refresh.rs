//! [`RefreshTokenStore`] over SQLite: token rows plus a table of revoked families.

use async_trait::async_trait;
use mcp_auth_core::store::{RefreshToken, RefreshTokenStore, RevokedAccess};
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::SqlitePool;

use crate::storage::rows::{RevokedRow, TokenRow, revoked};

/// Refresh tokens in the `refresh_tokens` table (keyed by `token_hash`), and the families that
/// were revoked in `revoked_refresh_families`.
///
/// - `insert` is one `INSERT … SELECT … WHERE NOT EXISTS (revoked family)`, so an insert racing
///   a revocation either lands before it (and is revoked with the family) or stores nothing.
///   Inserting a `token_hash` that already exists is an error, never a replacement.
/// - `spend` is one conditional `UPDATE` from `active` to `spent`.
/// - `revoke_family` / `revoke_client` run in one `BEGIN IMMEDIATE` transaction.
/// - `purge` also forgets revoked families whose absolute expiry has passed: no token of such a
///   family can be used any more, so refusing inserts into it no longer matters.
#[derive(Debug, Clone)]
pub struct SqliteRefreshTokenStore {
    pool: SqlitePool,
}

impl SqliteRefreshTokenStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

impl SqliteRefreshTokenStore {
    /// In one write transaction: record the families selected by `record_families` as revoked,
    /// then mark their tokens revoked with `revoke_tokens`; both statements bind `key` once.
    /// Returns the access tokens issued with the revoked tokens.
    async fn revoke(
        &self,
        record_families: &str,
        revoke_tokens: &str,
        key: &str,
    ) -> Result<Vec<RevokedAccess>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::db_error)?;
        sqlx::query(record_families)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(super::db_error)?;
        let rows: Vec<RevokedRow> = sqlx::query_as(revoke_tokens)
            .bind(key)
            .fetch_all(&mut *tx)
            .await
            .map_err(super::db_error)?;
        tx.commit().await.map_err(super::db_error)?;
        Ok(revoked(rows))
    }
}

#[async_trait]
impl RefreshTokenStore for SqliteRefreshTokenStore {
    async fn insert(&self, token: &RefreshToken) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, sub, scope, resource, \
             auth_time, issued_at, expires_at, family_expires_at, access_jti, access_exp, state) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active' \
             WHERE NOT EXISTS (SELECT 1 FROM revoked_refresh_families WHERE family_id = ?)",
        )
        .bind(&token.token_hash)
        .bind(&token.family_id)
        .bind(&token.client_id)
        .bind(&token.sub)
        .bind(token.scope.to_string())
        .bind(token.resource.as_str())
        .bind(token.auth_time)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(token.family_expires_at)
        .bind(&token.access_jti)
        .bind(token.access_exp)
        .bind(&token.family_id)
        .execute(&self.pool)
        .await
        .map_err(super::db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT token_hash, family_id, client_id, sub, scope, resource, auth_time, \
             issued_at, expires_at, family_expires_at, access_jti, access_exp, state \
             FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(super::db_error)?;
        row.map(RefreshToken::try_from).transpose()
    }

    async fn spend(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET state = 'spent' WHERE token_hash = ? AND state = 'active'",
        )
        .bind(token_hash)
        .execute(&self.pool)
        .await
        .map_err(super::db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<Vec<RevokedAccess>, StoreError> {
        self.revoke(
            "INSERT OR IGNORE INTO revoked_refresh_families (family_id, family_expires_at) \
             VALUES (?1, (SELECT MAX(family_expires_at) FROM refresh_tokens WHERE family_id = ?1))",
            "UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = ? \
             RETURNING access_jti, access_exp",
            family_id,
        )
        .await
    }

    async fn revoke_client(&self, client_id: &str) -> Result<Vec<RevokedAccess>, StoreError> {
        self.revoke(
            "INSERT OR IGNORE INTO revoked_refresh_families (family_id, family_expires_at) \
             SELECT family_id, MAX(family_expires_at) FROM refresh_tokens WHERE client_id = ? \
             GROUP BY family_id",
            "UPDATE refresh_tokens SET state = 'revoked' WHERE client_id = ? \
             RETURNING access_jti, access_exp",
            client_id,
        )
        .await
    }

    async fn revoke_subject(
        &self,
        sub: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<RevokedAccess>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::db_error)?;
        sqlx::query(
            "INSERT OR IGNORE INTO revoked_refresh_families (family_id, family_expires_at) \
             SELECT family_id, MAX(family_expires_at) FROM refresh_tokens \
             WHERE sub = ?1 AND (?2 IS NULL OR client_id = ?2) GROUP BY family_id",
        )
        .bind(sub)
        .bind(client_id)
        .execute(&mut *tx)
        .await
        .map_err(super::db_error)?;
        let rows: Vec<RevokedRow> = sqlx::query_as(
            "UPDATE refresh_tokens SET state = 'revoked' \
             WHERE sub = ?1 AND (?2 IS NULL OR client_id = ?2) RETURNING access_jti, access_exp",
        )
        .bind(sub)
        .bind(client_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(super::db_error)?;
        tx.commit().await.map_err(super::db_error)?;
        Ok(revoked(rows))
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::db_error)?;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE family_expires_at < ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(super::db_error)?;
        sqlx::query(
            "DELETE FROM revoked_refresh_families \
             WHERE family_expires_at IS NOT NULL AND family_expires_at < ?",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(super::db_error)?;
        tx.commit().await.map_err(super::db_error)?;
        Ok(done.rows_affected())
    }
}
