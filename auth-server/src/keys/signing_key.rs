//! One ES256 signing key (RFC 7518 §3.4), its `kid` (RFC 7638 thumbprint) and its public JWK.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::jose::{Es256Error, Es256Signer};
use mcp_auth_core::secret::Secret;
use mcp_auth_core::store::StoredSigningKey;
use ring::rand::SecureRandom;

use super::KeyError;

/// An ES256 private key, parsed once into the JOSE module's [`Es256Signer`] (signatures are the
/// 64-byte low-S `R‖S` of RFC 7518 §3.4).
///
/// The `kid` is the RFC 7638 JWK thumbprint: base64url (no padding) of the SHA-256 of
/// `{"crv":"P-256","kty":"EC","x":…,"y":…}`. `Debug` prints only the `kid`.
pub struct SigningKey {
    signer: Es256Signer,
}

impl SigningKey {
    /// The JWS `alg` of every key of this type.
    pub const ALG: &'static str = Es256Signer::ALG;

    /// Generate a new key, ready to store: `kid` = thumbprint, `alg` = `ES256`, the PKCS#8 DER
    /// as unpadded base64url, `created_at` = `now` (seconds since the epoch), current
    /// (`retired_at` = `None`).
    ///
    /// # Errors
    /// [`KeyError::Generate`] when the system random number generator fails.
    pub fn generate(now: UnixTime) -> Result<StoredSigningKey, KeyError> {
        let (signer, pkcs8) = Es256Signer::generate().map_err(|e| match e {
            Es256Error::Pkcs8(reason) => KeyError::Rejected {
                kid: "(new)".to_owned(),
                reason,
            },
            _ => KeyError::Generate,
        })?;
        Ok(StoredSigningKey {
            kid: signer.thumbprint().to_owned(),
            alg: Self::ALG.to_owned(),
            private_pkcs8: Secret::new(URL_SAFE_NO_PAD.encode(&pkcs8)),
            created_at: now,
            retired_at: None,
        })
    }

    /// Load a stored key.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedAlgorithm`] unless `alg` is `ES256`; [`KeyError::Encoding`] when the
    /// private key is not unpadded base64url; [`KeyError::Rejected`] when it is not a P-256
    /// PKCS#8 document; [`KeyError::KidMismatch`] when the stored `kid` is not the thumbprint.
    pub fn from_stored(stored: &StoredSigningKey) -> Result<Self, KeyError> {
        if stored.alg != Self::ALG {
            return Err(KeyError::UnsupportedAlgorithm {
                kid: stored.kid.clone(),
                alg: stored.alg.clone(),
            });
        }
        let der = URL_SAFE_NO_PAD
            .decode(stored.private_pkcs8.expose())
            .map_err(|_| KeyError::Encoding {
                kid: stored.kid.clone(),
            })?;
        let signer = Es256Signer::from_pkcs8_der(&der).map_err(|e| KeyError::Rejected {
            kid: stored.kid.clone(),
            reason: e.to_string(),
        })?;
        if signer.thumbprint() != stored.kid {
            return Err(KeyError::KidMismatch {
                stored: stored.kid.clone(),
                computed: signer.thumbprint().to_owned(),
            });
        }
        Ok(Self { signer })
    }

    /// The key id: the RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        self.signer.thumbprint()
    }

    /// The public point's coordinates `(x, y)`, each unpadded base64url of 32 bytes (RFC 7518
    /// §6.2.1.2–3).
    pub fn coordinates(&self) -> (&str, &str) {
        self.signer.coordinates()
    }

    /// The public JWK (RFC 7517 §4, RFC 7518 §6.2):
    /// `{"kty":"EC","crv":"P-256","x":…,"y":…,"kid":…,"alg":"ES256","use":"sig"}`.
    pub fn public_jwk(&self) -> serde_json::Value {
        self.signer.public_jwk(Some(self.kid()))
    }

    /// Sign `message` (the JWS signing input), returning the 64-byte `R‖S` signature with `S`
    /// in the low half of the group order, so verifiers that refuse malleable (high-S)
    /// signatures accept it ([`mcp_auth_core::ecdsa`]).
    ///
    /// # Errors
    /// [`KeyError::Sign`] when the random number generator fails.
    pub fn sign(&self, rng: &dyn SecureRandom, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer
            .sign_with(rng, message)
            .map(|sig| sig.to_vec())
            .map_err(|_| KeyError::Sign)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_loads_back_with_same_kid() {
        let stored = SigningKey::generate(1_700_000_000).unwrap();
        assert_eq!(stored.alg, "ES256");
        assert_eq!(stored.created_at, 1_700_000_000);
        assert_eq!(stored.retired_at, None);
        let key = SigningKey::from_stored(&stored).unwrap();
        assert_eq!(key.kid(), stored.kid);
    }

    /// RFC 7638 §3.1: the thumbprint hashes exactly the required members, sorted, no whitespace.
    #[test]
    fn kid_is_rfc7638_thumbprint() {
        let key = SigningKey::from_stored(&SigningKey::generate(0).unwrap()).unwrap();
        let jwk = key.public_jwk();
        // Rebuild the canonical form independently, through serde_json's sorted map.
        let mut members = serde_json::Map::new();
        for name in ["kty", "crv", "x", "y"] {
            members.insert(name.to_owned(), jwk[name].clone());
        }
        let canonical = serde_json::to_string(&serde_json::Value::Object(members)).unwrap();
        assert!(canonical.starts_with(r#"{"crv":"P-256","kty":"EC","x":""#));
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        assert_eq!(key.kid(), URL_SAFE_NO_PAD.encode(digest.as_ref()));
        assert_eq!(key.kid().len(), 43);
    }

    /// A second, independent RFC 7638 implementation (jsonwebtoken's) agrees on the `kid`.
    #[test]
    fn kid_equals_jsonwebtoken_thumbprint() {
        let key = SigningKey::from_stored(&SigningKey::generate(0).unwrap()).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
        assert_eq!(
            key.kid(),
            jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        );
    }

    #[test]
    fn public_jwk_has_exact_members() {
        let key = SigningKey::from_stored(&SigningKey::generate(0).unwrap()).unwrap();
        let jwk = key.public_jwk();
        let mut names: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn wrong_kid_is_refused() {
        let mut stored = SigningKey::generate(0).unwrap();
        stored.kid = "k1".into();
        assert!(matches!(
            SigningKey::from_stored(&stored),
            Err(KeyError::KidMismatch { .. })
        ));
    }

    #[test]
    fn non_es256_alg_is_refused() {
        let mut stored = SigningKey::generate(0).unwrap();
        stored.alg = "RS256".into();
        assert!(matches!(
            SigningKey::from_stored(&stored),
            Err(KeyError::UnsupportedAlgorithm { .. })
        ));
    }

    /// Issue #8 item 6: every signature is low-S, so resource servers may refuse malleated ones.
    #[test]
    fn signatures_are_low_s() {
        let key = SigningKey::from_stored(&SigningKey::generate(1).unwrap()).unwrap();
        let rng = ring::rand::SystemRandom::new();
        for i in 0..64u8 {
            let sig = key.sign(&rng, &[i]).unwrap();
            assert!(mcp_auth_core::ecdsa::is_low_s(
                mcp_auth_core::ecdsa::Curve::P256,
                &sig
            ));
        }
    }

    #[test]
    fn debug_prints_only_kid() {
        let key = SigningKey::from_stored(&SigningKey::generate(0).unwrap()).unwrap();
        assert_eq!(
            format!("{key:?}"),
            format!("SigningKey {{ kid: {:?}, .. }}", key.kid())
        );
    }
}
