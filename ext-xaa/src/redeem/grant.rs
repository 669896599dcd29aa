//! [`IdJagGrant`]: the JWT bearer grant (RFC 7523 §2.1) redeeming ID-JAGs from trusted IdPs
//! (SEP-990; spec §6.5 V2…V18, EMA-01…EMA-14).

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_core::ext::{
    AssertionPeek, AssertionRedeemer, BoundBy, ClientAuthPolicy, GrantContext, GrantDecision,
    GrantHandler, OmittedScope, QualifiedSubject, RedeemedAssertion, RefreshPolicy, ResourceHint,
    SUBJECT_ID_CLAIM, ScopeCeiling, ScopeNotGranted, narrow_scope, select_resource,
};
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::{
    CompactJws, JwksCache, JwksError, JwsError, assertion_replay_key, date_claim, jti_claim,
    numeric_date_value, str_claim,
};
use mcp_auth_core::protected_resource::ProtectedResource;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{
    GrantType, Issuer, OAuthError, ResourceUri, ScopeSet, TokenEndpointAuthMethod, UnixTime,
};
use serde_json::{Map, Value};

use super::config::TrustedIdp;
use super::error::IdJagError;

/// The client authentication methods of confidential clients redeeming ID-JAGs (spec V3).
pub const AUTH_METHODS: [TokenEndpointAuthMethod; 3] = [
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
];

/// The accepted header `typ` values (spec V5), compared case-insensitively.
pub const ID_JAG_TYPES: [&str; 2] = ["oauth-id-jag+jwt", "application/oauth-id-jag+jwt"];

/// Clock skew tolerated on `exp` and `iat`, seconds (spec V10).
pub const CLOCK_SKEW: i64 = 60;

/// Longest accepted `jti`, characters.
const MAX_JTI_LEN: usize = 256;

/// One trusted IdP with its key cache.
pub(crate) struct IdpEntry {
    pub(crate) idp: TrustedIdp,
    pub(crate) keys: JwksCache,
}

/// Decides `urn:ietf:params:oauth:grant-type:jwt-bearer` requests whose `assertion` is an
/// ID-JAG, in the order of spec §6.5 (the engine has already done V1 and V3):
///
/// | step | check | refusal |
/// |---|---|---|
/// | V2 | one `assertion` (the engine refuses a repeated one) | `invalid_request` |
/// | V4 | a compact JWS whose header decodes (`alg: none` does not) | `invalid_grant` |
/// | V5 | `typ` is `oauth-id-jag+jwt` or `application/oauth-id-jag+jwt`, any case (EMA-01) | `invalid_grant` |
/// | V6 | `alg` is never `HS*`, and is on the IdP's allow-list (EMA-07) | `invalid_grant` |
/// | V7 | `iss` is a trusted IdP, and not this server (EMA-07, EMA-14) | `invalid_grant` |
/// | V8 | a key of the IdP verifies the signature (unknown `kid`: one rate-limited refetch) | `invalid_grant` |
/// | V9 | `aud` is this server's issuer (trailing `/` tolerated), a string or a one-element array (EMA-02) | `invalid_grant` |
/// | V10 | `exp` not past and `iat` not future (60 s skew), `exp` not before `iat` (no skew), `exp - iat` ≤ `max_lifetime` (EMA-06) | `invalid_grant` |
/// | V11 | `jti` present (spent in [`GrantHandler::commit`], see below) | `invalid_grant` |
/// | V12 | `client_id` = the authenticated client, and allowed for the IdP (EMA-03) | `invalid_grant` |
/// | V13 | `sub` present; token `sub` = `subject_prefix` + `sub`, and `sub_id` = the IdP's issuer and `sub` (RFC 9493 `iss_sub`) unless `subjects_are_local_users` | `invalid_grant` |
/// | V14 | `resource` claim: served here and allowed for the IdP (EMA-04); a request `resource` must equal it (engine: `invalid_target`). No claim: the request `resource`, else the default resource | `invalid_grant` / `invalid_target` |
/// | V15 | `scope` claim only names scopes of the resource | `invalid_grant` |
/// | V16 | requested `scope` ⊆ `scope` claim (EMA-09) and ⊆ the client's `scope` list when it has one; granted = requested, else the claim ∩ the client's list (empty: refused). No claim: the client's default scopes | `invalid_scope` |
/// | V17 | token `aud` = the resource (EMA-08); no refresh token (EMA-10) | — |
///
/// The `jti` is spent (V11, EMA-05) in [`GrantHandler::commit`], after every other check and
/// the engine's scope and resource rules passed, through the server's durable replay store
/// under the key `id-jag:<len(iss)>:<iss>:<jti>` until `exp` + skew: a request refused for another reason
/// does not burn the ID-JAG, and a replay is refused across restarts.
///
/// Nothing here logs the assertion or a token (EMA-11); error descriptions never echo it.
pub struct IdJagGrant {
    idps: Vec<Arc<IdpEntry>>,
    own_issuer: Issuer,
    replay: Arc<dyn ReplayCache>,
    allow_public_clients: bool,
}

