//! The RFC 9068 JWT access token issuer: signs with the current key, verifies, publishes the JWKS.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::{
    AccessTokenClaims, ClientAssertionClaims, IdTokenClaims, TokenIssuer, TokenProfile,
};
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::jsonwebtoken::jwk::Jwk;
use mcp_auth_core::jose::{CompactJws, VerifyingKey};
use mcp_auth_core::store::StoredSigningKey;
use mcp_auth_core::types::Issuer;
use ring::rand::SystemRandom;

use super::{KeyError, SigningKey};

/// The JWS `typ` of an access token (RFC 9068 §2.1).
const TYP: &str = "at+jwt";

/// A published key: its `kid`, its verification key (built once, through the JOSE module) and
/// its public JWK.
struct PublishedKey {
    kid: String,
    verifying: Arc<VerifyingKey>,
    jwk: serde_json::Value,
}

/// Mints and verifies RFC 9068 JWT access tokens with ES256.
///
/// Built from the stored keys at a point in time (`now`, seconds since the epoch):
///
/// - the one current key (`retired_at == None`) signs every token; its header segment
///   `{"alg":"ES256","typ":"at+jwt","kid":…}` is encoded once;
/// - a retired key stays published (in [`TokenIssuer::jwks`], and accepted by
///   [`TokenIssuer::verify`]) while `retired_at + max_access_token_lifetime_secs > now`, so every
///   token it signed can still be checked until it expires (spec §2.7, RFC 9068 §4).
///
/// The published set is fixed at construction: rebuild the issuer after a rotation and at
/// [`JwtTokenIssuer::next_change_at`].
pub struct JwtTokenIssuer {
    issuer: Issuer,
    current: SigningKey,
    header_segment: String,
    published: Vec<PublishedKey>,
    jwks: serde_json::Value,
    next_change_at: Option<UnixTime>,
    rng: SystemRandom,
}

impl JwtTokenIssuer {
    /// Build the issuer for `issuer` from every stored key.
    ///
    /// `now` and `max_access_token_lifetime_secs` are in seconds; the latter is the longest
    /// access token lifetime the server issues.
    ///
    /// # Errors
    /// [`KeyError::NoCurrentKey`] / [`KeyError::SeveralCurrentKeys`] unless exactly one key is
    /// current; any error of [`SigningKey::from_stored`] for a key that is current or still
    /// published; [`KeyError::VerificationKey`] if a verification key cannot be built.
    pub fn new(
        issuer: Issuer,
        keys: &[StoredSigningKey],
        now: UnixTime,
        max_access_token_lifetime_secs: i64,
    ) -> Result<Self, KeyError> {
        let mut current = keys.iter().filter(|k| k.retired_at.is_none());
        let current_stored = current.next().ok_or(KeyError::NoCurrentKey)?;
        let extra = current.count();
        if extra > 0 {
            return Err(KeyError::SeveralCurrentKeys(extra + 1));
        }
        let current = SigningKey::from_stored(current_stored)?;

        let mut published = vec![publish(&current)?];
        let mut next_change_at: Option<UnixTime> = None;
        for stored in keys {
            let Some(retired_at) = stored.retired_at else {
                continue;
            };
            let until = retired_at.saturating_add(max_access_token_lifetime_secs);
            if until <= now || stored.kid == current.kid() {
                continue;
            }
            next_change_at = Some(next_change_at.map_or(until, |t| t.min(until)));
            published.push(publish(&SigningKey::from_stored(stored)?)?);
        }
        let jwks = serde_json::json!({
            "keys": published.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
        });

        let header =
            serde_json::json!({ "alg": SigningKey::ALG, "typ": TYP, "kid": current.kid() });
        let header_segment = URL_SAFE_NO_PAD.encode(header.to_string());

        Ok(Self {
            issuer,
            current,
            header_segment,
            published,
            jwks,
            next_change_at,
            rng: SystemRandom::new(),
        })
    }

    /// The `kid` of the key that signs new tokens.
    pub fn current_kid(&self) -> &str {
        self.current.kid()
    }

    /// When the published set next changes (the earliest moment a retired key stops being
    /// published), seconds since the epoch; `None` when no retired key is published.
    pub fn next_change_at(&self) -> Option<UnixTime> {
        self.next_change_at
    }
}

