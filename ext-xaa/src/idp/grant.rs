//! The RFC 8693 token-exchange grant that issues ID-JAGs (SEP-990 §6.3, §6.4).

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_core::ext::{
    ClientAuthPolicy, ExtensionServices, GrantContext, GrantDecision, GrantHandler, RefreshPolicy,
    RequestedResources, ResourceHint, ResponseTokenType, ScopeCeiling, SingleResourceError,
    TokenProfile, narrow_scope,
};
use mcp_auth_core::{
    ErrorCode, FormParams, GrantType, OAuthError, ResourceUri, TokenEndpointAuthMethod,
};

use super::config::{IdpConfig, TargetPolicy};
use super::subject::{SubjectToken, check_id_token, check_refresh_token};
use super::{ID_JAG_JWT_TYP, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, REFRESH_TOKEN_TYPE};

/// Issues an ID-JAG for a signed-in user to another authorization server.
///
/// A request runs, in order (errors are RFC 6749 §5.2 / RFC 8693 §2.2.2 codes, status 400):
/// 1. client authentication: confidential clients only (`client_secret_basic`,
///    `client_secret_post`, `private_key_jwt`; SEP-990 stable §7.7) — the engine, before this
///    handler (`invalid_client` 401, `unauthorized_client`);
/// 2. `requested_token_type` = `urn:ietf:params:oauth:token-type:id-jag`, `subject_token`,
///    `subject_token_type` and `audience` present (`invalid_request`); `actor_token` is not
///    supported (`invalid_request`);
/// 3. `audience` names a configured target (`invalid_target`); the client is allowed there,
///    through the `client_ids` mapping or as a CIMD URL (`invalid_target`);
/// 4. `resource`, when sent, is one of the target's resources; when absent, the target's only
///    resource (`invalid_target`);
/// 5. the subject token: an ID token this server issued to this client, unexpired, or an active
///    refresh token of this client (`invalid_grant`);
/// 6. `scope`, when sent, within the target's scopes (`invalid_scope`); when absent, all of
///    them.
///
/// The ID-JAG (minted by the server's issuer, header `typ: oauth-id-jag+jwt`): `iss`, `sub` =
/// the user, `aud` = the target's issuer, `client_id` = the client's id at the target, `jti`,
/// `iat`, `exp` (lifetime [`IdpConfig::id_jag_lifetime`]), `resource`, `scope`, `auth_time`.
/// The response: `issued_token_type`, `token_type: N_A`, `expires_in`, `scope`, no refresh
/// token.
pub struct TokenExchangeGrant {
    config: Arc<IdpConfig>,
    services: ExtensionServices,
}

impl std::fmt::Debug for TokenExchangeGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchangeGrant")
            .field("targets", &self.config.targets.len())
            .finish_non_exhaustive()
    }
}

impl TokenExchangeGrant {
    /// The grant for `config`, checking subject tokens against `services` (this server's
    /// issuer, keys and refresh tokens).
    pub fn new(config: Arc<IdpConfig>, services: ExtensionServices) -> Self {
        Self { config, services }
    }

    async fn subject(
        &self,
        params: &FormParams,
        client_id: &str,
        now: mcp_auth_core::UnixTime,
    ) -> Result<SubjectToken, OAuthError> {
        let token = params.require("subject_token")?;
        let token_type = params.require("subject_token_type")?;
        let checked = match token_type {
            ID_TOKEN_TYPE => check_id_token(
                token,
                &self.services.local_keys.jwks(),
                self.services.issuer.as_str(),
                client_id,
                now,
            ),
            REFRESH_TOKEN_TYPE => {
                check_refresh_token(token, self.services.refresh_tokens.as_ref(), client_id, now)
                    .await
            }
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "subject_token_type {other} is not supported; use {ID_TOKEN_TYPE} or {REFRESH_TOKEN_TYPE}"
                )));
            }
        };
        checked.map_err(|e| OAuthError::invalid_grant(e.to_string()))
    }
}

/// `invalid_target` (RFC 8693 §2.2.2).
fn invalid_target(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// Step 4: the resource of the ID-JAG.
fn target_resource(
    requested: &RequestedResources,
    target: &TargetPolicy,
) -> Result<ResourceUri, OAuthError> {
    let requested = requested.single().map_err(|e| match e {
        SingleResourceError::Malformed(_) => invalid_target("resource is not an absolute URI"),
        _ => invalid_target("an ID-JAG names one resource: send resource at most once"),
    })?;
    match requested {
        Some(resource) => {
            if target.resources.contains(resource) {
                Ok(resource.clone())
            } else {
                Err(invalid_target(
                    "this IdP does not issue assertions for that resource at that audience",
                ))
            }
        }
        None => match target.resources.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(invalid_target(
                "the audience governs several resources: send resource",
            )),
        },
    }
}

#[async_trait]
impl GrantHandler for TokenExchangeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GrantType::TOKEN_EXCHANGE)
    }

    fn client_authentication(&self) -> ClientAuthPolicy {
        ClientAuthPolicy::Required(vec![
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
            TokenEndpointAuthMethod::PrivateKeyJwt,
        ])
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        let params = ctx.params;
        match params.require("requested_token_type")? {
            ID_JAG_TOKEN_TYPE => {}
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "requested_token_type {other} is not supported; this server issues {ID_JAG_TOKEN_TYPE}"
                )));
            }
        }
        if params.contains("actor_token") || params.contains("actor_token_type") {
            return Err(OAuthError::invalid_request(
                "actor_token is not supported for ID-JAG requests",
            ));
        }
        params.require("subject_token")?;
        params.require("subject_token_type")?;
        let audience = params.require("audience")?;
        let target = self.config.target(audience).ok_or_else(|| {
            invalid_target("this IdP does not issue assertions for that audience")
        })?;
        let client_id = ctx.client.client_id.as_str();
        let client_at_target = target.client_id_at_target(client_id).ok_or_else(|| {
            invalid_target("this client may not get assertions for that audience")
        })?;
        let resource = target_resource(&ctx.requested_resource, target)?;
        let subject = self.subject(params, client_id, ctx.now).await?;
        let requested = ctx.scope()?;
        let allowed = target.scope_set();
        narrow_scope(requested.as_ref(), &allowed).map_err(|_| {
            OAuthError::invalid_scope("scope exceeds what this IdP allows for that audience")
        })?;
        let mut decision = GrantDecision::new(
            subject.sub,
            ResourceHint::Foreign { resource },
            ScopeCeiling::Granted(allowed),
        );
        decision.requested_scope = requested;
        decision.refresh = RefreshPolicy::None;
        decision.auth_time = subject.auth_time;
        decision.lifetime = Some(self.config.id_jag_lifetime);
        decision.profile = TokenProfile::Assertion {
            typ: ID_JAG_JWT_TYP,
            audience: target.audience.clone(),
            client_id: client_at_target,
        };
        decision.response.token_type = ResponseTokenType::NotApplicable;
        decision
            .response
            .insert("issued_token_type", ID_JAG_TOKEN_TYPE.into())
            .map_err(OAuthError::server_error)?;
        Ok(decision)
    }
}
