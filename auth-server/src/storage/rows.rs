//! The rows both SQL backends read back, and the protocol values parsed from their columns:
//! SQLite and PostgreSQL store the same column types and text forms, so one set of `FromRow`
//! types serves both.

use mcp_auth_core::ext::ExtraClaims;
use mcp_auth_core::store::{
    AuthorizationCode, ElicitationStatus, PendingElicitation, RefreshToken, RefreshTokenState,
    RevokedAccess, SealedEntry, StoredSigningKey, User,
};
use mcp_auth_core::{ResourceUri, Scope, ScopeSet, Secret, StoreError, TokenHash};

/// A stored scope column (space-separated, empty for none) read back as a [`ScopeSet`]. Every
/// token is checked again; the [`ScopeSet::MAX_TOKENS`] bound of a request parameter does not
/// apply to what was stored.
///
/// # Errors
/// A [`StoreError`] when a token is not a valid scope (the row was not written by this crate).
pub(crate) fn stored_scope(column: &str) -> Result<ScopeSet, StoreError> {
    column
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<Scope>()
                .map_err(|e| StoreError::corrupt(format!("stored scope: {}", e.0)))
        })
        .collect()
}

/// A stored resource column read back as a [`ResourceUri`].
///
/// # Errors
/// A [`StoreError`] when it is not a valid resource URI.
pub(crate) fn stored_resource(column: &str) -> Result<ResourceUri, StoreError> {
    column.parse().map_err(|e: mcp_auth_core::ParseError| {
        StoreError::corrupt(format!("stored resource: {}", e.0))
    })
}

/// An `extra_claims` column: the claims as a JSON object.
///
/// # Errors
/// A [`StoreError`] when they cannot be written as JSON (not expected of a JSON map).
pub(crate) fn stored_claims(claims: &ExtraClaims) -> Result<String, StoreError> {
    serde_json::to_string(claims).map_err(|e| StoreError::corrupt(format!("extra claims: {e}")))
}

/// An `extra_claims` column read back: a JSON object without a registered claim.
///
/// # Errors
/// A [`StoreError`] when it is not such an object (the row was not written by this crate).
pub(crate) fn read_claims(column: &str) -> Result<ExtraClaims, StoreError> {
    serde_json::from_str(column)
        .map_err(|e| StoreError::corrupt(format!("stored extra claims: {e}")))
}

/// The columns of an [`AuthorizationCode`], as read back.
#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    pub(crate) code_hash: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_sent: bool,
    pub(crate) code_challenge: String,
    pub(crate) sub: String,
    pub(crate) scope: String,
    pub(crate) resource: String,
    pub(crate) auth_time: i64,
    pub(crate) expires_at: i64,
    pub(crate) openid: bool,
    pub(crate) nonce: Option<String>,
    pub(crate) offline_access: bool,
    pub(crate) extra_claims: String,
    pub(crate) dpop_jkt: Option<String>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;

    fn try_from(r: CodeRow) -> Result<Self, StoreError> {
        Ok(Self {
            code_hash: r.code_hash,
            client_id: r.client_id,
            redirect_uri: r.redirect_uri,
            redirect_uri_sent: r.redirect_uri_sent,
            code_challenge: r.code_challenge,
            sub: r.sub,
            scope: stored_scope(&r.scope)?,
            resource: stored_resource(&r.resource)?,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
            openid: r.openid,
            nonce: r.nonce,
            offline_access: r.offline_access,
            extra_claims: read_claims(&r.extra_claims)?,
            dpop_jkt: r.dpop_jkt,
        })
    }
}

/// What a lookup of a code that could not be spent finds.
#[derive(sqlx::FromRow)]
pub(crate) struct SpentRow {
    pub(crate) spent: bool,
    pub(crate) client_id: String,
    pub(crate) issued_access_jti: Option<String>,
    pub(crate) issued_access_exp: Option<i64>,
    pub(crate) issued_refresh_family: Option<String>,
}

/// The columns of a [`StoredSigningKey`], as read back.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub(crate) kid: String,
    pub(crate) alg: String,
    private_pkcs8: String,
    pub(crate) created_at: i64,
    pub(crate) retired_at: Option<i64>,
}

impl From<KeyRow> for StoredSigningKey {
    fn from(r: KeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            private_pkcs8: Secret::new(r.private_pkcs8),
            created_at: r.created_at,
            retired_at: r.retired_at,
        }
    }
}

/// The columns of a [`RefreshToken`], as read back.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub(crate) token_hash: String,
    pub(crate) family_id: String,
    pub(crate) client_id: String,
    pub(crate) sub: String,
    pub(crate) scope: String,
    pub(crate) resource: String,
    pub(crate) auth_time: Option<i64>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) family_expires_at: i64,
    pub(crate) access_jti: String,
    pub(crate) access_exp: i64,
    pub(crate) state: String,
    pub(crate) extra_claims: String,
    pub(crate) dpop_jkt: Option<String>,
}

