//! The token endpoint (RFC 6749 §3.2, spec §2.3): parse, authenticate the client, dispatch to the
//! grant handler, mint.

use mcp_auth_core::ext::{
    AccessTokenClaims, GrantContext, GrantDecision, GrantHandler, IssuedTokens, RefreshPolicy,
};
use mcp_auth_core::store::{RefreshToken, RefreshTokenState};
use mcp_auth_core::wire::TokenResponse;
use mcp_auth_core::{Client, ErrorCode, FormParams, OAuthError, TokenHash};

use tracing::Instrument;

use super::client_authentication::Callers;
use crate::server::AuthorizationServer;

/// A back-channel request as it arrived at the token, introspection or revocation endpoint:
/// the `Authorization` header (if any), the raw form body and the caller's address.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// The `Authorization` header value.
    pub authorization: Option<&'a str>,
    /// The `application/x-www-form-urlencoded` body.
    pub body: &'a [u8],
    /// The caller's address, for counting failed authentications; `None` when unknown.
    pub source: Option<&'a str>,
}

impl AuthorizationServer {
    /// Handle one token request.
    ///
    /// Errors: `invalid_request` (malformed or repeated parameters, two client authentication
    /// methods), `unsupported_grant_type`, `invalid_client` (401), `unauthorized_client`, and
    /// whatever the grant handler decides (`invalid_grant`, `invalid_scope`, `invalid_target`).
    pub async fn token(&self, request: ClientRequest<'_>) -> Result<TokenResponse, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let grant_type = params.require("grant_type")?;
        let handler = self
            .inner
            .registry
            .grant(grant_type)
            .cloned()
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!("grant_type {grant_type} is not supported"),
                )
            })?;
        let token_endpoint = self.inner.settings.issuer.endpoint("/token");
        let client = self
            .authenticate_client(
                request.authorization,
                &params,
                &token_endpoint,
                Callers::AnyClient,
                request.source,
            )
            .await?;
        let span =
            tracing::info_span!("token", grant_type = %grant_type, client_id = %client.client_id);
        self.run_grant(&client, &params, grant_type, handler.as_ref())
            .instrument(span)
            .await
    }

    async fn run_grant(
        &self,
        client: &Client,
        params: &FormParams,
        grant_type: &str,
        handler: &dyn GrantHandler,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client may not use the {grant_type} grant"),
            ));
        }
        let ctx = GrantContext {
            client,
            params,
            issuer: &self.inner.settings.issuer,
            resources: &self.inner.settings.resources,
            now: self.inner.clock.now(),
        };
        let decision = handler.decide(&ctx).await?;
        self.issue(client, decision, handler, &ctx).await
    }

    /// Mint the access token and, by the decision's policy, a refresh token; then tell the
    /// handler what was issued.
    async fn issue(
        &self,
        client: &Client,
        decision: GrantDecision,
        handler: &dyn GrantHandler,
        ctx: &GrantContext<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let settings = &self.inner.settings;
        let now = ctx.now;
        let ttl = decision
            .resource
            .access_token_ttl
            .unwrap_or(settings.access_token_ttl);
        let claims = AccessTokenClaims {
            iss: settings.issuer.as_str().to_owned(),
            sub: decision.subject.clone(),
            aud: decision.resource.resource.as_str().to_owned(),
            client_id: client.client_id.as_str().to_owned(),
            scope: decision.scope.to_string(),
            iat: now,
            exp: now + ttl as i64,
            jti: self.inner.secrets.token("", 16),
            auth_time: decision.auth_time,
            extra: decision.extra_claims.clone(),
        };
        let access_token = self.token_issuer().issue(&claims)?;
        let family = match &decision.refresh {
            RefreshPolicy::None => None,
            RefreshPolicy::NewFamily if client.allows_grant("refresh_token") => Some((
                self.inner.secrets.token("fam_", 16),
                now + settings.refresh_absolute_ttl as i64,
            )),
            RefreshPolicy::NewFamily => None,
            RefreshPolicy::Rotate {
                family_id,
                family_expires_at,
            } => Some((family_id.clone(), *family_expires_at)),
        };
        let mut refresh_token = None;
        if let Some((family_id, family_expires_at)) = &family {
            let value = self.inner.secrets.token("rt_", 32);
            let record = RefreshToken {
                token_hash: TokenHash::of(&value).as_str().to_owned(),
                family_id: family_id.clone(),
                client_id: client.client_id.as_str().to_owned(),
                sub: decision.subject.clone(),
                scope: decision.scope.to_string(),
                resource: decision.resource.resource.as_str().to_owned(),
                auth_time: decision.auth_time,
                issued_at: now,
                expires_at: (now + settings.refresh_idle_ttl as i64).min(*family_expires_at),
                family_expires_at: *family_expires_at,
                access_jti: claims.jti.clone(),
                access_exp: claims.exp,
                state: RefreshTokenState::Active,
            };
            if !self.inner.stores.refresh_tokens.insert(&record).await? {
                self.inner
                    .stores
                    .denylist
                    .deny(&claims.jti, claims.exp)
                    .await?;
                return Err(OAuthError::invalid_grant("the grant was revoked"));
            }
            refresh_token = Some(value);
        }
        handler
            .issued(
                ctx,
                &IssuedTokens {
                    access_jti: claims.jti.clone(),
                    access_exp: claims.exp,
                    refresh_family: family.map(|(f, _)| f),
                },
            )
            .await?;
        tracing::info!(jti = %claims.jti, aud = %claims.aud, scope = %claims.scope, "access token issued");
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope: claims.scope,
            refresh_token,
        })
    }
}
