//! [`SigningKeyStore`] over SQLite.

use async_trait::async_trait;
use mcp_auth_core::store::{SigningKeyStore, StoredSigningKey};
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::SqlitePool;

use crate::storage::rows::KeyRow;

/// Signing keys in the `signing_keys` table, in insertion order (oldest first). The private key
/// is stored as given (PKCS#8 DER, base64url), so the database file must stay private: [`super::open`]
/// creates it with mode 0600.
///
/// `rotate` retires every current key at `now` and inserts the new one in one `BEGIN IMMEDIATE`
/// transaction; a `kid` that already exists is an error and changes nothing.
#[derive(Debug, Clone)]
pub struct SqliteSigningKeyStore {
    pool: SqlitePool,
}

impl SqliteSigningKeyStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SigningKeyStore for SqliteSigningKeyStore {
    async fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, alg, private_pkcs8, created_at, retired_at FROM signing_keys \
             ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(super::db_error)?;
        Ok(rows.into_iter().map(StoredSigningKey::from).collect())
    }

    async fn rotate(&self, key: &StoredSigningKey, now: UnixTime) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::db_error)?;
        sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(super::db_error)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, retired_at) \
             VALUES (?, ?, ?, ?, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(key.private_pkcs8.expose())
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(super::db_error)?;
        tx.commit().await.map_err(super::db_error)
    }

    async fn purge_retired(&self, retired_before: UnixTime) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?")
                .bind(retired_before)
                .execute(&self.pool)
                .await
                .map_err(super::db_error)?;
        Ok(done.rows_affected())
    }
}
