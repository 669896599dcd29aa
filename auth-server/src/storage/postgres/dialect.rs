//! What the shared SQL stores ([`crate::storage::sql`]) need to know about PostgreSQL: several
//! nodes write at once under READ COMMITTED, so a rule that spans rows (a token inserted into a
//! family while another node revokes it; key rotation) first takes a lock, and the consent
//! union is computed by the upsert itself.

use mcp_auth_core::{ResourceUri, ScopeSet, StoreError};
use sqlx::{Pool, Postgres, Transaction};

use super::db_error;
use crate::storage::sql::begin::begin_detached;
use crate::storage::sql::consent::encode;
use crate::storage::sql::{Dialect, Selection};

/// The advisory lock key of the audit chain (one 64-bit key, "mcpaudit" in ASCII).
pub(crate) const AUDIT_CHAIN_LOCK: i64 = 0x6d63_7061_7564_6974;

impl Dialect for Postgres {
    const DENY_UPSERT: &'static str = "INSERT INTO access_token_denylist (jti, exp) \
         VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE \
         SET exp = GREATEST(access_token_denylist.exp, excluded.exp)";

    fn db_error(err: sqlx::Error) -> StoreError {
        db_error(err)
    }

    /// A plain `BEGIN` (READ COMMITTED); the statements that need a lock take it. Begun by
    /// [`begin_detached`], so a dropped caller never leaves a transaction open.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
        begin_detached(pool, None, db_error).await
    }

    /// `LOCK TABLE signing_keys IN EXCLUSIVE MODE`: readers go on, other writers wait, so two
    /// nodes rotating at once leave exactly one current key.
    async fn lock_signing_keys(tx: &mut Transaction<'_, Self>) -> Result<(), StoreError> {
        sqlx::query("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The transaction-scoped advisory lock [`AUDIT_CHAIN_LOCK`]: taken by every append, it
    /// needs no privilege on the table beyond `INSERT` and `SELECT` (unlike `LOCK TABLE`).
    async fn lock_audit_chain(tx: &mut Transaction<'_, Self>) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_CHAIN_LOCK)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The transaction-scoped advisory lock `(LOCK_CLASS, hashtext(family_id))` (see
    /// [`super::refresh`]).
    async fn lock_family(
        tx: &mut Transaction<'_, Self>,
        family_id: &str,
    ) -> Result<(), StoreError> {
        super::refresh::lock_family(tx, family_id).await
    }

    /// The advisory locks of every selected family, in ascending key order (see
    /// [`super::refresh`]).
    async fn lock_families(
        tx: &mut Transaction<'_, Self>,
        selection: Selection<'_>,
    ) -> Result<(), StoreError> {
        super::refresh::lock_families(tx, selection).await
    }

    /// One upsert whose conflict branch computes the union of the stored and the new array in
    /// SQL. A concurrent grant for the same triple waits for the first to commit and then
    /// unions with the committed row, so concurrent grants never lose each other's scopes.
    async fn grant_consent(
        pool: &Pool<Self>,
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
        .execute(pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