impl std::fmt::Debug for IdJagGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdJagGrant")
            .field("own_issuer", &self.own_issuer)
            .field("trusted_idps", &self.idps.len())
            .field("allow_public_clients", &self.allow_public_clients)
            .finish_non_exhaustive()
    }
}

/// What the checks established, for the decision.
struct Verified {
    subject: String,
    /// The `sub_id` claim: the IdP's issuer and its `sub`; `None` when the IdP's subjects are
    /// this server's own users.
    subject_id: Option<Value>,
    auth_time: Option<UnixTime>,
    resource: ResourceUri,
    scope: Option<ScopeSet>,
    /// The IdP's issuer and the ID-JAG's `jti`, for the audit trail.
    assertion: RedeemedAssertion,
}

impl IdJagGrant {
    pub(crate) fn new(
        idps: Vec<Arc<IdpEntry>>,
        own_issuer: Issuer,
        replay: Arc<dyn ReplayCache>,
        allow_public_clients: bool,
    ) -> Self {
        Self {
            idps,
            own_issuer,
            replay,
            allow_public_clients,
        }
    }

    /// `iss` names this server, with or without a trailing `/` on either side.
    fn is_own_issuer(&self, iss: &str) -> bool {
        same_issuer(iss, self.own_issuer.as_str())
    }

    fn idp(&self, iss: &str) -> Option<&Arc<IdpEntry>> {
        self.idps.iter().find(|e| e.idp.issuer == iss)
    }

    /// V4…V16 on `assertion`.
    async fn verify(
        &self,
        ctx: &GrantContext<'_>,
        assertion: &str,
    ) -> Result<Verified, IdJagError> {
        // V4
        let jws = CompactJws::parse(assertion).map_err(|e| match e {
            JwsError::NotCompact => IdJagError::Malformed("not a compact JWS"),
            _ => IdJagError::Malformed("the header does not decode or names an unsupported alg"),
        })?;
        // V5
        if !is_id_jag_type(jws.typ()) {
            return Err(IdJagError::WrongType);
        }
        // V6, the part that needs no IdP: never HMAC.
        let alg = jws.alg();
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(IdJagError::DisallowedAlgorithm(
                mcp_auth_core::jose::algorithm_name(alg),
            ));
        }
        let claims: Map<String, Value> = jws
            .claims()
            .map_err(|_| IdJagError::Malformed("the payload is not a JSON object"))?;
        // V7
        let iss = str_claim(&claims, "iss")?.ok_or(IdJagError::UntrustedIssuer)?;
        if self.is_own_issuer(iss) {
            return Err(IdJagError::OwnIssuer);
        }
        let entry = self.idp(iss).ok_or(IdJagError::UntrustedIssuer)?;
        let idp = &entry.idp;
        // V6, the IdP's list.
        idp.algorithms.check(alg).map_err(|_| {
            IdJagError::DisallowedAlgorithm(mcp_auth_core::jose::algorithm_name(alg))
        })?;
        // V8
        verify_signature(entry, &jws).await?;
        // V9
        self.check_audience(claims.get("aud"))?;
        // V10
        check_lifetime(&claims, idp.max_lifetime, ctx.now)?;
        // V11 (presence; spent in commit)
        let jti = required_jti(&claims)?.to_owned();
        // V12
        check_client(&claims, ctx, idp)?;
        // V13
        let sub = str_claim(&claims, "sub")?
            .filter(|s| !s.is_empty())
            .ok_or(IdJagError::MissingSubject)?;
        let subject = format!("{}{sub}", idp.subject_prefix);
        let subject_id = (!idp.subjects_are_local_users).then(|| {
            QualifiedSubject {
                iss: &idp.issuer,
                sub,
            }
            .to_claim()
        });
        let auth_time = claims.get("auth_time").and_then(numeric_date_value);
        // V14
        let resource = resolve_resource(ctx, idp, &claims)?;
        // V15, V16
        let scope = check_scope(ctx, resource, &claims)?;
        Ok(Verified {
            subject,
            subject_id,
            auth_time,
            resource: resource.resource.clone(),
            scope,
            assertion: RedeemedAssertion {
                issuer: idp.issuer.clone(),
                jti,
            },
        })
    }

    fn check_audience(&self, aud: Option<&Value>) -> Result<(), IdJagError> {
        let one = match aud {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Array(list)) if list.len() == 1 => {
                list[0].as_str().ok_or(IdJagError::WrongAudience)?
            }
            _ => return Err(IdJagError::WrongAudience),
        };
        if self.is_own_issuer(one) {
            Ok(())
        } else {
            Err(IdJagError::WrongAudience)
        }
    }
}

