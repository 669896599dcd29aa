//! [`WorkloadAssertionGrant`]: the JWT bearer grant (RFC 7523 §2.1) redeeming workload
//! identity tokens without client authentication (SEP-1933; EXT-R2-08…EXT-R2-12).

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_core::ext::{
    AssertionPeek, AssertionRedeemer, BoundBy, ClientAuthPolicy, GrantContext, GrantDecision,
    GrantHandler, QualifiedSubject, RefreshPolicy, ResourceHint, SUBJECT_ID_CLAIM, ScopeCeiling,
    select_resource,
};
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::{
    AllowedAlgorithms, CompactJws, JwksCache, JwksError, JwsError, algorithm_name,
    assertion_replay_key, date_claim, jti_claim, str_claim,
};
use mcp_auth_core::protected_resource::ProtectedResource;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{ClientId, FormParams, GrantType, OAuthError, ResourceUri, ScopeSet, UnixTime};
use serde_json::{Map, Value};

use crate::config::{ExpectedAudience, TrustedIssuer};
use crate::error::WifError;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
pub const CLOCK_SKEW: i64 = 60;

/// Longest accepted assertion lifetime, seconds: `exp - iat`, or `exp - now` without `iat`.
pub const MAX_LIFETIME: i64 = 3600;

/// Longest accepted `jti` and `sub`, characters.
const MAX_CLAIM_LEN: usize = 255;

/// The header `typ` values of a workload identity token, compared case-insensitively; an absent
/// `typ` is accepted too (Kubernetes service-account tokens carry none).
pub const WORKLOAD_TYPES: [&str; 2] = ["JWT", "application/jwt"];

/// One trusted issuer with its key cache.
pub(crate) struct IssuerEntry {
    pub(crate) issuer: TrustedIssuer,
    pub(crate) keys: JwksCache,
}

/// Decides `urn:ietf:params:oauth:grant-type:jwt-bearer` requests whose `assertion` is a
/// workload identity token of a trusted issuer. The request carries no client authentication:
/// the assertion names the client ([`ClientAuthPolicy::ByGrant`]; the engine refuses client
/// credentials or a `client_id` beside it, `invalid_request`).
///
/// Checks, in order (every refusal `invalid_grant` unless said):
///
/// | # | check |
/// |---|---|
/// | 1 | a compact JWS whose header decodes (`alg: none` does not) |
/// | 2 | header `typ` absent, `JWT` or `application/jwt` (an ID-JAG, `at+jwt` or `dpop+jwt` is not a workload token) |
/// | 3 | `alg` asymmetric (never `HS*`) |
/// | 4 | `iss` a trusted issuer |
/// | 5 | a key of the issuer verifies the signature (unknown `kid`: one rate-limited refetch) |
/// | 6 | `aud` (a string or an array) contains the expected audience: the configured `audience`, else this server's issuer, issuer with `/`, or token endpoint (EXT-R2-10) |
/// | 7 | `exp` present and not past; `nbf` and `iat`, when present, not in the future ([`CLOCK_SKEW`] each); `exp` not before `iat`; lifetime ≤ [`MAX_LIFETIME`] |
/// | 8 | `jti` present (no `jti`, no single use: refused), spent in [`GrantHandler::commit`] |
/// | 9 | `sub` present and matching one of the issuer's `allowed_subjects` |
/// | 10 | the request's client is the issuer's `client_id` |
/// | 11 | the resource (the request's `resource`, else the default) is one of the issuer's `resources` and allowed to the client (`invalid_target`) |
/// | 12 | the requested scope (without `offline_access`) ⊆ the issuer's `scopes` ∩ the resource's ∩ the client's list when it has one (`invalid_scope`); none requested: the resource's default scopes within that, else all of it |
///
/// The token: `sub` = `wif:<subject_prefix>:<sub>`, `sub_id` = the issuer and the workload's
/// `sub` (RFC 9493 `iss_sub`), `client_id` = the mapped client, `aud` = the resource; no refresh
/// token; no user grant is recorded. DPoP binding is the engine's, as for every grant.
///
/// The `jti` is spent after every other check and the engine's rules passed, in the durable
/// replay store under `wif:<len(iss)>:<iss>:<jti>` until `exp` + skew.
pub struct WorkloadAssertionGrant {
    issuers: Vec<Arc<IssuerEntry>>,
    replay: Arc<dyn ReplayCache>,
    algorithms: AllowedAlgorithms,
}

