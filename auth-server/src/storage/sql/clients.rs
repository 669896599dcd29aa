//! [`ClientStore`](mcp_auth_core::store::ClientStore) over SQL: each client record is one JSON
//! document keyed by `client_id`.

/// Define `$name`, the [`ClientStore`](mcp_auth_core::store::ClientStore) over the sqlx
/// database `$db` (a [`super::Dialect`]), with the doc comment given before it.
macro_rules! client_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            $(#[$doc])*
            ///
            /// Registered clients in the `clients` table, each stored whole as JSON
            /// (`serde_json` of [`Client`](mcp_auth_core::Client)). `list` is ordered by
            /// `client_id` bytes, the order of [`ClientId`](mcp_auth_core::ClientId)'s `Ord`.
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::ClientStore;
            use mcp_auth_core::{Client, ClientId, StoreError};

            use $crate::storage::sql::Dialect;

            /// Decode one stored record.
            fn decode(record: &str) -> Result<Client, StoreError> {
                serde_json::from_str(record).map_err(StoreError::corrupt)
            }

            #[async_trait]
            impl ClientStore for $name {
                async fn get(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
                    let record: Option<String> =
                        sqlx::query_scalar("SELECT record FROM clients WHERE client_id = $1")
                            .bind(client_id.as_str())
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(<$db>::db_error)?;
                    record.as_deref().map(decode).transpose()
                }

                async fn put(&self, client: &Client) -> Result<(), StoreError> {
                    let record = serde_json::to_string(client).map_err(StoreError::backend)?;
                    sqlx::query(
                        "INSERT INTO clients (client_id, record) VALUES ($1, $2) \
                         ON CONFLICT (client_id) DO UPDATE SET record = excluded.record",
                    )
                    .bind(client.client_id.as_str())
                    .bind(record)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn delete(&self, client_id: &ClientId) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
                        .bind(client_id.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn list(&self) -> Result<Vec<Client>, StoreError> {
                    let records: Vec<String> =
                        sqlx::query_scalar("SELECT record FROM clients ORDER BY client_id")
                            .fetch_all(&self.pool)
                            .await
                            .map_err(<$db>::db_error)?;
                    records.iter().map(|r| decode(r)).collect()
                }
            }
        };
    };
}

pub(crate) use client_store;
