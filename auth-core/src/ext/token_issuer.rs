use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::OAuthError;

use super::claims::ExtraClaims;

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
    /// `resource` (RFC 8707): the resource URI, when `aud` names something else (an ID-JAG's
    /// `aud` is the resource's authorization server).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<String>,
    /// `cnf` (RFC 7800 §3.1): the DPoP key the token is bound to (RFC 9449 §6.1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Confirmation>,
    /// Further claims from the grant decision; never a registered name, so a token never
    /// carries two `aud` (or `iss`, `exp`, …) keys.
    #[serde(flatten)]
    pub extra: ExtraClaims,
}

/// The `cnf` claim of a DPoP-bound token (RFC 9449 §6.1): `{"jkt": "<thumbprint>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the proof key, base64url.
    pub jkt: String,
}

/// The kind of JWT a grant asks the issuer for. Every profile is signed by the same keys and
/// published in the same JWK Set; only the header `typ` and the audience differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenProfile {
    /// An RFC 9068 JWT access token: `typ: at+jwt`, `aud` = the resource.
    #[default]
    AccessToken,
    /// A JWT authorization grant for another authorization server to redeem (RFC 7523 §2.1),
    /// shaped by the grant that asks for it: header `typ` = `typ`, `aud` = `audience` (the
    /// issuer of the authorization server that redeems it), `client_id` = the client's
    /// identifier *there*, and a `resource` claim naming the resource (RFC 8707). Never an
    /// access token: the engine refuses `typ: at+jwt`, and [`TokenIssuer::verify`] accepts only
    /// that. E.g. an Identity Assertion JWT Authorization Grant (`oauth-id-jag+jwt`).
    Assertion {
        /// The JWS header `typ` (RFC 7515 §4.1.9), e.g. `oauth-id-jag+jwt`.
        typ: &'static str,
        /// The `aud`: the issuer identifier of the authorization server that redeems it.
        audience: String,
        /// The `client_id` claim: the client's identifier at that authorization server, which
        /// may differ from its identifier here.
        client_id: String,
    },
}

impl TokenProfile {
    /// The JWS header `typ` (RFC 7515 §4.1.9): `at+jwt`, or the assertion's own.
    pub fn typ(&self) -> &'static str {
        match self {
            Self::AccessToken => "at+jwt",
            Self::Assertion { typ, .. } => typ,
        }
    }
}

/// Mints access tokens and publishes the keys to check them. Only the issuer mints; grant
/// handlers decide.
pub trait TokenIssuer: Send + Sync {
    /// Sign `claims` into a compact JWT (header `typ: at+jwt`, `alg`, `kid`).
    fn issue(&self, claims: &AccessTokenClaims) -> Result<String, OAuthError>;

    /// Sign `claims` as a JWT of `profile` (header `typ` = [`TokenProfile::typ`]) with the same
    /// keys. Default: [`TokenIssuer::issue`] for [`TokenProfile::AccessToken`], `server_error`
    /// for any other profile.
    ///
    /// # Errors
    /// `server_error` when the profile is not supported or signing fails.
    fn issue_profile(
        &self,
        profile: &TokenProfile,
        claims: &AccessTokenClaims,
    ) -> Result<String, OAuthError> {
        match profile {
            TokenProfile::AccessToken => self.issue(claims),
            other => Err(OAuthError::server_error(UnsupportedProfile(other.typ()))),
        }
    }

    /// Sign an OpenID Connect ID token (OIDC Core §2; header `typ: JWT`) with the current key.
    /// Default: `server_error` (an issuer without ID tokens).
    ///
    /// # Errors
    /// `server_error` when ID tokens are not supported, `claims.iss` is not this issuer, or
    /// signing fails.
    fn issue_id_token(&self, claims: &IdTokenClaims) -> Result<String, OAuthError> {
        let _ = claims;
        Err(OAuthError::server_error(UnsupportedProfile("ID")))
    }