impl std::fmt::Debug for WorkloadAssertionGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadAssertionGrant")
            .field("trusted_issuers", &self.issuers.len())
            .finish_non_exhaustive()
    }
}

/// What the checks established.
struct Verified {
    subject: String,
    subject_id: Value,
    resource: ResourceUri,
    scope: ScopeSet,
}

impl WorkloadAssertionGrant {
    pub(crate) fn new(issuers: Vec<Arc<IssuerEntry>>, replay: Arc<dyn ReplayCache>) -> Self {
        Self {
            issuers,
            replay,
            algorithms: AllowedAlgorithms::all_asymmetric(),
        }
    }

    fn entry(&self, iss: &str) -> Option<&Arc<IssuerEntry>> {
        self.issuers.iter().find(|e| e.issuer.issuer == iss)
    }

    /// Steps 1…12 on `assertion`.
    async fn verify(&self, ctx: &GrantContext<'_>, assertion: &str) -> Result<Verified, WifError> {
        let jws = CompactJws::parse(assertion).map_err(|e| match e {
            JwsError::NotCompact => WifError::Malformed("not a compact JWS"),
            _ => WifError::Malformed("the header does not decode or names an unsupported alg"),
        })?;
        if !is_workload_type(jws.typ()) {
            return Err(WifError::WrongType);
        }
        let alg = jws.alg();
        if self.algorithms.check(alg).is_err() {
            return Err(WifError::DisallowedAlgorithm(algorithm_name(alg)));
        }
        let claims: Map<String, Value> = jws
            .claims()
            .map_err(|_| WifError::Malformed("the payload is not a JSON object"))?;
        let iss = str_claim(&claims, "iss")?.ok_or(WifError::UntrustedIssuer)?;
        let entry = self.entry(iss).ok_or(WifError::UntrustedIssuer)?;
        verify_signature(entry, &jws, alg).await?;
        let issuer = &entry.issuer;
        check_audience(issuer, ctx, claims.get("aud"))?;
        check_times(&claims, ctx.now)?;
        required_jti(&claims)?;
        let sub = str_claim(&claims, "sub")?
            .filter(|s| !s.is_empty())
            .ok_or(WifError::MissingSubject)?;
        if sub.len() > MAX_CLAIM_LEN || !issuer.allowed_subjects.iter().any(|p| p.matches(sub)) {
            return Err(WifError::SubjectNotAllowed);
        }
        if ctx.client.client_id != issuer.client_id {
            return Err(WifError::ClientMismatch);
        }
        let resource = resolve_resource(ctx, issuer)?;
        let scope = grant_scope(ctx, issuer, resource)?;
        Ok(Verified {
            subject: issuer.token_subject(sub),
            subject_id: QualifiedSubject {
                iss: &issuer.issuer,
                sub,
            }
            .to_claim(),
            resource: resource.resource.clone(),
            scope,
        })
    }
}

/// True for an absent `typ` or one of [`WORKLOAD_TYPES`].
pub fn is_workload_type(typ: Option<&str>) -> bool {
    typ.is_none_or(|t| WORKLOAD_TYPES.iter().any(|ok| t.eq_ignore_ascii_case(ok)))
}

/// Step 5: the key for the header's `kid` and `alg`, from each key source in turn.
async fn verify_signature(
    entry: &IssuerEntry,
    jws: &CompactJws<'_>,
    alg: Algorithm,
) -> Result<(), WifError> {
    let mut unavailable = None;
    for source in entry.issuer.key_sources() {
        match entry.keys.key(source, jws.kid(), alg).await {
            Ok(key) if jws.verify(&key) => return Ok(()),
            Ok(_) => return Err(WifError::Signature("the signature is invalid")),
            Err(JwksError::Key(e)) => {
                tracing::info!(issuer = %entry.issuer.issuer, reason = %e, "workload assertion refused: no matching key");
                return Err(WifError::Signature("no key of the issuer matches"));
            }
            Err(other) => unavailable = Some(other.to_string()),
        }
    }
    tracing::warn!(
        issuer = %entry.issuer.issuer,
        reason = %unavailable.unwrap_or_default(),
        "workload assertion refused: the issuer's keys are unavailable"
    );
    Err(WifError::Signature("the issuer's keys are unavailable"))
}

