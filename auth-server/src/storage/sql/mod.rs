//! The SQL stores, each written once for both backends.
//!
//! SQLite and PostgreSQL store the same tables with the same column types, and accept the same
//! statements for nearly everything: numbered placeholders (`$1`, `$2`, … — sqlx binds SQLite's
//! `$NNN` parameters by number as PostgreSQL does), `INSERT … ON CONFLICT`, `UPDATE …
//! RETURNING`, `TRUE`/`FALSE`, `CAST(… AS TEXT)`. Each module here holds one `macro_rules!` that
//! writes an artifact's store over a sqlx database type; [`super::sqlite`] and
//! [`super::postgres`] expand it once each (so both expansions are type-checked against their own
//! driver), and the few things that truly differ come from the backend's [`Dialect`]:
//!
//! | what differs | SQLite | PostgreSQL |
//! |---|---|---|
//! | error classification ([`Dialect::db_error`]) | `SQLITE_BUSY`/`SQLITE_LOCKED` are unavailable | SQLSTATE classes |
//! | a write transaction ([`Dialect::begin_write`]) | `BEGIN IMMEDIATE` (take the write lock first) | `BEGIN` |
//! | signing key rotation ([`Dialect::lock_signing_keys`]) | nothing more (one writer at a time) | `LOCK TABLE … IN EXCLUSIVE MODE` |
//! | audit chain appends ([`Dialect::lock_audit_chain`]) | nothing more | a transaction-scoped advisory lock |
//! | refresh families ([`Dialect::lock_family`], [`Dialect::lock_families`]) | nothing more | transaction-scoped advisory locks |
//! | consent union ([`Dialect::grant_consent`]) | read, union and write in one write transaction | one upsert computing the union |
//! | denylist upsert ([`Dialect::DENY_UPSERT`]) | `MAX(exp, excluded.exp)` | `GREATEST(…)` |
//!
//! What exists on one backend only stays there: the PostgreSQL shared counters and CIMD cache,
//! the PostgreSQL replay batch (`UNNEST`), the SQLite replay batch, and each backend's pool
//! setup and migrations.

pub(crate) mod audit;
pub(crate) mod begin;
pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod consent;
pub(crate) mod elicitations;
pub(crate) mod grant_usage;
pub(crate) mod keys;
pub(crate) mod refresh;
pub(crate) mod replay;
pub(crate) mod revocation;
pub(crate) mod users;
pub(crate) mod vault;

use std::future::Future;

use mcp_auth_core::{ResourceUri, ScopeSet, StoreError};
use sqlx::{Pool, Transaction};

pub(crate) use refresh::Selection;

/// What differs between the SQL backends, implemented by `sqlx::Sqlite` (in
/// [`super::sqlite`]) and `sqlx::Postgres` (in [`super::postgres`]). Every method returns a
/// [`StoreError`] already classified by [`Dialect::db_error`].
pub(crate) trait Dialect: sqlx::Database {
    /// The denylist upsert, binding `$1` = jti and `$2` = exp, that keeps the later of the
    /// stored and the new `exp`.
    const DENY_UPSERT: &'static str;

    /// Map a sqlx error to a [`StoreError`] (unavailable, conflict, corrupt or backend).
    fn db_error(err: sqlx::Error) -> StoreError;

    /// Begin a transaction that will write (SQLite takes the write lock at once, so that a
    /// read inside it cannot be invalidated by another writer).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, StoreError>> + Send;

    /// Inside a key rotation, before the current keys are retired: keep other rotations out
    /// until this transaction ends.
    fn lock_signing_keys(
        tx: &mut Transaction<'_, Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Inside an audit append: order this transaction against every other append to the
    /// audit chain (from any process or node) until it ends.
    fn lock_audit_chain(
        tx: &mut Transaction<'_, Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Order this transaction against every other insert into or revocation of `family_id`,
    /// until it ends.
    fn lock_family(
        tx: &mut Transaction<'_, Self>,
        family_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`Dialect::lock_family`] for every family with a token matching `selection`, taken in
    /// an order that two such revocations share (so they never deadlock).
    fn lock_families(
        tx: &mut Transaction<'_, Self>,
        selection: Selection<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remember `scopes` for (`sub`, `client_id`, `resource`) in addition to what is
    /// remembered, so that concurrent grants never lose each other's scopes (see
    /// [`consent`]).
    fn grant_consent(
        pool: &Pool<Self>,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        scopes: &ScopeSet,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Define the struct `$name` of a SQL store over the sqlx database `$db`, with the doc comment
/// given before it: a connection pool, and `new` over a migrated pool.
macro_rules! store_struct {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            pool: sqlx::Pool<$db>,
        }

        impl $name {
            /// A store over a migrated pool (see the backend's `open_pool`).
            pub fn new(pool: sqlx::Pool<$db>) -> Self {
                Self { pool }
            }
        }
    };
}

pub(crate) use store_struct;
