//! Token revocation (RFC 7009).

use mcp_auth_core::ext::AuditEvent;
use mcp_auth_core::{FormParams, OAuthError, TokenHash};

use super::client_authentication::Callers;
use super::token::ClientRequest;
use crate::grants::deny_all;
use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// Revoke `token` (RFC 7009 §2.1) for the authenticated client. A refresh token revokes its
    /// whole family and the access tokens issued with it; an access token is denied until it
    /// expires. Tokens that are unknown or belong to another client are ignored: the answer is
    /// 200 either way (RFC 7009 §2.2).
    ///
    /// Errors: `invalid_request` (malformed form, missing `token`), `invalid_client` (401).
    pub async fn revoke(&self, request: ClientRequest<'_>) -> Result<(), OAuthError> {
        let params = FormParams::parse(request.body)?;
        let endpoint = self.inner.settings.issuer.endpoint("/revoke");
        let client = self
            .authenticate_client(
                request.authorization,
                &params,
                &endpoint,
                Callers::AnyClient,
                request.source,
            )
            .await?;
        let token = params.require("token")?;
        let now = self.inner.clock.now();
        let stores = &self.inner.stores;
        let hash = TokenHash::of(token);
        if let Some(rt) = stores.refresh_tokens.get(hash.as_str()).await?
            && rt.client_id == client.client_id.as_str()
        {
            let revoked = stores.refresh_tokens.revoke_family(&rt.family_id).await?;
            deny_all(stores, &revoked, now).await?;
            tracing::info!(client_id = %client.client_id, family = %rt.family_id, "refresh token family revoked");
            self.audit(AuditEvent::TokenRevoked {
                client_id: client.client_id.as_str().to_owned(),
                jti: None,
            })
            .await;
            return Ok(());
        }
        if let Some(claims) = self.token_issuer().verify(token)
            && claims.client_id == client.client_id.as_str()
            && claims.exp > now
        {
            stores.denylist.deny(&claims.jti, claims.exp).await?;
            tracing::info!(client_id = %client.client_id, jti = %claims.jti, "access token revoked");
            self.audit(AuditEvent::TokenRevoked {
                client_id: client.client_id.as_str().to_owned(),
                jti: Some(claims.jti.clone()),
            })
            .await;
        }
        Ok(())
    }
}