/// Step 6.
fn check_audience(
    issuer: &TrustedIssuer,
    ctx: &GrantContext<'_>,
    aud: Option<&Value>,
) -> Result<(), WifError> {
    let values: Vec<&str> = match aud {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(WifError::WrongAudience),
    };
    let own = ctx.issuer.as_str();
    let token_endpoint = ctx.issuer.endpoint("/token");
    let expected = |v: &str| match &issuer.audience {
        ExpectedAudience::Exactly(a) => v == a,
        ExpectedAudience::ThisServer => {
            v == own || v.strip_suffix('/') == Some(own) || v == token_endpoint
        }
    };
    if values.into_iter().any(expected) {
        Ok(())
    } else {
        Err(WifError::WrongAudience)
    }
}

/// Step 7.
fn check_times(claims: &Map<String, Value>, now: UnixTime) -> Result<(), WifError> {
    let exp = date_claim(claims, "exp")?.ok_or(WifError::MissingExpiry)?;
    if exp.saturating_add(CLOCK_SKEW) <= now {
        return Err(WifError::Expired);
    }
    let latest_start = now.saturating_add(CLOCK_SKEW);
    if date_claim(claims, "nbf")?.is_some_and(|nbf| nbf > latest_start) {
        return Err(WifError::NotYetValid);
    }
    let lifetime = match date_claim(claims, "iat")? {
        Some(iat) if iat > latest_start => return Err(WifError::NotYetValid),
        Some(iat) if exp < iat => return Err(WifError::TooLongLived(MAX_LIFETIME)),
        Some(iat) => exp.saturating_sub(iat),
        None => exp.saturating_sub(now),
    };
    if lifetime > MAX_LIFETIME {
        return Err(WifError::TooLongLived(MAX_LIFETIME));
    }
    Ok(())
}

/// Step 11.
fn resolve_resource<'r>(
    ctx: &GrantContext<'r>,
    issuer: &TrustedIssuer,
) -> Result<&'r ProtectedResource, WifError> {
    let resource = select_resource(&ctx.requested_resource, ctx.resources)
        .map_err(|e| WifError::Target(e.description().to_owned()))?;
    if !issuer.resources.contains(&resource.resource)
        || !ctx.client.allows_resource(&resource.resource)
    {
        return Err(WifError::Target(
            "this workload may not get tokens for that resource".into(),
        ));
    }
    Ok(resource)
}

/// Step 12.
fn grant_scope(
    ctx: &GrantContext<'_>,
    issuer: &TrustedIssuer,
    resource: &ProtectedResource,
) -> Result<ScopeSet, WifError> {
    let mut allowed = issuer.scopes.intersection(&resource.scopes_supported);
    if let Some(client_scopes) = &ctx.client.scope {
        allowed = allowed.intersection(client_scopes);
    }
    let mut requested = ctx
        .requested_scope
        .clone()
        .map_err(|e| WifError::MalformedScope(e.0))?;
    if let Some(asked) = &mut requested {
        asked.remove(mcp_auth_core::OFFLINE_ACCESS);
    }
    let granted = match requested.filter(|s| !s.is_empty()) {
        Some(asked) => {
            if let Some(refused) = asked.iter().find(|s| !allowed.contains(s.as_str())) {
                return Err(WifError::ScopeNotAllowed(refused.as_str().to_owned()));
            }
            asked
        }
        None => {
            let defaults = resource.default_scopes.intersection(&allowed);
            if defaults.is_empty() {
                allowed
            } else {
                defaults
            }
        }
    };
    if granted.is_empty() {
        return Err(WifError::NoScope);
    }
    Ok(granted)
}

