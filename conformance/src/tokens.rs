//! Minting access tokens for tests: RFC 9068 JWTs that a resource server should accept, and
//! deliberately broken ones it must refuse.
//!
//! Every token is a JWS compact serialization (RFC 7515 §7.1). The test key is an ECDSA P-256
//! key (`ES256`, RFC 7518 §3.4) generated fresh in memory; it never leaves the process except as
//! its public JWK.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::ecdsa::{Curve, negate_s};
use mcp_auth_core::jose::Es256Signer;
use serde_json::{Value, json};

use crate::KitError;

/// DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480 §2), followed by the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// An ES256 test signing key with its `kid`, signing through the JOSE module's
/// [`Es256Signer`].
pub struct TestKey {
    kid: String,
    signer: Es256Signer,
    pkcs8: Vec<u8>,
}

impl TestKey {
    /// A fresh P-256 key named `kid`.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if the system random source fails.
    pub fn generate(kid: impl Into<String>) -> Result<Self, KitError> {
        let (signer, pkcs8) = Es256Signer::generate().map_err(|e| match e {
            mcp_auth_core::jose::Es256Error::Random => KitError::Crypto("key generation failed"),
            _ => KitError::Crypto("generated key did not parse"),
        })?;
        Ok(Self {
            kid: kid.into(),
            signer,
            pkcs8,
        })
    }

    /// A fresh P-256 key whose `kid` is its RFC 7638 JWK thumbprint ([`TestKey::thumbprint`]):
    /// every new key gets a new `kid`, so a verifier that cached an earlier key set under the
    /// same issuer sees an unknown `kid` and refetches, instead of trying a stale key.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if the system random source fails.
    pub fn generate_with_thumbprint_kid() -> Result<Self, KitError> {
        let mut key = Self::generate("")?;
        key.kid = key.thumbprint();
        Ok(key)
    }

    /// The RFC 7638 JWK thumbprint of the public key: base64url (no padding) of the SHA-256 of
    /// `{"crv":"P-256","kty":"EC","x":…,"y":…}` (the required members in lexicographic order,
    /// no whitespace, RFC 7638 §3.2).
    pub fn thumbprint(&self) -> String {
        self.signer.thumbprint().to_owned()
    }

    /// The private key as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), e.g. for a
    /// `private_key_jwt` test client (`mcp-auth-conformance keygen`). A test key only: it
    /// signs whatever the test asks.
    pub fn private_key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8)
    }

    /// The key id, as put in the JWS header `kid` and the JWK `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (RFC 7517 §4, RFC 7518 §6.2):
    /// `{"kty":"EC","crv":"P-256","x":…,"y":…,"kid":…,"use":"sig","alg":"ES256"}`.
    pub fn public_jwk(&self) -> Value {
        self.signer.public_jwk(Some(&self.kid))
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), the text an attacker would
    /// use as an HMAC secret in an algorithm-confusion attack.
    pub fn public_key_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.signer.public_point());
        pem("PUBLIC KEY", &der)
    }

    /// `header.payload.signature`, signed with this key (ES256, raw `r || s` signature, with
    /// `s` normalised to the low half of the group order so that strict verifiers accept it).
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn sign(&self, header: &Value, payload: &Value) -> Result<String, KitError> {
        self.sign_with_s(header, payload, false)
    }

    /// As [`Self::sign`], but with the other valid `s` of the same signature, `n - s`, above
    /// half the group order: the malleated twin of a good signature (a "high-S" ECDSA
    /// signature), which only a verifier requiring low `S` refuses.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn sign_high_s(&self, header: &Value, payload: &Value) -> Result<String, KitError> {
        self.sign_with_s(header, payload, true)
    }

    fn sign_with_s(&self, header: &Value, payload: &Value, high: bool) -> Result<String, KitError> {
        let input = format!("{}.{}", segment(header), segment(payload));
        // Low-S from the signer; the high-S twin on request.
        let mut raw = self
            .signer
            .sign(input.as_bytes())
            .map_err(|_| KitError::Crypto("signing failed"))?;
        if high {
            negate_s(Curve::P256, &mut raw);
        }
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw)))
    }
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// `der` as PEM with `label` (RFC 7468), 64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `{"keys":[…]}` (RFC 7517 §5) holding the public JWKs of `keys`.
pub fn jwks_of(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// One deliberate defect of a broken token. Each one must make an RFC 9068 resource server
/// answer 401 with `error="invalid_token"` (spec §1.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Defect {
    /// `aud` names another resource (RFC 9068 §4 step 7; spec RS-08).
    WrongAudience,
    /// `exp` is 600 s before the minter's `now` (RFC 9068 §4 step 8; spec RS-07).
    Expired,
    /// No `exp` claim at all (RFC 9068 §2.2 makes it REQUIRED).
    MissingExp,
    /// `iss` is `https://evil.example` (RFC 9068 §4 step 3; spec RS-10).
    WrongIssuer,
    /// Header `typ` is `JWT` instead of `at+jwt` (RFC 9068 §4 step 1; spec RS-11).
    WrongTyp,
    /// Header `alg` is `none` and the signature is empty (RFC 8725 §3.1; spec RS-09).
    AlgNone,
    /// Header `alg` is `HS256`, signed with the public key PEM as the HMAC secret: an algorithm
    /// confusion attack (RFC 8725 §2.1; spec RS-09).
    Hs256WithPublicKey,
    /// A valid-looking ES256 token signed by a key that is not in the JWKS, under the trusted
    /// key's `kid` (spec RS-09).
    UntrustedKey,
    /// No `iat` claim (REQUIRED by RFC 9068 §2.2).
    MissingIat,
    /// No `jti` claim (REQUIRED by RFC 9068 §2.2).
    MissingJti,
    /// No `aud` claim at all (RFC 9068 §2.2 makes it REQUIRED; RFC 8707 audience binding;
    /// spec RS-08).
    MissingAudience,
}

