//! [`GrantUsageStore`](mcp_auth_core::store::GrantUsageStore) over SQL: the `grant_usage` and
//! `grant_cut_offs` tables (migration `0010_grant_usage.sql`). Every method is one statement
//! (or two in one write transaction), the same on both backends; the earlier/later value of an
//! upsert is a `CASE`, which both accept.

/// Define `$name`, the [`GrantUsageStore`](mcp_auth_core::store::GrantUsageStore) over the
/// sqlx database `$db` (a [`super::Dialect`]), with the doc comment given before it.
macro_rules! grant_usage_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Grant use in `grant_usage` (one row per sub, client_id, resource, with the first
            /// and last use kept by a single upsert) and cut-offs in `grant_cut_offs` (one row
            /// per sub, client_id, keeping the later time).
            ///
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::{GrantUsageStore, GrantUse};
            use mcp_auth_core::{ResourceUri, StoreError, UnixTime};

            use $crate::storage::sql::Dialect;

            #[async_trait]
            impl GrantUsageStore for $name {
                async fn record_use(
                    &self,
                    sub: &str,
                    client_id: &str,
                    resource: &ResourceUri,
                    at: UnixTime,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO grant_usage (sub, client_id, resource, first_used, \
                         last_used) VALUES ($1, $2, $3, $4, $4) \
                         ON CONFLICT (sub, client_id, resource) DO UPDATE SET \
                         first_used = CASE WHEN excluded.first_used < grant_usage.first_used \
                         THEN excluded.first_used ELSE grant_usage.first_used END, \
                         last_used = CASE WHEN excluded.last_used > grant_usage.last_used \
                         THEN excluded.last_used ELSE grant_usage.last_used END",
                    )
                    .bind(sub)
                    .bind(client_id)
                    .bind(resource.as_str())
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn list_for_user(&self, sub: &str) -> Result<Vec<GrantUse>, StoreError> {
                    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                        "SELECT client_id, resource, first_used, last_used FROM grant_usage \
                         WHERE sub = $1 ORDER BY client_id, resource",
                    )
                    .bind(sub)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    rows.into_iter()
                        .map(|(client_id, resource, first_used, last_used)| {
                            Ok(GrantUse {
                                client_id,
                                resource: resource.parse().map_err(
                                    |e: mcp_auth_core::ParseError| StoreError::corrupt(e.0),
                                )?,
                                first_used,
                                last_used,
                            })
                        })
                        .collect()
                }

                async fn cut_off(
                    &self,
                    sub: &str,
                    client_id: &str,
                    at: UnixTime,
                ) -> Result<u64, StoreError> {
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    let done =
                        sqlx::query("DELETE FROM grant_usage WHERE sub = $1 AND client_id = $2")
                            .bind(sub)
                            .bind(client_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(<$db>::db_error)?;
                    sqlx::query(
                        "INSERT INTO grant_cut_offs (sub, client_id, cut_off_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (sub, client_id) DO UPDATE SET \
                         cut_off_at = CASE WHEN excluded.cut_off_at > grant_cut_offs.cut_off_at \
                         THEN excluded.cut_off_at ELSE grant_cut_offs.cut_off_at END",
                    )
                    .bind(sub)
                    .bind(client_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }

                async fn cut_off_at(
                    &self,
                    sub: &str,
                    client_id: &str,
                ) -> Result<Option<UnixTime>, StoreError> {
                    sqlx::query_scalar(
                        "SELECT cut_off_at FROM grant_cut_offs WHERE sub = $1 AND client_id = $2",
                    )
                    .bind(sub)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)
                }

                async fn has_use(&self, client_id: &str) -> Result<bool, StoreError> {
                    sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM grant_usage WHERE client_id = $1)",
                    )
                    .bind(client_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(<$db>::db_error)
                }

                async fn purge_cut_offs(&self, before: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM grant_cut_offs WHERE cut_off_at < $1")
                        .bind(before)
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use grant_usage_store;
