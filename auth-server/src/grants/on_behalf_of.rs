//! On-behalf-of token exchange (RFC 8693 §2.1, §4.1 `act`; issue 24 §4): an MCP server
//! exchanges the access token its user sent it for a token to another resource this server
//! serves, as far as `[[resources]] may_exchange_to` allows. The new token keeps the user's
//! `sub` and says who acts for them: `act: {"sub": <the MCP server's client_id>}`, nesting
//! the subject token's own `act` (a delegation chain of at most [`MAX_ACTOR_DEPTH`] actors).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use mcp_auth_core::ext::{
    ACCESS_TOKEN_TYPE, BoundBy, ExchangeOutcome, ExtraClaims, GrantContext, GrantDecision,
    RefreshPolicy, ResourceHint, SUBJECT_ID_CLAIM, ScopeCeiling, SingleResourceError,
    TokenExchangeRequest, TokenExchanger, narrow_scope,
};
use mcp_auth_core::store::AccessTokenDenylist;
use mcp_auth_core::{ClientId, OAuthError, ResourceUri, ScopeSet};
use serde_json::{Value, json};

use crate::engine::subject_token::{UserAccessToken, check_user_access_token};
use crate::server::IssuerSlot;

/// The longest delegation chain a token may carry: 4 actors (`act` nested 4 deep). A subject
/// token already carrying 4 is refused (`invalid_grant`).
pub const MAX_ACTOR_DEPTH: usize = 4;

/// The on-behalf-of [`TokenExchanger`]. It claims a request that asks for an access token
/// (`requested_token_type` absent or `…:access_token`) for a resource this server serves,
/// named by `audience` or by one `resource` (RFC 8707).
///
/// A request runs, in order (RFC 6749 §5.2 / RFC 8693 §2.2.2 codes, status 400):
/// 1. `subject_token_type` is `…:access_token`; no `actor_token` (the actor is the
///    authenticated client) (`invalid_request`);
/// 2. one target: `audience` and `resource` name the same served resource (`invalid_target`);
/// 3. the subject token: this server's access token, unexpired, not revoked, with a user,
///    whose `aud` is a resource the client is a `server_clients` entry of (`invalid_grant`);
///    its delegation chain (`act`) well formed and shorter than [`MAX_ACTOR_DEPTH`]
///    (`invalid_grant`);
/// 4. the target is in that resource's `may_exchange_to` (`invalid_target`);
/// 5. `scope` within the subject token's scopes, the target's scopes, and the client's
///    allowed scopes when it has a list (`invalid_scope`); without `scope`, all of those.
///
/// The token: `sub` (and `sub_id`, `auth_time`) of the subject token, `aud` = the target,
/// `client_id` = the MCP server, `act`, no refresh token, expiring no later than the subject
/// token; the response carries `issued_token_type`.
pub(crate) struct OnBehalfOf {
    issuer: Arc<RwLock<IssuerSlot>>,
    denylist: Arc<dyn AccessTokenDenylist>,
    server_clients: BTreeMap<ResourceUri, Vec<ClientId>>,
    targets: BTreeMap<ResourceUri, Vec<ResourceUri>>,
}

impl OnBehalfOf {
    /// The exchanger: subject tokens are checked against `issuer`'s keys and `denylist`; the
    /// policy is `server_clients` and `targets` (`may_exchange_to`) per resource.
    pub(crate) fn new(
        issuer: Arc<RwLock<IssuerSlot>>,
        denylist: Arc<dyn AccessTokenDenylist>,
        server_clients: BTreeMap<ResourceUri, Vec<ClientId>>,
        targets: BTreeMap<ResourceUri, Vec<ResourceUri>>,
    ) -> Self {
        Self {
            issuer,
            denylist,
            server_clients,
            targets,
        }
    }

    async fn subject(
        &self,
        ctx: &GrantContext<'_>,
        token: &str,
    ) -> Result<UserAccessToken, OAuthError> {
        let issuer = self
            .issuer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .issuer
            .clone();
        check_user_access_token(
            issuer.as_ref(),
            self.denylist.as_ref(),
            &self.server_clients,
            (token, &ctx.client.client_id),
            ctx.now,
        )
        .await
    }
}

#[async_trait]
impl TokenExchanger for OnBehalfOf {
    fn name(&self) -> &str {
        "on-behalf-of"
    }

    fn issued_token_types(&self) -> &[&str] {
        &[ACCESS_TOKEN_TYPE]
    }

