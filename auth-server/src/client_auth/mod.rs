//! Token-endpoint client authentication (RFC 6749 §2.3, spec §2.3).
//!
//! [`extract_credentials`] reads the one method a request uses (Basic header, body secret,
//! JWT assertion or a bare `client_id`); the server resolves the client, checks the method is the
//! registered one, and calls that method's [`mcp_auth_core::ext::ClientAuthenticator`]:
//!
//! | method | authenticator |
//! |---|---|
//! | `none` | [`NoneAuthenticator`] |
//! | `client_secret_basic`, `client_secret_post` | [`ClientSecretAuthenticator`] |
//! | `private_key_jwt` (RFC 7523, spec §2.3.1) | [`PrivateKeyJwtAuthenticator`] with a [`ClientKeySource`] |
//!
//! Every authentication failure is `invalid_client` with the same description; the reason is
//! attached as an [`AuthFailure`] source, for logs only.

mod assertion_claims;
mod client_keys;
mod client_secret;
mod credentials;
mod failure;
mod inline_key_sets;
mod none;
mod private_key_jwt;
#[cfg(test)]
mod test_support;

pub use client_keys::{ClientJwksSource, ClientKeySource, HttpJwksFetcher};
pub use client_secret::ClientSecretAuthenticator;
pub use credentials::{CLIENT_ASSERTION_TYPE_JWT_BEARER, extract_credentials};
pub use failure::{AuthFailure, ClientAuthThrottle};
pub use none::NoneAuthenticator;
pub use private_key_jwt::PrivateKeyJwtAuthenticator;
