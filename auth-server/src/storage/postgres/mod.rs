//! The PostgreSQL backend: every `mcp_auth_core::store` trait over one shared database, so that
//! several stateless `auth-server` nodes can serve the same clients, users and tokens.
//!
//! [`open`] connects a pool (at most `pool_size` connections, a short acquire timeout so that a
//! node that lost the database fails fast instead of hanging), runs the embedded migrations
//! (`auth-server/migrations_postgres/`) under a session advisory lock so that several nodes
//! starting together do not race, and returns a [`Stores`] whose every member is the PostgreSQL
//! implementation. The tables live in the connection's `search_path` (by default `public`);
//! `?options=-c%20search_path%3Dname` in the URL selects another schema.
//!
//! Single-use rules hold across connections and nodes under the default READ COMMITTED
//! isolation because each one is a single statement: `UPDATE … WHERE spent = false RETURNING`
//! for codes, `UPDATE … WHERE state = 'active'` for refresh tokens, `INSERT … ON CONFLICT` for
//! the replay cache. A concurrent `UPDATE` of the same row waits for the first to commit and then
//! re-checks its `WHERE` clause, so exactly one caller sees the row change. Where a rule spans
//! rows (a token inserted into a family while another node revokes it; key rotation), the
//! transaction first takes a lock (see `refresh` and `dialect`). The stores are written
//! once for SQLite and PostgreSQL (`storage::sql`); `stores` expands them over PostgreSQL.
//!
//! Times are `BIGINT` seconds since the Unix epoch.

mod cimd_cache;
mod counters;
mod dialect;
mod refresh;
mod replay;
mod stores;

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::StoreError;
use mcp_auth_core::store::Stores;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::replay_front::FrontedReplayCache;

pub use cimd_cache::{PgCimdCache, STALE_CIMD_RETENTION};
pub use counters::PgSharedCounters;
pub use replay::PgReplayCache;
pub use stores::{
    PgAccessTokenDenylist, PgAuditLog, PgAuthorizationCodeStore, PgClientStore, PgConsentStore,
    PgElicitationStore, PgGrantUsageStore, PgRefreshTokenStore, PgSigningKeyStore, PgUserStore,
    PgVaultStore,
};

pub use crate::config::DEFAULT_POOL_SIZE;

/// How long a store call waits for a pooled connection (or a new connection to be made) before
/// it fails. Short, so that a node that lost the database answers `503` quickly rather than
/// holding requests; inside a request the request's store budget
/// ([`super::deadline::REQUEST_STORE_BUDGET`]) is shorter still and cuts the wait first.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The server-side `statement_timeout` of the pool's sessions, milliseconds (unless the URL's
/// `options` set one): PostgreSQL cancels a statement that runs (or waits for a lock) longer,
/// so that a connection whose caller gave up at its deadline ([`super::deadline`]) is soon
/// free again. The same as [`super::deadline::CALL_DEADLINE`]; migrations run without it.
pub const STATEMENT_TIMEOUT_MS: u128 = super::deadline::CALL_DEADLINE.as_millis();

/// The first key of the two-key advisory locks this backend takes (ASCII `mcau`). The second
/// key names what is locked: a refresh token family ([`refresh`]) or the migrations.
pub(crate) const LOCK_CLASS: i32 = 0x6d63_6175;

/// The second key of the migration lock.
const MIGRATION_LOCK: i32 = 0;

/// Map a sqlx error to a [`StoreError`]: connection-level failures (connection refused or
/// lost, TLS, no pooled connection within the acquire timeout, the server shutting down or
/// cancelling a statement at `statement_timeout`) are [`StoreError::Unavailable`]; a unique or
/// exclusion violation is [`StoreError::Conflict`]; a row that does not decode is
/// [`StoreError::Corrupt`]; anything else is [`StoreError::Backend`]. The message is sqlx's,
/// which never carries bound values.
pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => StoreError::unavailable(err),
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| {
                // Class 08 (connection exception), 57014 (query cancelled: statement_timeout),
                // 57P01..57P03 (admin shutdown, crash shutdown, cannot connect now), 55P03
                // (lock not available), 53300 (too many connections), 40001 and 40P01
                // (serialization failure, deadlock: the transaction may be retried).
                c.starts_with("08")
                    || matches!(
                        &*c,
                        "57014"
                            | "57P01"
                            | "57P02"
                            | "57P03"
                            | "55P03"
                            | "53300"
                            | "40001"
                            | "40P01"
                    )
            }) =>
        {
            StoreError::unavailable(err)
        }
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| matches!(&*c, "23505" | "23P01")) =>
        {
            StoreError::conflict(err)
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::corrupt(err),
        _ => StoreError::backend(err),
    }
}

/// Connect to the database at `url` (`postgres://…`), migrate it, and return stores backed by
/// it, with at most `pool_size` connections.
///
/// # Errors
/// A [`StoreError`] when the URL is invalid, the database cannot be reached, or a migration
/// fails (for instance a database migrated by a newer version).
pub async fn open(url: &str, pool_size: u32) -> Result<Stores, StoreError> {
    Ok(stores_from_pool(open_pool(url, pool_size).await?))
}

