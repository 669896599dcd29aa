//! The `subject_token` of a token exchange at the IdP (SEP-990 §6.3 step 2): an OpenID Connect
//! ID token this server issued to the requesting client, or a refresh token this server issued
//! to it.

use mcp_auth_core::TokenHash;
use mcp_auth_core::UnixTime;
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::{CompactJws, KeySet, numeric_date_value};
use mcp_auth_core::store::{RefreshTokenState, RefreshTokenStore};

/// The user a valid subject token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectToken {
    /// The user's `sub` at this server.
    pub sub: String,
    /// When the user authenticated, when known.
    pub auth_time: Option<UnixTime>,
}

/// Why a subject token was refused; every case is `invalid_grant` on the wire, and none
/// carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectTokenError {
    /// Not a compact JWS, or its payload is not a JSON object.
    #[error("the subject token is not a well-formed JWT")]
    Malformed,
    /// The header `typ` is not `JWT`: an access token or an ID-JAG is never an ID token.
    #[error("the subject token is not an ID token (typ must be JWT)")]
    NotAnIdToken,
    /// No published key of this server verifies it (unknown `kid`, wrong `alg`, bad signature).
    #[error("the subject token's signature does not verify with this server's keys")]
    Signature,
    /// `iss` is not this server.
    #[error("the subject token was not issued by this server")]
    Issuer,
    /// `aud` is not the authenticated client (SEP-990 §6.3 step 2).
    #[error("the subject token was not issued to the authenticated client")]
    Audience,
    /// Past `exp`, or `exp` missing.
    #[error("the subject token has expired")]
    Expired,
    /// `exp` earlier than `iat`, whatever the clock skew.
    #[error("the subject token's exp is earlier than its iat")]
    ExpiresBeforeIssued,
    /// `sub` missing or not a string.
    #[error("the subject token has no subject")]
    Subject,
    /// An unknown, spent, revoked or expired refresh token, or one of another client.
    #[error("the refresh token is unknown, expired, revoked or not this client's")]
    RefreshToken,
    /// The store failed.
    #[error("the token store is unavailable")]
    Store,
}

/// Check an ID token this server issued: header `typ: JWT`, `alg` ES256 with a `kid` of a key
/// in `local_jwks` (this server's published JWK Set) and a valid signature; `iss` = `issuer`;
/// `aud` = `client_id` (a string, or an array of exactly that one string); `exp` after `now`
/// and, when `iat` is present, not before `iat`; `sub` a non-empty string. `auth_time` is read when present.
///
/// # Errors
/// The first failed check, in that order.
pub fn check_id_token(
    token: &str,
    local_jwks: &serde_json::Value,
    issuer: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<SubjectToken, SubjectTokenError> {
    let jws = CompactJws::parse(token).map_err(|_| SubjectTokenError::Malformed)?;
    if jws.typ() != Some("JWT") {
        return Err(SubjectTokenError::NotAnIdToken);
    }
    if jws.alg() != Algorithm::ES256 || jws.kid().is_none() {
        return Err(SubjectTokenError::Signature);
    }
    let keys = KeySet::from_json(local_jwks).map_err(|_| SubjectTokenError::Signature)?;
    let key = keys
        .select(jws.kid(), jws.alg())
        .map_err(|_| SubjectTokenError::Signature)?;
    if !jws.verify(&key) {
        return Err(SubjectTokenError::Signature);
    }
    let claims: serde_json::Map<String, serde_json::Value> =
        jws.claims().map_err(|_| SubjectTokenError::Malformed)?;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
        return Err(SubjectTokenError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == client_id,
        Some(serde_json::Value::Array(auds)) => {
            auds.len() == 1 && auds[0].as_str() == Some(client_id)
        }
        _ => false,
    };
    if !audience_ok {
        return Err(SubjectTokenError::Audience);
    }
    let exp = match claims.get("exp").and_then(numeric_date_value) {
        Some(exp) if exp > now => exp,
        _ => return Err(SubjectTokenError::Expired),
    };
    if claims
        .get("iat")
        .and_then(numeric_date_value)
        .is_some_and(|iat| exp < iat)
    {
        return Err(SubjectTokenError::ExpiresBeforeIssued);
    }
    let sub = match claims.get("sub") {
        Some(serde_json::Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(SubjectTokenError::Subject),
    };
    let auth_time = claims.get("auth_time").and_then(numeric_date_value);
    Ok(SubjectToken { sub, auth_time })
}

/// Check a refresh token this server issued to `client_id`: known (by its SHA-256), active,
/// not past its expiry, and the client's. Looking it up spends nothing: the client keeps
/// using it at this server.
///
/// # Errors
/// [`SubjectTokenError::RefreshToken`] for any failed check; [`SubjectTokenError::Store`].
pub async fn check_refresh_token(
    token: &str,
    store: &dyn RefreshTokenStore,
    client_id: &str,
    now: UnixTime,
) -> Result<SubjectToken, SubjectTokenError> {
    let hash = TokenHash::of(token);
    let record = store
        .get(hash.as_str())
        .await
        .map_err(|_| SubjectTokenError::Store)?
        .ok_or(SubjectTokenError::RefreshToken)?;
    if record.client_id != client_id
        || record.state != RefreshTokenState::Active
        || record.expires_at <= now
    {
        return Err(SubjectTokenError::RefreshToken);
    }
    Ok(SubjectToken {
        sub: record.sub,
        auth_time: record.auth_time,
    })
}
