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
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    sqlx::query(
                        "DELETE FROM federated_identities WHERE user_sub IN \
                         (SELECT sub FROM users WHERE username = $1)",
                    )
                    .bind(username)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    let row: Option<UserRow> = sqlx::query_as(
                        "DELETE FROM users WHERE username = $1 \
                         RETURNING sub, username, password_hash",
                    )
                    .bind(username)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(row.map(User::from))
                }

                async fn get_federated(
                    &self,
                    upstream_issuer: &str,
                    upstream_sub: &str,
                ) -> Result<Option<FederatedUser>, StoreError> {
                    let row: Option<FederatedUserRow> = sqlx::query_as(
                        "SELECT u.sub, u.username, f.upstream_issuer, f.upstream_sub, \
                         f.display_name, f.email FROM federated_identities f \
                         JOIN users u ON u.sub = f.user_sub \
                         WHERE f.upstream_issuer = $1 AND f.upstream_sub = $2",
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
                    if let Some(stored) = self.refresh_identity(user).await? {
                        return Ok(stored);
                    }
                    // The user and its first identity, together. The primary key on the
                    // identity settles a race of first sign-ins: the loser inserts nothing,
                    // rolls its user back, and takes the winner's.
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    sqlx::query(
                        "INSERT INTO users (username, sub, password_hash) VALUES ($1, $2, '')",
                    )
                    .bind(&user.username)
                    .bind(&user.sub)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO federated_identities (upstream_issuer, upstream_sub, \
                         user_sub, display_name, email) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (upstream_issuer, upstream_sub) DO NOTHING",
                    )
                    .bind(&user.upstream_issuer)
                    .bind(&user.upstream_sub)
                    .bind(&user.sub)
                    .bind(&user.display_name)
                    .bind(&user.email)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?
                    .rows_affected();
                    if inserted == 1 {
                        tx.commit().await.map_err(<$db>::db_error)?;
                        return Ok(user.clone());
                    }
                    tx.rollback().await.map_err(<$db>::db_error)?;
                    self.refresh_identity(user).await?.ok_or_else(|| {
                        StoreError::Conflict("the upstream identity changed during sign-in".into())
                    })
                }

                async fn link_federated(
                    &self,
                    username: &str,
                    upstream_issuer: &str,
                    upstream_sub: &str,
                ) -> Result<Option<FederatedUser>, StoreError> {
                    // Adds the identity when the user exists and nobody has it; then the owner
                    // read back tells linked (or already linked) from taken.
                    sqlx::query(
                        "INSERT INTO federated_identities (upstream_issuer, upstream_sub, \
                         user_sub) SELECT $2, $3, sub FROM users WHERE username = $1 \
                         ON CONFLICT (upstream_issuer, upstream_sub) DO NOTHING",
                    )
                    .bind(username)
                    .bind(upstream_issuer)
                    .bind(upstream_sub)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    match self.get_federated(upstream_issuer, upstream_sub).await? {
                        Some(owner) if owner.username == username => Ok(Some(owner)),
                        Some(_) if self.get_by_username(username).await?.is_some() => Err(
                            StoreError::Conflict(
                                "the upstream identity belongs to another user".into(),
                            ),
                        ),
                        _ => Ok(None),
                    }
                }

                async fn unlink_federated(
                    &self,
                    username: &str,
                    upstream_issuer: &str,
                    upstream_sub: &str,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM federated_identities WHERE upstream_issuer = $2 \
                         AND upstream_sub = $3 \
                         AND user_sub IN (SELECT sub FROM users WHERE username = $1)",
                    )
                    .bind(username)
                    .bind(upstream_issuer)
                    .bind(upstream_sub)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn list_federated(&self) -> Result<Vec<FederatedUser>, StoreError> {
                    let rows: Vec<FederatedUserRow> = sqlx::query_as(
                        "SELECT u.sub, u.username, f.upstream_issuer, f.upstream_sub, \
                         f.display_name, f.email FROM federated_identities f \
                         JOIN users u ON u.sub = f.user_sub \
                         ORDER BY u.username, f.upstream_issuer, f.upstream_sub",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(FederatedUser::from).collect())
                }
            }

            impl $name {
                /// A sign-in with an identity that exists: take the name and email the
                /// upstream gave now, in one statement, and return it with its user; `None`
                /// when nobody has the identity.
                async fn refresh_identity(
                    &self,
                    user: &FederatedUser,
                ) -> Result<Option<FederatedUser>, StoreError> {
                    let row: Option<FederatedUserRow> = sqlx::query_as(
                        "UPDATE federated_identities SET display_name = $3, email = $4 \
                         WHERE upstream_issuer = $1 AND upstream_sub = $2 \
                         RETURNING user_sub AS sub, \
                         (SELECT username FROM users WHERE users.sub = user_sub) AS username, \
                         upstream_issuer, upstream_sub, display_name, email",
                    )
                    .bind(&user.upstream_issuer)
                    .bind(&user.upstream_sub)
                    .bind(&user.display_name)
                    .bind(&user.email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(row.map(FederatedUser::from))
                }
            }
        };
    };
}

pub(crate) use user_store;