/// Connect a pool to `url` and migrate the database; for callers that need the pool itself.
///
/// # Errors
/// As [`open`].
pub async fn open_pool(url: &str, pool_size: u32) -> Result<PgPool, StoreError> {
    let pool = connect(url, pool_size).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Connect a pool to `url` without migrating. The pool connects lazily after the first
/// connection, and a connection is tested before reuse, so a node recovers by itself when the
/// database comes back.
///
/// # Errors
/// A [`StoreError`] when the URL is invalid or the first connection fails.
pub async fn connect(url: &str, pool_size: u32) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
        StoreError::backend(format!("invalid PostgreSQL URL: {}", redact_error(&e)))
    })?;
    let mut options = options.application_name("mcp-auth");
    if !options
        .get_options()
        .is_some_and(|o| o.contains("statement_timeout"))
    {
        options = options.options([("statement_timeout", STATEMENT_TIMEOUT_MS)]);
    }
    let pooled = PgPoolOptions::new()
        .max_connections(pool_size.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(true)
        .connect_with(options.clone())
        .await;
    match pooled {
        Ok(pool) => Ok(pool),
        // The pool only says it gave up waiting; one direct attempt says why (connection
        // refused, unknown host, authentication), naming where it tried.
        Err(sqlx::Error::PoolTimedOut) => Err(first_connection_error(&options).await),
        Err(e) => Err(db_error(e)),
    }
}

/// Whether the database at `url` has been migrated at least once (its `_sqlx_migrations` table
/// exists). Changes nothing.
///
/// # Errors
/// As [`connect`], or a failed query.
pub async fn is_prepared(url: &str) -> Result<bool, StoreError> {
    let pool = connect(url, 1).await?;
    let prepared: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .map_err(db_error)?;
    pool.close().await;
    Ok(prepared)
}

/// Why a first connection to `options` fails, as an unavailable-store error naming the host
/// and port (never the user or password).
async fn first_connection_error(options: &PgConnectOptions) -> StoreError {
    use sqlx::Connection;
    let at = format!("{}:{}", options.get_host(), options.get_port());
    let attempt = tokio::time::timeout(
        ACQUIRE_TIMEOUT,
        sqlx::postgres::PgConnection::connect_with(options),
    )
    .await;
    let cause = match attempt {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            "no connection within the acquire timeout".to_owned()
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", ACQUIRE_TIMEOUT.as_millis()),
    };
    StoreError::unavailable(format!("cannot connect to PostgreSQL at {at}: {cause}"))
}

/// The message of a URL parse error, which never repeats the URL (it may hold a password).
fn redact_error(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Configuration(_) => "malformed connection string".to_owned(),
        other => other.to_string(),
    }
}

/// Run the embedded migrations (`auth-server/migrations_postgres/`) on `pool`'s schema, holding
/// a session advisory lock (keyed by the schema) for the whole run, so that nodes starting
/// together migrate once and the others wait, then find nothing to do.
///
/// # Errors
/// A [`StoreError`] when the database cannot be reached or a migration fails.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    // Waiting for another node's migration, and a long migration, are not statements to cut.
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_lock($1, $2 # hashtext(current_schema()))")
        .bind(LOCK_CLASS)
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut migrator = sqlx::migrate!("./migrations_postgres");
    // Our lock is per schema; sqlx's own is per database.
    migrator.set_locking(false);
    let result = migrator
        .run_direct(&mut *conn)
        .await
        .map_err(StoreError::backend);
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, $2 # hashtext(current_schema()))")
        .bind(LOCK_CLASS)
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db_error);
    let reset = sqlx::query("RESET statement_timeout")
        .execute(&mut *conn)
        .await
        .map_err(db_error);
    if unlocked.is_err() || reset.is_err() {
        // The lock is held by this session, or its statements are unbounded: drop the
        // connection rather than return it to the pool that way.
        conn.detach();
    }
    result?;
    unlocked.map(|_| ())
}

/// The shared rate-limit counters over `pool` ([`PgSharedCounters`]), every call bounded by
/// [`super::deadline`].
pub fn bounded_counters(pool: &PgPool) -> Arc<dyn crate::limits_shared::SharedCounters> {
    Arc::new(super::deadline::Bounded::<
        dyn crate::limits_shared::SharedCounters,
    >::new(Arc::new(PgSharedCounters::new(pool.clone()))))
}

/// `cache` as the resolver's [`mcp_auth_cimd_resolver::CimdCache`], every call bounded by
/// [`super::deadline`].
pub fn bounded_cimd_cache(cache: Arc<PgCimdCache>) -> Arc<dyn mcp_auth_cimd_resolver::CimdCache> {
    Arc::new(super::deadline::Bounded::<
        dyn mcp_auth_cimd_resolver::CimdCache,
    >::new(cache))
}

/// Stores over an already connected and migrated pool (see [`open_pool`]). The replay cache is
/// [`PgReplayCache`] behind a [`FrontedReplayCache`] (in-memory front, group commit). Every
/// call is bounded by [`super::deadline`].
pub fn stores_from_pool(pool: PgPool) -> Stores {
    super::deadline::bound(
        Stores {
            clients: Arc::new(PgClientStore::new(pool.clone())),
            codes: Arc::new(PgAuthorizationCodeStore::new(pool.clone())),
            refresh_tokens: Arc::new(PgRefreshTokenStore::new(pool.clone())),
            replay: Arc::new(FrontedReplayCache::new(Arc::new(PgReplayCache::new(
                pool.clone(),
            )))),
            denylist: Arc::new(PgAccessTokenDenylist::new(pool.clone())),
            keys: Arc::new(PgSigningKeyStore::new(pool.clone())),
            users: Arc::new(PgUserStore::new(pool.clone())),
            consent: Arc::new(PgConsentStore::new(pool.clone())),
            elicitations: Arc::new(PgElicitationStore::new(pool.clone())),
            vault: Arc::new(PgVaultStore::new(pool.clone())),
            grant_usage: Arc::new(PgGrantUsageStore::new(pool.clone())),
            audit: Arc::new(PgAuditLog::new(pool)),
        },
        None,
    )
}
