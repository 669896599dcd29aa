//! Token introspection (RFC 7662), for authenticated confidential callers.

use mcp_auth_core::store::RefreshTokenState;
use mcp_auth_core::wire::IntrospectionResponse;
use mcp_auth_core::{FormParams, OAuthError, TokenHash};

use super::client_authentication::Callers;
use super::token::ClientRequest;
use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// Introspect `token` (RFC 7662 §2.1). The caller must authenticate as a confidential client,
    /// and may read only tokens meant for it (RFC 7662 §4, issue #8 item 6): an access token
    /// issued to it, or one whose `aud` is a resource it is configured as the server of
    /// ([`crate::ServerSettings::introspection_clients`]); a refresh token only when issued to
    /// it. Unknown, expired, revoked and foreign tokens are all `{"active":false}`, and so is an
    /// access token its user cut off by removing the client's access
    /// ([`crate::engine::account`]); the reason is never revealed.
    ///
    /// Errors: `invalid_request` (malformed form, missing `token`), `invalid_client` (401).
    pub async fn introspect(
        &self,
        request: ClientRequest<'_>,
    ) -> Result<IntrospectionResponse, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let endpoint = self.inner.settings.issuer.endpoint("/introspect");
        let caller = self
            .authenticate_client(
                request.authorization,
                &params,
                &endpoint,
                Callers::ConfidentialOnly,
                request.source,
            )
            .await?;
        let token = params.require("token")?;
        let now = self.inner.clock.now();
        if let Some(claims) = self.token_issuer().verify(token) {
            let meant_for_caller = claims.client_id == caller.client_id.as_str()
                || self
                    .inner
                    .settings
                    .is_introspection_client(&caller.client_id, &claims.aud);
            if !meant_for_caller
                || claims.exp <= now
                || self
                    .inner
                    .stores
                    .denylist
                    .is_denied(&claims.jti, now)
                    .await?
                || self
                    .is_cut_off(&claims.sub, &claims.client_id, claims.iat)
                    .await?
            {
                return Ok(IntrospectionResponse::inactive());
            }
            // RFC 9449 §6.2: a DPoP-bound token is `token_type: DPoP` with its `cnf`.
            let token_type = if claims.cnf.is_some() {
                mcp_auth_core::jose::dpop::TOKEN_TYPE
            } else {
                "Bearer"
            };
            return Ok(IntrospectionResponse {
                active: true,
                scope: Some(claims.scope),
                client_id: Some(claims.client_id),
                token_type: Some(token_type.into()),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                sub: Some(claims.sub),
                aud: Some(claims.aud),
                iss: Some(claims.iss),
                jti: Some(claims.jti),
                cnf: claims.cnf,
            });
        }
        let hash = TokenHash::of(token);
        match self.inner.stores.refresh_tokens.get(hash.as_str()).await? {
            Some(rt)
                if rt.state == RefreshTokenState::Active
                    && rt.client_id == caller.client_id.as_str()
                    && now < rt.expires_at
                    && now < rt.family_expires_at =>
            {
                Ok(IntrospectionResponse {
                    active: true,
                    scope: Some(rt.scope.to_string()),
                    client_id: Some(rt.client_id),
                    token_type: Some("refresh_token".into()),
                    exp: Some(rt.expires_at),
                    iat: Some(rt.issued_at),
                    sub: Some(rt.sub),
                    aud: Some(rt.resource.as_str().to_owned()),
                    iss: Some(self.inner.settings.issuer.as_str().to_owned()),
                    jti: None,
                    cnf: None,
                })
            }
            _ => Ok(IntrospectionResponse::inactive()),
        }
    }
}
