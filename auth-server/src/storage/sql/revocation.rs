//! [`AccessTokenDenylist`](mcp_auth_core::store::AccessTokenDenylist) over SQL.

/// Define `$name`, the [`AccessTokenDenylist`](mcp_auth_core::store::AccessTokenDenylist) over
/// the sqlx database `$db` (a [`super::Dialect`]), with the doc comment given before it.
macro_rules! denylist_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Denied access tokens in the `access_token_denylist` table: a `jti` and the `exp`
            /// until which it is denied. Denying a `jti` twice keeps the later `exp` (one upsert,
            /// `Dialect::DENY_UPSERT`), so a denial is never shortened. Expired rows are deleted
            /// by
            /// [`AccessTokenDenylist::purge`](mcp_auth_core::store::AccessTokenDenylist::purge).
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::AccessTokenDenylist;
            use mcp_auth_core::{StoreError, UnixTime};

            use $crate::storage::sql::Dialect;

            #[async_trait]
            impl AccessTokenDenylist for $name {
                async fn deny(&self, jti: &str, exp: UnixTime) -> Result<(), StoreError> {
                    sqlx::query(<$db>::DENY_UPSERT)
                        .bind(jti)
                        .bind(exp)
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn is_denied(&self, jti: &str, now: UnixTime) -> Result<bool, StoreError> {
                    sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM access_token_denylist \
                         WHERE jti = $1 AND exp > $2)",
                    )
                    .bind(jti)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(<$db>::db_error)
                }

                /// Delete denials whose `exp` is at or before `now`; returns how many.
                async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM access_token_denylist WHERE exp <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use denylist_store;
