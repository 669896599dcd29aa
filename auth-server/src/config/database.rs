//! The database settings: `database` (a SQLite file path, or a PostgreSQL URL) and
//! `database_pool_size`, read as a [`Database`] and handed to `crate::storage::open` as a
//! [`DatabaseConfig`].

use std::path::{Path, PathBuf};

use super::Config;

/// Default number of connections in a node's PostgreSQL pool (`database_pool_size`).
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// The database a configuration names: its `database` value, read as a PostgreSQL URL when it
/// starts with `postgres://` or `postgresql://`, else as a SQLite file path. `Debug` hides a
/// password in the URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (libpq form, e.g. `postgres://mcp@db.internal:5432/mcp_auth`).
    Postgres(String),
}

impl Database {
    /// Classify a configured `database` value.
    pub fn from_config_value(value: &Path) -> Self {
        match value.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Self::Postgres(s.to_owned())
            }
            _ => Self::Sqlite(value.to_owned()),
        }
    }

    /// The database `config` names.
    pub fn from_config(config: &Config) -> Self {
        Self::from_config_value(&config.database)
    }

    /// Whether several nodes may share it (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl std::fmt::Display for Database {
    /// The file path, or the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    write!(f, "{u}")
                }
                Err(_) => f.write_str("postgres://[unparseable URL]"),
            },
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What `crate::storage::open` needs of the configuration: which database, and with PostgreSQL
/// the size of each node's pool. `Debug` hides a password in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// The database the configuration names.
    pub database: Database,
    /// With PostgreSQL: the most connections one node opens (`database_pool_size`, default
    /// [`DEFAULT_POOL_SIZE`]).
    pub pool_size: u32,
}

impl Config {
    /// The database settings of this configuration.
    pub fn database_config(&self) -> DatabaseConfig {
        DatabaseConfig {
            database: Database::from_config(self),
            pool_size: self.database_pool_size,
        }
    }
}
