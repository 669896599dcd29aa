//! The RFC 8693 token-exchange path of an endpoint with its own set of exchangers
//! (`/connect/token`): parse, authenticate the client, check the grant (the same
//! [`AuthorizationServer::admit`] as `/token`), dispatch through the one
//! [`TokenExchangeGrant`], and either mint through the one issuer or send the exchanger's own
//! answer. At `/token` the same grant is the registry's, run like every other grant.

use mcp_auth_core::ext::{ExchangeOutcome, ExchangeResponse, TokenExchangeGrant};
use mcp_auth_core::wire::TokenResponse;
use mcp_auth_core::{ErrorCode, FormParams, GrantType, OAuthError};
use tracing::Instrument;

use super::client_authentication::Callers;
use super::token::ClientRequest;
use crate::server::AuthorizationServer;

/// The answer of a token exchange.
#[derive(Debug)]
pub enum ExchangeAnswer {
    /// `200`: a token this server minted (RFC 8693 §2.2.1).
    Issued(TokenResponse),
    /// The exchanger's own answer (a stored third-party credential, `connection_required`).
    Direct(ExchangeResponse),
}

impl AuthorizationServer {
    /// One token-exchange request at `path` (e.g. `/connect/token`), dispatched through
    /// `grant`.
    ///
    /// Checks, in order: the form (no repeats: `invalid_request`); client authentication
    /// (confidential clients only: `invalid_client`, 401, with `path` as the `private_key_jwt`
    /// audience); `grant_type` is the token exchange (`unsupported_grant_type`); the client may
    /// use it ([`Self::admit`]: `unauthorized_client`, `invalid_client`); then
    /// [`TokenExchangeGrant::exchange`] (`invalid_request`, `invalid_target`, and the
    /// exchanger's errors).
    pub(crate) async fn exchange_at(
        &self,
        request: ClientRequest<'_>,
        path: &str,
        grant: &TokenExchangeGrant,
    ) -> Result<ExchangeAnswer, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let client = self
            .authenticate_client(
                request.authorization,
                &params,
                &self.inner.settings.issuer.endpoint(path),
                Callers::ConfidentialOnly,
                request.source,
            )
            .await?;
        let grant_type = params.require("grant_type")?;
        if grant_type != GrantType::TOKEN_EXCHANGE {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "{path} accepts only grant_type {}",
                    GrantType::TOKEN_EXCHANGE
                ),
            ));
        }
        let span =
            tracing::info_span!("token", grant_type = %grant_type, client_id = %client.client_id);
        async {
            let ctx = self.admit(&client, &params, grant_type, grant)?;
            match grant.exchange(&ctx).await? {
                ExchangeOutcome::Mint(decision) => self
                    .finish(&client, &ctx, *decision, grant, None)
                    .await
                    .map(ExchangeAnswer::Issued),
                ExchangeOutcome::Respond(answer) => Ok(ExchangeAnswer::Direct(answer)),
                _ => Err(OAuthError::server_error(UnknownOutcome)),
            }
        }
        .instrument(span)
        .await
    }
}

/// An exchange outcome this engine does not know (the enum is non-exhaustive).
#[derive(Debug, thiserror::Error)]
#[error("a token exchanger returned an outcome this server cannot send")]
struct UnknownOutcome;
