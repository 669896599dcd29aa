//! [`ConsentStore`] over PostgreSQL.

use async_trait::async_trait;
use mcp_auth_core::store::{Consent, ConsentStore};
use mcp_auth_core::{ResourceUri, Scope, ScopeSet, StoreError};
use sqlx::PgPool;

use super::db_error;

/// Remembered consent in the `consents` table: one row per (sub, client_id, resource) with the
/// approved scopes as a JSON array of scope tokens (as in the SQLite backend).
///
/// `grant` is one upsert whose conflict branch computes the union of the stored and the new
/// array in SQL. A concurrent grant for the same triple waits for the first to commit and then
/// unions with the committed row, so concurrent grants never lose each other's scopes.
#[derive(Debug, Clone)]
pub struct PgConsentStore {
    pool: PgPool,
}

impl PgConsentStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
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

#[async_trait]
impl ConsentStore for PgConsentStore {
    async fn granted(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
    ) -> Result<Option<ScopeSet>, StoreError> {
        let json: Option<String> = sqlx::query_scalar(
            "SELECT scopes FROM consents WHERE sub = $1 AND client_id = $2 AND resource = $3",
        )
        .bind(sub)
        .bind(client_id)
        .bind(resource.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        json.as_deref().map(decode).transpose()
    }

    async fn grant(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        scopes: &ScopeSet,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consents (sub, client_id, resource, scopes) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sub, client_id, resource) DO UPDATE SET scopes = ( \
               SELECT COALESCE(jsonb_agg(s ORDER BY s), '[]'::jsonb)::text FROM ( \
                 SELECT jsonb_array_elements_text(consents.scopes::jsonb) AS s \
                 UNION SELECT jsonb_array_elements_text(excluded.scopes::jsonb) \
               ) AS u)",
        )
        .bind(sub)
        .bind(client_id)
        .bind(resource.as_str())
        .bind(encode(scopes)?)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM consents WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn list_for_user(&self, sub: &str) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT client_id, resource, scopes FROM consents WHERE sub = $1 \
             ORDER BY client_id, resource",
        )
        .bind(sub)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
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
        let done = sqlx::query(
            "DELETE FROM consents WHERE sub = $1 AND ($2::text IS NULL OR client_id = $2)",
        )
        .bind(sub)
        .bind(client_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
