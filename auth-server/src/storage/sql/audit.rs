//! [`AuditLog`](mcp_auth_core::store::AuditLog) over SQL: the `audit_events` table (migration
//! `0011_audit_events.sql`), one hash chain. An append (of one event or of a batch) reads the
//! chain's head and inserts the next rows inside one write transaction holding the backend's
//! chain lock ([`super::Dialect::lock_audit_chain`]), so appends from every process and node
//! form one chain.
//! The server's statements on the table are `INSERT`, `SELECT` and the retention `DELETE`; never
//! `UPDATE`.

/// Define `$name`, the [`AuditLog`](mcp_auth_core::store::AuditLog) over the sqlx database
/// `$db` (a [`super::Dialect`]), with the doc comment given before it.
macro_rules! audit_log {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        $crate::storage::sql::store_struct! {
            /// The audit trail's hash chain in the `audit_events` table.
            ///
            $(#[$doc])*
            $name over $db
        }

        const _: () = {
            use async_trait::async_trait;
            use mcp_auth_core::store::{AuditFilter, AuditLog, AuditRow, NewAuditEvent, next_rows};
            use mcp_auth_core::{StoreError, UnixTime};

            use $crate::storage::sql::Dialect;

            type Row = (i64, i64, String, Option<String>, Option<String>, String, String, String);

            fn row((seq, at, kind, sub, client_id, data, prev_hash, hash): Row) -> AuditRow {
                AuditRow { seq, at, kind, sub, client_id, data, prev_hash, hash }
            }

            const COLUMNS: &str =
                "seq, at, kind, sub, client_id, data, prev_hash, hash FROM audit_events";

            #[async_trait]
            impl AuditLog for $name {
                async fn append_batch(
                    &self,
                    events: &[NewAuditEvent<'_>],
                ) -> Result<Vec<AuditRow>, StoreError> {
                    if events.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut tx = <$db>::begin_write(&self.pool).await?;
                    <$db>::lock_audit_chain(&mut tx).await?;
                    let last: Option<(i64, String)> = sqlx::query_as(
                        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
                    )
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(<$db>::db_error)?;
                    let rows = next_rows(last, events);
                    // One statement per 1,024 rows (8 parameters a row: under SQLite's 32,766
                    // and PostgreSQL's 65,535 parameters); the trail's batches take one.
                    for chunk in rows.chunks(1024) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO audit_events (seq, at, kind, sub, client_id, data, \
                             prev_hash, hash) ",
                        );
                        insert.push_values(chunk, |mut values, next| {
                            values
                                .push_bind(next.seq)
                                .push_bind(next.at)
                                .push_bind(&next.kind)
                                .push_bind(&next.sub)
                                .push_bind(&next.client_id)
                                .push_bind(&next.data)
                                .push_bind(&next.prev_hash)
                                .push_bind(&next.hash);
                        });
                        insert
                            .build()
                            .execute(&mut *tx)
                            .await
                            .map_err(<$db>::db_error)?;
                    }
                    tx.commit().await.map_err(<$db>::db_error)?;
                    Ok(rows)
                }

                async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
                    let rows: Vec<Row> = sqlx::query_as(&format!(
                        "SELECT {COLUMNS} WHERE (CAST($1 AS TEXT) IS NULL OR sub = $1) \
                         AND (CAST($2 AS TEXT) IS NULL OR client_id = $2) \
                         AND (CAST($3 AS BIGINT) IS NULL OR at >= $3) ORDER BY seq"
                    ))
                    .bind(filter.sub.as_deref())
                    .bind(filter.client_id.as_deref())
                    .bind(filter.since)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(row).collect())
                }

                async fn chain(&self) -> Result<Vec<AuditRow>, StoreError> {
                    let rows: Vec<Row> =
                        sqlx::query_as(&format!("SELECT {COLUMNS} ORDER BY seq"))
                            .fetch_all(&self.pool)
                            .await
                            .map_err(<$db>::db_error)?;
                    Ok(rows.into_iter().map(row).collect())
                }

                async fn prune(&self, before: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM audit_events WHERE at < $1 \
                         AND seq < (SELECT MAX(seq) FROM audit_events)",
                    )
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

pub(crate) use audit_log;
