//! [`UserStore`] over SQLite.

use async_trait::async_trait;
use mcp_auth_core::StoreError;
use mcp_auth_core::store::{User, UserStore};
use sqlx::SqlitePool;

use crate::storage::rows::UserRow;

/// Local users in the `users` table, keyed by `username`; `sub` is unique too.
///
/// `put` of an existing username replaces the password hash and keeps the stored `sub`,
/// whatever `sub` the new record carries: a subject id never changes once issued. Putting a new
/// username with a `sub` another user already has is an error.
#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
}

impl SqliteUserStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT sub, username, password_hash FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(row.map(User::from))
    }

    async fn session_generation(&self, sub: &str) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT session_generation FROM users WHERE sub = ?")
                .bind(sub)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(row.map(|(g,)| u64::try_from(g).unwrap_or(u64::MAX)))
    }

    async fn end_sessions(&self, sub: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET session_generation = session_generation + 1 WHERE sub = ?",
        )
        .bind(sub)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn put(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (username, sub, password_hash) VALUES (?, ?, ?) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(&user.username)
        .bind(&user.sub)
        .bind(&user.password_hash)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserRow> =
            sqlx::query_as("SELECT sub, username, password_hash FROM users ORDER BY username")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "DELETE FROM users WHERE username = ? RETURNING sub, username, password_hash",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(row.map(User::from))
    }
}
