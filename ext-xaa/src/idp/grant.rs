//! The RFC 8693 token exchange that issues ID-JAGs (SEP-990 §6.3, §6.4), one
//! [`TokenExchanger`] of the server's token-exchange grant.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_core::ext::{
    ExchangeOutcome, ExtensionServices, GrantContext, GrantDecision, RefreshPolicy,
    RequestedResources, ResourceHint, ResponseTokenType, ScopeCeiling, SingleResourceError,
    TokenExchangeRequest, TokenExchanger, TokenProfile, narrow_scope,
};
use mcp_auth_core::{ErrorCode, OAuthError, ResourceUri};

use super::config::{IdpConfig, TargetPolicy};
use super::subject::{SubjectToken, check_id_token, check_refresh_token};
use super::{ID_JAG_JWT_TYP, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, REFRESH_TOKEN_TYPE};

/// Issues an ID-JAG for a signed-in user to another authorization server.
///
/// It claims a request whose `requested_token_type` is the ID-JAG type or whose `audience` is
/// a configured target. A request runs, in order (errors are RFC 6749 §5.2 / RFC 8693 §2.2.2
/// codes, status 400):
/// 1. client authentication: confidential clients only (`client_secret_basic`,
///    `client_secret_post`, `private_key_jwt`; SEP-990 stable §7.7) — the engine, before this
///    exchanger (`invalid_client` 401, `unauthorized_client`), and the parameters parsed once
///    ([`TokenExchangeRequest`]: `subject_token`, `subject_token_type` present, no repeats);
/// 2. `requested_token_type` = `urn:ietf:params:oauth:token-type:id-jag` and `audience`
///    present (`invalid_request`); `actor_token` is not supported (`invalid_request`);
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
pub struct IdJagExchanger {
    config: Arc<IdpConfig>,
    services: ExtensionServices,
}

impl std::fmt::Debug for IdJagExchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdJagExchanger")
            .field("targets", &self.config.targets.len())
            .finish_non_exhaustive()
    }
}

impl IdJagExchanger {
    /// The exchanger for `config`, checking subject tokens against `services` (this server's
    /// issuer, keys and refresh tokens).
    pub fn new(config: Arc<IdpConfig>, services: ExtensionServices) -> Self {
        Self { config, services }
    }

    async fn subject(
        &self,
        request: &TokenExchangeRequest,
        client_id: &str,
        now: mcp_auth_core::UnixTime,
    ) -> Result<SubjectToken, OAuthError> {
        let token = request.subject_token.as_str();
        let checked = match request.subject_token_type.as_str() {
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
impl TokenExchanger for IdJagExchanger {
    fn name(&self) -> &str {
        "id-jag"
    }

    fn issued_token_types(&self) -> &[&str] {
        &[ID_JAG_TOKEN_TYPE]
    }

    /// An ID-JAG request: `requested_token_type` is the ID-JAG type, or `audience` is one of
    /// the configured targets (so a request to a target naming another type reads
    /// `invalid_request` from here, not `invalid_target`).
    fn claims(&self, _ctx: &GrantContext<'_>, request: &TokenExchangeRequest) -> bool {
        request.requested_token_type.as_deref() == Some(ID_JAG_TOKEN_TYPE)
            || request
                .audience
                .as_deref()
                .is_some_and(|a| self.config.target(a).is_some())
    }

    async fn exchange(
        &self,
        ctx: &GrantContext<'_>,
        request: &TokenExchangeRequest,
    ) -> Result<ExchangeOutcome, OAuthError> {
        match request.requested_token_type.as_deref() {
            Some(ID_JAG_TOKEN_TYPE) => {}
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "requested_token_type {other} is not supported; this server issues {ID_JAG_TOKEN_TYPE}"
                )));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "missing parameter requested_token_type",
                ));
            }
        }
        if request.actor.is_some() {
            return Err(OAuthError::invalid_request(
                "actor_token is not supported for ID-JAG requests",
            ));
        }
        let audience = request
            .audience
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("missing parameter audience"))?;
        let target = self.config.target(audience).ok_or_else(|| {
            invalid_target("this IdP does not issue assertions for that audience")
        })?;
        let client_id = ctx.client.client_id.as_str();
        let client_at_target = target.client_id_at_target(client_id).ok_or_else(|| {
            invalid_target("this client may not get assertions for that audience")
        })?;
        let resource = target_resource(&ctx.requested_resource, target)?;
        let subject = self.subject(request, client_id, ctx.now).await?;
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
        Ok(ExchangeOutcome::Mint(Box::new(decision)))
    }
}
