use async_trait::async_trait;

use crate::client::{Client, ClientSource};
use crate::clock::UnixTime;
use crate::error::OAuthError;
use crate::params::FormParams;
use crate::protected_resource::ResourceRegistry;
use crate::types::{
    ClientId, GrantType, Issuer, ParseError, ResourceUri, ScopeSet, TokenEndpointAuthMethod,
};

use super::claims::{ExtraClaims, ResponseMembers};
use super::policy::{ResourceHint, ScopeCeiling};
use super::token_issuer::TokenProfile;

/// What a grant handler sees: the authenticated client, the form with its `scope` and
/// `resource` parameters already parsed, and the server's settings. Build it with
/// [`GrantContext::new`], which parses those parameters; a handler reads them from
/// [`GrantContext::requested_scope`] and [`GrantContext::requested_resource`], never from
/// `params`.
#[derive(Debug)]
pub struct GrantContext<'a> {
    /// The client, already authenticated with its registered method and allowed this grant
    /// (by its record and by the grant's [`ClientAuthPolicy`]).
    pub client: &'a Client,
    /// The token request's form parameters (no parameter but `resource` repeated).
    pub params: &'a FormParams,
    /// The request's `scope` (RFC 6749 §3.3), parsed once: `Ok(None)` when absent (an empty
    /// value is absent), `Err` with the reason when malformed. `offline_access` is kept here;
    /// the engine takes it out of the decision's requested scope. A malformed `scope` is refused
    /// only by a grant that reads it, at the step where it reads it (the `authorization_code`
    /// grant ignores `scope`): see [`GrantContext::scope`].
    pub requested_scope: Result<Option<ScopeSet>, ParseError>,
    /// The request's `resource` values (RFC 8707 §2), each parsed once.
    pub requested_resource: RequestedResources,
    /// This server's issuer.
    pub issuer: &'a Issuer,
    /// The protected resources and the default resource.
    pub resources: &'a ResourceRegistry,
    /// Now, seconds since the epoch.
    pub now: UnixTime,
}

impl<'a> GrantContext<'a> {
    /// The context of one token request: parses `scope` and every `resource` of `params`.
    pub fn new(
        client: &'a Client,
        params: &'a FormParams,
        issuer: &'a Issuer,
        resources: &'a ResourceRegistry,
        now: UnixTime,
    ) -> Self {
        Self {
            client,
            params,
            requested_scope: params.get("scope").map(str::parse).transpose(),
            requested_resource: RequestedResources::parse(params),
            issuer,
            resources,
            now,
        }
    }

    /// The requested scope, `None` when the request named none.
    ///
    /// # Errors
    /// `invalid_scope` with the parser's reason when `scope` is malformed.
    pub fn scope(&self) -> Result<Option<ScopeSet>, OAuthError> {
        self.requested_scope
            .clone()
            .map_err(|e| OAuthError::invalid_scope(e.0))
    }
}

/// The `resource` parameters of a request (RFC 8707 §2), in order, each parsed once; a malformed
/// value is kept with its reason, so that each rule reports it in its own words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedResources(Vec<Result<ResourceUri, ParseError>>);

/// Why [`RequestedResources::single`] has no one resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SingleResourceError {
    /// `resource` was sent more than once.
    #[error("resource was sent more than once")]
    Several,
    /// The one `resource` is not an absolute URI without fragment; the parser's reason.
    #[error("{0}")]
    Malformed(ParseError),
}

impl RequestedResources {
    /// Parse every `resource` value of `params`.
    pub fn parse(params: &FormParams) -> Self {
        Self(
            params
                .get_all("resource")
                .iter()
                .map(|v| v.parse())
                .collect(),
        )
    }

    /// True when the request sent no `resource`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many `resource` values the request sent.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The one resource: `Ok(None)` when none was sent.
    ///
    /// # Errors
    /// [`SingleResourceError::Several`] when more than one was sent (whatever they are),
    /// [`SingleResourceError::Malformed`] when the one sent does not parse.
    pub fn single(&self) -> Result<Option<&ResourceUri>, SingleResourceError> {
        match self.0.as_slice() {
            [] => Ok(None),
            [Ok(one)] => Ok(Some(one)),
            [Err(e)] => Err(SingleResourceError::Malformed(e.clone())),
            _ => Err(SingleResourceError::Several),
        }
    }