    fn claims(&self, ctx: &GrantContext<'_>, request: &TokenExchangeRequest) -> bool {
        let wants_access_token = request
            .requested_token_type
            .as_deref()
            .is_none_or(|t| t == ACCESS_TOKEN_TYPE);
        let served = |uri: &ResourceUri| ctx.resources.get(uri).is_some();
        let by_audience = request
            .audience
            .as_deref()
            .and_then(|a| a.parse::<ResourceUri>().ok())
            .is_some_and(|a| served(&a));
        let by_resource = matches!(ctx.requested_resource.single(), Ok(Some(r)) if served(r));
        wants_access_token && (by_audience || by_resource)
    }

    async fn exchange(
        &self,
        ctx: &GrantContext<'_>,
        request: &TokenExchangeRequest,
    ) -> Result<ExchangeOutcome, OAuthError> {
        if request.subject_token_type != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(format!(
                "on-behalf-of exchanges an access token: subject_token_type must be {ACCESS_TOKEN_TYPE}"
            )));
        }
        if request.actor.is_some() {
            return Err(OAuthError::invalid_request(
                "actor_token is not accepted: the authenticated client is the actor",
            ));
        }
        let target = target(ctx, request)?;
        let subject = self.subject(ctx, &request.subject_token).await?;
        let act = actor_chain(&subject, &ctx.client.client_id)?;
        let allowed = self
            .targets
            .get(&subject.resource)
            .is_some_and(|t| t.contains(&target));
        if !allowed {
            return Err(OAuthError::invalid_target(
                "the subject token's resource may not be exchanged for that resource",
            ));
        }
        let ceiling = scope_ceiling(ctx, &subject, &target)?;
        let requested = requested_scope(ctx)?;
        narrow_scope(requested.as_ref(), &ceiling).map_err(|e| {
            OAuthError::invalid_scope(format!(
                "{e} by the subject token for that resource (or is not allowed there)"
            ))
        })?;
        let lifetime = u64::try_from(subject.claims.exp - ctx.now).unwrap_or(0);
        let mut decision = GrantDecision::new(
            subject.claims.sub.clone(),
            ResourceHint::Bound {
                resource: target,
                by: BoundBy::Grant,
            },
            ScopeCeiling::Granted(ceiling),
        );
        decision.requested_scope = requested;
        decision.refresh = RefreshPolicy::None;
        decision.auth_time = subject.claims.auth_time;
        decision.lifetime = Some(lifetime);
        decision.extra_claims = user_claims(&subject, act)?;
        decision
            .response
            .insert("issued_token_type", ACCESS_TOKEN_TYPE.into())
            .map_err(OAuthError::server_error)?;
        Ok(ExchangeOutcome::Mint(Box::new(decision)))
    }
}

/// The one resource the request names: `audience` and `resource` (at most one) agree and name
/// a served resource.
fn target(
    ctx: &GrantContext<'_>,
    request: &TokenExchangeRequest,
) -> Result<ResourceUri, OAuthError> {
    let resource = ctx.requested_resource.single().map_err(|e| match e {
        SingleResourceError::Several => {
            OAuthError::invalid_target("only one resource may be requested per token")
        }
        _ => OAuthError::invalid_target("resource is not an absolute URI"),
    })?;
    let audience = request
        .audience
        .as_deref()
        .map(str::parse::<ResourceUri>)
        .transpose()
        .map_err(|_| OAuthError::invalid_target("audience is not a resource of this server"))?;
    let target = match (audience, resource) {
        (Some(a), Some(r)) if &a != r => {
            return Err(OAuthError::invalid_target(
                "audience and resource name different resources",
            ));
        }
        (Some(a), _) => a,
        (None, Some(r)) => r.clone(),
        (None, None) => return Err(OAuthError::invalid_target("name the resource")),
    };
    if ctx.resources.get(&target).is_none() {
        return Err(OAuthError::invalid_target("unknown resource"));
    }
    Ok(target)
}

/// The new token's `act`: the client, acting for the subject token's subject, nesting the
/// subject token's own `act` (RFC 8693 §4.1).
///
/// # Errors
/// `invalid_grant` when the subject token's `act` is malformed (not an object whose `sub` is
/// a string, at every level) or already [`MAX_ACTOR_DEPTH`] deep.
fn actor_chain(subject: &UserAccessToken, client_id: &ClientId) -> Result<Value, OAuthError> {
    let previous = subject.claims.extra.get("act");
    let mut depth = 0;
    let mut cursor = previous;
    while let Some(act) = cursor {
        let well_formed = act.get("sub").is_some_and(Value::is_string);
        if !well_formed {
            return Err(OAuthError::invalid_grant(
                "the subject token's act claim is malformed",
            ));
        }
        depth += 1;
        if depth >= MAX_ACTOR_DEPTH {
            return Err(OAuthError::invalid_grant(format!(
                "the subject token's delegation chain is already {MAX_ACTOR_DEPTH} actors long"
            )));
        }
        cursor = act.get("act");
    }
    let mut act = json!({ "sub": client_id.as_str() });
    if let Some(previous) = previous {
        act["act"] = previous.clone();
    }
    Ok(act)
}

