//! JWK SHA-256 thumbprints (RFC 7638), the `jkt` of a DPoP binding (RFC 9449 §6.1).

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
    thumbprint(|name| jwk.get(name).and_then(Value::as_str))
}

/// [`jwk_thumbprint`] over a reader of the key's string members (`None` for a member that is
/// missing or not a string), so a proof's typed key needs no map.
pub(super) fn thumbprint<'k>(
    member: impl Fn(&str) -> Option<&'k str>,
) -> Result<String, DpopError> {
    let names: &[&str] = match member("kty").ok_or(DpopError::BadKey)? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return Err(DpopError::BadKey),
    };
    // The names need no escaping; each value is written as a JSON string by serde_json.
    let mut json = Vec::with_capacity(192);
    json.push(b'{');
    for (i, name) in names.iter().enumerate() {
        let value = member(name).ok_or(DpopError::BadKey)?;
        if i > 0 {
            json.push(b',');
        }
        json.push(b'"');
        json.extend_from_slice(name.as_bytes());
        json.extend_from_slice(b"\":");
        serde_json::to_writer(&mut json, value).map_err(|_| DpopError::BadKey)?;
    }
    json.push(b'}');
    let digest = ring::digest::digest(&ring::digest::SHA256, &json);
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

    /// Members needing JSON escapes are written as serde_json writes them in an ordered map.
    #[test]
    fn canonical_json_escapes_values() {
        let jwk = map(json!({"kty": "OKP", "crv": "Ed\"25519\\", "x": "a\u{1}b"}));
        let canonical: std::collections::BTreeMap<&str, &str> =
            [("crv", "Ed\"25519\\"), ("kty", "OKP"), ("x", "a\u{1}b")].into();
        let text = serde_json::to_string(&canonical).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            URL_SAFE_NO_PAD.encode(digest.as_ref())
        );
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