/// V8: the key of `entry` for the header's `kid` and `alg`, through its cache and each key
/// source in turn (a configured `jwks_uri`; or RFC 8414 then OpenID Connect discovery).
async fn verify_signature(entry: &IdpEntry, jws: &CompactJws<'_>) -> Result<(), IdJagError> {
    let mut unavailable = None;
    for source in entry.idp.key_sources() {
        match entry.keys.key(source, jws.kid(), jws.alg()).await {
            Ok(key) => {
                return if jws.verify(&key) {
                    Ok(())
                } else {
                    Err(IdJagError::Signature("the signature is invalid"))
                };
            }
            Err(JwksError::Key(e)) => {
                tracing::info!(issuer = %entry.idp.issuer, reason = %e, "ID-JAG refused: no matching key");
                return Err(IdJagError::Signature(
                    "no key of the identity provider matches",
                ));
            }
            Err(JwksError::Unavailable(why)) => unavailable = Some(why),
            Err(other) => unavailable = Some(other.to_string()),
        }
    }
    tracing::warn!(
        issuer = %entry.idp.issuer,
        reason = %unavailable.unwrap_or_default(),
        "ID-JAG refused: the identity provider's keys are unavailable"
    );
    Err(IdJagError::Signature(
        "the identity provider's keys are unavailable",
    ))
}

/// V14: the resource the token is for.
fn resolve_resource<'r>(
    ctx: &GrantContext<'r>,
    idp: &TrustedIdp,
    claims: &Map<String, Value>,
) -> Result<&'r ProtectedResource, IdJagError> {
    // An explicit `null` is not an absent claim: it fails closed.
    let claimed = match claims.get("resource") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(list)) if list.len() == 1 => Some(
            list[0]
                .as_str()
                .ok_or(IdJagError::MalformedClaim("resource"))?,
        ),
        Some(_) => return Err(IdJagError::MalformedClaim("resource")),
    };
    let from_request = claimed.is_none();
    let resource = match claimed {
        Some(uri) => {
            let uri: ResourceUri = uri.parse().map_err(|_| IdJagError::UnknownResource)?;
            ctx.resources.get(&uri).ok_or(IdJagError::UnknownResource)?
        }
        None => select_resource(&ctx.requested_resource, ctx.resources)
            .map_err(|e| IdJagError::Target(e.description().to_owned()))?,
    };
    let allowed_for_idp = idp
        .allowed_resources
        .as_ref()
        .is_none_or(|list| list.contains(&resource.resource));
    if !allowed_for_idp || !ctx.client.allows_resource(&resource.resource) {
        return Err(IdJagError::ResourceNotAllowed { from_request });
    }
    Ok(resource)
}

