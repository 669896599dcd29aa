//! Client-side pieces of OAuth clients (feature `client`): RFC 9728 / RFC 8414 discovery of an
//! MCP server's authorization server ([`discover_for_grant`]), how a client authenticates to a
//! token endpoint ([`ClientAuth`]), and ES256 `private_key_jwt` assertions ([`Es256Key`]).
//! Shared by the `client_credentials` token provider and the Cross App Access client helpers.

mod assertion;
mod discovery;
mod error;

use mcp_auth_core::Secret;

pub use assertion::Es256Key;
pub use discovery::{Discovery, checked_url, discover, discover_for_grant, well_known_url};
pub use error::ClientError;

/// `client_assertion_type` for `private_key_jwt` (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the provider authenticates to the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2). Must be
/// the client's registered `token_endpoint_auth_method`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    SecretBasic {
        /// The `client_id`.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost {
        /// The `client_id`.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
    /// `private_key_jwt`: a fresh ES256 assertion per token request.
    PrivateKeyJwt {
        /// The `client_id` (`iss` and `sub` of the assertion).
        client_id: String,
        /// The signing key (boxed: it is large).
        key: Box<Es256Key>,
    },
}

impl ClientAuth {
    /// `client_secret_basic`.
    pub fn secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::SecretBasic {
            client_id: client_id.into(),
            secret: Secret::new(secret),
        }
    }

    /// `client_secret_post`.
    pub fn secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::SecretPost {
            client_id: client_id.into(),
            secret: Secret::new(secret),
        }
    }

    /// `private_key_jwt` with `key`.
    pub fn private_key_jwt(client_id: impl Into<String>, key: Es256Key) -> Self {
        Self::PrivateKeyJwt {
            client_id: client_id.into(),
            key: Box::new(key),
        }
    }

    /// The `client_id`.
    pub fn client_id(&self) -> &str {
        match self {
            Self::SecretBasic { client_id, .. }
            | Self::SecretPost { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }

    /// The wire name of the method, e.g. `client_secret_basic`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::SecretBasic { .. } => "client_secret_basic",
            Self::SecretPost { .. } => "client_secret_post",
            Self::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }
}