impl Defect {
    /// Every defect, in declaration order.
    pub const ALL: [Defect; 11] = [
        Defect::WrongAudience,
        Defect::Expired,
        Defect::MissingExp,
        Defect::WrongIssuer,
        Defect::WrongTyp,
        Defect::AlgNone,
        Defect::Hs256WithPublicKey,
        Defect::UntrustedKey,
        Defect::MissingIat,
        Defect::MissingJti,
        Defect::MissingAudience,
    ];
}

/// Mints access tokens from one [`TestKey`] for one issuer and one audience, at a fixed `now`
/// (seconds since the epoch). Tokens live [`TokenMinter::lifetime`] seconds (default 900).
#[derive(Debug)]
pub struct TokenMinter<'k> {
    key: &'k TestKey,
    issuer: String,
    audience: String,
    now: UnixTime,
    lifetime: i64,
    subject: String,
    client_id: String,
}

impl<'k> TokenMinter<'k> {
    /// A minter for tokens with `iss` = `issuer` and `aud` = `audience`, issued at `now`.
    pub fn new(
        key: &'k TestKey,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        now: UnixTime,
    ) -> Self {
        Self {
            key,
            issuer: issuer.into(),
            audience: audience.into(),
            now,
            lifetime: 900,
            subject: "user-1".into(),
            client_id: "client-1".into(),
        }
    }

    /// Tokens live `seconds` from `now`.
    pub fn lifetime(mut self, seconds: i64) -> Self {
        self.lifetime = seconds;
        self
    }

