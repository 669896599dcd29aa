//! The one ES256 signer (ECDSA P-256 with SHA-256, RFC 7518 §3.4): the authorization server's
//! token key, the client-credentials provider's assertion key and the test kit's key all sign
//! through it, so every ES256 signature this project makes is low-S ([`crate::ecdsa`]).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

use crate::ecdsa::{Curve, normalize_low_s};

/// Length of one P-256 coordinate, in bytes.
const COORDINATE_LEN: usize = 32;

/// Length of an ES256 signature `R‖S`, in bytes (RFC 7518 §3.4).
pub const ES256_SIGNATURE_LEN: usize = 2 * COORDINATE_LEN;

/// Why an ES256 key could not be made, loaded or used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Es256Error {
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// The document is not a P-256 PKCS#8 private key; the crypto library's reason.
    #[error("{0}")]
    Pkcs8(String),
    /// No `-----BEGIN PRIVATE KEY-----` block, or its body is not base64.
    #[error("{0}")]
    Pem(String),
    /// Signing failed (random number generator), or the signature is not `R‖S` of P-256.
    #[error("signing failed")]
    Sign,
}

/// An ES256 private key (a P-256 PKCS#8 document parsed once), its public point and its RFC
/// 7638 thumbprint. `Debug` prints only the thumbprint.
pub struct Es256Signer {
    pair: EcdsaKeyPair,
    x: String,
    y: String,
    thumbprint: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Signer")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl Es256Signer {
    /// The JWS `alg` (RFC 7518 §3.1).
    pub const ALG: &'static str = "ES256";

