//! Minting DPoP proofs for tests (RFC 9449 §4): good ones, and each defect of §4.3 and §7 one
//! at a time, so an authorization server's or resource server's tests can check every refusal.
//!
//! ```
//! use mcp_auth_conformance::dpop::{DpopKey, ProofDefect};
//!
//! let key = DpopKey::generate().unwrap();
//! let good = key.proof("POST", "https://as.example.com/token", 1_767_225_600);
//! let replayable = key.broken(
//!     &key.claims("POST", "https://as.example.com/token", 1_767_225_600),
//!     ProofDefect::AlgNone,
//! );
//! assert_eq!(good.split('.').count(), 3);
//! assert!(replayable.ends_with('.'));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::ecdsa::{Curve, negate_s};
use mcp_auth_core::jose::Es256Signer;
use mcp_auth_core::jose::dpop::access_token_hash;
use serde_json::{Value, json};

use crate::KitError;

/// One way to break a proof (RFC 9449 §4.3, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofDefect {
    /// No header `typ`.
    MissingTyp,
    /// Header `typ: JWT` instead of `dpop+jwt`.
    WrongTyp,
    /// Header `alg: none` and an empty signature.
    AlgNone,
    /// Header `alg: HS256`, an HMAC keyed with the public JWK's text.
    Hs256,
    /// The header `jwk` includes the private scalar `d`.
    PrivateJwk,
    /// The signature is made by another key than the header's `jwk`.
    BadSignature,
}

/// An ES256 proof key (signing through the JOSE module's [`Es256Signer`]), with a counter for
/// unique `jti`s.
pub struct DpopKey {
    signer: Es256Signer,
    pkcs8: Vec<u8>,
    counter: AtomicU64,
    prefix: String,
}

impl DpopKey {
    /// A fresh P-256 key.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if the system random source fails.
    pub fn generate() -> Result<Self, KitError> {
        let (signer, pkcs8) =
            Es256Signer::generate().map_err(|_| KitError::Crypto("key generation failed"))?;
        let prefix = signer.thumbprint()[..8].to_owned();
        Ok(Self {
            signer,
            pkcs8,
            counter: AtomicU64::new(0),
            prefix,
        })
    }

    /// The RFC 7638 thumbprint of the key: the `jkt` a bound token's `cnf` carries.
    pub fn thumbprint(&self) -> &str {
        self.signer.thumbprint()
    }

    /// The public JWK: `{"kty":"EC","crv":"P-256","x":…,"y":…,"alg":"ES256","use":"sig"}`.
    pub fn public_jwk(&self) -> Value {
        self.signer.public_jwk(None)
    }

    /// The good header: `{"typ":"dpop+jwt","alg":"ES256","jwk":…}`.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk()})
    }

    /// Good claims for a request: a new `jti`, `htm`, `htu`, `iat`.
    pub fn claims(&self, htm: &str, htu: &str, iat: UnixTime) -> Value {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        json!({"jti": format!("{}-{n}", self.prefix), "htm": htm, "htu": htu, "iat": iat})
    }

    /// Good claims for a resource request with `access_token` (adds `ath`, RFC 9449 §7.1).
    pub fn claims_for_token(
        &self,
        htm: &str,
        htu: &str,
        iat: UnixTime,
        access_token: &str,
    ) -> Value {
        let mut claims = self.claims(htm, htu, iat);
        claims["ath"] = access_token_hash(access_token).into();
        claims
    }

    /// A good proof for `htm` `htu` at `iat`.
    pub fn proof(&self, htm: &str, htu: &str, iat: UnixTime) -> String {
        self.sign(&self.header(), &self.claims(htm, htu, iat))
    }

    /// `header` and `claims` signed with this key (a low-S ES256 signature).
    ///
    /// # Panics
    /// When the system random generator fails (a test kit has no better answer).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.signer
            .sign_compact(header, claims)
            .expect("the system random generator failed")
    }

    /// `claims` signed well, then the signature's `S` replaced by `n - S`: the high-S twin
    /// WebCrypto produces about half the time, equally valid (RFC 7518 §3.4 does not forbid it).
    pub fn high_s(&self, claims: &Value) -> String {
        let proof = self.sign(&self.header(), claims);
        let Some((input, sig)) = proof.rsplit_once('.') else {
            return proof;
        };
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
        negate_s(Curve::P256, &mut raw);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// `claims` in a proof with `defect`.
    ///
    /// # Panics
    /// When the system random generator fails.
    pub fn broken(&self, claims: &Value, defect: ProofDefect) -> String {
        let mut header = self.header();
        match defect {
            ProofDefect::MissingTyp => {
                if let Some(h) = header.as_object_mut() {
                    h.remove("typ");
                }
                self.sign(&header, claims)
            }
            ProofDefect::WrongTyp => {
                header["typ"] = "JWT".into();
                self.sign(&header, claims)
            }
            ProofDefect::AlgNone => {
                header["alg"] = "none".into();
                format!("{}.", signing_input(&header, claims))
            }
            ProofDefect::Hs256 => {
                header["alg"] = "HS256".into();
                let input = signing_input(&header, claims);
                let secret = self.public_jwk().to_string();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
                let tag = ring::hmac::sign(&key, input.as_bytes());
                format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
            }
            ProofDefect::PrivateJwk => {
                // The private scalar sits at a fixed place in ring's P-256 PKCS#8 document.
                let d = self.pkcs8.get(36..68).unwrap_or_default();
                header["jwk"]["d"] = URL_SAFE_NO_PAD.encode(d).into();
                self.sign(&header, claims)
            }
            ProofDefect::BadSignature => DpopKey::generate()
                .expect("the system random generator failed")
                .sign(&header, claims),
        }
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}