impl JwtTokenIssuer {
    /// Compact JWS of `header_segment` (already base64url) and `claims` with the current key.
    fn sign(&self, header_segment: &str, claims: &AccessTokenClaims) -> Result<String, OAuthError> {
        self.sign_as(header_segment, &claims.iss, claims)
    }

    /// As [`Self::sign`] for any claims set whose `iss` is `iss`.
    fn sign_as(
        &self,
        header_segment: &str,
        iss: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String, OAuthError> {
        if iss != self.issuer.as_str() {
            return Err(OAuthError::server_error(KeyError::WrongIssuer(
                iss.to_owned(),
            )));
        }
        self.sign_payload(header_segment, claims)
    }

    /// Compact JWS of `header_segment` (already base64url) and `claims` with the current key,
    /// whatever their `iss`: the callers check it.
    fn sign_payload(
        &self,
        header_segment: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String, OAuthError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| OAuthError::server_error(KeyError::Claims(e.to_string())))?;
        let mut token = String::with_capacity(header_segment.len() + payload.len() * 4 / 3 + 90);
        token.push_str(header_segment);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self
            .current
            .sign(&self.rng, token.as_bytes())
            .map_err(OAuthError::server_error)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

fn publish(key: &SigningKey) -> Result<PublishedKey, KeyError> {
    let jwk = key.public_jwk();
    let failed = |reason: String| KeyError::VerificationKey {
        kid: key.kid().to_owned(),
        reason,
    };
    let parsed: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| failed(e.to_string()))?;
    let verifying = VerifyingKey::from_jwk(&parsed)
        .ok_or_else(|| failed("the JWK is not a usable verification key".to_owned()))?;
    Ok(PublishedKey {
        kid: key.kid().to_owned(),
        verifying: Arc::new(verifying),
        jwk,
    })
}

impl TokenIssuer for JwtTokenIssuer {
    /// Compact JWS (RFC 7515 §7.1) of `claims`, signed with the current key.
    ///
    /// Errors: `server_error` when `claims.iss` is not this issuer, the claims do not serialise,
    /// or signing fails.
    fn issue(&self, claims: &AccessTokenClaims) -> Result<String, OAuthError> {
        self.sign(&self.header_segment, claims)
    }

    /// As [`TokenIssuer::issue`], with header `typ` = [`TokenProfile::typ`]: the same key, `alg`
    /// and `kid`. [`TokenIssuer::verify`] accepts only `at+jwt`, so a token of another profile
    /// (an ID-JAG) is never taken for an access token.
    fn issue_profile(
        &self,
        profile: &TokenProfile,
        claims: &AccessTokenClaims,
    ) -> Result<String, OAuthError> {
        if *profile == TokenProfile::AccessToken {
            return self.issue(claims);
        }
        let header = serde_json::json!({
            "alg": SigningKey::ALG,
            "typ": profile.typ(),
            "kid": self.current.kid(),
        });
        self.sign(&URL_SAFE_NO_PAD.encode(header.to_string()), claims)
    }

    /// An OpenID Connect ID token: header `typ: JWT`, the current key's `alg` and `kid`
    /// (OIDC Core §2). [`TokenIssuer::verify`] never accepts it as an access token.
    fn issue_id_token(&self, claims: &IdTokenClaims) -> Result<String, OAuthError> {
        let header = serde_json::json!({
            "alg": SigningKey::ALG,
            "typ": "JWT",
            "kid": self.current.kid(),
        });
        self.sign_as(
            &URL_SAFE_NO_PAD.encode(header.to_string()),
            &claims.iss,
            claims,
        )
    }

    /// A client assertion (RFC 7523 §3): header `{"alg":"ES256","typ":"JWT","kid":…}` with the
    /// current key, published in [`TokenIssuer::jwks`] for the other server to check. Refused
    /// (`server_error`) unless `iss` equals `sub`, and when `iss` is this issuer.
    fn issue_client_assertion(&self, claims: &ClientAssertionClaims) -> Result<String, OAuthError> {
        if claims.iss != claims.sub || claims.iss.is_empty() {
            return Err(OAuthError::server_error(KeyError::Claims(
                "a client assertion's iss and sub must both be the client id".to_owned(),
            )));
        }
        if claims.iss == self.issuer.as_str() {
            return Err(OAuthError::server_error(KeyError::Claims(
                "a client assertion must not name this server as its issuer".to_owned(),
            )));
        }
        let header = serde_json::json!({
            "alg": SigningKey::ALG,
            "typ": "JWT",
            "kid": self.current.kid(),
        });
        self.sign_payload(&URL_SAFE_NO_PAD.encode(header.to_string()), claims)
    }

