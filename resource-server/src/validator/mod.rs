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
