//! JWK SHA-256 thumbprints (RFC 7638), the `jkt` of a DPoP binding (RFC 9449 §6.1).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::DpopError;

/// The RFC 7638 §3 thumbprint of the public JWK `jwk`: base64url (no padding) of the SHA-256 of
/// the JSON object of its required members in lexicographic order, without whitespace. The
/// required members are `crv`, `kty`, `x`, `y` for `EC` (RFC 7518 §6.2.1), `e`, `kty`, `n` for
/// `RSA` (§6.3.1) and `crv`, `kty`, `x` for `OKP` (RFC 8037 §2).
///
/// # Errors
/// [`DpopError::BadKey`] for another `kty`, or a required member that is missing or not a
/// string.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, DpopError> {
    let kty = jwk
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(DpopError::BadKey)?;
    let members: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return Err(DpopError::BadKey),
    };
    let mut canonical = BTreeMap::new();
    for name in members {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or(DpopError::BadKey)?;
        canonical.insert(*name, value);
    }
    // A BTreeMap serialises in key order, and serde_json writes no whitespace.
    let json = serde_json::to_string(&canonical).map_err(|_| DpopError::BadKey)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// RFC 7638 §3.1: the example RSA key's thumbprint.
    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = map(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// The thumbprint ignores optional members and member order, and matches the one the ES256
    /// signer computes for its own key.
    #[test]
    fn ec_thumbprint_matches_the_signer_and_ignores_extra_members() {
        let (signer, _) = crate::jose::Es256Signer::generate().unwrap();
        let mut jwk = map(signer.public_jwk(Some("k1")));
        jwk.insert("ext".into(), json!(true));
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), signer.thumbprint());
    }

    #[test]
    fn unknown_key_type_or_missing_member_is_a_bad_key() {
        for jwk in [
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "EC", "crv": "P-256", "x": "AA"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": 5}),
            json!({"crv": "Ed25519", "x": "AA"}),
        ] {
            assert_eq!(jwk_thumbprint(&map(jwk)), Err(DpopError::BadKey));
        }
    }
}
