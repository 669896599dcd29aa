use async_trait::async_trait;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::error::OAuthError;
use crate::secret::Secret;
use crate::types::{ClientId, Issuer, TokenEndpointAuthMethod};

/// The credentials one token-endpoint request presented (RFC 6749 §2.3). The server collects
/// exactly one method per request; two are `invalid_request`.
#[derive(Debug, Clone)]
pub enum PresentedCredentials {
    /// `none`: only a `client_id` in the body.
    None {
        /// The claimed client.
        client_id: ClientId,
    },
    /// `client_secret_basic`.
    SecretBasic {
        /// The claimed client.
        client_id: ClientId,
        /// The presented secret.
        secret: Secret,
    },
    /// `client_secret_post`.
    SecretPost {
        /// The claimed client.
        client_id: ClientId,
        /// The presented secret.
        secret: Secret,
    },
    /// `private_key_jwt` (RFC 7523 §2.2).
    JwtAssertion {
        /// The client named by the assertion's `sub` (not yet verified).
        client_id: ClientId,
        /// The compact JWT.
        assertion: Secret,
    },
}

impl PresentedCredentials {
    /// The claimed `client_id`.
    pub fn client_id(&self) -> &ClientId {
        match self {
            Self::None { client_id }
            | Self::SecretBasic { client_id, .. }
            | Self::SecretPost { client_id, .. }
            | Self::JwtAssertion { client_id, .. } => client_id,
        }
    }

    /// The method these credentials use.
    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::None { .. } => TokenEndpointAuthMethod::None,
            Self::SecretBasic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::SecretPost { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::JwtAssertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
        }
    }
}

/// The server facts an authenticator checks against.
#[derive(Debug, Clone, Copy)]
pub struct AuthContext<'a> {
    /// This server's issuer (an accepted assertion `aud`).
    pub issuer: &'a Issuer,
    /// The URL of the endpoint being called (an accepted assertion `aud`).
    pub endpoint_url: &'a str,
    /// Now, seconds since the epoch.
    pub now: UnixTime,
}

/// Checks one client authentication method. Every failure is `invalid_client` and reads the
/// same to the caller.
#[async_trait]
pub trait ClientAuthenticator: Send + Sync {
    /// The method this authenticator checks.
    fn method(&self) -> TokenEndpointAuthMethod;

    /// Signing algorithms this method accepts, for
    /// `token_endpoint_auth_signing_alg_values_supported`; empty for secret methods.
    fn signing_alg_values(&self) -> Vec<String> {
        Vec::new()
    }

    /// Authenticate `client` with `credentials`. Called only when the credentials' method is the
    /// client's registered method.
    async fn authenticate(
        &self,
        client: &Client,
        credentials: &PresentedCredentials,
        ctx: &AuthContext<'_>,
    ) -> Result<(), OAuthError>;
}
