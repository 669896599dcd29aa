use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::OAuthError;

/// The claims of an RFC 9068 JWT access token (§2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// `iss`: the issuer, byte-identical to the metadata `issuer`.
    pub iss: String,
    /// `sub`: user id, or client id for machine grants.
    pub sub: String,
    /// `aud`: the canonical resource URI.
    pub aud: String,
    /// `client_id`.
    pub client_id: String,
    /// `scope`: space-separated.
    pub scope: String,
    /// `iat`, seconds since the epoch.
    pub iat: UnixTime,
    /// `exp`, seconds since the epoch.
    pub exp: UnixTime,
    /// `jti`: unique, random.
    pub jti: String,
    /// `auth_time`, when a user authenticated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<UnixTime>,
    /// Further claims from the grant decision.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Mints access tokens and publishes the keys to check them. Only the issuer mints; grant
/// handlers decide.
pub trait TokenIssuer: Send + Sync {
    /// Sign `claims` into a compact JWT (header `typ: at+jwt`, `alg`, `kid`).
    fn issue(&self, claims: &AccessTokenClaims) -> Result<String, OAuthError>;

    /// Verify a token this issuer minted (signature, `typ`, `iss`; not expiry). `None` when it is
    /// not one of ours. Used by introspection and revocation.
    fn verify(&self, token: &str) -> Option<AccessTokenClaims>;

    /// The public JWK Set (RFC 7517 §5) with the current and still-valid retired keys.
    fn jwks(&self) -> serde_json::Value;

    /// The JWS `alg` of the current signing key, e.g. `ES256`.
    fn signing_alg(&self) -> &str;
}
