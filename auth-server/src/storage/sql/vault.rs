//! [`VaultStore`](mcp_auth_core::store::VaultStore) over SQL: one row per (`iss`, `sub`,
//! connection), upserted; conditional replace and delete are single statements compared on key
//! id, nonce and ciphertext.

/// Define `$name`, the [`VaultStore`](mcp_auth_core::store::VaultStore) over the sqlx database
/// `$db` (a [`super::Dialect`]), with the doc comment given before it.
macro_rules! vault_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::StoreError;
            use mcp_auth_core::store::{SealedEntry, VaultStore};

            use $crate::storage::rows::EntryRow;
            use $crate::storage::sql::Dialect;

            const COLUMNS: &str = "iss, sub, connection, key_id, nonce, ciphertext, updated_at";

            #[async_trait]
            impl VaultStore for $name {
                async fn put(&self, entry: &SealedEntry) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO vault_entries \
                         (iss, sub, connection, key_id, nonce, ciphertext, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (iss, sub, connection) \
                         DO UPDATE SET key_id = excluded.key_id, \
                         nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(&entry.iss)
                    .bind(&entry.sub)
                    .bind(&entry.connection)
                    .bind(&entry.key_id)
                    .bind(&entry.nonce)
                    .bind(&entry.ciphertext)
                    .bind(entry.updated_at)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                /// One `UPDATE` conditioned on the stored key id, nonce and ciphertext.
                async fn replace(
                    &self,
                    old: &SealedEntry,
                    new: &SealedEntry,
                ) -> Result<bool, StoreError> {
                    if !old.same_slot(new) {
                        return Err(StoreError::conflict(
                            "vault replace: the new entry is for another slot",
                        ));
                    }
                    let done = sqlx::query(
                        "UPDATE vault_entries \
                         SET key_id = $1, nonce = $2, ciphertext = $3, updated_at = $4 \
                         WHERE iss = $5 AND sub = $6 AND connection = $7 \
                         AND key_id = $8 AND nonce = $9 AND ciphertext = $10",
                    )
                    .bind(&new.key_id)
                    .bind(&new.nonce)
                    .bind(&new.ciphertext)
                    .bind(new.updated_at)
                    .bind(&old.iss)
                    .bind(&old.sub)
                    .bind(&old.connection)
                    .bind(&old.key_id)
                    .bind(&old.nonce)
                    .bind(&old.ciphertext)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                /// One `DELETE` conditioned on the stored key id, nonce and ciphertext.
                async fn delete_if(&self, old: &SealedEntry) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM vault_entries WHERE iss = $1 AND sub = $2 AND connection = $3 \
                         AND key_id = $4 AND nonce = $5 AND ciphertext = $6",
                    )
                    .bind(&old.iss)
                    .bind(&old.sub)
                    .bind(&old.connection)
                    .bind(&old.key_id)
                    .bind(&old.nonce)
                    .bind(&old.ciphertext)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn get(
                    &self,
                    iss: &str,
                    sub: &str,
                    connection: &str,
                ) -> Result<Option<SealedEntry>, StoreError> {
                    let row: Option<EntryRow> = sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM vault_entries \
                         WHERE iss = $1 AND sub = $2 AND connection = $3"
                    ))
                    .bind(iss)
                    .bind(sub)
                    .bind(connection)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(row.map(SealedEntry::from))
                }

                async fn delete(
                    &self,
                    iss: &str,
                    sub: &str,
                    connection: &str,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM vault_entries WHERE iss = $1 AND sub = $2 AND connection = $3",
                    )
                    .bind(iss)
                    .bind(sub)
                    .bind(connection)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn list_for_subject(
                    &self,
                    iss: &str,
                    sub: &str,
                ) -> Result<Vec<SealedEntry>, StoreError> {
                    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM vault_entries \
                         WHERE iss = $1 AND sub = $2 ORDER BY connection"
                    ))
                    .bind(iss)
                    .bind(sub)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(SealedEntry::from).collect())
                }

                async fn list(&self) -> Result<Vec<SealedEntry>, StoreError> {
                    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM vault_entries ORDER BY iss, sub, connection"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(SealedEntry::from).collect())
                }
            }
        };
    };
}

pub(crate) use vault_store;
