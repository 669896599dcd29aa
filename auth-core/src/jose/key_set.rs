//! JWK Sets (RFC 7517 §5) and the choice of the key that verifies one JWS (RFC 7515 §4.1.4,
//! RFC 8725 §3.1).

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::alg::{algorithm_name, key_type_fits};
use super::{AllowedAlgorithms, KeyError};

/// A public key of a JWK Set, ready to verify: its `kid`, its declared `alg` and `use` (when
/// the JWK states them), its key type, and the pre-built jsonwebtoken [`DecodingKey`].
pub struct VerifyingKey {
    kid: Option<String>,
    declared_alg: Option<String>,
    for_signing: bool,
    params: AlgorithmParameters,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.declared_alg)
            .field("for_signing", &self.for_signing)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A key from one JWK. `None` for a symmetric (`oct`) key, or one jsonwebtoken cannot use.
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.clone(),
            declared_alg: jwk.common.key_algorithm.map(|a| a.to_string()),
            for_signing: matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            ),
            params: jwk.algorithm.clone(),
            key,
        })
    }

    /// The JWK `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key for jsonwebtoken's `decode` and `crypto::verify`.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// Whether this key may verify a JWS with `alg`, checked in this order: the key type (and
    /// curve) fits `alg`; the JWK's `alg`, if stated, is `alg`; its `use`, if stated, is `sig`.
    ///
    /// # Errors
    /// [`KeyError::KeyTypeMismatch`], [`KeyError::AlgorithmMismatch`] or
    /// [`KeyError::NotForSigning`]; [`KeyError::KeyTypeMismatch`] for every `HS*`.
    pub fn check(&self, alg: Algorithm) -> Result<(), KeyError> {
        let name = algorithm_name(alg);
        if !key_type_fits(alg, &self.params) {
            return Err(KeyError::KeyTypeMismatch(name));
        }
        if let Some(declared) = &self.declared_alg
            && declared != name
        {
            return Err(KeyError::AlgorithmMismatch {
                key: declared.clone(),
                jws: name,
            });
        }
        if !self.for_signing {
            return Err(KeyError::NotForSigning);
        }
        Ok(())
    }

    /// True when `signature` (base64url, RFC 7515 §7.1) is this key's `alg` signature of
    /// `message` (the JWS signing input, `header.payload`). False when the key does not fit
    /// `alg` ([`Self::check`]) or the signature does not verify.
    ///
    /// The signature arithmetic is ring's, called here rather than through jsonwebtoken's
    /// crypto backend. jsonwebtoken is built with its RustCrypto backend so that the build holds
    /// one of ring and aws-lc-rs, and that backend is the slower one on the path every access
    /// token, client assertion and ID-JAG takes (release build, 2-core project machine, one
    /// signature: ES256 ≈ 245–280 µs against ≈ 56 µs with ring, RS256 2048-bit ≈ 170–220 µs
    /// against ≈ 20 µs; ring is as fast as the aws-lc-rs backend it replaces). The parameters
    /// are the ones that backend used: RSA moduli of 2048 to 8192 bits, fixed-size `R‖S` ECDSA
    /// signatures.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        self.check(alg).is_ok() && ring_verify(alg, &self.key, message, signature)
    }
}

/// `signature` (base64url) checked with ring for `alg` and the key material of `key`.
fn ring_verify(alg: Algorithm, key: &DecodingKey, message: &[u8], signature: &str) -> bool {
    use base64::Engine;
    use jsonwebtoken::DecodingKeyKind;
    use ring::signature as sig;

    let Ok(signature) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let rsa: &'static sig::RsaParameters = match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => {
            let other: &'static dyn sig::VerificationAlgorithm = match alg {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                _ => &sig::ED25519,
            };
            // EC keys are the uncompressed SEC1 point, Ed25519 keys the raw 32 bytes.
            let DecodingKeyKind::SecretOrDer(public) = key.kind() else {
                return false;
            };
            return sig::UnparsedPublicKey::new(other, public)
                .verify(message, &signature)
                .is_ok();
        }
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return false,
    };
    match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => sig::RsaPublicKeyComponents { n, e }
            .verify(rsa, message, &signature)
            .is_ok(),
        DecodingKeyKind::SecretOrDer(der) => sig::UnparsedPublicKey::new(rsa, der)
            .verify(message, &signature)
            .is_ok(),
    }
}

