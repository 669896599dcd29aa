//! The refresh family locks of PostgreSQL: a per-family advisory lock that orders inserts
//! against revocations (the store itself is [`PgRefreshTokenStore`](super::PgRefreshTokenStore),
//! written once in [`crate::storage::sql::refresh`]).
//!
//! The race to close: node A inserts the next token of a family (a rotation) while node B
//! revokes the family (a reuse was detected). Under READ COMMITTED neither transaction sees the
//! other's uncommitted row, so "insert unless revoked" and "revoke every token" could both
//! succeed and leave an active token in a revoked family. Both therefore first take the
//! transaction-scoped advisory lock `(LOCK_CLASS, hashtext(family_id))`; whichever comes second
//! runs its statements after the first committed, and each statement's fresh snapshot sees it.
//! `revoke_client` / `revoke_subject` lock every family the client (user) has, in ascending key
//! order (so two revocations never deadlock; an insert holds one lock only). A family whose
//! first token lands after the family list was read is a new authorization, issued after the
//! revocation. Hash collisions of `hashtext` only make two families share a lock.

use mcp_auth_core::StoreError;
use sqlx::{Postgres, Transaction};

use super::{LOCK_CLASS, db_error};
use crate::storage::sql::Selection;

/// Take the advisory lock of one family for the rest of the transaction.
pub(super) async fn lock_family(
    tx: &mut Transaction<'_, Postgres>,
    family_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(family_id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Take the advisory locks of every family with a token matching `selection`, in ascending
/// key order, for the rest of the transaction.
pub(super) async fn lock_families(
    tx: &mut Transaction<'_, Postgres>,
    selection: Selection<'_>,
) -> Result<(), StoreError> {
    let (first, second) = selection.binds();
    let cond = selection.condition();
    let keys: Vec<i32> = sqlx::query_scalar(&format!(
        "SELECT DISTINCT hashtext(family_id) AS k FROM refresh_tokens WHERE {cond} ORDER BY k"
    ))
    .bind(first)
    .bind(second)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(key)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
