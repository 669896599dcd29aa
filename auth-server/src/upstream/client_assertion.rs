//! `client_auth = "private_key_jwt"` (OIDC Core §9, RFC 7523 §2.2): the client assertion this
//! server signs with its own signing key to authenticate at an upstream's token endpoint. The
//! upstream checks it against this server's JWK Set (`{issuer}/jwks`), registered there as the
//! client's `jwks_uri`.

use mcp_auth_core::Secret;
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::{ClientAssertionClaims, TokenIssuer};
use url::Url;

use super::Upstream;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of a client assertion, seconds: one token request.
pub const ASSERTION_LIFETIME_SECS: i64 = 60;

impl Upstream {
    /// The client assertion for one token request at `token_endpoint` at `now` (seconds since
    /// the epoch): `iss` = `sub` = this server's `client_id` at the upstream, `aud` = the token
    /// endpoint URL, `jti` = `jti` (unique per request), `exp` = `now` +
    /// [`ASSERTION_LIFETIME_SECS`], signed by `issuer`'s current key (RFC 7523 §3).
    ///
    /// # Errors
    /// `server_error` from [`TokenIssuer::issue_client_assertion`] (signing failed, or the
    /// client id is this server's own issuer).
    pub fn client_assertion(
        &self,
        issuer: &dyn TokenIssuer,
        token_endpoint: &Url,
        jti: String,
        now: UnixTime,
    ) -> Result<Secret, OAuthError> {
        let claims = ClientAssertionClaims {
            iss: self.config.client_id.clone(),
            sub: self.config.client_id.clone(),
            aud: token_endpoint.as_str().to_owned(),
            jti,
            iat: now,
            exp: now.saturating_add(ASSERTION_LIFETIME_SECS),
        };
        issuer.issue_client_assertion(&claims).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use mcp_auth_core::FixedClock;

    use super::*;
    use crate::config::UpstreamIdpConfig;
    use crate::keys::{JwtTokenIssuer, SigningKey};
    use crate::upstream::Upstreams;

    const NOW: UnixTime = 1_767_225_600;

    fn upstreams() -> Upstreams {
        let config: UpstreamIdpConfig = serde_json::from_value(serde_json::json!({
            "name": "acme", "display_name": "Acme", "issuer": "https://idp.example",
            "client_id": "mcp-auth-at-acme", "client_auth": "private_key_jwt",
        }))
        .unwrap();
        Upstreams::new(&[config], Arc::new(FixedClock::new(NOW))).unwrap()
    }

    /// RFC 7523 §3: `iss` = `sub` = our client id at the upstream, `aud` = its token endpoint,
    /// the given `jti`, `exp` 60 s after `iat`; header `typ: JWT` with the current key's `kid`.
    #[test]
    fn the_assertion_names_our_client_and_the_token_endpoint() {
        let stored = SigningKey::generate(NOW).unwrap();
        let issuer = JwtTokenIssuer::new(
            "https://auth.example".parse().unwrap(),
            std::slice::from_ref(&stored),
            NOW,
            900,
        )
        .unwrap();
        let upstreams = upstreams();
        let endpoint = Url::parse("https://idp.example/oauth2/token").unwrap();
        let jwt = upstreams.all()[0]
            .client_assertion(&issuer, &endpoint, "jti-1".into(), NOW)
            .unwrap();
        let part = |i: usize| -> serde_json::Value {
            let segment = jwt.expose().split('.').nth(i).unwrap();
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
        };
        assert_eq!(
            part(0),
            serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": stored.kid})
        );
        assert_eq!(
            part(1),
            serde_json::json!({
                "iss": "mcp-auth-at-acme", "sub": "mcp-auth-at-acme",
                "aud": "https://idp.example/oauth2/token", "jti": "jti-1",
                "iat": NOW, "exp": NOW + ASSERTION_LIFETIME_SECS,
            })
        );
    }
}
