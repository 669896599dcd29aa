//! [`ConsentStore`] over SQLite.

use async_trait::async_trait;
use mcp_auth_core::store::{Consent, ConsentStore};
use mcp_auth_core::{ResourceUri, Scope, ScopeSet, StoreError};
use sqlx::SqlitePool;

/// Remembered consent in the `consents` table: one row per (sub, client_id, resource) with the
/// approved scopes as a JSON array of scope tokens (an array rather than the space-separated
/// form, so a union of more than [`ScopeSet::MAX_TOKENS`] scopes still reads back).
///
/// `grant` reads, unions and writes inside one `BEGIN IMMEDIATE` transaction, so concurrent
/// grants never lose each other's scopes.
#[derive(Debug, Clone)]
pub struct SqliteConsentStore {
    pool: SqlitePool,
}

impl SqliteConsentStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn decode(json: &str) -> Result<ScopeSet, StoreError> {
    let scopes: Vec<Scope> = serde_json::from_str(json).map_err(StoreError::corrupt)?;
    Ok(scopes.into_iter().collect())
}

fn encode(scopes: &ScopeSet) -> Result<String, StoreError> {
    serde_json::to_string(&scopes.iter().collect::<Vec<_>>()).map_err(StoreError::backend)
}

const SELECT: &str = "SELECT scopes FROM consents WHERE sub = ? AND client_id = ? AND resource = ?";

#[async_trait]
impl ConsentStore for SqliteConsentStore {
    async fn granted(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
    ) -> Result<Option<ScopeSet>, StoreError> {
        let json: Option<String> = sqlx::query_scalar(SELECT)
            .bind(sub)
            .bind(client_id)
            .bind(resource.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(super::db_error)?;
        json.as_deref().map(decode).transpose()
    }

    async fn grant(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        scopes: &ScopeSet,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::db_error)?;
        let existing: Option<String> = sqlx::query_scalar(SELECT)
            .bind(sub)
            .bind(client_id)
            .bind(resource.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(super::db_error)?;
        let union = match existing.as_deref() {
            Some(json) => decode(json)?.union(scopes),
            None => scopes.clone(),
        };
        sqlx::query(
            "INSERT INTO consents (sub, client_id, resource, scopes) VALUES (?, ?, ?, ?) \
             ON CONFLICT (sub, client_id, resource) DO UPDATE SET scopes = excluded.scopes",
        )
        .bind(sub)
        .bind(client_id)
        .bind(resource.as_str())
        .bind(encode(&union)?)
        .execute(&mut *tx)
        .await
        .map_err(super::db_error)?;
        tx.commit().await.map_err(super::db_error)
    }

    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM consents WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(super::db_error)?;
        Ok(())
    }

    async fn list_for_user(&self, sub: &str) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT client_id, resource, scopes FROM consents WHERE sub = ? \
             ORDER BY client_id, resource",
        )
        .bind(sub)
        .fetch_all(&self.pool)
        .await
        .map_err(super::db_error)?;
        rows.into_iter()
            .map(|(client_id, resource, scopes)| {
                Ok(Consent {
                    client_id,
                    resource: resource
                        .parse()
                        .map_err(|e: mcp_auth_core::ParseError| StoreError::corrupt(e.0))?,
                    scopes: decode(&scopes)?,
                })
            })
            .collect()
    }

    async fn revoke_user(&self, sub: &str, client_id: Option<&str>) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM consents WHERE sub = ?1 AND (?2 IS NULL OR client_id = ?2)")
                .bind(sub)
                .bind(client_id)
                .execute(&self.pool)
                .await
                .map_err(super::db_error)?;
        Ok(done.rows_affected())
    }
}
