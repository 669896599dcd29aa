//! [`RefreshTokenStore`](mcp_auth_core::store::RefreshTokenStore) over SQL: token rows plus a
//! table of revoked families. The statements are the same on both backends; how inserts and
//! revocations of one family are ordered is the backend's [`super::Dialect::lock_family`] and
//! [`super::Dialect::lock_families`].

/// Which tokens a multi-family revocation covers: those of one client, or of one user
/// (optionally with one client).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Selection<'a> {
    /// Every token of this client.
    Client(&'a str),
    /// Every token of this user, of one client when given.
    Subject(&'a str, Option<&'a str>),
}

impl<'a> Selection<'a> {
    /// The SQL condition over `refresh_tokens`, on `$1` and `$2` (see [`Self::binds`]).
    pub(crate) fn condition(self) -> &'static str {
        match self {
            Self::Client(_) => "client_id = $1 AND CAST($2 AS TEXT) IS NULL",
            Self::Subject(..) => "sub = $1 AND (CAST($2 AS TEXT) IS NULL OR client_id = $2)",
        }
    }

    /// The values of `$1` and `$2`.
    pub(crate) fn binds(self) -> (&'a str, Option<&'a str>) {
        match self {
            Self::Client(c) => (c, None),
            Self::Subject(s, c) => (s, c),
        }
    }
}

