//! What the shared SQL stores ([`crate::storage::sql`]) need to know about SQLite: one writer
//! at a time, so a write transaction that starts with `BEGIN IMMEDIATE` already excludes every
//! other writer, on any connection or process, until it ends.

use mcp_auth_core::{ResourceUri, ScopeSet, StoreError};
use sqlx::{Pool, Sqlite, Transaction};

use crate::storage::sql::begin::begin_detached;
use crate::storage::sql::consent::{SELECT, decode, encode};
use crate::storage::sql::{Dialect, Selection};

impl Dialect for Sqlite {
    const DENY_UPSERT: &'static str = "INSERT INTO access_token_denylist (jti, exp) \
         VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE SET exp = MAX(exp, excluded.exp)";

    fn db_error(err: sqlx::Error) -> StoreError {
        super::db_error(err)
    }

    /// `BEGIN IMMEDIATE`: take the write lock before the first read. Begun by
    /// [`begin_detached`], so a dropped caller never leaves the lock held.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
        begin_detached(pool, Some("BEGIN IMMEDIATE"), super::db_error).await
    }

    /// Nothing: the write transaction already excludes other rotations.
    async fn lock_signing_keys(_tx: &mut Transaction<'_, Self>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing: the write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
    async fn lock_audit_chain(_tx: &mut Transaction<'_, Self>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing: the write transaction already excludes other writers of the family.
    async fn lock_family(
        _tx: &mut Transaction<'_, Self>,
        _family_id: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing: the write transaction already excludes other writers of the families.
    async fn lock_families(
        _tx: &mut Transaction<'_, Self>,
        _selection: Selection<'_>,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Read, union and write inside one `BEGIN IMMEDIATE` transaction, so concurrent grants
    /// never lose each other's scopes.
    async fn grant_consent(
        pool: &Pool<Self>,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        scopes: &ScopeSet,
    ) -> Result<(), StoreError> {
        let mut tx = Self::begin_write(pool).await?;
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
            "INSERT INTO consents (sub, client_id, resource, scopes) VALUES ($1, $2, $3, $4) \
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
}
