//! A DPoP proof's JOSE header (RFC 9449 §4.2, §4.3 items 4–7): `typ: dpop+jwt`, an accepted
//! asymmetric `alg`, a public `jwk` fitting it, no `crit`; checked once into the key that
//! verifies the signature and its RFC 7638 thumbprint.
//!
//! A client signs every proof with the same key, so its proofs share one header segment, byte
//! for byte. [`HeaderCache`] keeps the checked form of recent segments, and a proof whose header
//! was seen before skips the base64, the JSON, the key import and the thumbprint: the same
//! function of the same bytes, computed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::proof::{any, json_object};
use super::proof_jwk::{ProofJwk, present};
use super::{DpopError, PROOF_TYP};
use crate::jose::{AllowedAlgorithms, VerifyingKey};

/// Headers remembered by one [`HeaderCache`]; when full, it starts over.
const HEADER_CACHE_ENTRIES: usize = 1024;

/// The members of a proof's JOSE header this server reads (RFC 9449 §4.2, RFC 7515 §4.1); the
/// others are ignored. A member named twice makes the header unreadable.
#[derive(Deserialize)]
struct ProofHeader {
    #[serde(default, deserialize_with = "any")]
    typ: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    alg: Option<Value>,
    #[serde(default, deserialize_with = "any")]
    jwk: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// A header that passed every check.
#[derive(Debug)]
pub(super) struct CheckedHeader {
    /// The proof's `alg`.
    pub(super) alg: Algorithm,
    /// The `jwk`, ready to verify `alg` signatures.
    pub(super) key: VerifyingKey,
    /// The RFC 7638 thumbprint of the `jwk`.
    pub(super) jkt: String,
}

/// Check the base64url header `segment` of a proof against the accepted `algorithms`.
///
/// # Errors
/// [`DpopError::Malformed`] for a segment that is not base64url of one JSON object or that has
/// `crit` (no JWS extension is understood, RFC 7515 §4.1.11); [`DpopError::WrongType`],
/// [`DpopError::DisallowedAlgorithm`], [`DpopError::BadKey`], [`DpopError::PrivateKey`].
pub(super) fn check_header(
    segment: &str,
    algorithms: &AllowedAlgorithms,
) -> Result<CheckedHeader, DpopError> {
    let header: ProofHeader = json_object(segment)?;
    if header.crit {
        return Err(DpopError::Malformed);
    }
    let typ = header.typ.as_ref().and_then(Value::as_str);
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case(PROOF_TYP)) {
        return Err(DpopError::WrongType);
    }
    let alg = header
        .alg
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<Algorithm>().ok())
        .ok_or(DpopError::DisallowedAlgorithm)?;
    let alg = algorithms
        .check(alg)
        .map_err(|_| DpopError::DisallowedAlgorithm)?;
    let jwk = ProofJwk::read(header.jwk.as_ref().ok_or(DpopError::BadKey)?)?;
    Ok(CheckedHeader {
        alg,
        key: jwk.verifying_key(alg)?,
        jkt: jwk.thumbprint()?,
    })
}

/// Headers checked against one allow-list of algorithms, by their segment, at most
/// [`HEADER_CACHE_ENTRIES`]: about 1 KB each for an EC or OKP key, never more than about
/// 2 × [`super::proof::MAX_PROOF_LEN`] (the segment, and an RSA key's members), so at most
/// about 16 MB in all. Only headers that passed are kept; a refused one is checked again each
/// time it comes.
pub(super) struct HeaderCache {
    algorithms: AllowedAlgorithms,
    entries: Mutex<HashMap<Box<str>, Arc<CheckedHeader>>>,
}

impl std::fmt::Debug for HeaderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCache")
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl HeaderCache {
    /// An empty cache for proofs signed with one of `algorithms`.
    pub(super) fn new(algorithms: AllowedAlgorithms) -> Self {
        Self {
            algorithms,
            entries: Mutex::default(),
        }
    }

    /// The accepted algorithms.
    pub(super) fn algorithms(&self) -> &AllowedAlgorithms {
        &self.algorithms
    }

    /// The checked header of `segment`, from the cache or by [`check_header`].
    ///
    /// # Errors
    /// Those of [`check_header`].
    pub(super) fn get_or_check(&self, segment: &str) -> Result<Arc<CheckedHeader>, DpopError> {
        if let Some(hit) = self.lock().get(segment) {
            return Ok(Arc::clone(hit));
        }
        let checked = Arc::new(check_header(segment, &self.algorithms)?);
        let mut entries = self.lock();
        if entries.len() >= HEADER_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(segment.into(), Arc::clone(&checked));
        Ok(checked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<CheckedHeader>>> {
        // A panic while holding the lock leaves only complete entries behind.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::jose::Es256Signer;

    fn segment(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// A cached header answers as a fresh check would; a refused one is not cached; the cache
    /// stays bounded.
    #[test]
    fn the_cache_answers_as_the_check_and_stays_bounded() {
        let cache = HeaderCache::new(AllowedAlgorithms::all_asymmetric());
        let (signer, _) = Es256Signer::generate().unwrap();
        let good =
            segment(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.public_jwk(None)}));
        let first = cache.get_or_check(&good).unwrap();
        let again = cache.get_or_check(&good).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.jkt, signer.thumbprint());
        let bad = segment(&json!({"typ": "JWT", "alg": "ES256", "jwk": signer.public_jwk(None)}));
        for _ in 0..2 {
            assert_eq!(cache.get_or_check(&bad).unwrap_err(), DpopError::WrongType);
        }
        assert_eq!(cache.lock().len(), 1);
        for i in 0..HEADER_CACHE_ENTRIES + 10 {
            let h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.public_jwk(Some(&format!("k{i}")))});
            cache.get_or_check(&segment(&h)).unwrap();
        }
        assert!(cache.lock().len() <= HEADER_CACHE_ENTRIES);
    }

    /// A cache belongs to one allow-list: an algorithm outside it is refused.
    #[test]
    fn an_algorithm_outside_the_list_is_refused() {
        let (signer, _) = Es256Signer::generate().unwrap();
        let h =
            segment(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.public_jwk(None)}));
        let rsa_only = AllowedAlgorithms::new(&[Algorithm::RS256]).unwrap();
        assert_eq!(
            HeaderCache::new(rsa_only).get_or_check(&h).unwrap_err(),
            DpopError::DisallowedAlgorithm
        );
    }
}
