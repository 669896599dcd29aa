//! The SQLite backend: every `mcp_auth_core::store` trait over one database file.
//!
//! [`open`] creates the file if needed (mode 0600 on unix: it holds private signing keys), puts it
//! in WAL mode with `synchronous=NORMAL`, foreign keys on and a busy timeout of
//! [`BUSY_TIMEOUT`] (shorter than a request's store deadline, [`super::deadline`]), runs the
//! embedded migrations (`auth-server/migrations/`), and returns a [`Stores`] whose every
//! member is the SQLite implementation.
//!
//! The stores are written once for SQLite and PostgreSQL (`storage::sql`); `stores` expands
//! them over SQLite and `dialect` says what differs. Single-use rules are enforced by single
//! statements (`UPDATE … RETURNING`, conditional `INSERT`, upserts with a `WHERE`), never by a
//! read followed by a write on another statement, so they hold across connections and
//! processes. Read-modify-write transactions start with `BEGIN IMMEDIATE` so they take the
//! write lock before reading.
//!
//! Times are `INTEGER` seconds since the Unix epoch.

mod dialect;
mod stores;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::StoreError;
use mcp_auth_core::store::Stores;
use sqlx::SqlitePool;

use super::write_turn::WriteTurn;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use stores::{
    SqliteAccessTokenDenylist, SqliteAuditLog, SqliteAuthorizationCodeStore, SqliteClientStore,
    SqliteConsentStore, SqliteElicitationStore, SqliteGrantUsageStore, SqliteRefreshTokenStore,
    SqliteReplayCache, SqliteSigningKeyStore, SqliteUserStore, SqliteVaultStore,
};

/// Connections of the reading pool ([`SqlitePools::readers`]); writes have one more of their
/// own ([`SqlitePools::writer`]).
const MAX_CONNECTIONS: u32 = 8;

/// How long a statement waits for another connection's (or process's) write lock before
/// failing with [`StoreError::Unavailable`]: shorter than a request's store budget
/// ([`super::deadline::REQUEST_STORE_BUDGET`]), so that a held lock is answered `503` within
/// the request's deadline, and the connection is free again when the deadline passes.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(2_000);

/// Map a sqlx error to a [`StoreError`]: the database busy or locked by another writer past
/// [`BUSY_TIMEOUT`] (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes), no pooled
/// connection within the acquire timeout, or an I/O failure are
/// [`StoreError::Unavailable`]; a unique or primary-key violation is [`StoreError::Conflict`];
/// a row that does not decode is [`StoreError::Corrupt`]; anything else is
/// [`StoreError::Backend`]. The message is sqlx's, which never carries bound values.
pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    /// `SQLITE_BUSY` and `SQLITE_LOCKED`: the primary result codes in the low byte of an
    /// extended one.
    const BUSY: i64 = 5;
    const LOCKED: i64 = 6;
    match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(err),
        sqlx::Error::Database(db)
            if db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| matches!(c & 0xff, BUSY | LOCKED)) =>
        {
            StoreError::unavailable(err)
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::conflict(err),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::corrupt(err),
        _ => StoreError::backend(err),
    }
}

/// Open (creating if missing) the database at `path`, migrate it, and return stores backed by it.
///
/// # Errors
/// A [`StoreError`] when the file cannot be created or opened, or a migration fails (for
/// instance a database written by a newer version).
pub async fn open(path: &Path) -> Result<Stores, StoreError> {
    Ok(stores_over(&open_pools(path).await?, WriteTurn::new()))
}

/// Open (creating if missing) the database at `path`, configure and migrate it, and return the
/// connection pool. For callers that need the pool itself.
///
/// A missing file is created with mode 0600 on unix; an existing file keeps its mode.
///
/// # Errors
/// A [`StoreError`] when the file cannot be created or opened, or a migration fails.
pub async fn open_pool(path: &Path) -> Result<SqlitePool, StoreError> {
    let pool = connect(path, MAX_CONNECTIONS).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// The two pools the server's stores use over one database file: SQLite writes one transaction
/// at a time, and a connection's page cache is thrown away whenever another connection has
/// written since its last statement. With writes spread over every pooled connection, nearly
/// every statement started from an empty cache and read its pages again (a third of a code
/// redemption's database instructions under callgrind, `bench/instructions.sh`). So every
/// write goes through one connection, whose cache stays warm, and reads through the others,
/// which in WAL mode never wait for it.
#[derive(Debug, Clone)]
pub struct SqlitePools {
    /// Reads: up to 8 connections.
    pub readers: SqlitePool,
    /// Writes: one connection.
    pub writer: SqlitePool,
}

/// [`open_pool`] as [`SqlitePools`]: the writing connection is opened and migrates the file
/// first, then the reading pool.
///
/// # Errors
/// As [`open_pool`].
pub async fn open_pools(path: &Path) -> Result<SqlitePools, StoreError> {
    let writer = connect(path, 1).await?;
    migrate(&writer).await?;
    let readers = connect(path, MAX_CONNECTIONS).await?;
    Ok(SqlitePools { readers, writer })
}

/// A pool of at most `max_connections` over `path`, configured (see the module
/// documentation). A pooled connection is not pinged before each use: it is a file, not a
/// network peer, and a failed statement is an error anyway.
async fn connect(path: &Path, max_connections: u32) -> Result<SqlitePool, StoreError> {
    create_private_file(path).await?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .acquire_timeout(super::deadline::REQUEST_STORE_BUDGET)
        .connect_with(options)
        .await
        .map_err(db_error)
}

/// Run the embedded migrations on `pool`.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .map_err(StoreError::backend)
}

/// Stores over an already opened and migrated pool (see [`open_pool`]), every call bounded by
/// [`super::deadline`], and the writes taking a [`WriteTurn`] of their own.
pub fn stores_from_pool(pool: SqlitePool) -> Stores {
    let pools = SqlitePools {
        readers: pool.clone(),
        writer: pool,
    };
    stores_over(&pools, WriteTurn::new())
}

/// The stores over `pools`, every call bounded by [`super::deadline`]: reads through
/// [`SqlitePools::readers`]; writes through [`SqlitePools::writer`], each taking `turn` first
/// (shared with the database's other writers: the replay claims' batch writer).
pub fn stores_over(pools: &SqlitePools, turn: WriteTurn) -> Stores {
    super::deadline::bound(stores(&pools.readers), Some((stores(&pools.writer), turn)))
}

/// Every SQLite store over `pool`, unbounded.
fn stores(pool: &SqlitePool) -> Stores {
    Stores {
        clients: Arc::new(SqliteClientStore::new(pool.clone())),
        codes: Arc::new(SqliteAuthorizationCodeStore::new(pool.clone())),
        refresh_tokens: Arc::new(SqliteRefreshTokenStore::new(pool.clone())),
        replay: Arc::new(SqliteReplayCache::new(pool.clone())),
        denylist: Arc::new(SqliteAccessTokenDenylist::new(pool.clone())),
        keys: Arc::new(SqliteSigningKeyStore::new(pool.clone())),
        users: Arc::new(SqliteUserStore::new(pool.clone())),
        consent: Arc::new(SqliteConsentStore::new(pool.clone())),
        elicitations: Arc::new(SqliteElicitationStore::new(pool.clone())),
        vault: Arc::new(SqliteVaultStore::new(pool.clone())),
        grant_usage: Arc::new(SqliteGrantUsageStore::new(pool.clone())),
        audit: Arc::new(SqliteAuditLog::new(pool.clone())),
    }
}

/// Create `path` as an empty file readable only by its owner, unless it exists.
async fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::backend(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}
