use std::fmt;

use serde::{Deserialize, Serialize};

/// An OAuth `grant_type` value (RFC 6749 §4, RFC 7523 §2.1, RFC 8693 §2.1).
///
/// Compared exactly; the constants name the values this project knows. Extensions may define
/// others with [`GrantType::new`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantType(String);

impl GrantType {
    /// `authorization_code` (RFC 6749 §4.1.3).
    pub const AUTHORIZATION_CODE: &'static str = "authorization_code";
    /// `refresh_token` (RFC 6749 §6).
    pub const REFRESH_TOKEN: &'static str = "refresh_token";
    /// `client_credentials` (RFC 6749 §4.4).
    pub const CLIENT_CREDENTIALS: &'static str = "client_credentials";
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1).
    pub const JWT_BEARER: &'static str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1).
    pub const TOKEN_EXCHANGE: &'static str = "urn:ietf:params:oauth:grant-type:token-exchange";

    /// A grant type from its wire string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// `authorization_code`.
    pub fn authorization_code() -> Self {
        Self::new(Self::AUTHORIZATION_CODE)
    }

    /// `refresh_token`.
    pub fn refresh_token() -> Self {
        Self::new(Self::REFRESH_TOKEN)
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantType({})", self.0)
    }
}