/// Define `$name`, the [`RefreshTokenStore`](mcp_auth_core::store::RefreshTokenStore) over the
/// sqlx database `$db` (a [`super::Dialect`]), with the doc comment given before it (which says
/// how an insert racing a revocation of its family is ordered on that backend).
macro_rules! refresh_token_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Refresh tokens in the `refresh_tokens` table (keyed by `token_hash`), and the
            /// families that were revoked in `revoked_refresh_families`.
            ///
            /// - `insert`: in a write transaction holding the family's lock, one `INSERT … SELECT …
            ///   WHERE NOT EXISTS (revoked family)`. Inserting a `token_hash` that already
            ///   exists is an error, never a replacement.
            /// - `revoke_family`: in a write transaction holding the family's lock, record the
            ///   family as revoked, then mark its tokens revoked.
            /// - `revoke_client` / `revoke_subject`: the same over every family the client (user)
            ///   has, holding all their locks.
            /// - `spend` is one conditional `UPDATE` from `active` to `spent`.
            /// - `purge` also forgets revoked families whose absolute expiry has passed: no token
            ///   of such a family can be used any more, so refusing inserts into it no longer
            ///   matters.
            ///
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::{RefreshToken, RefreshTokenStore, RevokedAccess};
            use mcp_auth_core::{StoreError, UnixTime};

            use $crate::storage::rows::{RevokedRow, TokenRow, revoked, stored_claims};
            use $crate::storage::sql::{Dialect, Selection};

            impl $name {
                /// Revoke every family with a token matching `selection`, in one write
                /// transaction holding the locks of those families. Returns the access tokens
                /// issued with the revoked tokens.
                async fn revoke_where(
                    &self,
                    selection: Selection<'_>,
                ) -> Result<Vec<RevokedAccess>, StoreError> {
                    let (first, second) = selection.binds();
                    let cond = selection.condition();
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    <$db>::lock_families(&mut tx, selection).await?;
                    sqlx::query(&format!(
                        "INSERT INTO revoked_refresh_families (family_id, family_expires_at) \
                         SELECT family_id, MAX(family_expires_at) FROM refresh_tokens \
                         WHERE {cond} GROUP BY family_id ON CONFLICT (family_id) DO NOTHING"
                    ))
                    .bind(first)
                    .bind(second)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    let rows: Vec<RevokedRow> = sqlx::query_as(&format!(
                        "UPDATE refresh_tokens SET state = 'revoked' WHERE {cond} \
                         RETURNING access_jti, access_exp"
                    ))
                    .bind(first)
                    .bind(second)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(revoked(rows))
                }
            }

            #[async_trait]
            impl RefreshTokenStore for $name {
                async fn insert(&self, token: &RefreshToken) -> Result<bool, StoreError> {
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    <$db>::lock_family(&mut tx, &token.family_id).await?;
                    let done = sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, sub, \
                         scope, resource, auth_time, issued_at, expires_at, family_expires_at, \
                         access_jti, access_exp, state, extra_claims, dpop_jkt) \
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', $13, $14 \
                         WHERE NOT EXISTS \
                         (SELECT 1 FROM revoked_refresh_families WHERE family_id = $2)",
                    )
                    .bind(&token.token_hash)
                    .bind(&token.family_id)
                    .bind(&token.client_id)
                    .bind(&token.sub)
                    .bind(token.scope.to_string())
                    .bind(token.resource.as_str())
                    .bind(token.auth_time)
                    .bind(token.issued_at)
                    .bind(token.expires_at)
                    .bind(token.family_expires_at)
                    .bind(&token.access_jti)
                    .bind(token.access_exp)
                    .bind(stored_claims(&token.extra_claims)?)
                    .bind(token.dpop_jkt.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn get(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
                    let row: Option<TokenRow> = sqlx::query_as(
                        "SELECT token_hash, family_id, client_id, sub, scope, resource, \
                         auth_time, issued_at, expires_at, family_expires_at, access_jti, \
                         access_exp, state, extra_claims, dpop_jkt FROM refresh_tokens \
                         WHERE token_hash = $1",
                    )
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    row.map(RefreshToken::try_from).transpose()
                }

                async fn spend(&self, token_hash: &str) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE refresh_tokens SET state = 'spent' \
                         WHERE token_hash = $1 AND state = 'active'",
                    )
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn revoke_family(
                    &self,
                    family_id: &str,
                ) -> Result<Vec<RevokedAccess>, StoreError> {
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    <$db>::lock_family(&mut tx, family_id).await?;
                    sqlx::query(
                        "INSERT INTO revoked_refresh_families (family_id, family_expires_at) \
                         VALUES ($1, (SELECT MAX(family_expires_at) FROM refresh_tokens \
                         WHERE family_id = $1)) ON CONFLICT (family_id) DO NOTHING",
                    )
                    .bind(family_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    let rows: Vec<RevokedRow> = sqlx::query_as(
                        "UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = $1 \
                         RETURNING access_jti, access_exp",
                    )
                    .bind(family_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(revoked(rows))
                }

                async fn revoke_client(
                    &self,
                    client_id: &str,
                ) -> Result<Vec<RevokedAccess>, StoreError> {
                    self.revoke_where(Selection::Client(client_id)).await
                }

                async fn revoke_subject(
                    &self,
                    sub: &str,
                    client_id: Option<&str>,
                ) -> Result<Vec<RevokedAccess>, StoreError> {
                    self.revoke_where(Selection::Subject(sub, client_id)).await
                }

                async fn held_by_subject(
                    &self,
                    sub: &str,
                    now: UnixTime,
                ) -> Result<Vec<(String, mcp_auth_core::ResourceUri)>, StoreError> {
                    let rows: Vec<(String, String)> = sqlx::query_as(
                        "SELECT DISTINCT client_id, resource FROM refresh_tokens \
                         WHERE sub = $1 AND state = 'active' AND expires_at > $2 \
                         AND family_expires_at > $2 ORDER BY client_id, resource",
                    )
                    .bind(sub)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    rows.into_iter()
                        .map(|(client_id, resource)| {
                            let resource = resource.parse().map_err(
                                |e: mcp_auth_core::ParseError| StoreError::corrupt(e.0),
                            )?;
                            Ok((client_id, resource))
                        })
                        .collect()
                }

                async fn held_by_client(
                    &self,
                    client_id: &str,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE client_id = $1 \
                         AND state = 'active' AND expires_at > $2 AND family_expires_at > $2)",
                    )
                    .bind(client_id)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(<$db>::db_error)
                }

                async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    let done =
                        sqlx::query("DELETE FROM refresh_tokens WHERE family_expires_at < $1")
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(<$db>::db_error)?;
                    sqlx::query(
                        "DELETE FROM revoked_refresh_families \
                         WHERE family_expires_at IS NOT NULL AND family_expires_at < $1",
                    )
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use refresh_token_store;
