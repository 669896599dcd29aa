//! A JWS in compact serialization (RFC 7515 §7.1), read step by step so that each verifier
//! chooses its order of checks: header first, the payload when asked, the signature with a key
//! from a [`KeySet`](super::KeySet) or [`JwksCache`](super::JwksCache).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use serde::de::DeserializeOwned;

use super::VerifyingKey;

/// Why a string is not a usable compact JWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Not three base64url segments separated by `.` (RFC 7515 §7.1).
    #[error("not a JWS compact serialization")]
    NotCompact,
    /// The protected header does not decode, or names no supported `alg` (`none` included).
    #[error("JWS header: {0}")]
    Header(String),
    /// The payload is not base64url, or not the expected JSON.
    #[error("JWS payload: {0}")]
    Payload(String),
}

/// A parsed compact JWS: its decoded protected header; the payload and signature still encoded.
///
/// `Debug` shows the header only: a JWS may be a bearer credential (an access token, a client
/// assertion, an ID-JAG).
pub struct CompactJws<'a> {
    token: &'a str,
    header: Header,
    /// Length of `header.payload`, the signing input.
    signing_input_len: usize,
    payload: &'a str,
    signature: &'a str,
}

impl std::fmt::Debug for CompactJws<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactJws")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl<'a> CompactJws<'a> {
    /// Split `token` into its three segments and decode the header.
    ///
    /// # Errors
    /// [`JwsError::NotCompact`] unless there are exactly three segments;
    /// [`JwsError::Header`] when the header does not decode (e.g. `alg: none`).
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        let mut parts = token.split('.');
        let (Some(h), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::NotCompact);
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwsError::Header(e.to_string()))?;
        Ok(Self {
            token,
            header,
            signing_input_len: h.len() + 1 + payload.len(),
            payload,
            signature,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header `alg`.
    pub fn alg(&self) -> Algorithm {
        self.header.alg
    }

    /// The header `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// The header `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.header.typ.as_deref()
    }

    /// The signature segment, base64url.
    pub fn signature(&self) -> &str {
        self.signature
    }

    /// The payload, decoded from base64url.
    ///
    /// # Errors
    /// [`JwsError::Payload`] when it is not base64url.
    pub fn payload(&self) -> Result<Vec<u8>, JwsError> {
        URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|e| JwsError::Payload(e.to_string()))
    }

    /// The payload as JSON of type `T` (claims). The payload must be a JSON object (RFC 7519
    /// §7.2 item 10): serde reads a struct from a JSON array too, by position, and a claims set
    /// in that shape is refused rather than read that way.
    ///
    /// # Errors
    /// [`JwsError::Payload`] when it is not base64url, not a JSON object, or not `T`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, JwsError> {
        let payload = self.payload()?;
        if !is_json_object_text(&payload) {
            return Err(JwsError::Payload("the claims are not a JSON object".into()));
        }
        serde_json::from_slice(&payload).map_err(|e| JwsError::Payload(e.to_string()))
    }

    /// True when the signature is `key`'s signature of the signing input under the header
    /// `alg`, and `key` fits that `alg` ([`VerifyingKey::check`]).
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.verify(
            self.alg(),
            &self.token.as_bytes()[..self.signing_input_len],
            self.signature,
        )
    }
}

/// True when `json` begins, after JSON whitespace (RFC 8259 §2), with `{`: the text can only
/// be a JSON object, never an array a struct would be read from by position. Whether the rest
/// is valid JSON is left to the parser.
pub fn is_json_object_text(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn claims_that_are_not_an_object_are_refused() {
        for payload in [json!(["c1", "c1"]), json!("c1"), json!(7), json!(null)] {
            let token = format!("{}.{}.c2ln", b64(&json!({"alg": "ES256"})), b64(&payload));
            let jws = CompactJws::parse(&token).unwrap();
            #[derive(Debug, serde::Deserialize)]
            #[allow(dead_code)]
            struct Claims {
                iss: String,
                sub: String,
            }
            assert!(
                matches!(jws.claims::<Claims>(), Err(JwsError::Payload(_))),
                "{payload}"
            );
        }
        assert!(is_json_object_text(b" \r\n\t{}"));
        assert!(!is_json_object_text(b"\x0c{}"));
        assert!(!is_json_object_text(b""));
    }

    #[test]
    fn header_and_claims_are_read() {
        let token = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"})),
            b64(&json!({"sub": "u1"}))
        );
        let jws = CompactJws::parse(&token).unwrap();
        assert_eq!(
            (jws.alg(), jws.kid(), jws.typ()),
            (Algorithm::ES256, Some("k1"), Some("at+jwt"))
        );
        assert_eq!(jws.signature(), "c2ln");
        let claims: Value = jws.claims().unwrap();
        assert_eq!(claims, json!({"sub": "u1"}));
        assert!(!format!("{jws:?}").contains("c2ln"));
    }

    /// A P-256 key pair: signs with ring, verifies through a JWK Set.
    fn es256_signed(claims: &Value) -> (String, crate::jose::KeySet) {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "ES256", "kid": "k1"})),
            b64(claims)
        );
        let sig = pair.sign(&rng, input.as_bytes()).unwrap();
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        let set = crate::jose::KeySet::from_json(&json!({ "keys": [jwk] })).unwrap();
        (token, set)
    }

    #[test]
    fn signature_verifies_with_the_selected_key_only() {
        let (token, set) = es256_signed(&json!({"sub": "u1"}));
        let jws = CompactJws::parse(&token).unwrap();
        let key = set.select(jws.kid(), jws.alg()).unwrap();
        assert!(jws.verify(&key));

        // Another payload under the same signature.
        let (head, rest) = token.split_once('.').unwrap();
        let sig = rest.split_once('.').unwrap().1;
        let forged = format!("{head}.{}.{sig}", b64(&json!({"sub": "admin"})));
        assert!(!CompactJws::parse(&forged).unwrap().verify(&key));

        // The same key under another algorithm's header.
        let relabelled = format!("{}.{rest}", b64(&json!({"alg": "ES384", "kid": "k1"})));
        assert!(!CompactJws::parse(&relabelled).unwrap().verify(&key));
    }

    #[test]
    fn not_three_segments_is_not_compact() {
        for token in ["", "a.b", "a.b.c.d", "a.b.c.d.e"] {
            assert_eq!(
                CompactJws::parse(token).unwrap_err(),
                JwsError::NotCompact,
                "{token}"
            );
        }
    }

    #[test]
    fn alg_none_is_refused_at_the_header() {
        let token = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&json!({})));
        assert!(matches!(
            CompactJws::parse(&token).unwrap_err(),
            JwsError::Header(_)
        ));
    }

    #[test]
    fn bad_payload_is_reported_only_when_read() {
        let token = format!("{}.!!.c2ln", b64(&json!({"alg": "ES256"})));
        let jws = CompactJws::parse(&token).unwrap();
        assert!(matches!(
            jws.claims::<Value>().unwrap_err(),
            JwsError::Payload(_)
        ));
    }
}
