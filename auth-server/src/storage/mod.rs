//! Storage backends: durable implementations of the `mcp_auth_core::store` traits.
//!
//! | backend | module |
//! |---|---|
//! | SQLite (one file, WAL) | [`sqlite`] |
//! | PostgreSQL (shared by several nodes) | [`postgres`] |
//!
//! Each store is written once for both SQL backends (`sql`, over a small dialect); only what
//! truly differs is written per backend. The migration numbering the two share is
//! [`migrations`].
//!
//! [`open`] picks one from the configuration's `database`: a `postgres://` (or
//! `postgresql://`) URL selects PostgreSQL, anything else is a SQLite file path.

pub mod deadline;
pub mod migrations;
mod open_error;
pub mod postgres;
pub mod replay_front;
mod rows;
mod sql;
pub mod sqlite;
pub mod sqlite_replay_batch;
pub mod write_turn;

use std::path::Path;
use std::sync::Arc;

use mcp_auth_core::StoreError;
use mcp_auth_core::store::Stores;

use crate::config::{Config, DatabaseConfig};

pub use crate::config::Database;
pub use open_error::OpenError;

/// Open the configured database (SQLite file or PostgreSQL URL, see [`Database`]), run its
/// migrations, and return the stores over it. With PostgreSQL the pool holds at most
/// `pool_size` connections.
///
/// # Errors
/// [`OpenError::Backend`], naming the database (never its password), when it cannot be
/// opened or migrated.
pub async fn open(config: &DatabaseConfig) -> Result<Stores, OpenError> {
    let db = &config.database;
    match db {
        Database::Sqlite(path) => open_sqlite(path).await,
        Database::Postgres(url) => postgres::open(url, config.pool_size).await,
    }
    .map_err(OpenError::backend(db))
}

/// [`open`] for the admin commands, which never create a database: a SQLite file that does not
/// exist, or a PostgreSQL database that no `auth-server migrate` (or `serve`) has prepared, is
/// an error naming what was looked at. An existing database is migrated as by [`open`].
///
/// # Errors
/// [`OpenError::NoDatabase`] / [`OpenError::Unprepared`], naming the command that creates
/// it; otherwise as [`open`].
pub async fn open_existing(config: &DatabaseConfig) -> Result<Stores, OpenError> {
    let db = &config.database;
    let exists = match db {
        Database::Sqlite(path) => path.exists(),
        Database::Postgres(url) => postgres::is_prepared(url)
            .await
            .map_err(OpenError::backend(db))?,
    };
    if !exists {
        return Err(match db {
            Database::Sqlite(path) => OpenError::NoDatabase(path.clone()),
            Database::Postgres(_) => OpenError::Unprepared(db.to_string()),
        });
    }
    open(config).await
}

/// Connections of [`shared_pool`].
pub const SHARED_POOL_SIZE: u32 = 4;

/// For PostgreSQL, a second small pool ([`SHARED_POOL_SIZE`] connections) over the configured
/// database for what the nodes share besides the stores: the rate-limit counters
/// ([`postgres::PgSharedCounters`], see [`crate::limits_shared`]) and the CIMD document cache
/// ([`postgres::PgCimdCache`]). `None` for SQLite, whose single node keeps them in memory. Call
/// after [`open`] (which migrates).
///
/// # Errors
/// [`OpenError::Backend`], naming the database (never its password), when it cannot be
/// reached.
pub async fn shared_pool(config: &Config) -> Result<Option<sqlx::PgPool>, OpenError> {
    let db = Database::from_config(config);
    match &db {
        Database::Sqlite(_) => Ok(None),
        Database::Postgres(url) => postgres::connect(url, SHARED_POOL_SIZE)
            .await
            .map(Some)
            .map_err(OpenError::backend(&db)),
    }
}

/// The SQLite stores of the server: [`sqlite::open`], with the replay cache behind a
/// [`replay_front::FrontedReplayCache`] (in-memory front, claims written in batches of one
/// transaction each); every call bounded by [`deadline`], and every write, the replay batches
/// included, taking the database's one [`write_turn::WriteTurn`] and its one writing
/// connection ([`sqlite::SqlitePools`]).
///
/// # Errors
/// As [`sqlite::open_pool`].
pub async fn open_sqlite(path: &Path) -> Result<Stores, StoreError> {
    let pools = sqlite::open_pools(path).await?;
    let turn = write_turn::WriteTurn::new();
    let mut stores = sqlite::stores_over(&pools, turn.clone());
    // The claims wait in the front's queue, not for the turn: the batch writer takes the turn
    // for each batch.
    stores.replay = Arc::new(
        deadline::Bounded::<dyn mcp_auth_core::store::ReplayCache>::new(Arc::new(
            replay_front::FrontedReplayCache::new(Arc::new(
                sqlite_replay_batch::SqliteReplayBatchWriter::with_turn(pools.writer, turn),
            )),
        )),
    );
    Ok(stores)
}

/// Run the configured database's migrations and nothing else (`auth-server migrate`).
///
/// # Errors
/// As [`open`].
pub async fn migrate(config: &Config) -> Result<(), OpenError> {
    let db = Database::from_config(config);
    match &db {
        Database::Sqlite(path) => sqlite::open_pool(path).await.map(drop),
        Database::Postgres(url) => postgres::open_pool(url, 1).await.map(drop),
    }
    .map_err(OpenError::backend(&db))
}

/// Refuse a configuration that cannot be shared by several nodes while its database is:
/// with PostgreSQL, `session_secret` must be set (every node must verify the session cookies
/// the others set; a random per-node secret would sign users out whenever the load balancer
/// switches nodes).
///
/// # Errors
/// [`OpenError::SessionSecretRequired`].
pub fn check_shared_configuration(config: &Config) -> Result<(), OpenError> {
    if Database::from_config(config).is_shared() && config.session_secret.is_none() {
        return Err(OpenError::SessionSecretRequired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_postgres_url_selects_postgres_and_anything_else_is_a_sqlite_path() {
        for url in [
            "postgres://u@127.0.0.1/db",
            "postgresql://u@127.0.0.1:5433/db",
        ] {
            assert!(Database::from_config_value(Path::new(url)).is_shared());
        }
        for path in [
            "mcp-auth.db",
            "/var/lib/mcp-auth/postgres://x",
            "./postgres",
        ] {
            assert_eq!(
                Database::from_config_value(Path::new(path)),
                Database::Sqlite(PathBuf::from(path))
            );
        }
    }

    #[test]
    fn the_password_of_a_database_url_is_never_shown() {
        let db = Database::from_config_value(Path::new("postgres://mcp:hunter2@db:5432/auth"));
        assert_eq!(db.to_string(), "postgres://mcp:***@db:5432/auth");
        assert!(!format!("{db:?}").contains("hunter2"));
        let config = Config {
            database: PathBuf::from("postgres://mcp:hunter2@db:5432/auth"),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn postgres_without_session_secret_is_refused() {
        let mut config = Config {
            database: PathBuf::from("postgres://mcp@127.0.0.1/auth"),
            ..Config::default()
        };
        let err = check_shared_configuration(&config).unwrap_err();
        assert!(matches!(err, OpenError::SessionSecretRequired), "{err}");
        assert!(err.to_string().contains("session_secret"), "{err}");
        config.session_secret = Some(mcp_auth_core::Secret::new("x".repeat(32)));
        assert!(check_shared_configuration(&config).is_ok());
        assert!(check_shared_configuration(&Config::default()).is_ok());
    }
}