/// Step 8: the `jti`, present, non-empty, at most 255 characters.
fn required_jti(claims: &Map<String, Value>) -> Result<&str, WifError> {
    jti_claim(claims, MAX_CLAIM_LEN)?.ok_or(WifError::MissingJti)
}

/// The replay-store key and expiry of an already verified assertion.
fn replay_entry(assertion: &str) -> Result<(String, UnixTime), WifError> {
    let jws = CompactJws::parse(assertion).map_err(|_| WifError::Malformed("not a compact JWS"))?;
    let claims: Map<String, Value> = jws
        .claims()
        .map_err(|_| WifError::Malformed("the payload is not a JSON object"))?;
    let iss = str_claim(&claims, "iss")?.ok_or(WifError::UntrustedIssuer)?;
    let jti = required_jti(&claims)?;
    let exp = date_claim(&claims, "exp")?.ok_or(WifError::MissingExpiry)?;
    Ok((
        assertion_replay_key("wif", iss, jti),
        exp.saturating_add(CLOCK_SKEW),
    ))
}

fn assertion(params: &FormParams) -> Result<&str, OAuthError> {
    params
        .get("assertion")
        .ok_or_else(|| OAuthError::invalid_request("missing parameter assertion"))
}

/// Claims the assertions of a trusted issuer whose `typ` is a workload token's
/// ([`is_workload_type`]): never an ID-JAG (`oauth-id-jag+jwt`), whatever its issuer.
impl AssertionRedeemer for WorkloadAssertionGrant {
    fn name(&self) -> &str {
        "workload-identity"
    }

    fn claims(&self, peek: &AssertionPeek) -> bool {
        is_workload_type(peek.typ.as_deref())
            && peek
                .iss
                .as_deref()
                .is_some_and(|iss| self.entry(iss).is_some())
    }
}

#[async_trait]
impl GrantHandler for WorkloadAssertionGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GrantType::JWT_BEARER)
    }

    /// No client authentication: the assertion names the client (EXT-R2-08).
    fn client_authentication(&self) -> ClientAuthPolicy {
        ClientAuthPolicy::ByGrant
    }

    /// The `client_id` of the assertion's (unverified) issuer; [`GrantHandler::decide`]
    /// verifies the assertion against that issuer's keys.
    async fn client_named_by_grant(
        &self,
        params: &FormParams,
    ) -> Result<Option<ClientId>, OAuthError> {
        let peek = AssertionPeek::from_params(params)?;
        let entry = peek
            .iss
            .as_deref()
            .and_then(|iss| self.entry(iss))
            .ok_or(WifError::UntrustedIssuer)?;
        Ok(Some(entry.issuer.client_id.clone()))
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        let verified = match self.verify(ctx, assertion(ctx.params)?).await {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(client_id = %ctx.client.client_id, reason = %e, "workload assertion refused");
                return Err(e.into());
            }
        };
        let mut decision = GrantDecision::new(
            verified.subject,
            ResourceHint::Bound {
                resource: verified.resource,
                by: BoundBy::Grant,
            },
            ScopeCeiling::Granted(verified.scope),
        );
        decision.refresh = RefreshPolicy::None;
        decision.for_user = false;
        decision
            .extra_claims
            .insert(SUBJECT_ID_CLAIM, verified.subject_id)
            .map_err(OAuthError::server_error)?;
        Ok(decision)
    }

    /// Spend the `jti`: `invalid_grant` when it was already used.
    async fn commit(
        &self,
        ctx: &GrantContext<'_>,
        _decision: &GrantDecision,
    ) -> Result<(), OAuthError> {
        let (key, expires_at) = replay_entry(assertion(ctx.params)?)?;
        let fresh = self
            .replay
            .insert_once(&key, expires_at, ctx.now)
            .await
            .map_err(WifError::Store)?;
        if fresh {
            Ok(())
        } else {
            tracing::warn!(client_id = %ctx.client.client_id, "workload assertion refused: jti replayed");
            Err(WifError::Replayed.into())
        }
    }
}