    /// The claims of a token this issuer minted: header `typ` exactly `at+jwt`, `alg` `ES256`, a
    /// `kid` of a published key, a valid signature, `iss` equal to the issuer. Expiry and
    /// audience are not checked here.
    fn verify(&self, token: &str) -> Option<AccessTokenClaims> {
        let jws = CompactJws::parse(token).ok()?;
        if jws.typ() != Some(TYP) || jws.alg() != Algorithm::ES256 {
            return None;
        }
        let kid = jws.kid()?;
        let key = self.published.iter().find(|k| k.kid == kid)?;
        if !jws.verify(&key.verifying) {
            return None;
        }
        let claims: AccessTokenClaims = jws.claims().ok()?;
        (claims.iss == self.issuer.as_str()).then_some(claims)
    }

    /// `{"keys":[…]}`: the current key first, then the still-published retired keys.
    fn jwks(&self) -> serde_json::Value {
        self.jwks.clone()
    }

    fn signing_alg(&self) -> &str {
        SigningKey::ALG
    }
}

impl std::fmt::Debug for JwtTokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokenIssuer")
            .field("issuer", &self.issuer)
            .field("current_kid", &self.current.kid())
            .field(
                "published",
                &self.published.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    const NOW: UnixTime = 1_767_225_600;
    const MAX_LIFETIME: i64 = 900;

    fn issuer() -> Issuer {
        "https://auth.acme.test".parse().unwrap()
    }

    fn claims() -> AccessTokenClaims {
        let mut extra = mcp_auth_core::ext::ExtraClaims::new();
        extra.insert("acr", "urn:example:pwd".into()).unwrap();
        AccessTokenClaims {
            iss: "https://auth.acme.test".into(),
            sub: "u_8f31".into(),
            aud: "https://mcp.acme.test/mcp".into(),
            client_id: "https://app.example.com/oauth/client.json".into(),
            scope: "mcp:basic".into(),
            iat: NOW,
            exp: NOW + 900,
            jti: "at_6c0e1b1f".into(),
            auth_time: Some(NOW - 10),
            resource: None,
            cnf: None,
            extra,
        }
    }

    fn one_key_issuer() -> (JwtTokenIssuer, StoredSigningKey) {
        let stored = SigningKey::generate(NOW).unwrap();
        let iss = JwtTokenIssuer::new(issuer(), std::slice::from_ref(&stored), NOW, MAX_LIFETIME)
            .unwrap();
        (iss, stored)
    }

    fn segment(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// Sign `header.payload` with `key`, as a forger holding the key would.
    fn sign_raw(
        key: &StoredSigningKey,
        header: &serde_json::Value,
        payload: &serde_json::Value,
    ) -> String {
        let key = SigningKey::from_stored(key).unwrap();
        let input = format!("{}.{}", segment(header), segment(payload));
        let sig = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn decode_segment(token: &str, index: usize) -> serde_json::Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn token_verifies_with_jsonwebtoken_against_published_jwk() {
        let (iss, _) = one_key_issuer();
        let token = iss.issue(&claims()).unwrap();
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(iss.jwks()).unwrap();
        let jwk = set.find(iss.current_kid()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_audience(&["https://mcp.acme.test/mcp"]);
        let data = jsonwebtoken::decode::<AccessTokenClaims>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims, claims());
    }

    /// AS-17: a JWT access token has header `typ: at+jwt` (and `alg`, `kid`), RFC 9068 §2.1.
    #[test]
    fn header_is_exactly_typ_at_jwt_alg_es256_kid() {
        let (iss, stored) = one_key_issuer();
        let token = iss.issue(&claims()).unwrap();
        assert_eq!(
            decode_segment(&token, 0),
            serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": stored.kid})
        );
        assert_eq!(iss.signing_alg(), "ES256");
    }

    /// AS-17: the claims `iss, sub, aud, client_id, exp, iat, jti` are all present.
    #[test]
    fn claims_round_trip_through_issue_and_verify() {
        let (iss, _) = one_key_issuer();
        let token = iss.issue(&claims()).unwrap();
        let payload = decode_segment(&token, 1);
        for name in ["iss", "sub", "aud", "client_id", "exp", "iat", "jti"] {
            assert!(payload.get(name).is_some(), "{name} missing");
        }
        assert_eq!(payload["acr"], "urn:example:pwd");
        assert_eq!(iss.verify(&token), Some(claims()));
    }

    #[test]
    fn token_signed_by_another_key_is_rejected() {
        let (iss, _) = one_key_issuer();
        let (other, _) = one_key_issuer();
        assert_eq!(iss.verify(&other.issue(&claims()).unwrap()), None);
    }

    #[test]
    fn token_with_foreign_key_but_our_kid_is_rejected() {
        let (iss, stored) = one_key_issuer();
        let forger = SigningKey::generate(NOW).unwrap();
        let header = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": stored.kid});
        let token = sign_raw(&forger, &header, &serde_json::to_value(claims()).unwrap());
        assert_eq!(iss.verify(&token), None);
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let (iss, _) = one_key_issuer();
        let token = iss.issue(&claims()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut tampered = claims();
        tampered.scope = "mcp:admin".into();
        parts[1] = segment(&serde_json::to_value(tampered).unwrap());
        assert_eq!(iss.verify(&parts.join(".")), None);
    }

    #[test]
    fn wrong_typ_is_rejected() {
        let (iss, stored) = one_key_issuer();
        let payload = serde_json::to_value(claims()).unwrap();
        let jwt = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": stored.kid});
        assert_eq!(iss.verify(&sign_raw(&stored, &jwt, &payload)), None);
        let none = serde_json::json!({"alg": "ES256", "kid": stored.kid});
        assert_eq!(iss.verify(&sign_raw(&stored, &none, &payload)), None);
        // Control: the same key and payload with the right header verify.
        let ok = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": stored.kid});
        assert_eq!(
            iss.verify(&sign_raw(&stored, &ok, &payload)),
            Some(claims())
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let (iss, stored) = one_key_issuer();
        let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": stored.kid});
        let payload = serde_json::to_value(claims()).unwrap();
        let token = format!("{}.{}.", segment(&header), segment(&payload));
        assert_eq!(iss.verify(&token), None);
    }

    #[test]
    fn other_issuer_in_claims_is_rejected() {
        let (iss, stored) = one_key_issuer();
        let header = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": stored.kid});
        let mut payload = serde_json::to_value(claims()).unwrap();
        payload["iss"] = "https://evil.example".into();
        assert_eq!(iss.verify(&sign_raw(&stored, &header, &payload)), None);
    }

    #[test]
    fn issuing_for_another_issuer_is_server_error() {
        let (iss, _) = one_key_issuer();
        let mut other = claims();
        other.iss = "https://evil.example".into();
        let err = iss.issue(&other).unwrap_err();
        assert_eq!(err.code(), mcp_auth_core::ErrorCode::ServerError);
    }

    #[test]
    fn retired_key_is_published_until_retired_at_plus_max_lifetime() {
        let mut old = SigningKey::generate(NOW - 5000).unwrap();
        old.retired_at = Some(NOW - 100);
        let new = SigningKey::generate(NOW - 100).unwrap();
        let keys = [old.clone(), new.clone()];
        let kids = |iss: &JwtTokenIssuer| -> Vec<String> {
            iss.jwks()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };

        let before = JwtTokenIssuer::new(issuer(), &keys, NOW, MAX_LIFETIME).unwrap();
        assert_eq!(kids(&before), [new.kid.clone(), old.kid.clone()]);
        assert_eq!(before.current_kid(), new.kid);
        assert_eq!(before.next_change_at(), Some(NOW - 100 + MAX_LIFETIME));

        let last_second = NOW - 100 + MAX_LIFETIME - 1;
        let still = JwtTokenIssuer::new(issuer(), &keys, last_second, MAX_LIFETIME).unwrap();
        assert_eq!(kids(&still), [new.kid.clone(), old.kid.clone()]);

        let after =
            JwtTokenIssuer::new(issuer(), &keys, NOW - 100 + MAX_LIFETIME, MAX_LIFETIME).unwrap();
        assert_eq!(kids(&after), [new.kid]);
        assert_eq!(after.next_change_at(), None);
    }

    #[test]
    fn token_of_published_retired_key_still_verifies() {
        let old = SigningKey::generate(NOW - 5000).unwrap();
        let old_issuer = JwtTokenIssuer::new(
            issuer(),
            std::slice::from_ref(&old),
            NOW - 200,
            MAX_LIFETIME,
        )
        .unwrap();
        let token = old_issuer.issue(&claims()).unwrap();

        let mut retired = old;
        retired.retired_at = Some(NOW - 100);
        let keys = [retired, SigningKey::generate(NOW - 100).unwrap()];
        let iss = JwtTokenIssuer::new(issuer(), &keys, NOW, MAX_LIFETIME).unwrap();
        assert_eq!(iss.verify(&token), Some(claims()));
        let later = JwtTokenIssuer::new(issuer(), &keys, NOW + MAX_LIFETIME, MAX_LIFETIME).unwrap();
        assert_eq!(later.verify(&token), None);
    }

    #[test]
    fn no_current_key_is_an_error() {
        let mut old = SigningKey::generate(NOW).unwrap();
        old.retired_at = Some(NOW);
        assert_eq!(
            JwtTokenIssuer::new(issuer(), &[old], NOW, MAX_LIFETIME).unwrap_err(),
            KeyError::NoCurrentKey
        );
        assert_eq!(
            JwtTokenIssuer::new(issuer(), &[], NOW, MAX_LIFETIME).unwrap_err(),
            KeyError::NoCurrentKey
        );
    }

    #[test]
    fn two_current_keys_are_an_error() {
        let keys = [
            SigningKey::generate(NOW).unwrap(),
            SigningKey::generate(NOW).unwrap(),
        ];
        assert_eq!(
            JwtTokenIssuer::new(issuer(), &keys, NOW, MAX_LIFETIME).unwrap_err(),
            KeyError::SeveralCurrentKeys(2)
        );
    }

    fn assertion_claims() -> ClientAssertionClaims {
        ClientAssertionClaims {
            iss: "mcp-auth".into(),
            sub: "mcp-auth".into(),
            aud: "https://idp.example/oauth/token".into(),
            jti: "ca_1".into(),
            iat: NOW,
            exp: NOW + 60,
        }
    }

    /// Issue 23: a client assertion for `private_key_jwt` at an upstream (RFC 7523 §3) is
    /// signed by the current key, `typ: JWT` with its `kid`, verifies against the published
    /// JWK Set, and is never taken for an access token.
    #[test]
    fn client_assertion_verifies_against_the_jwks_and_is_no_access_token() {
        let (iss, stored) = one_key_issuer();
        let token = iss.issue_client_assertion(&assertion_claims()).unwrap();
        assert_eq!(
            decode_segment(&token, 0),
            serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": stored.kid})
        );
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(iss.jwks()).unwrap();
        let key = DecodingKey::from_jwk(set.find(&stored.kid).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_audience(&["https://idp.example/oauth/token"]);
        let data =
            jsonwebtoken::decode::<ClientAssertionClaims>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims, assertion_claims());
        assert_eq!(iss.verify(&token), None);
    }

    /// RFC 7523 §3: `iss` and `sub` are both the client id; an assertion naming this server as
    /// its issuer (it could pass for one of its own tokens) is refused.
    #[test]
    fn client_assertion_needs_iss_equal_sub_and_not_this_issuer() {
        let (iss, _) = one_key_issuer();
        let mut c = assertion_claims();
        c.sub = "someone-else".into();
        assert!(iss.issue_client_assertion(&c).is_err());
        let mut c = assertion_claims();
        c.iss = String::new();
        c.sub = String::new();
        assert!(iss.issue_client_assertion(&c).is_err());
        let mut c = assertion_claims();
        c.iss = issuer().as_str().to_owned();
        c.sub = c.iss.clone();
        assert!(iss.issue_client_assertion(&c).is_err());
    }
}