/// The scopes the new token may carry: the subject token's, within the target's, within the
/// client's allowed scopes when it has a list.
///
/// # Errors
/// `invalid_scope` when nothing is left.
fn scope_ceiling(
    ctx: &GrantContext<'_>,
    subject: &UserAccessToken,
    target: &ResourceUri,
) -> Result<ScopeSet, OAuthError> {
    let granted: ScopeSet = subject
        .claims
        .scope
        .parse()
        .map_err(|_| OAuthError::invalid_grant("the subject token's scope is malformed"))?;
    let supported = ctx
        .resources
        .get(target)
        .map(|r| r.scopes_supported.clone())
        .unwrap_or_default();
    let mut ceiling = granted.intersection(&supported);
    if let Some(allowed) = &ctx.client.scope {
        ceiling = ceiling.intersection(allowed);
    }
    if ceiling.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the subject token grants no scope of that resource",
        ));
    }
    Ok(ceiling)
}

/// The request's `scope` without `offline_access` (SEP-2207: it names no permission at a
/// resource); `None` when nothing else was asked.
fn requested_scope(ctx: &GrantContext<'_>) -> Result<Option<ScopeSet>, OAuthError> {
    let mut requested = ctx.scope()?;
    if let Some(scope) = &mut requested
        && scope.remove(mcp_auth_core::OFFLINE_ACCESS)
        && scope.is_empty()
    {
        requested = None;
    }
    Ok(requested)
}

/// The claims that keep naming the user and say who acts: `act`, and the subject token's
/// issuer-qualified `sub_id` when it has one.
fn user_claims(subject: &UserAccessToken, act: Value) -> Result<ExtraClaims, OAuthError> {
    let mut claims = ExtraClaims::new();
    claims
        .insert("act", act)
        .map_err(OAuthError::server_error)?;
    if let Some(sub_id) = subject.claims.extra.get(SUBJECT_ID_CLAIM) {
        claims
            .insert(SUBJECT_ID_CLAIM, sub_id.clone())
            .map_err(OAuthError::server_error)?;
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ext::AccessTokenClaims;

    fn subject(act: Option<Value>) -> UserAccessToken {
        let mut extra = serde_json::Map::new();
        if let Some(act) = act {
            extra.insert("act".into(), act);
        }
        UserAccessToken {
            claims: AccessTokenClaims {
                iss: "https://auth.example.com".into(),
                sub: "user-1".into(),
                aud: "https://a.example.com/mcp".into(),
                client_id: "app".into(),
                scope: "read".into(),
                iat: 0,
                exp: 300,
                jti: "j".into(),
                auth_time: Some(0),
                resource: None,
                cnf: None,
                extra: ExtraClaims::try_from(extra).unwrap(),
            },
            resource: "https://a.example.com/mcp".parse().unwrap(),
        }
    }

    /// RFC 8693 §4.1: the acting client goes first; an earlier chain nests under it.
    #[test]
    fn act_nests_the_earlier_chain() {
        let client: ClientId = "server-b".parse().unwrap();
        assert_eq!(
            actor_chain(&subject(None), &client).unwrap(),
            json!({"sub": "server-b"})
        );
        assert_eq!(
            actor_chain(&subject(Some(json!({"sub": "server-a"}))), &client).unwrap(),
            json!({"sub": "server-b", "act": {"sub": "server-a"}})
        );
    }

    /// A chain already [`MAX_ACTOR_DEPTH`] long, or malformed at any level, is refused.
    #[test]
    fn deep_or_malformed_chains_are_invalid_grant() {
        let client: ClientId = "c".parse().unwrap();
        let mut three = json!({"sub": "a3"});
        for n in (1..3).rev() {
            three = json!({"sub": format!("a{n}"), "act": three});
        }
        assert!(actor_chain(&subject(Some(three.clone())), &client).is_ok());
        let four = json!({"sub": "a0", "act": three});
        for bad in [
            four,
            json!("server-a"),
            json!({"act": {"sub": "x"}}),
            json!({"sub": "a", "act": {"sub": 7}}),
        ] {
            let e = actor_chain(&subject(Some(bad.clone())), &client).unwrap_err();
            assert_eq!(e.code(), mcp_auth_core::ErrorCode::InvalidGrant, "{bad}");
        }
    }
}
