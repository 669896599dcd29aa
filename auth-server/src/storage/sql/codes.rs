//! [`AuthorizationCodeStore`](mcp_auth_core::store::AuthorizationCodeStore) over SQL, with
//! single use enforced by one `UPDATE … WHERE spent = FALSE RETURNING`.

/// How long a code record is kept after its expiry, in seconds, so that replays of spent codes
/// are still recognised (the contract's "one hour").
pub(crate) const SPENT_CODE_GRACE: i64 = 3600;

/// Define `$name`, the [`AuthorizationCodeStore`](mcp_auth_core::store::AuthorizationCodeStore)
/// over the sqlx database `$db` (a [`super::Dialect`]), with the doc comment given before it
/// (which says why concurrent takes cannot both succeed on that backend).
macro_rules! code_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Authorization codes in the `authorization_codes` table, keyed by `code_hash`.
            ///
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::ext::IssuedTokens;
            use mcp_auth_core::store::{AuthorizationCode, AuthorizationCodeStore, CodeTake};
            use mcp_auth_core::{StoreError, UnixTime};

            use $crate::storage::rows::{CodeRow, SpentRow};
            use $crate::storage::sql::Dialect;
            use $crate::storage::sql::codes::SPENT_CODE_GRACE;

            /// The tokens recorded for a spent code, when both access token columns are set.
            fn issued(row: SpentRow) -> Option<IssuedTokens> {
                match (row.issued_access_jti, row.issued_access_exp) {
                    (Some(access_jti), Some(access_exp)) => Some(IssuedTokens {
                        access_jti,
                        access_exp,
                        refresh_family: row.issued_refresh_family,
                    }),
                    _ => None,
                }
            }

            #[async_trait]
            impl AuthorizationCodeStore for $name {
                async fn insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, \
                         redirect_uri_sent, code_challenge, sub, scope, resource, auth_time, \
                         expires_at, openid, nonce, offline_access, extra_claims, dpop_jkt) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(&code.code_hash)
                    .bind(&code.client_id)
                    .bind(&code.redirect_uri)
                    .bind(code.redirect_uri_sent)
                    .bind(&code.code_challenge)
                    .bind(&code.sub)
                    .bind(code.scope.to_string())
                    .bind(code.resource.as_str())
                    .bind(code.auth_time)
                    .bind(code.expires_at)
                    .bind(code.openid)
                    .bind(code.nonce.as_deref())
                    .bind(code.offline_access)
                    .bind($crate::storage::rows::stored_claims(&code.extra_claims)?)
                    .bind(code.dpop_jkt.as_deref())
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn take(
                    &self,
                    code_hash: &str,
                    now: UnixTime,
                ) -> Result<CodeTake, StoreError> {
                    let fresh: Option<CodeRow> = sqlx::query_as(
                        "UPDATE authorization_codes SET spent = TRUE \
                         WHERE code_hash = $1 AND spent = FALSE AND expires_at > $2 \
                         RETURNING code_hash, client_id, redirect_uri, redirect_uri_sent, \
                         code_challenge, sub, scope, resource, auth_time, expires_at, openid, \
                         nonce, offline_access, extra_claims, dpop_jkt",
                    )
                    .bind(code_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    if let Some(row) = fresh {
                        return Ok(CodeTake::Fresh(row.try_into()?));
                    }
                    // Not spendable: either spent before (a replay), or absent or expired.
                    // `spent` never goes back to false, so this read cannot contradict the
                    // failed update.
                    let seen: Option<SpentRow> = sqlx::query_as(
                        "SELECT spent, client_id, issued_access_jti, issued_access_exp, \
                         issued_refresh_family FROM authorization_codes WHERE code_hash = $1",
                    )
                    .bind(code_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(match seen {
                        Some(row) if row.spent => CodeTake::Replayed {
                            client_id: row.client_id.clone(),
                            issued: issued(row),
                        },
                        _ => CodeTake::Missing,
                    })
                }

                async fn record_issued(
                    &self,
                    code_hash: &str,
                    issued: &IssuedTokens,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE authorization_codes SET issued_access_jti = $1, \
                         issued_access_exp = $2, issued_refresh_family = $3 WHERE code_hash = $4",
                    )
                    .bind(&issued.access_jti)
                    .bind(issued.access_exp)
                    .bind(issued.refresh_family.as_deref())
                    .bind(code_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
                        .bind(now.saturating_sub(SPENT_CODE_GRACE))
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use code_store;