    /// Sign a client assertion (RFC 7523 §2.2, §3; header `typ: JWT`) with the current key, for
    /// this server to authenticate as a client at another authorization server's token endpoint
    /// (`private_key_jwt`, OIDC Core §9), which checks it against this server's JWK Set.
    /// Default: `server_error` (an issuer without client assertions).
    ///
    /// # Errors
    /// `server_error` when client assertions are not supported, `iss` differs from `sub`, `iss`
    /// is this server's issuer (the assertion could pass for one of its own tokens), or signing
    /// fails.
    fn issue_client_assertion(&self, claims: &ClientAssertionClaims) -> Result<String, OAuthError> {
        let _ = claims;
        Err(OAuthError::server_error(UnsupportedProfile(
            "client assertion",
        )))
    }

    /// Verify a token this issuer minted (signature, `typ`, `iss`; not expiry). `None` when it is
    /// not one of ours. Used by introspection and revocation.
    fn verify(&self, token: &str) -> Option<AccessTokenClaims>;

    /// The public JWK Set (RFC 7517 §5) with the current and still-valid retired keys.
    fn jwks(&self) -> serde_json::Value;

    /// The JWS `alg` of the current signing key, e.g. `ES256`.
    fn signing_alg(&self) -> &str;
}

/// The claims of an OpenID Connect ID token (OIDC Core §2, §3.1.3.3). All times are seconds
/// since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer (this server).
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The client the token is for (its `client_id`).
    pub aud: String,
    /// Expiry.
    pub exp: UnixTime,
    /// Issued at.
    pub iat: UnixTime,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// The authorization request's `nonce`, echoed; absent when the request had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// A unique identifier of this ID token. (No `at_hash`: ID tokens come only from the token
    /// endpoint, where it is optional, OIDC Core §3.1.3.6.)
    pub jti: String,
}

/// The claims of a client assertion (RFC 7523 §3): this server authenticating as the client
/// `iss` = `sub` at the authorization server whose token endpoint is `aud`. Times are seconds
/// since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAssertionClaims {
    /// This server's client id at the other server (RFC 7523 §3 item 1).
    pub iss: String,
    /// The same client id (RFC 7523 §3 item 2.B).
    pub sub: String,
    /// The other server's token endpoint URL (RFC 7523 §3 item 3, OIDC Core §9).
    pub aud: String,
    /// Unique per assertion, so the other server can refuse a replay (RFC 7523 §3 item 7).
    pub jti: String,
    /// Issued at.
    pub iat: UnixTime,
    /// Expiry: a short time after `iat` (RFC 7523 §3 item 4).
    pub exp: UnixTime,
}

/// A token issuer was asked for a profile it cannot mint.
#[derive(Debug, thiserror::Error)]
#[error("this token issuer cannot mint {0} tokens")]
struct UnsupportedProfile(&'static str);

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://auth.example.com".into(),
            sub: "alice".into(),
            aud: "https://mcp.example.com/mcp".into(),
            client_id: "c".into(),
            scope: "mcp:basic".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            auth_time: None,
            resource: None,
            cnf: None,
            extra: ExtraClaims::new(),
        }
    }

    /// Issue #9: extra claims can never add a second `aud` to the signed payload.
    #[test]
    fn a_token_payload_never_carries_two_aud_keys() {
        let mut c = claims();
        assert!(
            c.extra
                .insert("aud", "https://evil.example".into())
                .is_err()
        );
        c.extra.insert("tenant", "acme".into()).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json.matches("\"aud\"").count(), 1, "{json}");
        assert_eq!(json.matches("\"tenant\"").count(), 1, "{json}");
        let back: AccessTokenClaims = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn profiles_name_their_typ() {
        assert_eq!(TokenProfile::AccessToken.typ(), "at+jwt");
        let jag = TokenProfile::Assertion {
            typ: "oauth-id-jag+jwt",
            audience: "https://as.example.com".into(),
            client_id: "https://app.example.com/client.json".into(),
        };
        assert_eq!(jag.typ(), "oauth-id-jag+jwt");
    }
}