/// V15 and V16: the `scope` claim within the resource, the requested scope within the claim.
fn check_scope(
    ctx: &GrantContext<'_>,
    resource: &ProtectedResource,
    claims: &Map<String, Value>,
) -> Result<Option<ScopeSet>, IdJagError> {
    // An explicit `null` is not an absent claim: it fails closed.
    let granted = match claims.get("scope") {
        None => None,
        Some(Value::String(s)) => {
            let set: ScopeSet = s.parse().map_err(|_| IdJagError::MalformedClaim("scope"))?;
            if set.is_empty() {
                return Err(IdJagError::MalformedClaim("scope"));
            }
            if let Some(unknown) = set
                .iter()
                .find(|s| !resource.scopes_supported.contains(s.as_str()))
            {
                return Err(IdJagError::UnknownScope(unknown.as_str().to_owned()));
            }
            Some(set)
        }
        Some(_) => return Err(IdJagError::MalformedClaim("scope")),
    };
    let Some(granted) = granted else {
        return Ok(None);
    };
    let asked = requested_scope(ctx)?;
    narrow_scope(asked.as_ref(), &granted)
        .map_err(|ScopeNotGranted(extra)| IdJagError::ScopeWidened(extra.as_str().to_owned()))?;
    // V16: "∩ AS policy": a client with a scope list gets no scope beyond it.
    let Some(allowed) = &ctx.client.scope else {
        return Ok(Some(granted));
    };
    narrow_scope(asked.as_ref(), allowed).map_err(|ScopeNotGranted(refused)| {
        IdJagError::ScopeNotAllowed(refused.as_str().to_owned())
    })?;
    let within = granted.intersection(allowed);
    if within.is_empty() {
        return Err(IdJagError::NoScope);
    }
    Ok(Some(within))
}

/// The request's `scope` (parsed by the engine), `None` when absent; a malformed one in this
/// grant's words.
fn requested_scope(ctx: &GrantContext<'_>) -> Result<Option<ScopeSet>, IdJagError> {
    ctx.requested_scope
        .clone()
        .map_err(|e| IdJagError::MalformedScope(e.0))
}

/// Two issuer identifiers equal but for one trailing `/` (spec V9's tolerance).
pub(crate) fn same_issuer(a: &str, b: &str) -> bool {
    a.strip_suffix('/').unwrap_or(a) == b.strip_suffix('/').unwrap_or(b)
}

/// The `jti`: present, non-empty, at most 256 characters.
fn required_jti(claims: &Map<String, Value>) -> Result<&str, IdJagError> {
    jti_claim(claims, MAX_JTI_LEN)?.ok_or(IdJagError::MissingJti)
}

/// The replay-store key and expiry of an already verified assertion.
fn replay_entry(assertion: &str) -> Result<(String, UnixTime), IdJagError> {
    let jws =
        CompactJws::parse(assertion).map_err(|_| IdJagError::Malformed("not a compact JWS"))?;
    let claims: Map<String, Value> = jws
        .claims()
        .map_err(|_| IdJagError::Malformed("the payload is not a JSON object"))?;
    let iss = str_claim(&claims, "iss")?.ok_or(IdJagError::UntrustedIssuer)?;
    let jti = required_jti(&claims)?;
    let exp = date_claim(&claims, "exp")?.ok_or(IdJagError::MalformedClaim("exp"))?;
    Ok((
        assertion_replay_key("id-jag", iss, jti),
        exp.saturating_add(CLOCK_SKEW),
    ))
}

/// Claims the assertions whose header `typ` is an ID-JAG's ([`ID_JAG_TYPES`], any case;
/// spec EMA-R2-06), whatever their issuer: an ID-JAG is never redeemed as anything else.
impl AssertionRedeemer for IdJagGrant {
    fn name(&self) -> &str {
        "id-jag"
    }

    fn claims(&self, assertion: &AssertionPeek) -> bool {
        is_id_jag_type(assertion.typ.as_deref())
    }
}

/// True when `typ` is one of [`ID_JAG_TYPES`], compared case-insensitively.
pub fn is_id_jag_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| ID_JAG_TYPES.iter().any(|ok| t.eq_ignore_ascii_case(ok)))
}

