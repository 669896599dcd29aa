//! [`UserStore`](mcp_auth_core::store::UserStore) over SQL.

/// Define `$name`, the [`UserStore`](mcp_auth_core::store::UserStore) over the sqlx database
/// `$db` (a [`super::Dialect`]), with the doc comment given before it.
macro_rules! user_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            $(#[$doc])*
            ///
            /// Local users in the `users` table, keyed by `username`; `sub` is unique too.
            ///
            /// `put` of an existing username replaces the password hash and keeps the stored
            /// `sub`, whatever `sub` the new record carries: a subject id never changes once
            /// issued. Putting a new username with a `sub` another user already has is an error.
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::StoreError;
            use mcp_auth_core::store::{FederatedUser, User, UserStore};

            use $crate::storage::rows::{FederatedUserRow, UserRow};
            use $crate::storage::sql::Dialect;

            #[async_trait]
            impl UserStore for $name {
                async fn get_by_username(
                    &self,
                    username: &str,
                ) -> Result<Option<User>, StoreError> {
                    let row: Option<UserRow> = sqlx::query_as(
                        "SELECT sub, username, password_hash FROM users WHERE username = $1",
                    )
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(row.map(User::from))
                }

                async fn session_generation(&self, sub: &str) -> Result<Option<u64>, StoreError> {
                    let row: Option<(i64,)> =
                        sqlx::query_as("SELECT session_generation FROM users WHERE sub = $1")
                            .bind(sub)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(<$db>::db_error)?;
                    Ok(row.map(|(g,)| u64::try_from(g).unwrap_or(u64::MAX)))
                }

                async fn end_sessions(&self, sub: &str) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE users SET session_generation = session_generation + 1 \
                         WHERE sub = $1",
                    )
                    .bind(sub)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn put(&self, user: &User) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO users (username, sub, password_hash) VALUES ($1, $2, $3) \
                         ON CONFLICT (username) \
                         DO UPDATE SET password_hash = excluded.password_hash",
                    )
                    .bind(&user.username)
                    .bind(&user.sub)
                    .bind(&user.password_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn list(&self) -> Result<Vec<User>, StoreError> {
                    let rows: Vec<UserRow> = sqlx::query_as(
                        "SELECT sub, username, password_hash FROM users ORDER BY username",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(User::from).collect())
                }

                async fn delete(&self, username: &str) -> Result<Option<User>, StoreError> {
                    let row: Option<UserRow> = sqlx::query_as(
                        "DELETE FROM users WHERE username = $1 \
                         RETURNING sub, username, password_hash",
                    )
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(row.map(User::from))
                }

                async fn get_federated(
                    &self,
                    upstream_issuer: &str,
                    upstream_sub: &str,
                ) -> Result<Option<FederatedUser>, StoreError> {
                    let row: Option<FederatedUserRow> = sqlx::query_as(
                        "SELECT sub, username, upstream_issuer, upstream_sub, display_name, \
                         email FROM users WHERE upstream_issuer = $1 AND upstream_sub = $2",
                    )
                    .bind(upstream_issuer)
                    .bind(upstream_sub)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(row.map(FederatedUser::from))
                }

                async fn upsert_federated(
                    &self,
                    user: &FederatedUser,
                ) -> Result<FederatedUser, StoreError> {
                    let row: FederatedUserRow = sqlx::query_as(
                        "INSERT INTO users (username, sub, password_hash, upstream_issuer, \
                         upstream_sub, display_name, email) VALUES ($1, $2, '', $3, $4, $5, $6) \
                         ON CONFLICT (upstream_issuer, upstream_sub) DO UPDATE SET \
                         display_name = excluded.display_name, email = excluded.email \
                         RETURNING sub, username, upstream_issuer, upstream_sub, display_name, \
                         email",
                    )
                    .bind(&user.username)
                    .bind(&user.sub)
                    .bind(&user.upstream_issuer)
                    .bind(&user.upstream_sub)
                    .bind(&user.display_name)
                    .bind(&user.email)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(FederatedUser::from(row))
                }

                async fn link_federated(
                    &self,
                    username: &str,
                    upstream_issuer: &str,
                    upstream_sub: &str,
                ) -> Result<Option<FederatedUser>, StoreError> {
                    // The unique index on (upstream_issuer, upstream_sub) refuses an identity
                    // another user has (a conflict); `IS NULL` keeps a linked user as it is.
                    let row: Option<FederatedUserRow> = sqlx::query_as(
                        "UPDATE users SET upstream_issuer = $2, upstream_sub = $3 \
                         WHERE username = $1 AND upstream_issuer IS NULL \
                         RETURNING sub, username, upstream_issuer, upstream_sub, display_name, \
                         email",
                    )
                    .bind(username)
                    .bind(upstream_issuer)
                    .bind(upstream_sub)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    if let Some(row) = row {
                        return Ok(Some(FederatedUser::from(row)));
                    }
                    match self.get_by_username(username).await? {
                        Some(_) => Err(StoreError::Conflict(
                            "the user already has an upstream identity".into(),
                        )),
                        None => Ok(None),
                    }
                }

                async fn list_federated(&self) -> Result<Vec<FederatedUser>, StoreError> {
                    let rows: Vec<FederatedUserRow> = sqlx::query_as(
                        "SELECT sub, username, upstream_issuer, upstream_sub, display_name, \
                         email FROM users WHERE upstream_issuer IS NOT NULL ORDER BY username",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(FederatedUser::from).collect())
                }
            }
        };
    };
}

pub(crate) use user_store;
