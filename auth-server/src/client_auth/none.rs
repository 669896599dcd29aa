//! `none`: public clients (RFC 6749 §2.1), identified by `client_id` alone.

use async_trait::async_trait;
use mcp_auth_core::client::Client;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::{AuthContext, ClientAuthenticator, PresentedCredentials};
use mcp_auth_core::types::TokenEndpointAuthMethod;

use super::AuthFailure;

/// The `none` method: nothing to check beyond the `client_id`, which resolution already matched.
/// PKCE is the public client's proof of possession.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoneAuthenticator;

#[async_trait]
impl ClientAuthenticator for NoneAuthenticator {
    fn method(&self) -> TokenEndpointAuthMethod {
        TokenEndpointAuthMethod::None
    }

    /// `Ok` for `none` credentials naming `client`; otherwise `invalid_client`.
    async fn authenticate(
        &self,
        client: &Client,
        credentials: &PresentedCredentials,
        _ctx: &AuthContext<'_>,
    ) -> Result<(), OAuthError> {
        match credentials {
            PresentedCredentials::None { client_id } if *client_id == client.client_id => Ok(()),
            PresentedCredentials::None { .. } => Err(AuthFailure::invalid_client(
                "client_id does not match the resolved client",
            )),
            _ => Err(AuthFailure::invalid_client(
                "credentials are not of method none",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_auth::test_support::{NOW, client, ctx, issuer};

    #[tokio::test]
    async fn none_credentials_for_the_client_pass() {
        let client = client("pub_1", TokenEndpointAuthMethod::None);
        let creds = PresentedCredentials::None {
            client_id: "pub_1".parse().unwrap(),
        };
        let iss = issuer();
        assert!(
            NoneAuthenticator
                .authenticate(&client, &creds, &ctx(&iss, NOW))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn other_client_id_is_invalid_client() {
        let client = client("pub_1", TokenEndpointAuthMethod::None);
        let creds = PresentedCredentials::None {
            client_id: "pub_2".parse().unwrap(),
        };
        let iss = issuer();
        let err = NoneAuthenticator
            .authenticate(&client, &creds, &ctx(&iss, NOW))
            .await
            .unwrap_err();
        assert_eq!(err.code(), mcp_auth_core::ErrorCode::InvalidClient);
    }
}
