//! [`ElicitationStore`](mcp_auth_core::store::ElicitationStore) over SQL: one row per
//! elicitation in the `elicitations` table.

/// Define `$name`, the [`ElicitationStore`](mcp_auth_core::store::ElicitationStore) over the
/// sqlx database `$db` (a [`super::Dialect`]), with the doc comment given before it (which says
/// why of racing callers exactly one sees a row change on that backend).
macro_rules! elicitation_store {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// Pending elicitations in the `elicitations` table.
            ///
            /// Every state change is one conditional `UPDATE` guarded by status (and expiry where
            /// the contract says so):
            /// - `begin`: `UPDATE … WHERE id = $ AND status IN (open) AND expires_at > now`;
            /// - `find_state`: a plain `SELECT … WHERE state_hash = $ AND status =
            ///   'in_progress' AND expires_at > now`, which changes nothing;
            /// - `spend_state`: `UPDATE … SET state_hash = NULL, code_verifier = NULL WHERE id = $
            ///   AND state_hash = $ AND status = 'in_progress' AND expires_at > now`;
            /// - `finish`: `UPDATE … WHERE id = $ AND status IN (open)`.
            ///
            $(#[$doc])*
            ///
            /// Indexes: the exact binding plus `created_at` (`find_open`, and
            /// `count_open_for_subject` by its `iss, sub` prefix), a unique partial index on
            /// `state_hash`, and `expires_at` (purge). The `code_verifier` column is a secret: no
            /// error or log here carries it.
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::{
                ELICITATION_RETENTION, ElicitationBinding, ElicitationStatus, ElicitationStore,
                PendingElicitation,
            };
            use mcp_auth_core::{Secret, StoreError, TokenHash, UnixTime};

            use $crate::storage::rows::{ELICITATION_COLUMNS, ElicitationRow};
            use $crate::storage::sql::Dialect;

            #[async_trait]
            impl ElicitationStore for $name {
                async fn insert(&self, e: &PendingElicitation) -> Result<(), StoreError> {
                    sqlx::query(&format!(
                        "INSERT INTO elicitations ({ELICITATION_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                    ))
                    .bind(&e.id)
                    .bind(&e.iss)
                    .bind(&e.sub)
                    .bind(&e.client_id)
                    .bind(&e.connection)
                    .bind(e.resource.as_str())
                    .bind(&e.requested_by)
                    .bind(e.status.as_str())
                    .bind(e.created_at)
                    .bind(e.expires_at)
                    .bind(e.state_hash.as_ref().map(TokenHash::as_str))
                    .bind(e.code_verifier.as_ref().map(Secret::expose))
                    .bind(e.finished_at)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(())
                }

                async fn get(&self, id: &str) -> Result<Option<PendingElicitation>, StoreError> {
                    let row: Option<ElicitationRow> = sqlx::query_as(&format!(
                        "SELECT {ELICITATION_COLUMNS} FROM elicitations WHERE id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    row.map(PendingElicitation::try_from).transpose()
                }

                async fn find_open(
                    &self,
                    b: &ElicitationBinding<'_>,
                    now: UnixTime,
                ) -> Result<Option<PendingElicitation>, StoreError> {
                    let row: Option<ElicitationRow> = sqlx::query_as(&format!(
                        "SELECT {ELICITATION_COLUMNS} FROM elicitations \
                         WHERE iss = $1 AND sub = $2 AND client_id = $3 AND connection = $4 \
                         AND resource = $5 \
                         AND status IN ('pending', 'in_progress') AND expires_at > $6 \
                         ORDER BY created_at DESC, id DESC LIMIT 1"
                    ))
                    .bind(b.iss)
                    .bind(b.sub)
                    .bind(b.client_id)
                    .bind(b.connection)
                    .bind(b.resource.as_str())
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    row.map(PendingElicitation::try_from).transpose()
                }

                async fn count_open_for_subject(
                    &self,
                    iss: &str,
                    sub: &str,
                    now: UnixTime,
                ) -> Result<u64, StoreError> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM elicitations WHERE iss = $1 AND sub = $2 \
                         AND status IN ('pending', 'in_progress') AND expires_at > $3",
                    )
                    .bind(iss)
                    .bind(sub)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(n.max(0) as u64)
                }

                async fn begin(
                    &self,
                    id: &str,
                    state_hash: &TokenHash,
                    code_verifier: &Secret,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE elicitations SET status = 'in_progress', state_hash = $1, \
                         code_verifier = $2 WHERE id = $3 \
                         AND status IN ('pending', 'in_progress') AND expires_at > $4",
                    )
                    .bind(state_hash.as_str())
                    .bind(code_verifier.expose())
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn find_state(
                    &self,
                    state_hash: &TokenHash,
                    now: UnixTime,
                ) -> Result<Option<PendingElicitation>, StoreError> {
                    let row: Option<ElicitationRow> = sqlx::query_as(&format!(
                        "SELECT {ELICITATION_COLUMNS} FROM elicitations \
                         WHERE state_hash = $1 AND status = 'in_progress' AND expires_at > $2"
                    ))
                    .bind(state_hash.as_str())
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    row.map(PendingElicitation::try_from).transpose()
                }

                async fn spend_state(
                    &self,
                    id: &str,
                    state_hash: &TokenHash,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE elicitations SET state_hash = NULL, code_verifier = NULL \
                         WHERE id = $1 AND state_hash = $2 AND status = 'in_progress' \
                         AND expires_at > $3",
                    )
                    .bind(id)
                    .bind(state_hash.as_str())
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn finish(
                    &self,
                    id: &str,
                    status: ElicitationStatus,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    if status.is_open() {
                        return Ok(false);
                    }
                    let done = sqlx::query(
                        "UPDATE elicitations SET status = $1, finished_at = $2, state_hash = NULL, \
                         code_verifier = NULL \
                         WHERE id = $3 AND status IN ('pending', 'in_progress')",
                    )
                    .bind(status.as_str())
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM elicitations WHERE expires_at <= $1")
                        .bind(now.saturating_sub(ELICITATION_RETENTION))
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use elicitation_store;
