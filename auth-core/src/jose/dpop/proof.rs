//! One DPoP proof checked against one request (RFC 9449 §4.3, §7.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::proof_header::HeaderCache;
use super::{DpopError, DpopNonces, access_token_hash, htu_matches};
use crate::clock::UnixTime;
use crate::jose::{AllowedAlgorithms, numeric_date_value};

/// Longest proof accepted, bytes: a proof carries one public key (an RSA key of 8192 bits fits).
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest accepted `jti`, bytes.
const MAX_JTI_LEN: usize = 256;

/// Whether the server demands a nonce in this proof.
#[derive(Debug, Clone, Copy)]
pub enum NonceRule<'a> {
    /// No nonce is demanded; a `nonce` claim, if sent, is not looked at.
    NotRequired,
    /// The proof must carry a `nonce` these nonces accept (RFC 9449 §8, §9).
    Required(&'a DpopNonces),
}

/// What the proof must match: the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct ProofExpectations<'a> {
    /// The request's method, e.g. `POST` (`htm`, compared exactly).
    pub method: &'a str,
    /// The absolute URI the request was sent to (`htu`, see [`htu_matches`]).
    pub uri: &'a str,
    /// At a resource server, the access token presented with the proof: `ath` must be its hash
    /// (RFC 9449 §4.3 item 10). `None` at the token endpoint.
    pub access_token: Option<&'a str>,
    /// The nonce rule.
    pub nonce: NonceRule<'a>,
}

/// A proof that passed every check but the `jti` replay check, which needs a store
/// ([`super::claim_jti`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key: the `jkt` of a `cnf` binding.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`, seconds since the epoch.
    pub iat: UnixTime,
    /// The proof's `content_digest` claim (the MCP profile of DPoP, SEP-1932:
    /// `sha-256=:<base64 of the SHA-256 of the request body>:`), when it has one; a resource
    /// server compares it with the body ([`super::content_digest`]).
    pub content_digest: Option<String>,
}

/// Checks DPoP proofs: the accepted algorithms and the `iat` window. Clones share one cache of
/// checked proof headers (a client's proofs repeat its header byte for byte).
#[derive(Debug, Clone)]
pub struct ProofVerifier {
    headers: Arc<HeaderCache>,
    iat_window: u64,
}

impl ProofVerifier {
    /// The algorithms accepted by default: `ES256`, `ES384`, `EdDSA`, `PS256`, `PS384`, `PS512`,
    /// `RS256`, `RS384`, `RS512` (every asymmetric algorithm of [`AllowedAlgorithms`]).
    pub fn default_algorithms() -> AllowedAlgorithms {
        AllowedAlgorithms::all_asymmetric()
    }

    /// A verifier accepting `algorithms` (asymmetric only, by construction of
    /// [`AllowedAlgorithms`]) and proofs whose `iat` is at most `iat_window` seconds from now,
    /// either way.
    pub fn new(algorithms: AllowedAlgorithms, iat_window: u64) -> Self {
        Self {
            headers: Arc::new(HeaderCache::new(algorithms)),
            iat_window,
        }
    }

    /// The accepted algorithms, for `dpop_signing_alg_values_supported` (RFC 9449 §5.1, §7.1).
    pub fn algorithms(&self) -> &AllowedAlgorithms {
        self.headers.algorithms()
    }

    /// The `iat` window, seconds.
    pub fn iat_window(&self) -> u64 {
        self.iat_window
    }

