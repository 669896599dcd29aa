//! [`ConsentStore`](mcp_auth_core::store::ConsentStore) over SQL: one row per (sub, client_id,
//! resource) in the `consents` table with the approved scopes as a JSON array of scope tokens
//! (an array rather than the space-separated form, so a union of more than
//! [`ScopeSet::MAX_TOKENS`] scopes still reads back). How `grant` forms the union is the
//! backend's [`super::Dialect::grant_consent`].

use mcp_auth_core::{Scope, ScopeSet, StoreError};

/// Read a stored scopes column.
///
/// # Errors
/// [`StoreError::Corrupt`] when it is not a JSON array of scope tokens.
pub(crate) fn decode(json: &str) -> Result<ScopeSet, StoreError> {
    let scopes: Vec<Scope> = serde_json::from_str(json).map_err(StoreError::corrupt)?;
    Ok(scopes.into_iter().collect())
}

/// The stored form of `scopes`: a JSON array of its tokens, in order.
///
/// # Errors
/// [`StoreError::Backend`] when serialisation fails (it does not for scope tokens).
pub(crate) fn encode(scopes: &ScopeSet) -> Result<String, StoreError> {
    serde_json::to_string(&scopes.iter().collect::<Vec<_>>()).map_err(StoreError::backend)
}

/// The scopes remembered for one (sub, client_id, resource), binding `$1`, `$2`, `$3`.
pub(crate) const SELECT: &str =
    "SELECT scopes FROM consents WHERE sub = $1 AND client_id = $2 AND resource = $3";

/// Define `$name`, the [`ConsentStore`](mcp_auth_core::store::ConsentStore) over the sqlx
/// database `$db` (a [`super::Dialect`]), with the doc comment given before it (which says how
/// concurrent grants keep each other's scopes on that backend).
macro_rules! consent_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Remembered consent in the `consents` table: one row per (sub, client_id, resource)
            /// with the approved scopes as a JSON array of scope tokens (an array rather than the
            /// space-separated form, so a union of more than
            /// [`ScopeSet::MAX_TOKENS`](mcp_auth_core::ScopeSet::MAX_TOKENS) scopes still reads
            /// back).
            ///
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::{Consent, ConsentStore};
            use mcp_auth_core::{ResourceUri, ScopeSet, StoreError};

            use $crate::storage::sql::Dialect;
            use $crate::storage::sql::consent::{SELECT, decode};

            #[async_trait]
            impl ConsentStore for $name {
                async fn granted(
                    &self,
                    sub: &str,
                    client_id: &str,
                    resource: &ResourceUri,
                ) -> Result<Option<ScopeSet>, StoreError> {
                    let json: Option<String> = sqlx::query_scalar(SELECT)
                        .bind(sub)
                        .bind(client_id)
                        .bind(resource.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    json.as_deref().map(decode).transpose()
                }

                async fn grant(
                    &self,
                    sub: &str,
                    client_id: &str,
                    resource: &ResourceUri,
                    scopes: &ScopeSet,
                ) -> Result<(), StoreError> {
                    <$db>::grant_consent(&self.pool, sub, client_id, resource, scopes).await
                }

                async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM consents WHERE client_id = $1")
                        .bind(client_id)
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn list_for_user(&self, sub: &str) -> Result<Vec<Consent>, StoreError> {
                    let rows: Vec<(String, String, String)> = sqlx::query_as(
                        "SELECT client_id, resource, scopes FROM consents WHERE sub = $1 \
                         ORDER BY client_id, resource",
                    )
                    .bind(sub)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    rows.into_iter()
                        .map(|(client_id, resource, scopes)| {
                            Ok(Consent {
                                client_id,
                                resource: resource.parse().map_err(
                                    |e: mcp_auth_core::ParseError| StoreError::corrupt(e.0),
                                )?,
                                scopes: decode(&scopes)?,
                            })
                        })
                        .collect()
                }

                async fn revoke_user(
                    &self,
                    sub: &str,
                    client_id: Option<&str>,
                ) -> Result<u64, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM consents \
                         WHERE sub = $1 AND (CAST($2 AS TEXT) IS NULL OR client_id = $2)",
                    )
                    .bind(sub)
                    .bind(client_id)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use consent_store;
