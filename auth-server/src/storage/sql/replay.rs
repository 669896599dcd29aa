//! [`ReplayCache`](mcp_auth_core::store::ReplayCache) over SQL: one upsert decides first use.

/// Every this many inserts, expired entries are deleted.
pub(crate) const PURGE_EVERY: u64 = 256;

/// The claim of one key, binding `$1` = key, `$2` = expiry, `$3` = now: it changes a row only
/// when the key is new or its earlier entry has expired, and that change is the "first".
pub(crate) const CLAIM: &str = "INSERT INTO replay_cache (key, expires_at) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE replay_cache.expires_at <= $3";

/// Delete the entries that expired at or before `$1`.
pub(crate) const PURGE: &str = "DELETE FROM replay_cache WHERE expires_at <= $1";

/// Define `$name`, the [`ReplayCache`](mcp_auth_core::store::ReplayCache) over the sqlx
/// database `$db` (a [`super::Dialect`]), with the doc comment given before it (which says why
/// concurrent claims of one key have one winner on that backend).
macro_rules! replay_cache {
    ($(#[$doc:meta])* $name:ident over $db:ty) => {
        /// Single-use keys in the `replay_cache` table.
        ///
        /// `insert_once` is one `INSERT … ON CONFLICT (key) DO UPDATE … WHERE expires_at <=
        /// now`: it changes a row only when the key is new or its earlier entry has expired,
        /// and that change is the "first". Expired rows are deleted every 256 inserts, and by
        /// [`ReplayCache::purge`](mcp_auth_core::store::ReplayCache::purge).
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pool: sqlx::Pool<$db>,
            inserts: std::sync::atomic::AtomicU64,
        }

        const _: () = {
            use std::sync::atomic::{AtomicU64, Ordering};

            use async_trait::async_trait;
            use mcp_auth_core::store::ReplayCache;
            use mcp_auth_core::{StoreError, UnixTime};

            use $crate::storage::sql::Dialect;
            use $crate::storage::sql::replay::{CLAIM, PURGE, PURGE_EVERY};

            impl $name {
                /// A store over a migrated pool (see the backend's `open_pool`).
                pub fn new(pool: sqlx::Pool<$db>) -> Self {
                    Self {
                        pool,
                        inserts: AtomicU64::new(0),
                    }
                }
            }

            #[async_trait]
            impl ReplayCache for $name {
                async fn insert_once(
                    &self,
                    key: &str,
                    expires_at: UnixTime,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    if self.inserts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
                    {
                        ReplayCache::purge(self, now).await?;
                    }
                    let done = sqlx::query(CLAIM)
                        .bind(key)
                        .bind(expires_at)
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(<$db>::db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                /// Delete entries that expired at or before `now`; returns how many.
                async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
                    let done = sqlx::query(PURGE)
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

pub(crate) use replay_cache;