/// The usable public keys of a JWK Set (RFC 7517 §5).
///
/// Members that do not parse as a JWK, symmetric (`oct`) keys, and keys jsonwebtoken cannot
/// build are left out (RFC 7517 §5: ignore keys that are not understood).
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// The keys of a JWK Set document, `{"keys": […]}`.
    ///
    /// # Errors
    /// [`KeyError::NoKeysArray`] when the document has no `keys` array: a failed fetch, not an
    /// empty set.
    pub fn from_json(doc: &serde_json::Value) -> Result<Self, KeyError> {
        let members = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or(KeyError::NoKeysArray)?;
        let keys = members
            .iter()
            .filter_map(|m| serde_json::from_value::<Jwk>(m.clone()).ok())
            .filter_map(|jwk| VerifyingKey::from_jwk(&jwk))
            .map(Arc::new)
            .collect();
        Ok(Self { keys })
    }

    /// [`Self::from_json`] of raw bytes.
    ///
    /// # Errors
    /// [`KeyError::NotJson`] for bytes that are not JSON, else as [`Self::from_json`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| KeyError::NotJson(e.to_string()))?;
        Self::from_json(&doc)
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True when some key can verify some algorithm of `allowed`.
    pub fn supports_any(&self, allowed: &AllowedAlgorithms) -> bool {
        self.keys
            .iter()
            .any(|k| allowed.as_slice().iter().any(|a| k.check(*a).is_ok()))
    }

    /// The key that verifies a JWS whose header has `alg` and `kid`:
    ///
    /// - with a `kid`: a key with that `kid` that [fits](VerifyingKey::check) `alg`; if keys have
    ///   the `kid` but none fits, the first one's reason;
    /// - without a `kid`: the one key that fits `alg`; none or several is an error.
    ///
    /// # Errors
    /// [`KeyError::DisallowedAlgorithm`] for `HS*` (never with a public key);
    /// [`KeyError::UnknownKid`], [`KeyError::NoKey`], [`KeyError::AmbiguousKey`], or the
    /// reason of [`VerifyingKey::check`].
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyingKey>, KeyError> {
        let name = algorithm_name(alg);
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(KeyError::DisallowedAlgorithm(name));
        }
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid() == Some(kid)).peekable();
                let first = named
                    .peek()
                    .cloned()
                    .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
                match named.find(|k| k.check(alg).is_ok()) {
                    Some(key) => Ok(key.clone()),
                    None => first.check(alg).map(|()| first.clone()),
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.check(alg).is_ok());
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Ok(only.clone()),
                    (None, _) => Err(KeyError::NoKey(name)),
                    (Some(_), Some(_)) => Err(KeyError::AmbiguousKey(name)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::*;

    /// RFC 7515 appendix A.3's P-256 public key.
    fn ec(kid: Option<&str>) -> Value {
        let mut k = json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tgk5-Cpfz2dQ",
            "y": "x_FEzRjGJpAgeHmLzn13a0x6iE8_-hspbNjcDjb4IW0"
        });
        if let Some(kid) = kid {
            k["kid"] = json!(kid);
        }
        k
    }

    /// RFC 7515 appendix A.2's RSA public key.
    fn rsa(kid: &str) -> Value {
        json!({
            "kty": "RSA", "kid": kid, "e": "AQAB",
            "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        })
    }

    fn set(keys: Vec<Value>) -> KeySet {
        KeySet::from_json(&json!({ "keys": keys })).unwrap()
    }

    #[test]
    fn key_is_found_by_kid() {
        let s = set(vec![ec(Some("e1")), rsa("r1")]);
        assert_eq!(
            s.select(Some("r1"), Algorithm::RS256).unwrap().kid(),
            Some("r1")
        );
        assert_eq!(
            s.select(Some("e1"), Algorithm::ES256).unwrap().kid(),
            Some("e1")
        );
    }

    #[test]
    fn unknown_kid_is_refused() {
        let s = set(vec![ec(Some("e1"))]);
        assert_eq!(
            s.select(Some("e2"), Algorithm::ES256).unwrap_err(),
            KeyError::UnknownKid("e2".into())
        );
    }

    #[test]
    fn without_kid_the_only_key_fitting_the_alg_is_chosen() {
        let s = set(vec![ec(None), rsa("r1")]);
        assert_eq!(s.select(None, Algorithm::ES256).unwrap().kid(), None);
        assert_eq!(s.select(None, Algorithm::PS256).unwrap().kid(), Some("r1"));
        assert_eq!(
            s.select(None, Algorithm::ES384).unwrap_err(),
            KeyError::NoKey("ES384")
        );
        let two = set(vec![ec(Some("a")), ec(Some("b"))]);
        assert_eq!(
            two.select(None, Algorithm::ES256).unwrap_err(),
            KeyError::AmbiguousKey("ES256")
        );
    }

    #[test]
    fn key_alg_differing_from_the_jws_alg_is_refused() {
        let mut k = ec(Some("e1"));
        k["alg"] = json!("ES384");
        let s = set(vec![k]);
        assert_eq!(
            s.select(Some("e1"), Algorithm::ES256).unwrap_err(),
            KeyError::AlgorithmMismatch {
                key: "ES384".into(),
                jws: "ES256"
            }
        );
        let mut r = rsa("r1");
        r["alg"] = json!("RS256");
        assert_eq!(
            set(vec![r])
                .select(Some("r1"), Algorithm::PS256)
                .unwrap_err(),
            KeyError::AlgorithmMismatch {
                key: "RS256".into(),
                jws: "PS256"
            }
        );
    }

    #[test]
    fn key_type_not_fitting_the_alg_is_refused() {
        let s = set(vec![ec(Some("e1"))]);
        assert_eq!(
            s.select(Some("e1"), Algorithm::RS256).unwrap_err(),
            KeyError::KeyTypeMismatch("RS256")
        );
        assert_eq!(
            s.select(Some("e1"), Algorithm::ES384).unwrap_err(),
            KeyError::KeyTypeMismatch("ES384")
        );
    }

    #[test]
    fn encryption_key_is_not_used_to_verify() {
        let mut k = ec(Some("e1"));
        k["use"] = json!("enc");
        let s = set(vec![k]);
        assert_eq!(
            s.select(Some("e1"), Algorithm::ES256).unwrap_err(),
            KeyError::NotForSigning
        );
        assert_eq!(
            s.select(None, Algorithm::ES256).unwrap_err(),
            KeyError::NoKey("ES256")
        );
    }

    /// RFC 8725 §2.1: HMAC keyed with public key material is the classic confusion attack.
    #[test]
    fn hmac_is_never_selected_and_oct_keys_are_dropped() {
        let oct = json!({"kty": "oct", "kid": "h1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"});
        let s = set(vec![ec(Some("e1")), oct]);
        assert_eq!(s.len(), 1);
        for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert_eq!(
                s.select(Some("e1"), hs).unwrap_err(),
                KeyError::DisallowedAlgorithm(algorithm_name(hs))
            );
            assert_eq!(
                s.select(None, hs).unwrap_err(),
                KeyError::DisallowedAlgorithm(algorithm_name(hs))
            );
        }
        assert_eq!(
            s.select(Some("h1"), Algorithm::ES256).unwrap_err(),
            KeyError::UnknownKid("h1".into())
        );
    }

    #[test]
    fn alg_none_header_does_not_parse() {
        // `{"alg":"none"}`: jsonwebtoken has no `none` algorithm, so such a JWS never reaches
        // key selection.
        assert!(jsonwebtoken::decode_header("eyJhbGciOiJub25lIn0.e30.").is_err());
    }

    #[test]
    fn unknown_members_are_skipped_but_a_missing_keys_array_is_an_error() {
        let s = set(vec![
            json!({"kty": "unknown-kind"}),
            json!(5),
            ec(Some("e1")),
        ]);
        assert_eq!(s.len(), 1);
        assert_eq!(
            KeySet::from_json(&json!("not a JWKS")).unwrap_err(),
            KeyError::NoKeysArray
        );
        assert!(matches!(
            KeySet::from_slice(b"<html>").unwrap_err(),
            KeyError::NotJson(_)
        ));
    }

    #[test]
    fn supports_any_reads_the_allow_list() {
        let s = set(vec![ec(Some("e1"))]);
        let es = AllowedAlgorithms::new(&[Algorithm::ES256]).unwrap();
        let rs = AllowedAlgorithms::new(&[Algorithm::RS256]).unwrap();
        assert!(s.supports_any(&es));
        assert!(!s.supports_any(&rs));
    }

    /// Sign `message` for `alg` with ring and check that [`VerifyingKey::verify`] accepts the
    /// signature, jsonwebtoken's own backend agrees, and a changed message is refused.
    fn verifies(jwk: Value, alg: Algorithm, message: &[u8], signature: &[u8]) {
        let key = set(vec![jwk]).select(None, alg).unwrap();
        let b64 = URL_SAFE_NO_PAD.encode(signature);
        assert!(key.verify(alg, message, &b64), "{alg:?}");
        assert!(
            jsonwebtoken::crypto::verify(&b64, message, key.decoding_key(), alg).unwrap(),
            "{alg:?}: the other backend disagrees"
        );
        assert!(!key.verify(alg, b"another message", &b64), "{alg:?}");
        assert!(!key.verify(alg, message, "not base64url!"), "{alg:?}");
    }

    /// RFC 7518 §3.3–3.5, RFC 8037 §3.1: every asymmetric algorithm of the allow-list verifies
    /// through the ring path, with the key parameters of its JWK.
    #[test]
    fn every_asymmetric_algorithm_verifies() {
        use ring::signature::{self as sig, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let msg = b"eyJhbGciOiJ4In0.eyJzdWIiOiJ1In0";

        for (alg, signing, crv, len) in [
            (
                Algorithm::ES256,
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                "P-256",
                32,
            ),
            (
                Algorithm::ES384,
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                "P-384",
                48,
            ),
        ] {
            let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
            let pair = sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": crv,
                "x": URL_SAFE_NO_PAD.encode(&point[1..=len]),
                "y": URL_SAFE_NO_PAD.encode(&point[1 + len..])});
            verifies(jwk, alg, msg, pair.sign(&rng, msg).unwrap().as_ref());
        }

        let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())});
        verifies(jwk, Algorithm::EdDSA, msg, pair.sign(msg).as_ref());

        let fixture: Value = serde_json::from_str(include_str!("testdata/rsa2048.json")).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(fixture["pkcs8_der_base64"].as_str().unwrap())
            .unwrap();
        let pair = sig::RsaKeyPair::from_pkcs8(&der).unwrap();
        let jwk = json!({"kty": "RSA", "n": fixture["n"], "e": fixture["e"]});
        for (alg, padding) in [
            (
                Algorithm::RS256,
                &sig::RSA_PKCS1_SHA256 as &dyn sig::RsaEncoding,
            ),
            (Algorithm::RS384, &sig::RSA_PKCS1_SHA384),
            (Algorithm::RS512, &sig::RSA_PKCS1_SHA512),
            (Algorithm::PS256, &sig::RSA_PSS_SHA256),
            (Algorithm::PS384, &sig::RSA_PSS_SHA384),
            (Algorithm::PS512, &sig::RSA_PSS_SHA512),
        ] {
            let mut out = vec![0u8; pair.public().modulus_len()];
            pair.sign(padding, &rng, msg, &mut out).unwrap();
            verifies(jwk.clone(), alg, msg, &out);
        }
    }
}
