//! [`SigningKeyStore`](mcp_auth_core::store::SigningKeyStore) over SQL.

/// Define `$name`, the [`SigningKeyStore`](mcp_auth_core::store::SigningKeyStore) over the sqlx
/// database `$db` (a [`super::Dialect`]), with the doc comment given before it (which says how
/// the private keys are kept private and rotations are serialised on that backend).
macro_rules! signing_key_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Signing keys in the `signing_keys` table, in insertion order (oldest first). The
            /// private key is stored as given (PKCS#8 DER, base64url).
            ///
            /// `rotate` retires every current key at `now` and inserts the new one in one write
            /// transaction; a `kid` that already exists is an error and changes nothing.
            ///
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::{SigningKeyStore, StoredSigningKey};
            use mcp_auth_core::{StoreError, UnixTime};

            use $crate::storage::rows::KeyRow;
            use $crate::storage::sql::Dialect;

            #[async_trait]
            impl SigningKeyStore for $name {
                async fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
                    let rows: Vec<KeyRow> = sqlx::query_as(
                        "SELECT kid, alg, private_pkcs8, created_at, retired_at FROM signing_keys \
                         ORDER BY seq",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(StoredSigningKey::from).collect())
                }

                async fn rotate(
                    &self,
                    key: &StoredSigningKey,
                    now: UnixTime,
                ) -> Result<(), StoreError> {
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    <$db>::lock_signing_keys(&mut tx).await?;
                    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(<$db>::db_error)?;
                    sqlx::query(
                        "INSERT INTO signing_keys \
                         (kid, alg, private_pkcs8, created_at, retired_at) \
                         VALUES ($1, $2, $3, $4, NULL)",
                    )
                    .bind(&key.kid)
                    .bind(&key.alg)
                    .bind(key.private_pkcs8.expose())
                    .bind(key.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    tx.commit().await.map_err(<$db>::db_error)
                }

                async fn purge_retired(&self, retired_before: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
                    )
                    .bind(retired_before)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use signing_key_store;