    /// Tokens carry `sub` = `subject` (default `user-1`).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// Tokens carry `client_id` = `client_id` (default `client-1`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// The RFC 9068 §2.2 claims of a good token with `scope` (space-separated; empty omits the
    /// claim): `iss`, `sub`, `aud`, `client_id`, `scope`, `iat`, `exp`, `jti`.
    pub fn claims(&self, scope: &str) -> Value {
        let mut claims = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "client_id": self.client_id,
            "iat": self.now,
            "exp": self.now + self.lifetime,
            "jti": format!("jti-{}-{}", self.subject, self.now),
        });
        if !scope.is_empty() {
            claims["scope"] = scope.into();
        }
        claims
    }

    /// The header of a good token: `{"alg":"ES256","typ":"at+jwt","kid":…}`.
    pub fn header(&self) -> Value {
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": self.key.kid() })
    }

    /// A token an RFC 9068 resource server for this audience accepts.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn valid(&self, scope: &str) -> Result<String, KitError> {
        self.key.sign(&self.header(), &self.claims(scope))
    }

    /// A token an RFC 9068 resource server accepts, except one that requires low-S ECDSA
    /// signatures: the same claims signed with the high `s` ([`TestKey::sign_high_s`]).
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn valid_high_s(&self, scope: &str) -> Result<String, KitError> {
        self.key.sign_high_s(&self.header(), &self.claims(scope))
    }

    /// A token with these exact `claims` and a good header.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn with_claims(&self, claims: &Value) -> Result<String, KitError> {
        self.key.sign(&self.header(), claims)
    }

    /// A token with `scope` that is good except for `defect`.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing or key generation fails.
    pub fn broken(&self, defect: Defect, scope: &str) -> Result<String, KitError> {
        let mut claims = self.claims(scope);
        let mut header = self.header();
        match defect {
            Defect::WrongAudience => claims["aud"] = "https://other-mcp.example/mcp".into(),
            Defect::Expired => {
                claims["iat"] = (self.now - 600 - self.lifetime).into();
                claims["exp"] = (self.now - 600).into();
            }
            Defect::MissingExp => {
                if let Some(map) = claims.as_object_mut() {
                    map.remove("exp");
                }
            }
            Defect::MissingIat | Defect::MissingJti | Defect::MissingAudience => {
                if let Some(map) = claims.as_object_mut() {
                    map.remove(match defect {
                        Defect::MissingIat => "iat",
                        Defect::MissingJti => "jti",
                        _ => "aud",
                    });
                }
            }
            Defect::WrongIssuer => claims["iss"] = "https://evil.example".into(),
            Defect::WrongTyp => header["typ"] = "JWT".into(),
            Defect::AlgNone => {
                header["alg"] = "none".into();
                return Ok(format!("{}.{}.", segment(&header), segment(&claims)));
            }
            Defect::Hs256WithPublicKey => {
                header["alg"] = "HS256".into();
                let input = format!("{}.{}", segment(&header), segment(&claims));
                let secret = self.key.public_key_pem();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
                let tag = ring::hmac::sign(&key, input.as_bytes());
                return Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())));
            }
            Defect::UntrustedKey => {
                let forger = TestKey::generate(self.key.kid())?;
                return forger.sign(&header, &claims);
            }
        }
        self.key.sign(&header, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ecdsa::is_low_s;

    fn decode(token: &str, index: usize) -> Value {
        let part = token.split('.').nth(index).unwrap_or_default();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn valid_token_has_rfc9068_header_and_claims() {
        let key = TestKey::generate("k1").unwrap();
        let minter = TokenMinter::new(&key, "https://as.example", "https://mcp.example/mcp", 1000);
        let token = minter.valid("mcp:basic").unwrap();
        assert_eq!(
            decode(&token, 0),
            json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"})
        );
        assert_eq!(
            decode(&token, 1),
            json!({
                "iss": "https://as.example", "sub": "user-1", "aud": "https://mcp.example/mcp",
                "client_id": "client-1", "iat": 1000, "exp": 1900, "jti": "jti-user-1-1000",
                "scope": "mcp:basic"
            })
        );
    }

    #[test]
    fn alg_none_token_has_empty_signature() {
        let key = TestKey::generate("k1").unwrap();
        let minter = TokenMinter::new(&key, "https://as.example", "https://mcp.example/mcp", 1000);
        let token = minter.broken(Defect::AlgNone, "").unwrap();
        assert!(token.ends_with('.'));
        assert_eq!(decode(&token, 0)["alg"], "none");
    }

    fn sig_of(token: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap_or_default())
            .unwrap()
    }

    #[test]
    fn signatures_are_low_s_and_high_s_twins_are_high() {
        let key = TestKey::generate("k1").unwrap();
        let minter = TokenMinter::new(&key, "https://as.example", "https://mcp.example/mcp", 1000);
        for _ in 0..16 {
            assert!(is_low_s(Curve::P256, &sig_of(&minter.valid("a").unwrap())));
            assert!(!is_low_s(
                Curve::P256,
                &sig_of(&minter.valid_high_s("a").unwrap())
            ));
        }
    }

    /// RFC 7638 §3: the thumbprint is the SHA-256 of the required members in lexicographic
    /// order; computed here from the published JWK through a sorted map, independently of
    /// `thumbprint`'s own formatting.
    #[test]
    fn thumbprint_kid_is_the_rfc7638_thumbprint_of_the_public_jwk() {
        let key = TestKey::generate_with_thumbprint_kid().unwrap();
        let jwk = key.public_jwk();
        let required: std::collections::BTreeMap<&str, &Value> = ["kty", "crv", "x", "y"]
            .into_iter()
            .map(|m| (m, &jwk[m]))
            .collect();
        let canonical = serde_json::to_string(&required).unwrap();
        let expected = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ));
        assert_eq!(key.kid(), expected);
        assert_eq!(jwk["kid"], json!(expected));
        assert_eq!(expected.len(), 43);
    }

    /// A fresh key never reuses an earlier key's `kid` (the re-run rule: a cached key set
    /// must not shadow the new key).
    #[test]
    fn each_fresh_key_has_a_new_kid() {
        let a = TestKey::generate_with_thumbprint_kid().unwrap();
        let b = TestKey::generate_with_thumbprint_kid().unwrap();
        assert_ne!(a.kid(), b.kid());
    }

    #[test]
    fn public_jwk_coordinates_are_32_bytes() {
        let key = TestKey::generate("k1").unwrap();
        let jwk = key.public_jwk();
        for c in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
            assert_eq!(bytes.len(), 32);
        }
        assert!(
            key.public_key_pem()
                .starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
        );
    }
}
