//! [`RefreshTokenStore`] over PostgreSQL: token rows plus a table of revoked families, with a
//! per-family advisory lock that orders inserts against revocations.

use async_trait::async_trait;
use mcp_auth_core::store::{RefreshToken, RefreshTokenStore, RevokedAccess};
use mcp_auth_core::{StoreError, UnixTime};
use sqlx::{PgPool, Postgres, Transaction};

use super::{LOCK_CLASS, db_error};

use crate::storage::rows::{RevokedRow, TokenRow, revoked};

/// Refresh tokens in the `refresh_tokens` table (keyed by `token_hash`), and the families that
/// were revoked in `revoked_refresh_families`.
///
/// The race to close: node A inserts the next token of a family (a rotation) while node B
/// revokes the family (a reuse was detected). Under READ COMMITTED neither transaction sees the
/// other's uncommitted row, so "insert unless revoked" and "revoke every token" could both
/// succeed and leave an active token in a revoked family. Both therefore first take the
/// transaction-scoped advisory lock `(LOCK_CLASS, hashtext(family_id))`; whichever comes second
/// runs its statements after the first committed, and each statement's fresh snapshot sees it:
///
/// - `insert`: lock, then `INSERT … SELECT … WHERE NOT EXISTS (revoked family)`. Inserting a
///   `token_hash` that already exists is an error, never a replacement.
/// - `revoke_family`: lock, record the family as revoked, mark its tokens revoked.
/// - `revoke_client` / `revoke_subject`: lock every family the client (user) has, in ascending
///   key order (so two revocations never deadlock; an insert holds one lock only), then the
///   same two statements over those families. A family whose first token lands after the
///   family list was read is a new authorization, issued after the revocation.
/// - `spend` is one conditional `UPDATE` from `active` to `spent`: of concurrent spends, the
///   ones that waited re-check the committed state and change nothing.
/// - `purge` also forgets revoked families whose absolute expiry has passed.
///
/// Hash collisions of `hashtext` only make two families share a lock.
#[derive(Debug, Clone)]
pub struct PgRefreshTokenStore {
    pool: PgPool,
}

impl PgRefreshTokenStore {
    /// A store over a migrated pool (see [`super::open_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Take the advisory lock of one family for the rest of the transaction.
async fn lock_family(
    tx: &mut Transaction<'_, Postgres>,
    family_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(family_id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Which tokens a multi-family revocation covers: those of one client, or of one user
/// (optionally with one client).
#[derive(Clone, Copy)]
enum Selection<'a> {
    Client(&'a str),
    Subject(&'a str, Option<&'a str>),
}

impl<'a> Selection<'a> {
    /// The SQL condition over `refresh_tokens`, on `$1` and `$2` (see [`Self::binds`]).
    fn condition(self) -> &'static str {
        match self {
            Self::Client(_) => "client_id = $1 AND $2::text IS NULL",
            Self::Subject(..) => "sub = $1 AND ($2::text IS NULL OR client_id = $2)",
        }
    }

    /// The values of `$1` and `$2`.
    fn binds(self) -> (&'a str, Option<&'a str>) {
        match self {
            Self::Client(c) => (c, None),
            Self::Subject(s, c) => (s, c),
        }
    }
}

impl PgRefreshTokenStore {
    /// Revoke every family with a token matching `selection`, in one transaction holding the
    /// locks of those families (ascending). Returns the access tokens issued with the revoked
    /// tokens.
    async fn revoke_where(
        &self,
        selection: Selection<'_>,
    ) -> Result<Vec<RevokedAccess>, StoreError> {
        let (first, second) = selection.binds();
        let cond = selection.condition();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let keys: Vec<i32> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT hashtext(family_id) AS k FROM refresh_tokens WHERE {cond} ORDER BY k"
        ))
        .bind(first)
        .bind(second)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query(&format!(
            "INSERT INTO revoked_refresh_families (family_id, family_expires_at) \
             SELECT family_id, MAX(family_expires_at) FROM refresh_tokens WHERE {cond} \
             GROUP BY family_id ON CONFLICT (family_id) DO NOTHING"
        ))
        .bind(first)
        .bind(second)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let rows: Vec<RevokedRow> = sqlx::query_as(&format!(
            "UPDATE refresh_tokens SET state = 'revoked' WHERE {cond} \
             RETURNING access_jti, access_exp"
        ))
        .bind(first)
        .bind(second)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(revoked(rows))
    }
}

#[async_trait]
impl RefreshTokenStore for PgRefreshTokenStore {
    async fn insert(&self, token: &RefreshToken) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        lock_family(&mut tx, &token.family_id).await?;
        let done = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, sub, scope, resource, \
             auth_time, issued_at, expires_at, family_expires_at, access_jti, access_exp, state) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active' \
             WHERE NOT EXISTS (SELECT 1 FROM revoked_refresh_families WHERE family_id = $2)",
        )
        .bind(&token.token_hash)
        .bind(&token.family_id)
        .bind(&token.client_id)
        .bind(&token.sub)
        .bind(token.scope.to_string())
        .bind(token.resource.as_str())
        .bind(token.auth_time)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(token.family_expires_at)
        .bind(&token.access_jti)
        .bind(token.access_exp)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT token_hash, family_id, client_id, sub, scope, resource, auth_time, \
             issued_at, expires_at, family_expires_at, access_jti, access_exp, state \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(RefreshToken::try_from).transpose()
    }

    async fn spend(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET state = 'spent' WHERE token_hash = $1 AND state = 'active'",
        )
        .bind(token_hash)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<Vec<RevokedAccess>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        lock_family(&mut tx, family_id).await?;
        sqlx::query(
            "INSERT INTO revoked_refresh_families (family_id, family_expires_at) \
             VALUES ($1, (SELECT MAX(family_expires_at) FROM refresh_tokens WHERE family_id = $1)) \
             ON CONFLICT (family_id) DO NOTHING",
        )
        .bind(family_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let rows: Vec<RevokedRow> = sqlx::query_as(
            "UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = $1 \
             RETURNING access_jti, access_exp",
        )
        .bind(family_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(revoked(rows))
    }

    async fn revoke_client(&self, client_id: &str) -> Result<Vec<RevokedAccess>, StoreError> {
        self.revoke_where(Selection::Client(client_id)).await
    }

    async fn revoke_subject(
        &self,
        sub: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<RevokedAccess>, StoreError> {
        self.revoke_where(Selection::Subject(sub, client_id)).await
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE family_expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "DELETE FROM revoked_refresh_families \
             WHERE family_expires_at IS NOT NULL AND family_expires_at < $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
