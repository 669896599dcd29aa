//! The token endpoint (RFC 6749 §3.2, spec §2.3): parse, authenticate the client, dispatch to the
//! grant handler, mint.

use mcp_auth_core::ext::{
    AccessTokenClaims, ClientAuthPolicy, GrantContext, GrantDecision, GrantHandler, IdTokenClaims,
    IssuedTokens, PolicyError, RefreshPolicy, ResourceHint, ScopeCeiling, TokenProfile,
    narrow_scope, resolve_resource, resolve_scope,
};
use mcp_auth_core::jose::dpop::VerifiedProof;
use mcp_auth_core::store::{RefreshToken, RefreshTokenState};
use mcp_auth_core::wire::TokenResponse;
use mcp_auth_core::{
    Client, ErrorCode, FormParams, GrantType, OAuthError, ResourceUri, ScopeSet,
    TokenEndpointAuthMethod,
};

use tracing::Instrument;

use super::client_authentication::Callers;
use crate::server::AuthorizationServer;

/// A back-channel request as it arrived at the token, introspection or revocation endpoint:
/// the `Authorization` header (if any), the raw form body and the caller's address. `Debug`
/// prints `[redacted]` for the header and the body (they carry secrets, codes and tokens).
#[derive(Clone, Copy)]
pub struct ClientRequest<'a> {
    /// The `Authorization` header value.
    pub authorization: Option<&'a str>,
    /// The `application/x-www-form-urlencoded` body.
    pub body: &'a [u8],
    /// The caller's address, for counting failed authentications; `None` when unknown.
    pub source: Option<&'a str>,
    /// The values of the `DPoP` header (RFC 9449 §4.1), in order; more than one is refused.
    pub dpop: &'a [String],
}

impl std::fmt::Debug for ClientRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use mcp_auth_core::secret::Redacted;
        f.debug_struct("ClientRequest")
            .field("authorization", &Redacted::option(&self.authorization))
            .field("body", &Redacted)
            .field("source", &self.source)
            .field("dpop", &self.dpop.len())
            .finish()
    }
}

