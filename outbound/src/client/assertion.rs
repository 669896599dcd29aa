//! `private_key_jwt` client assertions (RFC 7523 §2.2 and §3) signed with an ES256 key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::UnixTime;
use mcp_auth_core::jose::{Es256Error, Es256Signer};
use ring::rand::{SecureRandom, SystemRandom};

use super::ClientError;

/// A P-256 private key for ES256 client assertions (RFC 7518 §3.4), signing through the JOSE
/// module's [`Es256Signer`]: every signature is low-S. `Debug` never prints the key.
pub struct Es256Key {
    signer: Es256Signer,
    kid: Option<String>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Key")
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The provider's error for a key that cannot be loaded or used.
fn key_error(e: Es256Error) -> ClientError {
    match e {
        Es256Error::Pkcs8(reason) => ClientError::Key(format!("not a P-256 PKCS#8 key: {reason}")),
        other => ClientError::Key(other.to_string()),
    }
}

impl Es256Key {
    fn new(signer: Es256Signer) -> Self {
        Self {
            signer,
            kid: None,
            rng: SystemRandom::new(),
        }
    }

    /// The key from a PKCS#8 v1/v2 DER document (RFC 5208, RFC 5958).
    ///
    /// # Errors
    /// [`ClientError::Key`] when it is not a P-256 PKCS#8 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, ClientError> {
        Es256Signer::from_pkcs8_der(der)
            .map(Self::new)
            .map_err(key_error)
    }

    /// The key from a PEM `-----BEGIN PRIVATE KEY-----` document (RFC 7468 §10).
    ///
    /// # Errors
    /// [`ClientError::Key`] when there is no PKCS#8 PEM block or it is not a P-256 key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, ClientError> {
        Es256Signer::from_pkcs8_pem(pem)
            .map(Self::new)
            .map_err(key_error)
    }

    /// A new random key, returned with its PKCS#8 DER encoding (to store it).
    ///
    /// # Errors
    /// [`ClientError::Key`] when the system random generator fails.
    pub fn generate() -> Result<(Self, Vec<u8>), ClientError> {
        let (signer, der) = Es256Signer::generate().map_err(key_error)?;
        Ok((Self::new(signer), der))
    }

    /// Name the key: assertions carry this `kid` header (RFC 7515 §4.1.4), and
    /// [`Es256Key::public_jwk`] includes it.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The public key as a JWK (RFC 7517, RFC 7518 §6.2) with `alg: ES256` and `use: sig`, for
    /// registering the client (`auth-server client add --jwks`).
    pub fn public_jwk(&self) -> serde_json::Value {
        self.signer.public_jwk(self.kid.as_deref())
    }

    /// A compact client assertion (RFC 7523 §3): header `{"alg":"ES256","typ":"JWT"[,"kid"]}`,
    /// claims `iss` = `sub` = `client_id`, `aud` = `audience` (the AS issuer), `iat` = `now`,
    /// `exp` = `now + lifetime_secs`, `jti` = 128 random bits, base64url.
    ///
    /// # Errors
    /// [`ClientError::Key`] when randomness or signing fails.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: UnixTime,
        lifetime_secs: i64,
    ) -> Result<String, ClientError> {
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|e| ClientError::Key(format!("random jti: {e}")))?;
        let mut header = serde_json::json!({"alg": "ES256", "typ": "JWT"});
        if let Some(kid) = &self.kid {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now.saturating_add(lifetime_secs),
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        self.signer
            .sign_compact(&header, &claims)
            .map_err(|e| ClientError::Key(format!("signing: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn part(token: &str, i: usize) -> serde_json::Value {
        let p = token.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    #[test]
    fn assertion_names_the_client_the_issuer_and_a_fresh_jti() {
        let (key, _) = Es256Key::generate().unwrap();
        let key = key.with_kid("k1");
        let a = key
            .assertion("svc", "https://auth.example.com", 1000, 60)
            .unwrap();
        let b = key
            .assertion("svc", "https://auth.example.com", 1000, 60)
            .unwrap();
        assert_eq!(
            part(&a, 0),
            serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "k1"})
        );
        let claims = part(&a, 1);
        assert_eq!(claims["iss"], "svc");
        assert_eq!(claims["sub"], "svc");
        assert_eq!(claims["aud"], "https://auth.example.com");
        assert_eq!(claims["iat"], 1000);
        assert_eq!(claims["exp"], 1060);
        assert_ne!(claims["jti"], part(&b, 1)["jti"]);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(claims["jti"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
    }

    #[test]
    fn pem_and_der_give_the_same_key() {
        let (key, der) = Es256Key::generate().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let again = Es256Key::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.public_jwk(), again.public_jwk());
    }

    /// The low-S rule (RFC 7518 §3.4 signatures, one form per message): every assertion
    /// signature is `R‖S` with `S ≤ (n - 1) / 2`, so an AS that refuses malleable signatures
    /// accepts it. 64 signatures: a signer that skipped normalisation fails with probability
    /// `1 - 2^-64`.
    #[test]
    fn assertion_signatures_are_low_s() {
        use mcp_auth_core::ecdsa::{Curve, is_low_s};
        let (key, _) = Es256Key::generate().unwrap();
        for now in 0..64 {
            let token = key
                .assertion("svc", "https://auth.example.com", now, 60)
                .unwrap();
            let sig = URL_SAFE_NO_PAD
                .decode(token.rsplit('.').next().unwrap())
                .unwrap();
            assert_eq!(sig.len(), 64);
            assert!(is_low_s(Curve::P256, &sig), "assertion {now} is high-S");
        }
    }

    #[test]
    fn debug_never_prints_the_key() {
        let (key, _) = Es256Key::generate().unwrap();
        assert!(format!("{key:?}").contains("[redacted]"));
    }
}
