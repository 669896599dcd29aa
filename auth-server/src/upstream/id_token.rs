//! ID token verification (OpenID Connect Core §3.1.3.7) with the one JOSE module: the `alg`
//! from an allow-list of asymmetric algorithms (never `none`, never `HS*`), the signature
//! against the upstream's JWK Set (cached, refetched on an unknown `kid`), then `iss`, `aud`,
//! `azp` when there are several audiences, `exp` and `iat` with [`CLOCK_SKEW`], `nonce`.
//!
//! ECDSA signatures are accepted in high-S form too: low-S is our own signer's choice, not a
//! rule for others' signatures (ring's verifier takes both).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::UnixTime;
use mcp_auth_core::jose::{
    AllowedAlgorithms, Audience, CompactJws, JwksError, KeySource, numeric_date_value,
};
use mcp_auth_core::secret::constant_time_eq;
use serde_json::{Map, Value};

use super::Upstream;
use super::metadata::ProviderMetadata;

/// Clock skew allowed on `exp` and `iat`, seconds.
pub const CLOCK_SKEW: i64 = 60;

/// Why an ID token was refused; each names the rule (OIDC Core §3.1.3.7 step).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a compact JWS with a JSON payload.
    #[error("the ID token is malformed")]
    Malformed,
    /// `alg` is `none`, `HS*`, or not one this server verifies.
    #[error("the ID token's signature algorithm is not allowed")]
    Algorithm,
    /// No key of the upstream's JWK Set (after a refetch) verifies it.
    #[error("the ID token's signature does not verify")]
    Signature,
    /// The upstream's keys could not be fetched.
    #[error("the identity provider's keys could not be fetched")]
    KeysUnavailable,
    /// `iss` is not the upstream's issuer.
    #[error("the ID token is from another issuer")]
    Issuer,
    /// `aud` does not contain this server's client id, or `azp` is not it.
    #[error("the ID token is for another client")]
    Audience,
    /// `exp` has passed (or is missing).
    #[error("the ID token has expired")]
    Expired,
    /// `iat` is in the future (or missing).
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    /// `nonce` is not the one this sign-in sent.
    #[error("the ID token's nonce does not match")]
    Nonce,
    /// No `sub`.
    #[error("the ID token names no subject")]
    Subject,
}

impl IdTokenError {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed => "id_token_malformed",
            Self::Algorithm => "id_token_alg",
            Self::Signature => "id_token_signature",
            Self::KeysUnavailable => "upstream_unreachable",
            Self::Issuer => "id_token_iss",
            Self::Audience => "id_token_aud",
            Self::Expired => "id_token_expired",
            Self::IssuedInFuture => "id_token_iat",
            Self::Nonce => "id_token_nonce",
            Self::Subject => "id_token_sub",
        }
    }
}

/// The raw header's `alg`, read before the JOSE parser (which cannot name `none`).
fn raw_alg(token: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

impl Upstream {
    /// The claims of `token` after every check above, for this upstream, with `nonce`, at
    /// `now`.
    ///
    /// # Errors
    /// [`IdTokenError`] naming the first rule it breaks.
    pub async fn verify_id_token(
        &self,
        metadata: &ProviderMetadata,
        token: &str,
        nonce: &str,
        now: UnixTime,
    ) -> Result<Map<String, Value>, IdTokenError> {
        match raw_alg(token).as_deref() {
            None => return Err(IdTokenError::Malformed),
            Some(a) if a.eq_ignore_ascii_case("none") || a.starts_with("HS") => {
                return Err(IdTokenError::Algorithm);
            }
            Some(_) => {}
        }
        let jws = CompactJws::parse(token).map_err(|_| IdTokenError::Algorithm)?;
        let allowed = AllowedAlgorithms::new(&AllowedAlgorithms::ASYMMETRIC)
            .map_err(|_| IdTokenError::Algorithm)?;
        let alg = allowed
            .check(jws.alg())
            .map_err(|_| IdTokenError::Algorithm)?;
        let source = KeySource::JwksUri(metadata.jwks_uri.clone());
        let key = match self.jwks.key(&source, jws.kid(), alg).await {
            Ok(k) => k,
            Err(JwksError::Unavailable(reason)) => {
                tracing::warn!(upstream = %self.config.name, %reason, "upstream keys unavailable");
                return Err(IdTokenError::KeysUnavailable);
            }
            Err(_) => return Err(IdTokenError::Signature),
        };
        if !jws.verify(&key) {
            return Err(IdTokenError::Signature);
        }
        let claims: Map<String, Value> = jws.claims().map_err(|_| IdTokenError::Malformed)?;
        self.check_claims(&claims, nonce, now)?;
        Ok(claims)
    }

    /// OIDC Core §3.1.3.7 steps 2–4, 9–11 on the verified payload.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        nonce: &str,
        now: UnixTime,
    ) -> Result<(), IdTokenError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err(IdTokenError::Issuer);
        }
        let aud: Audience = claims
            .get("aud")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or(IdTokenError::Audience)?;
        let client_id = self.config.client_id.as_str();
        if !aud.contains_any(&[client_id]) {
            return Err(IdTokenError::Audience);
        }
        let several = matches!(&aud, Audience::Many(list) if list.len() > 1);
        let azp = claims.get("azp").and_then(Value::as_str);
        if (several || azp.is_some()) && azp != Some(client_id) {
            return Err(IdTokenError::Audience);
        }
        let exp = claims.get("exp").and_then(numeric_date_value);
        if exp.is_none_or(|exp| exp.saturating_add(CLOCK_SKEW) <= now) {
            return Err(IdTokenError::Expired);
        }
        let iat = claims.get("iat").and_then(numeric_date_value);
        if iat.is_none_or(|iat| iat > now.saturating_add(CLOCK_SKEW)) {
            return Err(IdTokenError::IssuedInFuture);
        }
        let sent = claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !constant_time_eq(sent, nonce) {
            return Err(IdTokenError::Nonce);
        }
        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(IdTokenError::Subject);
        }
        Ok(())
    }
}
