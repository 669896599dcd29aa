//! The `jwk` header member of a DPoP proof (RFC 9449 §4.2), read once into its typed members:
//! refused when it holds a private or symmetric key (§4.3 item 7), turned into the key that
//! checks the proof's signature, and hashed into the RFC 7638 thumbprint that a `cnf.jkt`
//! binding names (§6.1). Reading the members directly spares the map, its copy and the generic
//! JWK deserializer on a path every DPoP request takes.

use std::borrow::Cow;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    RSAKeyParameters, RSAKeyType,
};
use serde::de::{IgnoredAny, IntoDeserializer, value::Error as ValueError};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::DpopError;
use super::thumbprint::thumbprint;
use crate::jose::VerifyingKey;

/// A proof's public key, by its JWK members (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2). Members
/// this server does not use (`key_ops`, `ext`, …) are ignored; the members of a private or
/// symmetric key (RFC 7518 §6.2.2, §6.3.2, §6.4, RFC 8037 §2) are only noted as present,
/// whatever their value (`null` included).
#[derive(Debug, Deserialize)]
pub(super) struct ProofJwk<'a> {
    #[serde(borrow)]
    kty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    crv: Option<Cow<'a, str>>,
    #[serde(borrow)]
    x: Option<Cow<'a, str>>,
    #[serde(borrow)]
    y: Option<Cow<'a, str>>,
    #[serde(borrow)]
    n: Option<Cow<'a, str>>,
    #[serde(borrow)]
    e: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "use")]
    key_use: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    d: bool,
    #[serde(default, deserialize_with = "present")]
    p: bool,
    #[serde(default, deserialize_with = "present")]
    q: bool,
    #[serde(default, deserialize_with = "present")]
    dp: bool,
    #[serde(default, deserialize_with = "present")]
    dq: bool,
    #[serde(default, deserialize_with = "present")]
    qi: bool,
    #[serde(default, deserialize_with = "present")]
    oth: bool,
    #[serde(default, deserialize_with = "present")]
    k: bool,
}

/// `true` for a member that is present, whatever its value.
pub(super) fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

impl<'a> ProofJwk<'a> {
    /// The key of the header's `jwk` value, borrowing its strings.
    ///
    /// # Errors
    /// [`DpopError::BadKey`] when `jwk` is not an object, or a member this server reads is not
    /// a string; [`DpopError::PrivateKey`] when it has a member of a private or symmetric key
    /// (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`).
    pub(super) fn read(jwk: &'a Value) -> Result<Self, DpopError> {
        if !jwk.is_object() {
            return Err(DpopError::BadKey);
        }
        let key = Self::deserialize(jwk).map_err(|_| DpopError::BadKey)?;
        let private = [key.d, key.p, key.q, key.dp, key.dq, key.qi, key.oth, key.k];
        if private.contains(&true) {
            return Err(DpopError::PrivateKey);
        }
        Ok(key)
    }

    /// The RFC 7638 thumbprint of this key ([`super::jwk_thumbprint`]).
    ///
    /// # Errors
    /// [`DpopError::BadKey`] for an unknown `kty` or a missing required member.
    pub(super) fn thumbprint(&self) -> Result<String, DpopError> {
        thumbprint(|name| {
            let member = match name {
                "kty" => &self.kty,
                "crv" => &self.crv,
                "x" => &self.x,
                "y" => &self.y,
                "n" => &self.n,
                "e" => &self.e,
                _ => return None,
            };
            member.as_deref()
        })
    }

    /// The key that verifies a proof signed with `alg`: its type (and curve) must fit `alg`,
    /// its `alg` member, if any, must be `alg`, and its `use`, if any, `sig`
    /// ([`VerifyingKey::check`]).
    ///
    /// # Errors
    /// [`DpopError::BadKey`] for a missing member, an unknown `kty`, `crv`, `alg` or `use`, or a
    /// key that does not fit `alg`.
    pub(super) fn verifying_key(&self, alg: Algorithm) -> Result<VerifyingKey, DpopError> {
        let jwk = Jwk {
            common: self.common()?,
            algorithm: self.parameters()?,
        };
        let key = VerifyingKey::from_jwk(&jwk).ok_or(DpopError::BadKey)?;
        key.check(alg).map_err(|_| DpopError::BadKey)?;
        Ok(key)
    }