    /// A new random key, with its PKCS#8 DER document (RFC 5958) to store it.
    ///
    /// # Errors
    /// [`Es256Error::Random`] when the system random number generator fails.
    pub fn generate() -> Result<(Self, Vec<u8>), Es256Error> {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Es256Error::Random)?;
        let signer = Self::from_pkcs8_der(der.as_ref())?;
        Ok((signer, der.as_ref().to_vec()))
    }

    /// The key from a PKCS#8 v1/v2 DER document (RFC 5208, RFC 5958).
    ///
    /// # Errors
    /// [`Es256Error::Pkcs8`] when it is not a P-256 PKCS#8 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Es256Error> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| Es256Error::Pkcs8(e.to_string()))?;
        // Uncompressed SEC1 point: 0x04 ‖ X ‖ Y.
        let point = pair.public_key().as_ref();
        if point.len() != 1 + 2 * COORDINATE_LEN || point[0] != 0x04 {
            return Err(Es256Error::Pkcs8(
                "public key is not an uncompressed P-256 point".to_owned(),
            ));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..=COORDINATE_LEN]);
        let y = URL_SAFE_NO_PAD.encode(&point[1 + COORDINATE_LEN..]);
        let thumbprint = thumbprint(&x, &y);
        Ok(Self {
            pair,
            x,
            y,
            thumbprint,
            rng,
        })
    }

    /// The key from a PEM `-----BEGIN PRIVATE KEY-----` document (RFC 7468 §10).
    ///
    /// # Errors
    /// [`Es256Error::Pem`] when there is no such block or its body is not base64;
    /// [`Es256Error::Pkcs8`] when it is not a P-256 key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Es256Error> {
        let body = pem
            .split("-----BEGIN PRIVATE KEY-----")
            .nth(1)
            .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
            .ok_or_else(|| Es256Error::Pem("no PRIVATE KEY PEM block".into()))?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|e| Es256Error::Pem(format!("PEM body: {e}")))?;
        Self::from_pkcs8_der(&der)
    }

    /// The RFC 7638 §3 JWK thumbprint: base64url (no padding) of the SHA-256 of
    /// `{"crv":"P-256","kty":"EC","x":…,"y":…}` (the required members in lexicographic order,
    /// no whitespace).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public point's coordinates `(x, y)`, each unpadded base64url of 32 bytes (RFC 7518
    /// §6.2.1.2–3).
    pub fn coordinates(&self) -> (&str, &str) {
        (&self.x, &self.y)
    }

    /// The public key as an uncompressed SEC1 point `0x04 ‖ X ‖ Y` (65 bytes).
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public JWK (RFC 7517 §4, RFC 7518 §6.2):
    /// `{"kty":"EC","crv":"P-256","x":…,"y":…,"alg":"ES256","use":"sig"}`, with `"kid"` when
    /// `kid` is given.
    pub fn public_jwk(&self, kid: Option<&str>) -> serde_json::Value {
        let mut jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "alg": Self::ALG,
            "use": "sig",
        });
        if let Some(kid) = kid {
            jwk["kid"] = serde_json::Value::String(kid.to_owned());
        }
        jwk
    }

    /// The signature of `signing_input` (the JWS `header.payload`, RFC 7515 §5.1): the 64-byte
    /// `R‖S` with `S` in the low half of the group order, so verifiers that refuse malleable
    /// (high-S) signatures accept it.
    ///
    /// # Errors
    /// [`Es256Error::Sign`] when the random number generator fails.
    pub fn sign(&self, signing_input: &[u8]) -> Result<[u8; ES256_SIGNATURE_LEN], Es256Error> {
        self.sign_with(&self.rng, signing_input)
    }

    /// As [`Es256Signer::sign`], with the caller's random number generator for the nonce.
    ///
    /// # Errors
    /// [`Es256Error::Sign`] when `rng` fails.
    pub fn sign_with(
        &self,
        rng: &dyn SecureRandom,
        signing_input: &[u8],
    ) -> Result<[u8; ES256_SIGNATURE_LEN], Es256Error> {
        let sig = self
            .pair
            .sign(rng, signing_input)
            .map_err(|_| Es256Error::Sign)?;
        let mut out: [u8; ES256_SIGNATURE_LEN] =
            sig.as_ref().try_into().map_err(|_| Es256Error::Sign)?;
        if !normalize_low_s(Curve::P256, &mut out) {
            return Err(Es256Error::Sign);
        }
        Ok(out)
    }

    /// A compact JWS (RFC 7515 §7.1) of `header` and `payload` (each serialised as JSON, then
    /// base64url): `header.payload.signature`.
    ///
    /// # Errors
    /// [`Es256Error::Sign`] when signing fails.
    pub fn sign_compact(
        &self,
        header: &serde_json::Value,
        payload: &serde_json::Value,
    ) -> Result<String, Es256Error> {
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload.to_string(), &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// RFC 7638 §3 thumbprint of a P-256 key from its base64url coordinates.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::is_low_s;
    use crate::jose::{CompactJws, KeySet};

    fn signer() -> Es256Signer {
        Es256Signer::generate().unwrap().0
    }

    /// RFC 7518 §3.4 and the low-S rule: every signature is 64 bytes and low-S, and verifies
    /// with the published JWK through the JOSE verifier.
    #[test]
    fn signatures_are_low_s_and_verify_with_the_public_jwk() {
        let key = signer();
        let set =
            KeySet::from_json(&serde_json::json!({"keys": [key.public_jwk(Some("k1"))]})).unwrap();
        for i in 0..64u8 {
            let token = key
                .sign_compact(
                    &serde_json::json!({"alg": "ES256", "kid": "k1"}),
                    &serde_json::json!({ "i": i }),
                )
                .unwrap();
            let jws = CompactJws::parse(&token).unwrap();
            let sig = URL_SAFE_NO_PAD.decode(jws.signature()).unwrap();
            assert!(is_low_s(Curve::P256, &sig), "signature {i} is high-S");
            let verifying = set.select(jws.kid(), jws.alg()).unwrap();
            assert!(jws.verify(&verifying));
        }
    }

    /// RFC 7638 §3.1: the thumbprint agrees with jsonwebtoken's independent implementation.
    #[test]
    fn thumbprint_is_rfc7638() {
        let key = signer();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk(None)).unwrap();
        assert_eq!(
            key.thumbprint(),
            jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        );
        assert_eq!(key.thumbprint().len(), 43);
    }

    #[test]
    fn der_and_pem_load_the_same_key() {
        let (key, der) = Es256Signer::generate().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let again = Es256Signer::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.public_jwk(None), again.public_jwk(None));
        assert_eq!(key.public_point(), again.public_point());
        assert_eq!(key.public_point().len(), 65);
    }

    #[test]
    fn not_a_p256_key_is_refused() {
        assert!(matches!(
            Es256Signer::from_pkcs8_der(b"not a key"),
            Err(Es256Error::Pkcs8(_))
        ));
        assert!(matches!(
            Es256Signer::from_pkcs8_pem("no block"),
            Err(Es256Error::Pem(_))
        ));
    }

    #[test]
    fn jwk_members_and_debug() {
        let key = signer();
        let jwk = key.public_jwk(Some("k1"));
        let mut names: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert!(key.public_jwk(None).get("kid").is_none());
        assert_eq!(
            format!("{key:?}"),
            format!("Es256Signer {{ thumbprint: {:?}, .. }}", key.thumbprint())
        );
    }
}
