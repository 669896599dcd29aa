//! Why a configured database cannot be used ([`super::open`], [`super::open_existing`],
//! [`super::migrate`], [`super::shared_pool`], [`super::check_shared_configuration`]).

use std::path::PathBuf;

use mcp_auth_core::StoreError;

/// A database that cannot be opened, prepared or shared. Messages name the database as
/// [`super::Database`] prints it (never a PostgreSQL password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The backend refused: cannot connect, cannot create the file, a migration failed.
    #[error("database {database}: {source}")]
    Backend {
        /// The database, password redacted.
        database: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// An admin command found no SQLite file there; admin commands never create one.
    #[error(
        "no database at {}: create it with `auth-server migrate` (or by starting the server once); admin commands never create one",
        .0.display()
    )]
    NoDatabase(PathBuf),
    /// An admin command found a PostgreSQL database without this server's tables.
    #[error(
        "database {0} has no mcp-auth tables: prepare it with `auth-server migrate` (or by starting the server once); admin commands never create them"
    )]
    Unprepared(String),
    /// A database shared by several nodes without the shared `session_secret`.
    #[error(
        "session_secret is required with a PostgreSQL database: every node must share it (set session_secret or MCP_AUTH_SESSION_SECRET, at least 32 characters)"
    )]
    SessionSecretRequired,
}

impl OpenError {
    /// [`OpenError::Backend`] for `database`.
    pub(crate) fn backend(database: &impl std::fmt::Display) -> impl FnOnce(StoreError) -> Self {
        let database = database.to_string();
        move |source| Self::Backend { database, source }
    }
}