impl TryFrom<TokenRow> for RefreshToken {
    type Error = StoreError;

    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: r.token_hash,
            family_id: r.family_id,
            client_id: r.client_id,
            sub: r.sub,
            scope: stored_scope(&r.scope)?,
            resource: stored_resource(&r.resource)?,
            auth_time: r.auth_time,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            family_expires_at: r.family_expires_at,
            access_jti: r.access_jti,
            access_exp: r.access_exp,
            state: parse_state(&r.state)?,
            extra_claims: read_claims(&r.extra_claims)?,
            dpop_jkt: r.dpop_jkt,
        })
    }
}

/// The stored spelling of a state (the same as its serde name).
pub(crate) fn parse_state(s: &str) -> Result<RefreshTokenState, StoreError> {
    match s {
        "active" => Ok(RefreshTokenState::Active),
        "spent" => Ok(RefreshTokenState::Spent),
        "revoked" => Ok(RefreshTokenState::Revoked),
        other => Err(StoreError::corrupt(format!(
            "unknown refresh token state {other:?}"
        ))),
    }
}

/// `(access_jti, access_exp)` rows returned by a revocation.
pub(crate) type RevokedRow = (String, i64);

/// The access tokens to deny, from the rows a revocation returned.
pub(crate) fn revoked(rows: Vec<RevokedRow>) -> Vec<RevokedAccess> {
    rows.into_iter()
        .map(|(jti, exp)| RevokedAccess { jti, exp })
        .collect()
}

/// The columns of a [`User`], as read back.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) sub: String,
    pub(crate) username: String,
    pub(crate) password_hash: String,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            sub: r.sub,
            username: r.username,
            password_hash: r.password_hash,
        }
    }
}

/// A `federated_identities` row joined with its `users` row.
#[derive(sqlx::FromRow)]
pub(crate) struct FederatedUserRow {
    pub(crate) sub: String,
    pub(crate) username: String,
    pub(crate) upstream_issuer: String,
    pub(crate) upstream_sub: String,
    pub(crate) display_name: Option<String>,
    pub(crate) email: Option<String>,
}

impl From<FederatedUserRow> for mcp_auth_core::store::FederatedUser {
    fn from(r: FederatedUserRow) -> Self {
        Self {
            sub: r.sub,
            username: r.username,
            upstream_issuer: r.upstream_issuer,
            upstream_sub: r.upstream_sub,
            display_name: r.display_name,
            email: r.email,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EntryRow {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) connection: String,
    pub(crate) key_id: String,
    pub(crate) nonce: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) updated_at: i64,
}

impl From<EntryRow> for SealedEntry {
    fn from(r: EntryRow) -> Self {
        Self {
            iss: r.iss,
            sub: r.sub,
            connection: r.connection,
            key_id: r.key_id,
            nonce: r.nonce,
            ciphertext: r.ciphertext,
            updated_at: r.updated_at,
        }
    }
}

/// The columns of a [`PendingElicitation`], in the order of [`ElicitationRow`]'s fields, for
/// `SELECT` and `RETURNING` lists.
pub(crate) const ELICITATION_COLUMNS: &str = "id, iss, sub, client_id, connection, resource, \
     requested_by, status, created_at, expires_at, state_hash, code_verifier, finished_at";

/// The columns of a [`PendingElicitation`], as read back. No `Debug`: it holds the PKCE
/// `code_verifier`.
#[derive(sqlx::FromRow)]
pub(crate) struct ElicitationRow {
    pub(crate) id: String,
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) client_id: String,
    pub(crate) connection: String,
    pub(crate) resource: String,
    pub(crate) requested_by: String,
    pub(crate) status: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) state_hash: Option<String>,
    pub(crate) code_verifier: Option<String>,
    pub(crate) finished_at: Option<i64>,
}

impl TryFrom<ElicitationRow> for PendingElicitation {
    type Error = StoreError;

    /// # Errors
    /// A [`StoreError`] when the status, resource or state hash column holds something this
    /// crate does not write (the messages name the column, never its value).
    fn try_from(r: ElicitationRow) -> Result<Self, StoreError> {
        let status = ElicitationStatus::parse(&r.status)
            .ok_or_else(|| StoreError::corrupt("stored elicitation status is unknown"))?;
        let state_hash = match r.state_hash {
            Some(h) => Some(TokenHash::from_stored(&h).ok_or_else(|| {
                StoreError::corrupt("stored elicitation state hash is malformed")
            })?),
            None => None,
        };
        Ok(Self {
            id: r.id,
            iss: r.iss,
            sub: r.sub,
            client_id: r.client_id,
            connection: r.connection,
            resource: stored_resource(&r.resource)?,
            requested_by: r.requested_by,
            status,
            created_at: r.created_at,
            expires_at: r.expires_at,
            state_hash,
            code_verifier: r.code_verifier.map(Secret::new),
            finished_at: r.finished_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_scope_reads_back_what_display_wrote() {
        let set: ScopeSet = "mcp:tools files:read".parse().unwrap();
        assert_eq!(stored_scope(&set.to_string()).unwrap(), set);
        assert_eq!(stored_scope("").unwrap(), ScopeSet::new());
        assert!(stored_scope("bad\"scope").is_err());
    }

    #[test]
    fn stored_resource_is_parsed_again() {
        assert_eq!(
            stored_resource("https://mcp.example.com/mcp")
                .unwrap()
                .as_str(),
            "https://mcp.example.com/mcp"
        );
        assert!(stored_resource("not a uri").is_err());
    }
}
