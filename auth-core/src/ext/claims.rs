//! Typed maps for what a grant adds to a token or to the token response: [`ExtraClaims`] and
//! [`ResponseMembers`]. Both refuse the names the server owns, so a grant can never sign a token
//! with two `aud` keys or answer with a second `access_token`.

use serde::{Deserialize, Deserializer, Serialize};

/// JWT claim names an extension may never set (RFC 7519 §4.1, RFC 9068 §2.2, RFC 7800 §3,
/// RFC 8707, OIDC Core §2), plus JOSE header names (RFC 7515 §4.1) so that a claim is never
/// mistaken for one.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "auth_time",
    "resource",
    "azp",
    "typ",
    "cty",
    "alg",
    "kid",
];

/// Token response member names an extension may never set (RFC 6749 §5.1, §5.2): the server
/// writes them itself.
pub const RESERVED_RESPONSE_MEMBERS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "scope",
    "refresh_token",
    "error",
    "error_description",
    "error_uri",
];

/// A refused name in [`ExtraClaims`] or [`ResponseMembers`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// The name is registered and set by the server only (see [`RESERVED_CLAIMS`]).
    #[error("claim {0} is set by the server and cannot be overridden")]
    ReservedClaim(String),
    /// The name is a member of the access token response (see [`RESERVED_RESPONSE_MEMBERS`]).
    #[error("token response member {0} is set by the server and cannot be overridden")]
    ReservedMember(String),
}

fn is_reserved(list: &[&str], name: &str) -> bool {
    list.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// Claims a grant adds to the token it asks for: a JSON object whose names are never one of
/// [`RESERVED_CLAIMS`] (compared ASCII case-insensitively). Serialises as a JSON object;
/// deserialising an object that holds a reserved name fails.
///
/// ```
/// use mcp_auth_core::ext::{ClaimError, ExtraClaims};
///
/// let mut claims = ExtraClaims::new();
/// claims.insert("tenant", "acme".into()).unwrap();
/// assert_eq!(
///     claims.insert("aud", "https://evil.example".into()),
///     Err(ClaimError::ReservedClaim("aud".into()))
/// );
/// assert_eq!(claims.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExtraClaims(serde_json::Map<String, serde_json::Value>);

impl ExtraClaims {
    /// No claims.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace claim `name`.
    ///
    /// # Errors
    /// [`ClaimError::ReservedClaim`] when `name` is one of [`RESERVED_CLAIMS`]; nothing is added.
    pub fn insert(&mut self, name: &str, value: serde_json::Value) -> Result<(), ClaimError> {
        if is_reserved(RESERVED_CLAIMS, name) {
            return Err(ClaimError::ReservedClaim(name.to_owned()));
        }
        self.0.insert(name.to_owned(), value);
        Ok(())
    }

    /// The value of claim `name`.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }

    /// How many claims there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The claims as a JSON object.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for ExtraClaims {
    type Error = ClaimError;

    fn try_from(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, ClaimError> {
        let mut claims = Self::new();
        for (name, value) in map {
            claims.insert(&name, value)?;
        }
        Ok(claims)
    }
}

impl<'de> Deserialize<'de> for ExtraClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        Self::try_from(map).map_err(serde::de::Error::custom)
    }
}

/// The `token_type` of a token response (RFC 6749 §7.1, RFC 8693 §2.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseTokenType {
    /// `Bearer` (RFC 6750): the issued token is an access token.
    #[default]
    Bearer,
    /// `N_A` (RFC 8693 §2.2.1): the issued token is not usable as an access token (e.g. an
    /// ID-JAG).
    NotApplicable,
}

impl ResponseTokenType {
    /// The wire string: `Bearer` or `N_A`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::NotApplicable => "N_A",
        }
    }
}

/// Members a grant adds to its token response beyond RFC 6749 §5.1 (e.g. RFC 8693
/// `issued_token_type`), and the response's `token_type`. Names in
/// [`RESERVED_RESPONSE_MEMBERS`] are refused.
///
/// ```
/// use mcp_auth_core::ext::{ResponseMembers, ResponseTokenType};
///
/// let mut members = ResponseMembers::new();
/// members.token_type = ResponseTokenType::NotApplicable;
/// members
///     .insert("issued_token_type", "urn:ietf:params:oauth:token-type:id-jag".into())
///     .unwrap();
/// assert!(members.insert("access_token", "x".into()).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseMembers {
    /// `token_type` of the response; `Bearer` by default.
    pub token_type: ResponseTokenType,
    members: serde_json::Map<String, serde_json::Value>,
}

impl ResponseMembers {
    /// `token_type: Bearer` and no extra members.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace member `name`.
    ///
    /// # Errors
    /// [`ClaimError::ReservedMember`] when `name` is one of [`RESERVED_RESPONSE_MEMBERS`].
    pub fn insert(&mut self, name: &str, value: serde_json::Value) -> Result<(), ClaimError> {
        if is_reserved(RESERVED_RESPONSE_MEMBERS, name) {
            return Err(ClaimError::ReservedMember(name.to_owned()));
        }
        self.members.insert(name.to_owned(), value);
        Ok(())
    }

    /// The extra members as a JSON object.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.members
    }

    /// The extra members, consuming `self`.
    pub fn into_map(self) -> serde_json::Map<String, serde_json::Value> {
        self.members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_claim_is_refused_at_insert() {
        let mut claims = ExtraClaims::new();
        for name in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "cnf",
            "auth_time",
            "typ",
            "AUD",
        ] {
            assert_eq!(
                claims.insert(name, serde_json::json!("x")),
                Err(ClaimError::ReservedClaim(name.to_owned())),
                "{name}"
            );
        }
        assert!(claims.is_empty());
    }

    #[test]
    fn a_map_holding_aud_does_not_become_extra_claims() {
        let map = serde_json::json!({"tenant": "acme", "aud": "https://evil.example"});
        let serde_json::Value::Object(map) = map else {
            unreachable!()
        };
        assert_eq!(
            ExtraClaims::try_from(map),
            Err(ClaimError::ReservedClaim("aud".into()))
        );
        let parsed: Result<ExtraClaims, _> = serde_json::from_str(r#"{"tenant":"acme","exp":1}"#);
        assert!(parsed.is_err());
    }

    #[test]
    fn response_members_refuse_the_access_token_response_names() {
        let mut m = ResponseMembers::new();
        for name in [
            "access_token",
            "token_type",
            "expires_in",
            "scope",
            "refresh_token",
        ] {
            assert_eq!(
                m.insert(name, serde_json::json!("x")),
                Err(ClaimError::ReservedMember(name.to_owned()))
            );
        }
        m.insert("issued_token_type", serde_json::json!("urn:x"))
            .unwrap();
        assert_eq!(m.as_map().len(), 1);
        assert_eq!(m.token_type.as_str(), "Bearer");
    }
}
