//! The `client_credentials` grant (RFC 6749 §4.4, SEP-1046; spec §5 CC-01…CC-12).

use async_trait::async_trait;
use mcp_auth_core::ext::{
    ClientAuthPolicy, ClientSourceRefused, GrantContext, GrantDecision, GrantHandler, OmittedScope,
    ResourceHint, ScopeCeiling,
};
use mcp_auth_core::{Client, ClientSource, GrantType, OAuthError, TokenEndpointAuthMethod};

use crate::error::GrantError;

/// The client authentication methods a `client_credentials` client may use (spec CC-02, CC-03,
/// CC-07, §10 A11): both secret transports, because real clients differ, and `private_key_jwt`
/// (RECOMMENDED).
pub const AUTH_METHODS: [TokenEndpointAuthMethod; 3] = [
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
];

/// What happens when a request omits `resource` (RFC 8707 §2, spec §2.5 and CC-09).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourcePolicy {
    /// Follow the server: the server's `default_resource`, when one is configured, is used;
    /// otherwise the request is `invalid_target` ([`mcp_auth_core::protected_resource::ResourceRegistry::select`]).
    #[default]
    ServerDefault,
    /// Always require `resource`, even when the server has a default: `invalid_target` without it.
    Require,
}

/// Decides `client_credentials` token requests: a machine client gets a token for itself.
///
/// The grant states its rules; the engine applies them, the same way for every grant:
///
/// 1. client authentication ([`GrantHandler::client_authentication`]): confidential clients
///    only, with one of [`AUTH_METHODS`]; a public client (`token_endpoint_auth_method: none`)
///    is `unauthorized_client` even when its record lists the grant (spec CC-02, CC-06, CC-07,
///    CC-08). The record must also list `client_credentials` (`unauthorized_client`).
/// 2. The handler refuses clients that were not registered by an operator (dynamic
///    registration, metadata documents) with `unauthorized_client`, unless
///    [`ClientCredentialsGrant::dangerous_allow_self_registered_clients`] was called (spec §5.1:
///    machine clients are pre-registered out of band). A malformed `scope` is `invalid_scope`.
/// 3. Resource ([`ResourceHint::Request`]): the one `resource` parameter, or per
///    [`ResourcePolicy`] when it is absent; unknown, malformed, repeated, missing, or outside the
///    client's `resources` list → `invalid_target` (spec CC-09).
/// 4. Scopes ([`ScopeCeiling::ClientAllowance`] with [`OmittedScope::DefaultsElseAllowance`],
///    spec CC-10):
///    - `scope` sent: every scope must be defined for the resource and, when the client has a
///      `scope` list, be in it; else `invalid_scope` naming the first offender (the server's
///      scope policy). Granted as asked.
///    - `scope` omitted (or empty): the resource's default scopes ∩ the client's allowed
///      scopes; when that is empty, the client's allowed scopes ∩ the resource's scopes (a
///      machine client provisioned only for non-default scopes still gets them). A client
///      without a `scope` list gets the resource's default scopes. An empty result is
///      `invalid_scope`.
/// 5. `sub` = `client_id` (spec CC-12; the issuer adds `client_id`), no refresh token
///    ([`mcp_auth_core::ext::RefreshPolicy::None`], RFC 6749 §4.4.3, spec CC-11), no
///    `auth_time`.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentialsGrant {
    resource_policy: ResourcePolicy,
    allow_self_registered: bool,
}

impl ClientCredentialsGrant {
    /// A handler with [`ResourcePolicy::ServerDefault`] that serves operator-registered clients
    /// only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use `policy` when a request omits `resource`.
    pub fn with_resource_policy(mut self, policy: ResourcePolicy) -> Self {
        self.resource_policy = policy;
        self
    }

    /// Also serve clients registered through RFC 7591 dynamic registration or resolved from a
    /// metadata document (SEP-991). Such records are self-asserted: anyone who can register can
    /// then obtain tokens in their own name. Off by default; logs a warning when turned on.
    pub fn dangerous_allow_self_registered_clients(mut self) -> Self {
        tracing::warn!(
            "client_credentials: self-registered clients (dynamic registration, metadata documents) may use the grant"
        );
        self.allow_self_registered = true;
        self
    }

    /// The resource policy in effect.
    pub fn resource_policy(&self) -> ResourcePolicy {
        self.resource_policy
    }

    fn check_client(&self, client: &Client) -> Result<(), GrantError> {
        if client.source != ClientSource::Admin && !self.allow_self_registered {
            return Err(GrantError::NotOperatorRegistered);
        }
        Ok(())
    }
}