    /// True when every value sent names `resource` (vacuously true when none was sent; a
    /// malformed value never does).
    pub fn all_name(&self, resource: &ResourceUri) -> bool {
        self.0.iter().all(|v| v.as_ref().ok() == Some(resource))
    }
}

/// Whether and how the token response carries a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// No refresh token (client credentials, RFC 6749 §4.4.3; ID-JAG).
    None,
    /// Start a new refresh token family (authorization code redemption).
    NewFamily,
    /// Continue an existing family (rotation, RFC 6749 §6 / OAuth 2.1 §4.3.1).
    Rotate {
        /// The family being continued.
        family_id: String,
        /// The family's absolute expiry, seconds since the epoch; never extended by rotation.
        family_expires_at: UnixTime,
    },
}

/// How the clients of a grant authenticate at the token endpoint (RFC 6749 §2.3, §3.2.1).
/// The engine enforces it before the handler decides: a client outside it is
/// `unauthorized_client`. Every method named must have an authenticator, or `build()` fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthPolicy {
    /// Confidential clients only, authenticated with one of these methods (never `none`).
    Required(Vec<TokenEndpointAuthMethod>),
    /// Public clients (`none`) and confidential clients with any registered method
    /// (`authorization_code`, `refresh_token`).
    Optional,
    /// Public clients only: the grant's own proof is all the authentication there is.
    None,
    /// No client authentication at all: the grant's own proof (a workload's signed assertion,
    /// RFC 7523 §2.1 without client authentication, SEP-1933) both authenticates the request
    /// and names the client, through [`GrantHandler::client_named_by_grant`]. The engine then
    /// refuses any client credential or `client_id` in the request (`invalid_request`) and
    /// looks the named client up. Any registered method may be named this way.
    ByGrant,
}

impl ClientAuthPolicy {
    /// True when a client registered with `method` may use the grant.
    pub fn permits(&self, method: TokenEndpointAuthMethod) -> bool {
        match self {
            Self::Required(methods) => {
                method != TokenEndpointAuthMethod::None && methods.contains(&method)
            }
            Self::Optional | Self::ByGrant => true,
            Self::None => method == TokenEndpointAuthMethod::None,
        }
    }

    /// The methods this policy names, for the start-up check that each has an authenticator.
    pub fn methods(&self) -> Vec<TokenEndpointAuthMethod> {
        match self {
            Self::Required(methods) => methods.clone(),
            Self::Optional | Self::ByGrant => Vec::new(),
            Self::None => vec![TokenEndpointAuthMethod::None],
        }
    }
}

/// A grant handler's decision: who the token is for, what was asked, what limits it, whether it
/// can be refreshed, and what kind of token to mint. The engine then applies the scope policy
/// and resource rules ([`super::resolve_resource`], [`super::resolve_scope`]) and mints.
#[derive(Debug, Clone)]
pub struct GrantDecision {
    /// `sub`: the user id, or the client id for machine grants.
    pub subject: String,
    /// Where the audience resource comes from.
    pub resource: ResourceHint,
    /// The scopes the request asked for; `None` when it named none.
    pub requested_scope: Option<ScopeSet>,
    /// What limits the scopes.
    pub scope_ceiling: ScopeCeiling,
    /// Refresh token policy.
    pub refresh: RefreshPolicy,
    /// When the user authenticated (`auth_time`), if a user did.
    pub auth_time: Option<UnixTime>,
    /// Further claims for the token; never a registered claim, never secrets or PII beyond
    /// `sub`.
    pub extra_claims: ExtraClaims,
    /// Which token to mint: an RFC 9068 access token, or another JWT profile (an ID-JAG).
    pub profile: TokenProfile,
    /// Extra token response members and the response `token_type`.
    pub response: ResponseMembers,
    /// The token's lifetime in seconds when the grant sets it (an ID-JAG: 300 s, SEP-990 §6.4);
    /// `None` for the resource's access token lifetime. Never longer than that lifetime for
    /// an access token.
    pub lifetime: Option<u64>,
    /// Also issue an OpenID Connect ID token to the client (OIDC Core §3.1.3.3), when the
    /// authorization request asked for `openid`.
    pub id_token: Option<IdTokenRequest>,
    /// The DPoP key (RFC 7638 thumbprint) the redeemed grant is bound to: an authorization
    /// code's `dpop_jkt` (RFC 9449 §10), a DPoP-bound refresh token's key (§5). A grant only
    /// reports it; the engine then requires the request's proof to be by that key
    /// (`invalid_grant` otherwise). `None` for an unbound grant.
    pub dpop_jkt: Option<String>,
    /// The JWT assertion the grant redeemed (RFC 7523 §2.1; an ID-JAG at the Cross App Access
    /// grant, SEP-990): its issuer and `jti`, for the audit trail (the engine records an
    /// `assertion_redeemed` event after minting). `None` for grants that redeem none.
    pub redeemed_assertion: Option<RedeemedAssertion>,
    /// Whether `subject` is a user whose use of the client is recorded for their account page.
    /// `true` by default; `false` for a workload (SEP-1933) or another non-user subject.
    pub for_user: bool,
}