    fn common(&self) -> Result<CommonParameters, DpopError> {
        let mut common = CommonParameters::default();
        if let Some(key_use) = &self.key_use {
            common.public_key_use = Some(from_name(key_use)?);
        }
        if let Some(alg) = &self.alg {
            common.key_algorithm =
                Some(alg.parse::<KeyAlgorithm>().map_err(|_| DpopError::BadKey)?);
        }
        common.key_id = self.kid.as_deref().map(str::to_owned);
        Ok(common)
    }

    fn parameters(&self) -> Result<AlgorithmParameters, DpopError> {
        let member = |m: &Option<Cow<'a, str>>| m.as_deref().map(str::to_owned);
        let parameters = match self.kty.as_deref() {
            Some("EC") => AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: self.curve()?,
                x: member(&self.x).ok_or(DpopError::BadKey)?,
                y: member(&self.y).ok_or(DpopError::BadKey)?,
            }),
            Some("RSA") => AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: member(&self.n).ok_or(DpopError::BadKey)?,
                e: member(&self.e).ok_or(DpopError::BadKey)?,
            }),
            Some("OKP") => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: self.curve()?,
                x: member(&self.x).ok_or(DpopError::BadKey)?,
            }),
            _ => return Err(DpopError::BadKey),
        };
        Ok(parameters)
    }

    fn curve(&self) -> Result<EllipticCurve, DpopError> {
        from_name(self.crv.as_deref().ok_or(DpopError::BadKey)?)
    }
}

/// A JWK enumeration member (`crv`, `use`) by its registered name, as jsonwebtoken reads it.
fn from_name<'de, T: Deserialize<'de>>(name: &'de str) -> Result<T, DpopError> {
    T::deserialize(IntoDeserializer::<ValueError>::into_deserializer(name))
        .map_err(|_| DpopError::BadKey)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jose::Es256Signer;

    /// RFC 9449 §4.3 item 7 (EXT-R2-04, EXT-R2-02): every member of a private or symmetric key
    /// is refused, present with any value.
    #[test]
    fn private_members_are_refused_whatever_their_value() {
        let (signer, _) = Es256Signer::generate().unwrap();
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            for value in [json!("AAAA"), Value::Null, json!(1)] {
                let mut jwk = signer.public_jwk(None);
                jwk[member] = value.clone();
                assert_eq!(
                    ProofJwk::read(&jwk).unwrap_err(),
                    DpopError::PrivateKey,
                    "{member}: {value}"
                );
            }
        }
    }

    #[test]
    fn a_public_key_reads_thumbprints_and_verifies_like_the_signer() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let mut jwk = signer.public_jwk(Some("k1"));
        jwk["ext"] = json!(true);
        jwk["key_ops"] = json!(["verify"]);
        let key = ProofJwk::read(&jwk).unwrap();
        assert_eq!(key.thumbprint().unwrap(), signer.thumbprint());
        assert!(key.verifying_key(Algorithm::ES256).is_ok());
        assert_eq!(
            key.verifying_key(Algorithm::RS256).unwrap_err(),
            DpopError::BadKey
        );
    }

    #[test]
    fn odd_shapes_are_bad_keys() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let good = signer.public_jwk(None);
        let with = |name: &str, value: Value| {
            let mut jwk = good.clone();
            jwk[name] = value;
            jwk
        };
        for jwk in [
            json!("a string"),
            json!([good.clone()]),
            with("x", json!(5)),
            with("crv", json!("P-999")),
            with("kty", json!("oct")),
            with("use", json!(["sig"])),
            with("alg", json!("none-such")),
        ] {
            let refused = ProofJwk::read(&jwk).and_then(|k| k.verifying_key(Algorithm::ES256));
            assert_eq!(refused.unwrap_err(), DpopError::BadKey, "{jwk}");
        }
        // A key meant for encryption does not verify a proof.
        let key = with("use", json!("enc"));
        let refused = ProofJwk::read(&key)
            .unwrap()
            .verifying_key(Algorithm::ES256);
        assert_eq!(refused.unwrap_err(), DpopError::BadKey);
    }
}
