//! Beginning a transaction so that no caller can leave it half-begun.
//!
//! sqlx sends `BEGIN` to the connection and only then hands back the [`Transaction`] whose drop
//! rolls back. A caller dropped in between (a client that went away before its answer, a store
//! call cut off at its deadline by [`crate::storage::deadline`]) leaves the connection inside a
//! transaction that nothing will end; back in the pool, every later `begin` on it fails
//! ("non-zero transaction depth") and, on SQLite, its write lock (`BEGIN IMMEDIATE`) keeps
//! every other writer out ("database is locked") until the process restarts.
//!
//! [`begin_detached`] runs the acquisition and the `BEGIN` on a task of their own. The task is
//! not cancelled with its caller: when the caller is gone, the finished transaction is
//! dropped on that task, rolled back, and its connection returns to the pool clean.

use std::borrow::Cow;

use mcp_auth_core::StoreError;
use sqlx::{Pool, Transaction};

/// Begin a transaction on a connection of `pool` with `statement` (sqlx's `BEGIN` when
/// `None`), on a task of its own (see the module documentation).
///
/// # Errors
/// The `sqlx::Error` of the acquisition or the `BEGIN`, mapped by `db_error`;
/// [`StoreError::Unavailable`] when the task could not finish (the runtime is shutting down).
pub(crate) async fn begin_detached<DB>(
    pool: &Pool<DB>,
    statement: Option<&'static str>,
    db_error: fn(sqlx::Error) -> StoreError,
) -> Result<Transaction<'static, DB>, StoreError>
where
    DB: sqlx::Database,
{
    let pool = pool.clone();
    let begun = tokio::spawn(async move {
        match statement {
            Some(statement) => pool.begin_with(Cow::Borrowed(statement)).await,
            None => pool.begin().await,
        }
    });
    match begun.await {
        Ok(result) => result.map_err(db_error),
        Err(e) => Err(StoreError::unavailable(format!(
            "a transaction could not begin: {e}"
        ))),
    }
}