/// An assertion a grant redeemed, named without its content: the issuer (`iss`) and the
/// assertion's `jti` (RFC 7519 §4.1.1, §4.1.7). Never the assertion itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedAssertion {
    /// The assertion's `iss` (e.g. the enterprise identity provider).
    pub issuer: String,
    /// The assertion's `jti`.
    pub jti: String,
}

/// What an authorization request asked of the ID token (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTokenRequest {
    /// The request's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
}

impl GrantDecision {
    /// A decision for an access token to `subject`, with no requested scope, no refresh token,
    /// no `auth_time`, no extra claims or response members.
    pub fn new(subject: impl Into<String>, resource: ResourceHint, ceiling: ScopeCeiling) -> Self {
        Self {
            subject: subject.into(),
            resource,
            requested_scope: None,
            scope_ceiling: ceiling,
            refresh: RefreshPolicy::None,
            auth_time: None,
            extra_claims: ExtraClaims::new(),
            profile: TokenProfile::AccessToken,
            response: ResponseMembers::new(),
            lifetime: None,
            id_token: None,
            dpop_jkt: None,
            redeemed_assertion: None,
            for_user: true,
        }
    }
}

/// What was issued for a decision, reported back to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The access token's `jti`.
    pub access_jti: String,
    /// The access token's `exp`.
    pub access_exp: UnixTime,
    /// The refresh token family, when a refresh token was issued.
    pub refresh_family: Option<String>,
}

/// Why a grant refuses the clients of a source ([`GrantHandler::check_client_source`]): the
/// reason in words for the registrant (`invalid_client_metadata`, RFC 7591 §3.2.2) or the
/// operator (`auth-server client add`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientSourceRefused(pub String);

/// One grant type at the token endpoint (RFC 6749 §4). Dispatch is an exact map from
/// `grant_type` to handler.
///
/// One request runs: the engine authenticates the client and checks [`Self::client_authentication`]
/// → [`Self::decide`] (validate, no lasting effect beyond consuming a single-use artifact the
/// validation itself needs) → the engine applies the scope policy and resource rules →
/// [`Self::commit`] (e.g. spend a refresh token) → the issuer mints → [`Self::issued`].
#[async_trait]
pub trait GrantHandler: Send + Sync {
    /// The `grant_type` this handler serves, e.g. `authorization_code`.
    fn grant_type(&self) -> GrantType;

    /// Which clients may use the grant and how they authenticate. Default:
    /// [`ClientAuthPolicy::Optional`].
    fn client_authentication(&self) -> ClientAuthPolicy {
        ClientAuthPolicy::Optional
    }

    /// The policy for one request, by its form: [`Self::client_authentication`] unless the
    /// grant routes requests to handlers with different policies (the JWT bearer grant).
    fn client_authentication_for(&self, _params: &FormParams) -> ClientAuthPolicy {
        self.client_authentication()
    }

    /// For a request under [`ClientAuthPolicy::ByGrant`]: the client the grant's proof names
    /// (read before the proof is verified; [`Self::decide`] verifies it and must refuse a
    /// request whose context client is not the one named). Default: `None` (the engine
    /// authenticates the client from the request's credentials).
    ///
    /// # Errors
    /// The grant's refusal of a request it cannot route (`invalid_request`, `invalid_grant`).
    async fn client_named_by_grant(
        &self,
        _params: &FormParams,
    ) -> Result<Option<ClientId>, OAuthError> {
        Ok(None)
    }

