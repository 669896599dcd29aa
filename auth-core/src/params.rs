//! Form parameters (`application/x-www-form-urlencoded`) with the OAuth rules for repeats.
//!
//! RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than once."
//! The one exception is `resource` (RFC 8707 §2), which may repeat; callers read it with
//! [`FormParams::get_all`].

use std::collections::BTreeMap;
use std::fmt;

use crate::error::OAuthError;
use crate::secret::Redacted;

/// Parsed form or query parameters. Parameters sent with an empty value are treated as absent
/// (RFC 6749 §3.1).
///
/// `Debug` prints every parameter name, but the values only of [`FormParams::PUBLIC`] names;
/// every other value (`code`, `code_verifier`, `refresh_token`, `client_secret`,
/// `client_assertion`, `password`, `csrf_token`, `assertion`, `subject_token`, …) is
/// `[redacted]`, so a form can be logged without leaking a secret.
#[derive(Clone, Default)]
pub struct FormParams {
    values: BTreeMap<String, Vec<String>>,
}

impl fmt::Debug for FormParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, values) in &self.values {
            if Self::PUBLIC.contains(&name.as_str()) {
                map.entry(name, values);
            } else {
                map.entry(name, &Redacted);
            }
        }
        map.finish()
    }
}

/// Parameters that may legitimately appear more than once.
const REPEATABLE: &[&str] = &["resource"];

impl FormParams {
    /// Most parameters accepted in one request.
    pub const MAX_PARAMS: usize = 64;

    /// Parameters whose values `Debug` shows: they are never secret. Any other value is
    /// printed as `[redacted]` (fail closed: a parameter nobody listed is treated as a secret).
    pub const PUBLIC: &'static [&'static str] = &[
        "grant_type",
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "resource",
        "audience",
        "code_challenge_method",
        "client_assertion_type",
        "token_type_hint",
        "requested_token_type",
        "subject_token_type",
        "actor_token_type",
        "decision",
    ];

    /// Parse an urlencoded body or query string. Errors (`invalid_request`): a repeated parameter
    /// other than `resource`, more than [`Self::MAX_PARAMS`] parameters.
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let params = Self::parse_keeping_repeats(input)?;
        if let Some(k) = params.repeated().next() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {k} is repeated"
            )));
        }
        Ok(params)
    }

    /// Parse, keeping repeated parameters so the caller can decide how to report them (the
    /// authorization endpoint must know whether `client_id` and `redirect_uri` are trustworthy
    /// before it may redirect an error). Errors: more than [`Self::MAX_PARAMS`] parameters.
    pub fn parse_keeping_repeats(input: &[u8]) -> Result<Self, OAuthError> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut count = 0usize;
        for (k, v) in url::form_urlencoded::parse(input) {
            count += 1;
            if count > Self::MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if v.is_empty() {
                continue;
            }
            let entry = values.entry(k.into_owned()).or_default();
            entry.push(v.into_owned());
        }
        Ok(Self { values })
    }

    /// Names of parameters sent more than once that may not repeat.
    pub fn repeated(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .filter(|(k, v)| v.len() > 1 && !REPEATABLE.contains(&k.as_str()))
            .map(|(k, _)| k.as_str())
    }

    /// True when `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v.len() > 1)
    }

    /// Build from pairs (tests, internal callers). Same rules as [`FormParams::parse`].
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, OAuthError> {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Self::parse(encoded.as_bytes())
    }

    /// The single value of `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The value of `name`, or `invalid_request` naming the missing parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }

    /// Every value of a repeatable parameter.
    pub fn get_all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when `name` was sent with a non-empty value.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let err = FormParams::parse(b"grant_type=a&grant_type=b").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn resource_may_repeat() {
        let p = FormParams::parse(b"resource=a&resource=b").unwrap();
        assert_eq!(p.get_all("resource").len(), 2);
    }

    #[test]
    fn debug_shows_public_values_and_redacts_the_rest() {
        let p = FormParams::parse(b"grant_type=authorization_code&code=ac_s3cr3t&client_id=c1")
            .unwrap();
        assert_eq!(
            format!("{p:?}"),
            r#"{"client_id": ["c1"], "code": [redacted], "grant_type": ["authorization_code"]}"#
        );
    }

    #[test]
    fn empty_value_is_absent() {
        let p = FormParams::parse(b"scope=&state=x").unwrap();
        assert!(p.get("scope").is_none());
        assert_eq!(p.get("state"), Some("x"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = FormParams::parse(&input);
        }
    }
}