    /// Check `proof` (the one `DPoP` header value) against `expect` at `now`, in the order of
    /// RFC 9449 §4.3: a compact JWS of JSON objects, `typ: dpop+jwt`, an allowed `alg`, a public
    /// `jwk` fitting `alg`, the signature by that key, then the claims `jti`, `htm`, `htu`,
    /// `iat` (checked whether or not a nonce is sent), `ath` when a token is presented, and
    /// `nonce` when demanded. The `jti` replay check is the caller's ([`super::claim_jti`]).
    ///
    /// # Errors
    /// The [`DpopError`] of the first failed check.
    pub fn verify(
        &self,
        proof: &str,
        expect: &ProofExpectations<'_>,
        now: UnixTime,
    ) -> Result<VerifiedProof, DpopError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(DpopError::Malformed);
        }
        let mut segments = proof.split('.');
        let (Some(h), Some(p), Some(s), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(DpopError::Malformed);
        };
        let claims: ProofClaims = json_object(p)?;
        let header = self.headers.get_or_check(h)?;
        let signing_input = &proof.as_bytes()[..h.len() + 1 + p.len()];
        if !header.key.verify(header.alg, signing_input, s) {
            return Err(DpopError::BadSignature);
        }
        let (jti, iat) = self.claims(&claims, expect, now)?;
        let content_digest = match claims.content_digest {
            None => None,
            Some(Value::String(d)) => Some(d),
            Some(_) => return Err(DpopError::MissingClaim("content_digest")),
        };
        Ok(VerifiedProof {
            jkt: header.jkt.clone(),
            jti,
            iat,
            content_digest,
        })
    }

    /// The claims after the signature: `jti`, `htm`, `htu`, `iat`, `ath`, `nonce`.
    fn claims(
        &self,
        claims: &ProofClaims,
        expect: &ProofExpectations<'_>,
        now: UnixTime,
    ) -> Result<(String, UnixTime), DpopError> {
        let jti = text(&claims.jti, "jti")?;
        if jti.len() > MAX_JTI_LEN {
            return Err(DpopError::MissingClaim("jti"));
        }
        if text(&claims.htm, "htm")? != expect.method {
            return Err(DpopError::WrongMethod);
        }
        if !htu_matches(text(&claims.htu, "htu")?, expect.uri) {
            return Err(DpopError::WrongUri);
        }
        let iat = claims
            .iat
            .as_ref()
            .and_then(numeric_date_value)
            .ok_or(DpopError::MissingClaim("iat"))?;
        let window = i64::try_from(self.iat_window).unwrap_or(i64::MAX / 4);
        if now.saturating_sub(iat) > window || iat.saturating_sub(now) > window {
            return Err(DpopError::IatOutOfWindow);
        }
        if let Some(token) = expect.access_token {
            let ath = claims.ath.as_ref().and_then(Value::as_str);
            if ath != Some(access_token_hash(token).as_str()) {
                return Err(DpopError::WrongAccessTokenHash);
            }
        }
        if let NonceRule::Required(nonces) = expect.nonce {
            let nonce = claims
                .nonce
                .as_ref()
                .and_then(Value::as_str)
                .ok_or(DpopError::NonceRequired)?;
            if !nonces.check(nonce, now) {
                return Err(DpopError::BadNonce);
            }
        }
        Ok((jti.to_owned(), iat))
    }
}

/// A claim that must be a non-empty string.
fn text<'c>(value: &'c Option<Value>, name: &'static str) -> Result<&'c str, DpopError> {
    value
        .as_ref()
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(DpopError::MissingClaim(name))
}

/// The claims of a proof this server reads (RFC 9449 §4.2, SEP-1932's `content_digest`); the
/// others are ignored. A claim named twice makes the claims unreadable.
#[derive(Deserialize)]
struct ProofClaims {
    #[serde(default, deserialize_with = "any")]
    jti: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    htm: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    htu: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    iat: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    ath: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    nonce: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    content_digest: Option<Value>,
}

