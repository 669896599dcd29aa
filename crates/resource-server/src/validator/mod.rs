//! Token validators behind one trait: RFC 9068 JWTs checked against cached JWKS, and RFC 7662
//! introspection.

mod introspection;
mod jwks;
mod jwt;

pub use introspection::{IntrospectionValidator, IntrospectionValidatorBuilder};
pub use jwks::{JwksSource, TrustedIssuer};
pub use jwt::{JwtValidator, JwtValidatorBuilder};

use async_trait::async_trait;

use crate::error::ValidationError;
use crate::principal::Principal;

/// Checks a bearer token and says who presented it.
///
/// Implementations must check, at least, that the token is authentic, unexpired, issued by a
/// trusted issuer and meant for this resource (`aud`); scope is checked by the layer.
#[async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    /// Validate `token` (the token68 after `Bearer `).
    ///
    /// # Errors
    /// [`ValidationError::Token`] for a bad token (401), [`ValidationError::Unavailable`] when
    /// keys or the introspection endpoint cannot be reached (503).
    async fn validate(&self, token: &str) -> Result<Principal, ValidationError>;
}

/// Normalise an audience for comparison (spec §1.4.2 step 6): lowercase scheme and host, drop a
/// default port, drop a trailing `/` on a non-root path. `None` when it is not an http(s) URI.
pub(crate) fn normalize_audience(aud: &str) -> Option<String> {
    let r: auth_core::ResourceUri = aud.parse().ok()?;
    let s = r.as_str();
    let after_scheme = s.find("://").map_or(0, |i| i + 3);
    match s[after_scheme..].find('/') {
        Some(i) if s.len() > after_scheme + i + 1 && s.ends_with('/') => {
            Some(s[..s.len() - 1].to_owned())
        }
        Some(i) if s.len() == after_scheme + i + 1 => Some(s[..s.len() - 1].to_owned()),
        _ => Some(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_audience;

    /// RS-16: uppercase scheme or host and a default port normalise away.
    #[test]
    fn audience_normalisation_lowercases_and_drops_default_port_and_trailing_slash() {
        assert_eq!(
            normalize_audience("HTTPS://MCP.Example.com:443/mcp/").as_deref(),
            Some("https://mcp.example.com/mcp")
        );
        assert_eq!(
            normalize_audience("https://mcp.example.com/").as_deref(),
            Some("https://mcp.example.com")
        );
        assert_eq!(normalize_audience("urn:x"), None);
    }
}