#[async_trait]
impl GrantHandler for IdJagGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GrantType::JWT_BEARER)
    }

    /// Confidential clients with [`AUTH_METHODS`] (spec V3, EMA-13); any client when public
    /// clients are allowed.
    fn client_authentication(&self) -> ClientAuthPolicy {
        if self.allow_public_clients {
            ClientAuthPolicy::Optional
        } else {
            ClientAuthPolicy::Required(AUTH_METHODS.to_vec())
        }
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        let assertion = ctx
            .params
            .get("assertion")
            .ok_or(IdJagError::MissingAssertion)?;
        let verified = match self.verify(ctx, assertion).await {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(client_id = %ctx.client.client_id, reason = %e, "ID-JAG refused");
                return Err(e.into());
            }
        };
        let requested = requested_scope(ctx)?;
        let ceiling = match verified.scope {
            Some(granted) => ScopeCeiling::Granted(granted),
            None => ScopeCeiling::ClientAllowance {
                when_omitted: OmittedScope::PolicyDefault,
            },
        };
        let mut decision = GrantDecision::new(
            verified.subject,
            ResourceHint::Bound {
                resource: verified.resource,
                by: BoundBy::Grant,
            },
            ceiling,
        );
        decision.requested_scope = requested;
        decision.refresh = RefreshPolicy::None;
        decision.auth_time = verified.auth_time;
        decision.redeemed_assertion = Some(verified.assertion);
        if let Some(id) = verified.subject_id {
            decision
                .extra_claims
                .insert(SUBJECT_ID_CLAIM, id)
                .map_err(OAuthError::server_error)?;
        }
        Ok(decision)
    }

    /// Spend the `jti` (spec V11, EMA-05): `invalid_grant` when it was already used.
    async fn commit(
        &self,
        ctx: &GrantContext<'_>,
        _decision: &GrantDecision,
    ) -> Result<(), OAuthError> {
        let assertion = ctx
            .params
            .get("assertion")
            .ok_or(IdJagError::MissingAssertion)?;
        let (key, expires_at) = replay_entry(assertion)?;
        let fresh = self
            .replay
            .insert_once(&key, expires_at, ctx.now)
            .await
            .map_err(IdJagError::Store)?;
        if fresh {
            Ok(())
        } else {
            tracing::warn!(client_id = %ctx.client.client_id, "ID-JAG refused: jti replayed");
            Err(IdJagError::Replayed.into())
        }
    }
}

/// V10: `exp` and `iat` present and numeric, not expired and not issued in the future (each
/// with [`CLOCK_SKEW`]), `exp` not before `iat`, and at most `max_lifetime` seconds between
/// them.
fn check_lifetime(
    claims: &Map<String, Value>,
    max_lifetime: u64,
    now: UnixTime,
) -> Result<(), IdJagError> {
    let exp = date_claim(claims, "exp")?.ok_or(IdJagError::MalformedClaim("exp"))?;
    if exp.saturating_add(CLOCK_SKEW) <= now {
        return Err(IdJagError::Expired);
    }
    let iat = date_claim(claims, "iat")?.ok_or(IdJagError::BadIssuedAt)?;
    if iat > now.saturating_add(CLOCK_SKEW) {
        return Err(IdJagError::BadIssuedAt);
    }
    if exp < iat {
        return Err(IdJagError::ExpiresBeforeIssued);
    }
    if exp.saturating_sub(iat) > max_lifetime as i64 {
        return Err(IdJagError::TooLongLived(max_lifetime));
    }
    Ok(())
}

/// V12: the assertion's `client_id` is the authenticated client, and one the IdP entry allows.
fn check_client(
    claims: &Map<String, Value>,
    ctx: &GrantContext<'_>,
    idp: &TrustedIdp,
) -> Result<(), IdJagError> {
    let client_id = str_claim(claims, "client_id")?.ok_or(IdJagError::ClientMismatch)?;
    if client_id != ctx.client.client_id.as_str() {
        return Err(IdJagError::ClientMismatch);
    }
    if let Some(allowed) = &idp.allowed_client_ids
        && !allowed.iter().any(|c| c == client_id)
    {
        return Err(IdJagError::ClientNotAllowed);
    }
    Ok(())
}
