//! Registered JWT claim shapes every verifier reads the same way (RFC 7519 §2, §4.1): `aud` as
//! one string or an array, and NumericDate as whole seconds.

use serde::Deserialize;

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
}