impl AuthorizationServer {
    /// Handle one token request.
    ///
    /// Steps: parse; find the handler; authenticate the client; check the client may use the
    /// grant (its record and the grant's [`ClientAuthPolicy`]); the handler decides; the engine
    /// applies the scope policy and resource rules to the decision ([`resolve_resource`],
    /// [`resolve_scope`]); the handler commits; the issuer mints the decision's
    /// [`TokenProfile`].
    ///
    /// Errors: `invalid_request` (malformed or repeated parameters, two client authentication
    /// methods), `unsupported_grant_type`, `invalid_client` (401), `429` past the per-client
    /// limit ([`crate::rate_limit::token_client`]), `unauthorized_client`,
    /// `invalid_target` and `invalid_scope` (the engine's rules, for every grant), and whatever
    /// the grant handler decides (`invalid_grant`, …).
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
        let client = match handler.client_authentication_for(&params) {
            ClientAuthPolicy::ByGrant => {
                let client = self
                    .client_named_by_grant(request, &params, handler.as_ref())
                    .await?;
                // Nothing is verified yet: count the request per caller address, as for a
                // public client, so unverified assertions cannot use up the client's limit.
                let unverified = client
                    .clone()
                    .authenticated_with(TokenEndpointAuthMethod::None);
                self.inner
                    .token_client_limit
                    .check(&unverified, request.source)
                    .await?;
                client
            }
            _ => {
                let client = self
                    .authenticate_client(
                        request.authorization,
                        &params,
                        &token_endpoint,
                        Callers::AnyClient,
                        request.source,
                    )
                    .await?;
                self.inner
                    .token_client_limit
                    .check(&client, request.source)
                    .await?;
                client
            }
        };
        let span =
            tracing::info_span!("token", grant_type = %grant_type, client_id = %client.client_id);
        async {
            // RFC 9449: the engine checks the proof and binds, whatever the grant.
            let proof = self.token_request_proof(request.dpop, &client).await?;
            self.run_grant(
                &client,
                &params,
                grant_type,
                handler.as_ref(),
                proof.as_ref(),
            )
            .await
        }
        .instrument(span)
        .await
    }

    async fn run_grant(
        &self,
        client: &Client,
        params: &FormParams,
        grant_type: &str,
        handler: &dyn GrantHandler,
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        let ctx = self.admit(client, params, grant_type, handler)?;
        let decision = handler.decide(&ctx).await?;
        self.finish(client, &ctx, decision, handler, proof).await
    }

    /// Check `client` may use `grant_type` (its record, `unauthorized_client`; the handler's
    /// [`ClientAuthPolicy`], see [`check_client_authentication`]) and build the grant's
    /// context, with `scope` and `resource` parsed once.
    pub(crate) fn admit<'a>(
        &'a self,
        client: &'a Client,
        params: &'a FormParams,
        grant_type: &str,
        handler: &dyn GrantHandler,
    ) -> Result<GrantContext<'a>, OAuthError> {
        if !client.allows_grant(grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client may not use the {grant_type} grant"),
            ));
        }
        check_client_authentication(
            client,
            grant_type,
            &handler.client_authentication_for(params),
        )?;
        Ok(GrantContext::new(
            client,
            params,
            &self.inner.settings.issuer,
            &self.inner.settings.resources,
            self.inner.clock.now(),
        ))
    }

    /// Apply the engine's scope and resource rules to a grant's `decision` (spec §2.3 step 7),
    /// let `handler` commit, and mint, bound to `proof`'s key when there is one (RFC 9449).
    pub(crate) async fn finish(
        &self,
        client: &Client,
        ctx: &GrantContext<'_>,
        mut decision: GrantDecision,
        handler: &dyn GrantHandler,
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        // RFC 9449: a code or refresh token bound to a key is spent only with a proof by it.
        super::dpop::check_binding(&decision, proof)?;
        without_offline_access(&mut decision.requested_scope);
        // Scope policy and resource rules, for every grant, in this one place (spec §2.3 step 7).
        let target = self.target(&decision, client, ctx)?;
        handler.commit(ctx, &decision).await?;
        self.issue(client, decision, target, handler, (ctx, proof))
            .await
    }

    /// The audience resource, lifetime and scopes of a decision, by the engine's rules
    /// ([`resolve_resource`], [`resolve_scope`]); a [`ResourceHint::Foreign`] resource only for
    /// a non-access-token profile, with the handler's granted scopes as the ceiling.
    fn target(
        &self,
        decision: &GrantDecision,
        client: &Client,
        ctx: &GrantContext<'_>,
    ) -> Result<Target, OAuthError> {
        let settings = &self.inner.settings;
        if let ResourceHint::Foreign { resource } = &decision.resource {
            let ScopeCeiling::Granted(granted) = &decision.scope_ceiling else {
                return Err(OAuthError::server_error(ProfileError(
                    "a foreign resource needs the handler's granted scopes",
                )));
            };
            if decision.profile == TokenProfile::AccessToken
                || decision.refresh != RefreshPolicy::None
            {
                return Err(OAuthError::server_error(ProfileError(
                    "only an assertion without refresh token may name a foreign resource",
                )));
            }
            let scope = narrow_scope(decision.requested_scope.as_ref(), granted)
                .map_err(PolicyError::from)?;
            return Ok(Target {
                resource: resource.clone(),
                ttl: decision.lifetime.unwrap_or(settings.access_token_ttl),
                scope,
            });
        }
        let resource = resolve_resource(
            &decision.resource,
            client,
            &ctx.requested_resource,
            ctx.resources,
        )?;
        let scope = resolve_scope(
            self.inner.scope_policy.as_ref(),
            client,
            resource,
            decision.requested_scope.as_ref(),
            &decision.scope_ceiling,
        )?;
        let resource_ttl = resource
            .access_token_ttl
            .unwrap_or(settings.access_token_ttl);
        Ok(Target {
            resource: resource.resource.clone(),
            ttl: decision
                .lifetime
                .map_or(resource_ttl, |t| t.min(resource_ttl)),
            scope,
        })
    }

    /// Mint the token the decision's profile names and, by the decision's policy, a refresh
    /// token and an ID token; then tell the handler what was issued.
    async fn issue(
        &self,
        client: &Client,
        decision: GrantDecision,
        target: Target,
        handler: &dyn GrantHandler,
        (ctx, proof): (&GrantContext<'_>, Option<&VerifiedProof>),
    ) -> Result<TokenResponse, OAuthError> {
        let now = ctx.now;
        let Target {
            resource,
            ttl,
            scope,
        } = target;
        let mut claims = self.access_claims(client, &decision, &resource, ttl, &scope, now)?;
        super::dpop::bind(&mut claims, &decision.profile, proof);
        let access_token = self
            .token_issuer()
            .issue_profile(&decision.profile, &claims)?;
        let family = self.refresh_family(client, &decision.refresh, now);
        let refresh_token = match &family {
            Some((family_id, family_expires_at)) => Some(
                self.store_refresh_token(
                    client,
                    &decision,
                    (family_id, *family_expires_at),
                    (&resource, &scope),
                    &claims,
                    now,
                )
                .await?,
            ),
            None => None,
        };
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
        self.record_user_grant(&decision, &claims, &resource, now)
            .await?;
        self.audit_issued(
            ctx,
            &decision,
            &claims,
            resource.as_str(),
            refresh_token.is_some(),
        )
        .await;
        let token_type = match claims.cnf {
            Some(_) => mcp_auth_core::jose::dpop::TOKEN_TYPE.to_owned(),
            None => decision.response.token_type.as_str().to_owned(),
        };
        let id_token = self.id_token(client, &decision, ttl, now)?;
        let mut extra = decision.response.into_map();
        if let Some(id_token) = id_token {
            extra.insert("id_token".to_owned(), id_token.into());
        }
        crate::metrics::token_issued(
            ctx.params.get("grant_type").unwrap_or("-"),
            client.token_endpoint_auth_method.as_str(),
            client.client_id.as_str(),
        );
        tracing::info!(jti = %claims.jti, aud = %claims.aud, scope = %claims.scope, typ = decision.profile.typ(), "token issued");
        Ok(TokenResponse {
            access_token,
            token_type,
            expires_in: ttl,
            scope: claims.scope,
            refresh_token,
            extra,
        })
    }

    /// A user's grant to a client, for the account page. A client acting for itself (RFC 9068
    /// §2.2: `sub` is its `client_id`, as with client_credentials), a workload, and tokens
    /// other than access tokens record none.
    async fn record_user_grant(
        &self,
        decision: &GrantDecision,
        claims: &AccessTokenClaims,
        resource: &ResourceUri,
        now: mcp_auth_core::UnixTime,
    ) -> Result<(), OAuthError> {
        if decision.profile == TokenProfile::AccessToken
            && decision.for_user
            && decision.subject != claims.client_id
        {
            self.record_grant_use(&decision.subject, &claims.client_id, resource, now)
                .await?;
        }
        Ok(())
    }

    /// The ID token the decision asks for (OpenID Connect Core §3.1.3.3, with the request's
    /// `nonce`), valid as long as the access token; `None` when it asks for none.
    fn id_token(
        &self,
        client: &Client,
        decision: &GrantDecision,
        ttl: u64,
        now: mcp_auth_core::UnixTime,
    ) -> Result<Option<String>, OAuthError> {
        let Some(request) = &decision.id_token else {
            return Ok(None);
        };
        let id_token = self.token_issuer().issue_id_token(&IdTokenClaims {
            iss: self.inner.settings.issuer.as_str().to_owned(),
            sub: decision.subject.clone(),
            aud: client.client_id.as_str().to_owned(),
            exp: now + ttl as i64,
            iat: now,
            auth_time: decision.auth_time.unwrap_or(now),
            nonce: request.nonce.clone(),
            jti: self.inner.secrets.identifier("", 16),
        })?;
        Ok(Some(id_token))
    }

    /// The access token's claims for `decision`: an ID-JAG profile names its own `aud` and
    /// `client_id` and carries `resource`; every other token is for `resource`, to `client`.
    fn access_claims(
        &self,
        client: &Client,
        decision: &GrantDecision,
        resource: &ResourceUri,
        ttl: u64,
        scope: &ScopeSet,
        now: i64,
    ) -> Result<AccessTokenClaims, OAuthError> {
        let (aud, client_id, resource_claim) = match &decision.profile {
            TokenProfile::Assertion {
                typ,
                audience,
                client_id,
            } => {
                if decision.refresh != RefreshPolicy::None || decision.id_token.is_some() {
                    return Err(OAuthError::server_error(ProfileError(
                        "an assertion is never issued with a refresh token or an ID token",
                    )));
                }
                if typ.eq_ignore_ascii_case(TokenProfile::AccessToken.typ()) {
                    return Err(OAuthError::server_error(ProfileError(
                        "an assertion may not claim the access token type",
                    )));
                }
                (
                    audience.clone(),
                    client_id.clone(),
                    Some(resource.as_str().to_owned()),
                )
            }
            _ => (
                resource.as_str().to_owned(),
                client.client_id.as_str().to_owned(),
                None,
            ),
        };
        Ok(AccessTokenClaims {
            iss: self.inner.settings.issuer.as_str().to_owned(),
            sub: decision.subject.clone(),
            aud,
            client_id,
            scope: scope.to_string(),
            iat: now,
            exp: now + ttl as i64,
            jti: self.inner.secrets.identifier("", 16),
            auth_time: decision.auth_time,
            resource: resource_claim,
            cnf: None,
            extra: decision.extra_claims.clone(),
        })
    }

    /// The refresh token family `policy` asks for, `(id, absolute expiry)`: a new one only
    /// when `client` may use the refresh_token grant.
    fn refresh_family(
        &self,
        client: &Client,
        policy: &RefreshPolicy,
        now: i64,
    ) -> Option<(String, i64)> {
        match policy {
            RefreshPolicy::None => None,
            RefreshPolicy::NewFamily if client.allows_grant(GrantType::REFRESH_TOKEN) => Some((
                self.inner.secrets.identifier("fam_", 16),
                now + self.inner.settings.refresh_absolute_ttl as i64,
            )),
            RefreshPolicy::NewFamily => None,
            RefreshPolicy::Rotate {
                family_id,
                family_expires_at,
            } => Some((family_id.clone(), *family_expires_at)),
        }
    }

    /// Store a new refresh token of `family` (`(id, absolute expiry)`) for `target`
    /// (`(resource, scope)`) beside the access token `claims`, and return it. A family revoked
    /// meanwhile denies the access token and is `invalid_grant`.
    async fn store_refresh_token(
        &self,
        client: &Client,
        decision: &GrantDecision,
        family: (&str, i64),
        target: (&ResourceUri, &ScopeSet),
        claims: &AccessTokenClaims,
        now: i64,
    ) -> Result<String, OAuthError> {
        let (family_id, family_expires_at) = family;
        let (resource, scope) = target;
        let value = self.inner.secrets.secret("rt_", 32);
        let record = RefreshToken {
            token_hash: value.hash().as_str().to_owned(),
            family_id: family_id.to_owned(),
            client_id: client.client_id.as_str().to_owned(),
            sub: decision.subject.clone(),
            scope: scope.clone(),
            resource: resource.clone(),
            auth_time: decision.auth_time,
            issued_at: now,
            expires_at: (now + self.inner.settings.refresh_idle_ttl as i64).min(family_expires_at),
            family_expires_at,
            access_jti: claims.jti.clone(),
            access_exp: claims.exp,
            state: RefreshTokenState::Active,
            extra_claims: decision.extra_claims.clone(),
            dpop_jkt: super::dpop::refresh_binding(client, claims),
        };
        if !crate::metrics::timed(
            "refresh_insert",
            self.inner.stores.refresh_tokens.insert(&record),
        )
        .await?
        {
            self.inner
                .stores
                .denylist
                .deny(&claims.jti, claims.exp)
                .await?;
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        Ok(value.expose().to_owned())
    }
}

/// A grant's [`ClientAuthPolicy`], enforced before it decides: a client outside it is
/// `unauthorized_client` (RFC 6749 §5.2); a public client where the policy requires client
/// authentication is `invalid_client` (401).
fn check_client_authentication(
    client: &Client,
    grant_type: &str,
    policy: &ClientAuthPolicy,
) -> Result<(), OAuthError> {
    let method = client.token_endpoint_auth_method;
    if policy.permits(method) {
        return Ok(());
    }
    if method == TokenEndpointAuthMethod::None && matches!(policy, ClientAuthPolicy::Required(_)) {
        // No client authentication at all where the grant requires it: `invalid_client`
        // (RFC 6749 §5.2 "no client authentication included"; SEP-990 V3, CC-08).
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            format!(
                "the {grant_type} grant requires client authentication; public clients may not use it"
            ),
        ));
    }
    let description = if method == TokenEndpointAuthMethod::None {
        format!("public clients may not use the {grant_type} grant")
    } else {
        format!("clients authenticating with {method} may not use the {grant_type} grant")
    };
    Err(OAuthError::new(ErrorCode::UnauthorizedClient, description))
}

/// Where a decision's token goes, for how long, with which scopes.
struct Target {
    /// The audience resource (an access token's `aud`, an ID-JAG's `resource` claim).
    resource: ResourceUri,
    /// Lifetime, seconds.
    ttl: u64,
    /// The granted scopes.
    scope: ScopeSet,
}

/// A grant asked for something the issuer will not mint; a wiring mistake (`server_error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ProfileError(&'static str);

/// `offline_access` in a token request's `scope` (SEP-2207) names no permission at any
/// resource: it is taken out before the engine's scope rules, so a refresh or client
/// credentials request that repeats it is neither widened nor refused for it, and it never
/// reaches an access token's `scope` (spec AS-R2-11). A `scope` of only `offline_access` is
/// treated as omitted.
fn without_offline_access(requested: &mut Option<ScopeSet>) {
    if let Some(scope) = requested
        && scope.remove(mcp_auth_core::OFFLINE_ACCESS)
        && scope.is_empty()
    {
        *requested = None;
    }
}