/// A member that is present, with whatever value (`null` included, which then fails the
/// member's own check rather than counting as absent).
pub(super) fn any<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A base64url segment holding one JSON object, read into `T`.
pub(super) fn json_object<T: DeserializeOwned>(segment: &str) -> Result<T, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| DpopError::Malformed)?;
    // A derived struct would also accept a JSON array of its members in order.
    if !crate::jose::is_json_object_text(&bytes) {
        return Err(DpopError::Malformed);
    }
    serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ecdsa::{Curve, negate_s};
    use crate::jose::Es256Signer;

    const NOW: UnixTime = 1_767_225_600;
    const URI: &str = "https://as.example.com/token";

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn header(signer: &Es256Signer) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.public_jwk(None)})
    }

    fn claims() -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URI, "iat": NOW})
    }

    fn sign(signer: &Es256Signer, header: &Value, claims: &Value) -> String {
        signer.sign_compact(header, claims).unwrap()
    }

    fn expect() -> ProofExpectations<'static> {
        ProofExpectations {
            method: "POST",
            uri: URI,
            access_token: None,
            nonce: NonceRule::NotRequired,
        }
    }

    fn verifier() -> ProofVerifier {
        ProofVerifier::new(ProofVerifier::default_algorithms(), 300)
    }

    fn check(proof: &str) -> Result<VerifiedProof, DpopError> {
        verifier().verify(proof, &expect(), NOW)
    }

    #[test]
    fn a_good_proof_yields_the_key_thumbprint() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let proof = sign(&signer, &header(&signer), &claims());
        let ok = check(&proof).unwrap();
        assert_eq!(ok.jkt, signer.thumbprint());
        assert_eq!((ok.jti.as_str(), ok.iat), ("j-1", NOW));
    }

    /// WebCrypto signs high-S half the time: both twins verify.
    #[test]
    fn high_s_signature_is_accepted() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let proof = sign(&signer, &header(&signer), &claims());
        let (input, sig) = proof.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        negate_s(Curve::P256, &mut raw);
        assert!(!crate::ecdsa::is_low_s(Curve::P256, &raw));
        let twin = format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw));
        assert!(check(&twin).is_ok());
    }

    #[test]
    fn header_defects_are_refused() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut h = header(&signer);
            f(&mut h);
            check(&sign(&signer, &h, &claims())).unwrap_err()
        };
        assert_eq!(with(&|h| h["typ"] = json!("JWT")), DpopError::WrongType);
        assert_eq!(
            with(&|h| {
                h.as_object_mut().unwrap().remove("typ");
            }),
            DpopError::WrongType
        );
        assert_eq!(
            with(&|h| h["alg"] = json!("none")),
            DpopError::DisallowedAlgorithm
        );
        assert_eq!(
            with(&|h| h["alg"] = json!("HS256")),
            DpopError::DisallowedAlgorithm
        );
        assert_eq!(with(&|h| h["alg"] = json!("RS256")), DpopError::BadKey);
        assert_eq!(
            with(&|h| h["jwk"]["d"] = json!("AAAA")),
            DpopError::PrivateKey
        );
        assert_eq!(
            with(&|h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            DpopError::BadKey
        );
        let (other, _) = Es256Signer::generate().unwrap();
        assert_eq!(
            with(&|h| h["jwk"] = other.public_jwk(None)),
            DpopError::BadSignature
        );
    }

    #[test]
    fn claim_defects_are_refused() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            check(&sign(&signer, &header(&signer), &c))
        };
        for name in ["jti", "htm", "htu", "iat"] {
            assert_eq!(
                with(&|c| {
                    c.as_object_mut().unwrap().remove(name);
                })
                .unwrap_err(),
                DpopError::MissingClaim(name)
            );
        }
        assert_eq!(
            with(&|c| c["htm"] = json!("GET")).unwrap_err(),
            DpopError::WrongMethod
        );
        assert_eq!(
            with(&|c| c["htu"] = json!("https://as.example.com/other")).unwrap_err(),
            DpopError::WrongUri
        );
        assert!(with(&|c| c["htu"] = json!(format!("{URI}?q=1#f"))).is_ok());
        assert_eq!(
            with(&|c| c["iat"] = json!(NOW - 301)).unwrap_err(),
            DpopError::IatOutOfWindow
        );
        assert_eq!(
            with(&|c| c["iat"] = json!(NOW + 301)).unwrap_err(),
            DpopError::IatOutOfWindow
        );
        assert!(with(&|c| c["iat"] = json!(NOW - 300)).is_ok());
    }

    #[test]
    fn ath_and_nonce_are_checked_when_asked() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let nonces = DpopNonces::new(&[1u8; 32], "ctx", 300).unwrap();
        let nonce = nonces.issue(NOW).unwrap();
        let mut c = claims();
        c["ath"] = json!(access_token_hash("tok"));
        c["nonce"] = json!(nonce);
        let proof = sign(&signer, &header(&signer), &c);
        let mut e = expect();
        e.access_token = Some("tok");
        e.nonce = NonceRule::Required(&nonces);
        assert!(verifier().verify(&proof, &e, NOW).is_ok());
        e.access_token = Some("other");
        assert_eq!(
            verifier().verify(&proof, &e, NOW).unwrap_err(),
            DpopError::WrongAccessTokenHash
        );
        e.access_token = Some("tok");
        let stale = NOW + 301;
        let mut late = c.clone();
        late["iat"] = json!(stale);
        let late = sign(&signer, &header(&signer), &late);
        assert_eq!(
            verifier().verify(&late, &e, stale).unwrap_err(),
            DpopError::BadNonce
        );
        let bare = sign(&signer, &header(&signer), &claims());
        e.access_token = None;
        assert_eq!(
            verifier().verify(&bare, &e, NOW).unwrap_err(),
            DpopError::NonceRequired
        );
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let big = "a".repeat(MAX_PROOF_LEN + 1);
        for junk in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.AA",
            "e30.!!.AA",
            "WzFd.e30.AA",
            &big,
        ] {
            assert_eq!(check(junk).unwrap_err(), DpopError::Malformed, "{junk}");
        }
    }

    #[test]
    fn eddsa_proofs_verify() {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())});
        let input = format!(
            "{}.{}",
            b64(&json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk})),
            b64(&claims())
        );
        let sig = pair.sign(input.as_bytes());
        let proof = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        let ok = check(&proof).unwrap();
        assert_eq!(
            ok.jkt,
            crate::jose::dpop::jwk_thumbprint(jwk.as_object().unwrap()).unwrap()
        );
    }

    /// RFC 7515 §4.1.11: no JWS extension is understood, so a header with `crit` is refused.
    #[test]
    fn a_header_with_crit_is_refused() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let mut h = header(&signer);
        h["crit"] = json!(["exp"]);
        assert_eq!(
            check(&sign(&signer, &h, &claims())).unwrap_err(),
            DpopError::Malformed
        );
    }

    /// A member given twice cannot be read one way only: the proof is refused, whichever of the
    /// two values a later component would take. Also a `null` claim is not an absent one.
    #[test]
    fn members_given_twice_or_null_are_refused() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let good_header = header(&signer).to_string();
        let twice_typ = good_header.replacen('{', r#"{"typ":"JWT","#, 1);
        let claims_text = claims().to_string();
        let twice_htu = claims_text.replacen('{', r#"{"htu":"https://evil.example/token","#, 1);
        let sign_raw = |h: &str, c: &str| {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(h),
                URL_SAFE_NO_PAD.encode(c)
            );
            let sig = signer.sign(input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
        };
        assert!(check(&sign_raw(&good_header, &claims_text)).is_ok());
        for proof in [
            sign_raw(&twice_typ, &claims_text),
            sign_raw(&good_header, &twice_htu),
        ] {
            assert_eq!(check(&proof).unwrap_err(), DpopError::Malformed);
        }
        let mut c = claims();
        c["content_digest"] = Value::Null;
        assert_eq!(
            check(&sign(&signer, &header(&signer), &c)).unwrap_err(),
            DpopError::MissingClaim("content_digest")
        );
    }
}
