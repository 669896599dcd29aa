//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1).

use async_trait::async_trait;
use mcp_auth_core::client::Client;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::{AuthContext, ClientAuthenticator, PresentedCredentials};
use mcp_auth_core::types::TokenEndpointAuthMethod;

use super::AuthFailure;

/// Checks a client secret against the client's stored secret hashes.
///
/// The presented secret must match one of `client.secrets` that has not expired at `ctx.now`
/// ([`mcp_auth_core::client::ClientSecretHash::verify`]), so a rotated secret keeps working until its
/// `expires_at`. Every stored secret is checked, with no early exit, and each comparison is
/// constant-time. A failure is `invalid_client`; for Basic it carries the `Basic` challenge
/// (RFC 6749 §5.2, spec AS-19).
#[derive(Debug, Clone, Copy)]
pub struct ClientSecretAuthenticator {
    method: TokenEndpointAuthMethod,
}

impl ClientSecretAuthenticator {
    /// `client_secret_basic`: the secret arrives in `Authorization: Basic`.
    pub fn basic() -> Self {
        Self {
            method: TokenEndpointAuthMethod::ClientSecretBasic,
        }
    }

    /// `client_secret_post`: the secret arrives as the `client_secret` form parameter.
    pub fn post() -> Self {
        Self {
            method: TokenEndpointAuthMethod::ClientSecretPost,
        }
    }

    fn fail(&self, reason: &str) -> OAuthError {
        if self.method == TokenEndpointAuthMethod::ClientSecretBasic {
            AuthFailure::invalid_client_basic(reason)
        } else {
            AuthFailure::invalid_client(reason)
        }
    }
}

#[async_trait]
impl ClientAuthenticator for ClientSecretAuthenticator {
    fn method(&self) -> TokenEndpointAuthMethod {
        self.method
    }

    async fn authenticate(
        &self,
        client: &Client,
        credentials: &PresentedCredentials,
        ctx: &AuthContext<'_>,
    ) -> Result<(), OAuthError> {
        let (client_id, secret) = match (self.method, credentials) {
            (
                TokenEndpointAuthMethod::ClientSecretBasic,
                PresentedCredentials::SecretBasic { client_id, secret },
            )
            | (
                TokenEndpointAuthMethod::ClientSecretPost,
                PresentedCredentials::SecretPost { client_id, secret },
            ) => (client_id, secret),
            _ => return Err(self.fail("credentials are not of the authenticator's method")),
        };
        if *client_id != client.client_id {
            return Err(self.fail("client_id does not match the resolved client"));
        }
        let matched = client.secrets.iter().fold(false, |found, stored| {
            found | stored.verify(secret.expose(), ctx.now)
        });
        if matched {
            Ok(())
        } else {
            Err(self.fail("client secret does not match a current secret"))
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::error::{ChallengeHint, ErrorCode};
    use mcp_auth_core::secret::Secret;

    use super::*;
    use crate::client_auth::test_support::{NOW, client, ctx, issuer, secret_hash};

    fn basic(secret: &str) -> PresentedCredentials {
        PresentedCredentials::SecretBasic {
            client_id: "c1".parse().unwrap(),
            secret: Secret::new(secret),
        }
    }

    fn post(secret: &str) -> PresentedCredentials {
        PresentedCredentials::SecretPost {
            client_id: "c1".parse().unwrap(),
            secret: Secret::new(secret),
        }
    }

    fn confidential(method: TokenEndpointAuthMethod) -> Client {
        let mut c = client("c1", method);
        c.secrets = vec![secret_hash("s3cret", None)];
        c
    }

    #[tokio::test]
    async fn right_secret_passes_basic_and_post() {
        let iss = issuer();
        let basic_client = confidential(TokenEndpointAuthMethod::ClientSecretBasic);
        ClientSecretAuthenticator::basic()
            .authenticate(&basic_client, &basic("s3cret"), &ctx(&iss, NOW))
            .await
            .unwrap();
        let post_client = confidential(TokenEndpointAuthMethod::ClientSecretPost);
        ClientSecretAuthenticator::post()
            .authenticate(&post_client, &post("s3cret"), &ctx(&iss, NOW))
            .await
            .unwrap();
    }

    /// AS-19: `invalid_client` after a Basic attempt carries the `Basic` challenge (HTTP 401).
    #[tokio::test]
    async fn basic_with_wrong_secret_is_invalid_client_with_basic_challenge() {
        let iss = issuer();
        let c = confidential(TokenEndpointAuthMethod::ClientSecretBasic);
        let err = ClientSecretAuthenticator::basic()
            .authenticate(&c, &basic("wrong"), &ctx(&iss, NOW))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        assert_eq!(err.http_status(), 401);
        assert_eq!(err.challenge(), ChallengeHint::Basic);
        assert_eq!(err.description(), "client authentication failed");
    }

    #[tokio::test]
    async fn post_with_wrong_secret_is_invalid_client_without_challenge() {
        let iss = issuer();
        let c = confidential(TokenEndpointAuthMethod::ClientSecretPost);
        let err = ClientSecretAuthenticator::post()
            .authenticate(&c, &post("wrong"), &ctx(&iss, NOW))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        assert_eq!(err.challenge(), ChallengeHint::None);
    }

    #[tokio::test]
    async fn rotated_secret_works_until_its_expiry_and_not_after() {
        let iss = issuer();
        let mut c = client("c1", TokenEndpointAuthMethod::ClientSecretBasic);
        c.secrets = vec![
            secret_hash("old", Some(NOW + 3600)),
            secret_hash("new", None),
        ];
        let auth = ClientSecretAuthenticator::basic();
        for (secret, now, ok) in [
            ("old", NOW, true),
            ("old", NOW + 3599, true),
            ("old", NOW + 3600, false),
            ("new", NOW + 3600, true),
        ] {
            let got = auth.authenticate(&c, &basic(secret), &ctx(&iss, now)).await;
            assert_eq!(got.is_ok(), ok, "{secret} at {now}");
        }
    }

    #[tokio::test]
    async fn client_without_secrets_is_invalid_client() {
        let iss = issuer();
        let c = client("c1", TokenEndpointAuthMethod::ClientSecretPost);
        let err = ClientSecretAuthenticator::post()
            .authenticate(&c, &post(""), &ctx(&iss, NOW))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn post_credentials_at_basic_authenticator_are_invalid_client() {
        let iss = issuer();
        let c = confidential(TokenEndpointAuthMethod::ClientSecretBasic);
        let err = ClientSecretAuthenticator::basic()
            .authenticate(&c, &post("s3cret"), &ctx(&iss, NOW))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }
}