    /// Whether a client registering itself (RFC 7591) or presented by a metadata document may
    /// list this grant; `Err(reason)` is `invalid_client_metadata` at `/register` and refuses
    /// `auth-server client add` for the same `source`. Default: allowed.
    ///
    /// # Errors
    /// [`ClientSourceRefused`] with the reason, in words for the registrant or operator.
    fn check_client_source(&self, _source: ClientSource) -> Result<(), ClientSourceRefused> {
        Ok(())
    }

    /// Validate the request and decide. Errors are sent as they are (`invalid_grant`,
    /// `unauthorized_client`, …); scope and resource errors come from the engine.
    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError>;

    /// Called after the engine accepted the decision's scope and resource and before minting,
    /// to make the decision's lasting effects (e.g. spend the presented refresh token).
    /// Default: nothing.
    async fn commit(
        &self,
        _ctx: &GrantContext<'_>,
        _decision: &GrantDecision,
    ) -> Result<(), OAuthError> {
        Ok(())
    }

    /// Called after the tokens were minted and stored, so the handler can remember what its
    /// decision produced (e.g. to revoke it if a code is replayed). Default: nothing.
    async fn issued(
        &self,
        _ctx: &GrantContext<'_>,
        _issued: &IssuedTokens,
    ) -> Result<(), OAuthError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn client() -> Client {
        crate::client::test_client(GrantType::CLIENT_CREDENTIALS)
    }

    /// Parse `form` into a context and hand it to `check`.
    fn with_context(form: &str, check: impl FnOnce(&GrantContext<'_>)) {
        let params = FormParams::parse(form.as_bytes()).unwrap();
        let issuer: Issuer = "https://auth.example.com".parse().unwrap();
        let resources = ResourceRegistry::default();
        let client = client();
        check(&GrantContext::new(&client, &params, &issuer, &resources, 0));
    }

    /// RFC 6749 §3.3: the context carries the parsed `scope`; absent and empty are `None`;
    /// `offline_access` is kept for the grant to see.
    #[test]
    fn context_parses_scope_once() {
        with_context("scope=mcp%3Abasic+offline_access", |ctx| {
            let scope = ctx.requested_scope.clone().unwrap().unwrap();
            assert_eq!(scope, "mcp:basic offline_access".parse().unwrap());
            assert_eq!(ctx.scope().unwrap(), Some(scope));
        });
        with_context("a=b", |ctx| assert_eq!(ctx.requested_scope, Ok(None)));
        with_context("scope=", |ctx| assert_eq!(ctx.requested_scope, Ok(None)));
    }

    /// RFC 6749 §3.3: a malformed `scope` is kept with its reason; read, it is `invalid_scope`.
    #[test]
    fn malformed_scope_is_invalid_scope_when_read() {
        with_context("scope=a++b", |ctx| {
            assert_eq!(
                ctx.requested_scope,
                Err(ParseError::new("empty scope token"))
            );
            let err = ctx.scope().unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidScope);
            assert_eq!(err.description(), "empty scope token");
        });
    }

    /// RFC 8707 §2: every `resource` is parsed; one, several and a malformed one are told apart.
    #[test]
    fn context_parses_every_resource() {
        let one = format!("resource={RESOURCE}");
        with_context(&one, |ctx| {
            let r = &ctx.requested_resource;
            assert_eq!(r.len(), 1);
            assert_eq!(r.single().unwrap().unwrap().as_str(), RESOURCE);
            assert!(r.all_name(&RESOURCE.parse().unwrap()));
        });
        with_context("a=b", |ctx| {
            assert!(ctx.requested_resource.is_empty());
            assert_eq!(ctx.requested_resource.single(), Ok(None));
        });
        with_context("resource=relative", |ctx| {
            let r = &ctx.requested_resource;
            assert!(matches!(r.single(), Err(SingleResourceError::Malformed(_))));
            assert!(!r.all_name(&RESOURCE.parse().unwrap()));
        });
        with_context(&format!("{one}&resource=relative"), |ctx| {
            let r = &ctx.requested_resource;
            assert_eq!(r.single(), Err(SingleResourceError::Several));
            assert!(!r.all_name(&RESOURCE.parse().unwrap()));
        });
        with_context(&format!("{one}&{one}"), |ctx| {
            assert_eq!(
                ctx.requested_resource.single(),
                Err(SingleResourceError::Several)
            );
            assert!(ctx.requested_resource.all_name(&RESOURCE.parse().unwrap()));
        });
    }
}
