//! The JWS algorithm allow-list (RFC 8725 §3.1–3.2): asymmetric algorithms only, each tied to the
//! key type and curve it needs (RFC 7518 §3.1, RFC 8037 §3.1).

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};

use super::KeyError;

/// A non-empty list of accepted JWS `alg` values.
///
/// `none` cannot be expressed (jsonwebtoken's [`Algorithm`] has no such variant, and a header
/// naming it does not parse), and [`AllowedAlgorithms::new`] refuses every `HS*`: a verifier that
/// takes keys from a JWK Set must never run HMAC keyed with public key material (RFC 8725 §2.1,
/// §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedAlgorithms(Vec<Algorithm>);

impl AllowedAlgorithms {
    /// Every algorithm this module can verify with a JWK Set key, in the order advertised:
    /// `ES256`, `ES384`, `EdDSA`, `PS256`, `PS384`, `PS512`, `RS256`, `RS384`, `RS512`.
    pub const ASYMMETRIC: [Algorithm; 9] = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
    ];

    /// Every algorithm of [`Self::ASYMMETRIC`], in that order.
    pub fn all_asymmetric() -> Self {
        Self(Self::ASYMMETRIC.to_vec())
    }

    /// The list `algs`, duplicates removed, order kept.
    ///
    /// # Errors
    /// [`KeyError::NoAlgorithm`] for an empty list; [`KeyError::DisallowedAlgorithm`] naming the
    /// first `HS*` algorithm.
    pub fn new(algs: &[Algorithm]) -> Result<Self, KeyError> {
        if let Some(hmac) = algs.iter().find(|a| !is_asymmetric(**a)) {
            return Err(KeyError::DisallowedAlgorithm(algorithm_name(*hmac)));
        }
        let mut list: Vec<Algorithm> = Vec::with_capacity(algs.len());
        for alg in algs {
            if !list.contains(alg) {
                list.push(*alg);
            }
        }
        if list.is_empty() {
            return Err(KeyError::NoAlgorithm);
        }
        Ok(Self(list))
    }

    /// True when `alg` is on the list.
    pub fn contains(&self, alg: Algorithm) -> bool {
        self.0.contains(&alg)
    }

    /// The list, in order.
    pub fn as_slice(&self) -> &[Algorithm] {
        &self.0
    }

    /// The JWA names (`"ES256"`, …), in order, for metadata such as
    /// `token_endpoint_auth_signing_alg_values_supported` (RFC 8414 §2).
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().copied().map(algorithm_name).collect()
    }

    /// `alg` if it is on the list.
    ///
    /// # Errors
    /// [`KeyError::DisallowedAlgorithm`] otherwise.
    pub fn check(&self, alg: Algorithm) -> Result<Algorithm, KeyError> {
        if self.contains(alg) {
            Ok(alg)
        } else {
            Err(KeyError::DisallowedAlgorithm(algorithm_name(alg)))
        }
    }
}

/// The JWA name of `alg` (RFC 7518 §3.1, RFC 8037 §3.1), e.g. `"ES256"`.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Whether a key with these parameters can verify `alg`: `ES256` needs EC P-256, `ES384` EC
/// P-384, `EdDSA` OKP Ed25519, `RS*`/`PS*` RSA. Nothing fits `HS*`, and no `oct` key fits
/// anything.
pub(crate) fn key_type_fits(alg: Algorithm, params: &AlgorithmParameters) -> bool {
    match (alg, params) {
        (Algorithm::ES256, AlgorithmParameters::EllipticCurve(ec)) => {
            ec.curve == EllipticCurve::P256
        }
        (Algorithm::ES384, AlgorithmParameters::EllipticCurve(ec)) => {
            ec.curve == EllipticCurve::P384
        }
        (Algorithm::EdDSA, AlgorithmParameters::OctetKeyPair(okp)) => {
            okp.curve == EllipticCurve::Ed25519
        }
        (
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
            AlgorithmParameters::RSA(_),
        ) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_algorithms_are_refused_in_the_allow_list() {
        for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert_eq!(
                AllowedAlgorithms::new(&[Algorithm::ES256, hs]),
                Err(KeyError::DisallowedAlgorithm(algorithm_name(hs)))
            );
        }
    }

    #[test]
    fn empty_allow_list_is_refused() {
        assert_eq!(AllowedAlgorithms::new(&[]), Err(KeyError::NoAlgorithm));
    }

    #[test]
    fn allow_list_keeps_order_and_drops_duplicates() {
        let list = AllowedAlgorithms::new(&[Algorithm::RS256, Algorithm::ES256, Algorithm::RS256])
            .unwrap();
        assert_eq!(list.names(), ["RS256", "ES256"]);
        assert_eq!(list.check(Algorithm::ES256), Ok(Algorithm::ES256));
        assert_eq!(
            list.check(Algorithm::PS256),
            Err(KeyError::DisallowedAlgorithm("PS256"))
        );
    }

    #[test]
    fn every_asymmetric_algorithm_is_accepted_and_named_by_jwa() {
        let all = AllowedAlgorithms::new(&AllowedAlgorithms::ASYMMETRIC).unwrap();
        assert_eq!(
            all.names(),
            [
                "ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"
            ]
        );
        for alg in AllowedAlgorithms::ASYMMETRIC {
            assert_eq!(
                algorithm_name(alg).parse::<Algorithm>().ok(),
                Some(alg),
                "{alg:?}"
            );
        }
    }
}
