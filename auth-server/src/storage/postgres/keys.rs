//! [`SigningKeyStore`] over PostgreSQL.

use async_trait::async_trait;
use mcp_auth_core::store::{SigningKeyStore, StoredSigningKey};
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::PgPool;

use super::db_error;

use crate::storage::rows::KeyRow;

/// Signing keys in the `signing_keys` table, in insertion order (oldest first). The private key
/// is stored as given (PKCS#8 DER, base64url): grant the database role to the nodes only.
///
/// `rotate` takes `LOCK TABLE signing_keys IN EXCLUSIVE MODE` (readers go on; other writers
/// wait), retires every current key at `now` and inserts the new one, in one transaction: two
/// nodes rotating at once leave exactly one current key. A `kid` that already exists is an
/// error and changes nothing. Every node reads the table again on its key reload interval.
#[derive(Debug, Clone)]
pub struct PgSigningKeyStore {
    pool: PgPool,
}

impl PgSigningKeyStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SigningKeyStore for PgSigningKeyStore {
    async fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, alg, private_pkcs8, created_at, retired_at FROM signing_keys \
             ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(StoredSigningKey::from).collect())
    }

    async fn rotate(&self, key: &StoredSigningKey, now: UnixTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(key.private_pkcs8.expose())
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn purge_retired(&self, retired_before: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
        )
        .bind(retired_before)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