#[async_trait]
impl GrantHandler for ClientCredentialsGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GrantType::CLIENT_CREDENTIALS)
    }

    /// Confidential clients only, with [`AUTH_METHODS`] (spec CC-02, CC-03, CC-07, CC-08).
    fn client_authentication(&self) -> ClientAuthPolicy {
        ClientAuthPolicy::Required(AUTH_METHODS.to_vec())
    }

    /// Spec §5.1: machine clients are provisioned by an operator; a client registering itself
    /// may not list the grant (whatever [`Self::dangerous_allow_self_registered_clients`] says).
    fn check_client_source(&self, source: ClientSource) -> Result<(), ClientSourceRefused> {
        match source {
            ClientSource::Admin => Ok(()),
            _ => Err(ClientSourceRefused(
                "client_credentials clients are provisioned by an operator, not registered dynamically"
                    .into(),
            )),
        }
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        self.check_client(ctx.client)?;
        // This grant's wording for a malformed `scope` (the engine parsed it).
        let requested = ctx
            .requested_scope
            .clone()
            .map_err(|e| OAuthError::invalid_scope(format!("malformed scope: {}", e.0)))?;
        let mut decision = GrantDecision::new(
            ctx.client.client_id.as_str(),
            ResourceHint::Request {
                required: self.resource_policy == ResourcePolicy::Require,
            },
            ScopeCeiling::ClientAllowance {
                when_omitted: OmittedScope::DefaultsElseAllowance,
            },
        );
        decision.requested_scope = requested;
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::ext::RefreshPolicy;
    use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
    use mcp_auth_core::{ErrorCode, FormParams, Issuer};

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn resource() -> ProtectedResource {
        ProtectedResource {
            resource: RESOURCE.parse().unwrap(),
            scopes_supported: "mcp:basic mcp:tools reports:read".parse().unwrap(),
            default_scopes: "mcp:basic".parse().unwrap(),
            access_token_ttl: None,
        }
    }

    fn machine(scope: Option<&str>) -> Client {
        Client {
            client_id: "svc-reporter".parse().unwrap(),
            client_name: None,
            redirect_uris: vec![],
            grant_types: vec![GrantType::new(GrantType::CLIENT_CREDENTIALS)],
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            token_endpoint_auth_methods: Vec::new(),
            secrets: vec![],
            jwks: None,
            jwks_uri: None,
            scope: scope.map(|s| s.parse().unwrap()),
            resources: None,
            client_id_issued_at: NOW,
            source: ClientSource::Admin,
            dpop_bound_access_tokens: false,
        }
    }

    async fn decide(
        grant: &ClientCredentialsGrant,
        client: &Client,
        form: &str,
    ) -> Result<GrantDecision, OAuthError> {
        let params = FormParams::parse(form.as_bytes()).unwrap();
        let issuer: Issuer = "https://auth.example.com".parse().unwrap();
        let resources = ResourceRegistry::new(vec![resource()], None).unwrap();
        let ctx = GrantContext::new(client, &params, &issuer, &resources, NOW);
        grant.decide(&ctx).await
    }

    /// CC-10, CC-11, CC-12: `sub` is the client, no refresh token, the client's allowance with
    /// the fallback for an omitted scope, the resource from the request.
    #[tokio::test]
    async fn decision_is_for_the_client_without_refresh() {
        let d = decide(
            &ClientCredentialsGrant::new(),
            &machine(None),
            "grant_type=client_credentials&scope=",
        )
        .await
        .unwrap();
        assert_eq!(d.subject, "svc-reporter");
        assert_eq!(d.refresh, RefreshPolicy::None);
        assert_eq!(d.auth_time, None);
        assert_eq!(d.requested_scope, None);
        assert_eq!(d.resource, ResourceHint::Request { required: false });
        assert_eq!(
            d.scope_ceiling,
            ScopeCeiling::ClientAllowance {
                when_omitted: OmittedScope::DefaultsElseAllowance
            }
        );
    }

    /// CC-09: `ResourcePolicy::Require` asks the engine to require `resource`.
    #[tokio::test]
    async fn require_policy_requires_the_resource() {
        let grant = ClientCredentialsGrant::new().with_resource_policy(ResourcePolicy::Require);
        let d = decide(&grant, &machine(None), "grant_type=client_credentials")
            .await
            .unwrap();
        assert_eq!(d.resource, ResourceHint::Request { required: true });
    }

    /// CC-10: a malformed scope is `invalid_scope`.
    #[tokio::test]
    async fn malformed_scope_is_invalid_scope() {
        let err = decide(
            &ClientCredentialsGrant::new(),
            &machine(None),
            "grant_type=client_credentials&scope=%22bad%22",
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
        assert_eq!(
            err.description(),
            "malformed scope: scope token has a character outside RFC 6749 §3.3 NQCHAR"
        );
    }

    /// CC-08: the grant's policy refuses public clients, and names its methods.
    #[test]
    fn public_clients_are_outside_the_authentication_policy() {
        let policy = ClientCredentialsGrant::new().client_authentication();
        assert!(!policy.permits(TokenEndpointAuthMethod::None));
        assert!(policy.permits(TokenEndpointAuthMethod::PrivateKeyJwt));
        assert_eq!(policy.methods(), AUTH_METHODS.to_vec());
    }

    /// §5.1: self-registered clients are refused unless dangerously allowed.
    #[tokio::test]
    async fn dynamic_client_is_unauthorized_client_by_default() {
        let mut c = machine(None);
        c.source = ClientSource::Dynamic;
        let form = format!("grant_type=client_credentials&resource={RESOURCE}");
        let err = decide(&ClientCredentialsGrant::new(), &c, &form)
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnauthorizedClient);
        let allowed = ClientCredentialsGrant::new().dangerous_allow_self_registered_clients();
        assert!(decide(&allowed, &c, &form).await.is_ok());
    }

    /// §5.1: registration refuses the grant for every source but the operator.
    #[test]
    fn only_operators_provision_machine_clients() {
        let g = ClientCredentialsGrant::new().dangerous_allow_self_registered_clients();
        assert_eq!(g.check_client_source(ClientSource::Admin), Ok(()));
        assert!(g.check_client_source(ClientSource::Dynamic).is_err());
    }
}
