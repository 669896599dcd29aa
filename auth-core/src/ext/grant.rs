use async_trait::async_trait;

use crate::client::{Client, ClientSource};
use crate::clock::UnixTime;
use crate::error::OAuthError;
use crate::params::FormParams;
use crate::protected_resource::ResourceRegistry;
use crate::types::{GrantType, Issuer, ScopeSet, TokenEndpointAuthMethod};

use super::claims::{ExtraClaims, ResponseMembers};
use super::policy::{ResourceHint, ScopeCeiling};
use super::token_issuer::TokenProfile;

/// What a grant handler sees: the authenticated client, the form, and the server's settings.
#[derive(Debug)]
pub struct GrantContext<'a> {
    /// The client, already authenticated with its registered method and allowed this grant
    /// (by its record and by the grant's [`ClientAuthPolicy`]).
    pub client: &'a Client,
    /// The token request's form parameters.
    pub params: &'a FormParams,
    /// This server's issuer.
    pub issuer: &'a Issuer,
    /// The protected resources and the default resource.
    pub resources: &'a ResourceRegistry,
    /// Now, seconds since the epoch.
    pub now: UnixTime,
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
}

impl ClientAuthPolicy {
    /// True when a client registered with `method` may use the grant.
    pub fn permits(&self, method: TokenEndpointAuthMethod) -> bool {
        match self {
            Self::Required(methods) => {
                method != TokenEndpointAuthMethod::None && methods.contains(&method)
            }
            Self::Optional => true,
            Self::None => method == TokenEndpointAuthMethod::None,
        }
    }

    /// The methods this policy names, for the start-up check that each has an authenticator.
    pub fn methods(&self) -> Vec<TokenEndpointAuthMethod> {
        match self {
            Self::Required(methods) => methods.clone(),
            Self::Optional => Vec::new(),
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

    /// Whether a client registering itself (RFC 7591) or presented by a metadata document may
    /// list this grant; `Err(reason)` is `invalid_client_metadata` at `/register` and refuses
    /// `auth-server client add` for the same `source`. Default: allowed.
    ///
    /// # Errors
    /// The reason, in words for the registrant or operator.
    fn check_client_source(&self, _source: ClientSource) -> Result<(), String> {
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
