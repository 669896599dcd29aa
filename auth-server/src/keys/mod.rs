//! Signing keys and the RFC 9068 JWT access token issuer.
//!
//! - [`SigningKey`]: one ES256 (ECDSA P-256 / SHA-256, RFC 7518 §3.4) key, parsed once from its
//!   stored PKCS#8 form, with its RFC 7638 thumbprint as `kid` and its public JWK (RFC 7517).
//! - [`JwtTokenIssuer`]: the [`mcp_auth_core::ext::TokenIssuer`] that signs access tokens with the
//!   current key (header `{"alg":"ES256","typ":"at+jwt","kid":…}`, RFC 9068 §2.1), verifies them,
//!   and publishes the current and still-needed retired keys as a JWK Set (RFC 7517 §5).
//! - [`KeyError`]: what can go wrong loading keys or building the issuer.

mod error;
mod jwt_issuer;
mod signing_key;

pub use error::KeyError;
pub use jwt_issuer::JwtTokenIssuer;
pub use signing_key::SigningKey;
