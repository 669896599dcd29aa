//! Registered JWT claim shapes every verifier reads the same way (RFC 7519 §2, §4.1): `aud` as
//! one string or an array, and NumericDate as whole seconds.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::UnixTime;

/// `aud` (RFC 7519 §4.1.3): one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// True when some audience equals (byte for byte) one of `accepted`.
    pub fn contains_any(&self, accepted: &[&str]) -> bool {
        match self {
            Self::One(a) => accepted.contains(&a.as_str()),
            Self::Many(list) => list.iter().any(|a| accepted.contains(&a.as_str())),
        }
    }
}

/// Largest NumericDate magnitude accepted, seconds (about 31 million years).
const MAX_NUMERIC_DATE: f64 = 1e15;

/// A NumericDate (RFC 7519 §2: seconds since the epoch, fractions allowed) as whole seconds:
/// an integer as it is, a fraction floored. `None` for a non-finite value or one of magnitude
/// `1e15` or more.
pub fn numeric_date(n: &serde_json::Number) -> Option<UnixTime> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.abs() < MAX_NUMERIC_DATE)
            .map(|f| f.floor() as i64)
    })
}

/// [`numeric_date`] of a JSON value; `None` for anything but a number.
pub fn numeric_date_value(v: &serde_json::Value) -> Option<UnixTime> {
    match v {
        serde_json::Value::Number(n) => numeric_date(n),
        _ => None,
    }
}

/// A claim present with a value of the wrong shape: its name. The assertion grants (ID-JAG
/// redemption, workload identity) answer it as `invalid_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {0} claim is malformed")]
pub struct MalformedClaim(pub &'static str);

/// A string claim: `None` when absent or `null`.
///
/// # Errors
/// [`MalformedClaim`] when present with another type.
pub fn str_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'c str>, MalformedClaim> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MalformedClaim(name)),
    }
}

/// A NumericDate claim ([`numeric_date_value`]): `None` when absent or `null`.
///
/// # Errors
/// [`MalformedClaim`] when present but not a usable number.
pub fn date_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<UnixTime>, MalformedClaim> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => numeric_date_value(v).map(Some).ok_or(MalformedClaim(name)),
    }
}

/// An assertion's `jti` (RFC 7519 §4.1.7): `None` when absent, `null` or empty.
///
/// # Errors
/// [`MalformedClaim`] (`jti`) when it is not a string or is longer than `max_len` bytes.
pub fn jti_claim(
    claims: &Map<String, Value>,
    max_len: usize,
) -> Result<Option<&str>, MalformedClaim> {
    match str_claim(claims, "jti")? {
        Some(jti) if jti.len() > max_len => Err(MalformedClaim("jti")),
        jti => Ok(jti.filter(|j| !j.is_empty())),
    }
}

/// The replay-store key of an assertion's `jti` from `iss`, under `namespace` (e.g. `id-jag`):
/// `namespace:<length of iss>:iss:jti`. The issuer's length comes first because `iss` may hold
/// `:`, so `https://idp` with `jti` `8443:x` and `https://idp:8443` with `x` never share a key.
pub fn assertion_replay_key(namespace: &str, iss: &str, jti: &str) -> String {
    format!("{namespace}:{}:{iss}:{jti}", iss.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn audience_is_one_string_or_an_array() {
        let one: Audience = serde_json::from_value(json!("https://a.example")).unwrap();
        let many: Audience =
            serde_json::from_value(json!(["https://b.example", "https://a.example"])).unwrap();
        assert!(one.contains_any(&["https://a.example"]));
        assert!(many.contains_any(&["https://a.example"]));
        assert!(!many.contains_any(&["https://a.example/"]));
        assert!(serde_json::from_value::<Audience>(json!(5)).is_err());
    }

    #[test]
    fn numeric_dates_are_whole_seconds_within_range() {
        assert_eq!(
            numeric_date_value(&json!(1_700_000_000)),
            Some(1_700_000_000)
        );
        assert_eq!(
            numeric_date_value(&json!(1_700_000_000.9)),
            Some(1_700_000_000)
        );
        assert_eq!(numeric_date_value(&json!(-0.5)), Some(-1));
        assert_eq!(numeric_date_value(&json!(1e300)), None);
        assert_eq!(numeric_date_value(&json!("1700000000")), None);
    }

    #[test]
    fn claim_readers_tell_absent_from_malformed() {
        let claims = json!({"iss": "https://idp", "n": 5, "exp": 1.5, "bad": "x", "jti": "",
            "nul": null});
        let claims = claims.as_object().unwrap();
        assert_eq!(str_claim(claims, "iss"), Ok(Some("https://idp")));
        assert_eq!(str_claim(claims, "nul"), Ok(None));
        assert_eq!(str_claim(claims, "none"), Ok(None));
        assert_eq!(str_claim(claims, "n"), Err(MalformedClaim("n")));
        assert_eq!(date_claim(claims, "exp"), Ok(Some(1)));
        assert_eq!(date_claim(claims, "bad"), Err(MalformedClaim("bad")));
        assert_eq!(jti_claim(claims, 8), Ok(None));
        let long = json!({"jti": "123456789"});
        assert_eq!(
            jti_claim(long.as_object().unwrap(), 8),
            Err(MalformedClaim("jti"))
        );
        assert_eq!(
            jti_claim(long.as_object().unwrap(), 9),
            Ok(Some("123456789"))
        );
    }

    #[test]
    fn replay_keys_of_colon_issuers_do_not_collide() {
        assert_ne!(
            assertion_replay_key("id-jag", "https://idp", "8443:x"),
            assertion_replay_key("id-jag", "https://idp:8443", "x")
        );
    }
}
