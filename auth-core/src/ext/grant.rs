use async_trait::async_trait;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::error::OAuthError;
use crate::params::FormParams;
use crate::protected_resource::{ProtectedResource, ResourceRegistry};
use crate::types::{Issuer, ScopeSet};

/// What a grant handler sees: the authenticated client, the form, and the server's settings.
#[derive(Debug)]
pub struct GrantContext<'a> {
    /// The client, already authenticated with its registered method and allowed this grant.
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

/// A grant handler's decision: who the token is for, for what, and whether it can be refreshed.
#[derive(Debug, Clone)]
pub struct GrantDecision {
    /// `sub`: the user id, or the client id for machine grants.
    pub subject: String,
    /// The audience resource.
    pub resource: ProtectedResource,
    /// The granted scopes (already checked against the resource and client).
    pub scope: ScopeSet,
    /// Refresh token policy.
    pub refresh: RefreshPolicy,
    /// When the user authenticated (`auth_time`), if a user did.
    pub auth_time: Option<UnixTime>,
    /// Further claims for the access token; never secrets or PII beyond `sub`.
    pub extra_claims: serde_json::Map<String, serde_json::Value>,
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
#[async_trait]
pub trait GrantHandler: Send + Sync {
    /// The `grant_type` this handler serves, e.g. `authorization_code`.
    fn grant_type(&self) -> &str;

    /// Validate the request and decide. Errors are sent as they are (`invalid_grant`,
    /// `invalid_scope`, `invalid_target`, …).
    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError>;

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
