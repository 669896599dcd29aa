//! The `client_credentials` grant (RFC 6749 §4.4, SEP-1046; spec §5 CC-01…CC-12).

use async_trait::async_trait;
use mcp_auth_core::ext::{GrantContext, GrantDecision, GrantHandler, RefreshPolicy};
use mcp_auth_core::protected_resource::ProtectedResource;
use mcp_auth_core::{Client, ClientSource, GrantType, OAuthError, ScopeSet};

use crate::error::GrantError;

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
/// The engine has already authenticated the client with its registered method
/// (`client_secret_basic`, `client_secret_post` or `private_key_jwt`, spec CC-02, CC-06, CC-07)
/// and checked that its record lists `client_credentials` (`unauthorized_client` otherwise).
/// This handler then, in order:
///
/// 1. refuses public clients (`token_endpoint_auth_method: none`) with `unauthorized_client`,
///    even when their record lists the grant (spec CC-08);
/// 2. refuses clients that were not registered by an operator (dynamic registration, metadata
///    documents) with `unauthorized_client`, unless
///    [`ClientCredentialsGrant::dangerous_allow_self_registered_clients`] was called (spec §5.1:
///    machine clients are pre-registered out of band);
/// 3. chooses the resource: the one `resource` parameter, or per [`ResourcePolicy`] when it is
///    absent; unknown, malformed, repeated, missing, or outside the client's `resources` list →
///    `invalid_target` (spec CC-09);
/// 4. chooses the scopes (spec CC-10):
///    - `scope` sent: every scope must be defined for the resource and, when the client has a
///      `scope` list, be in it; else `invalid_scope` naming the first offender. Granted as asked.
///    - `scope` omitted: the resource's default scopes ∩ the client's allowed scopes; when that is
///      empty, the client's allowed scopes ∩ the resource's scopes (a machine client provisioned
///      only for non-default scopes still gets them). A client without a `scope` list gets the
///      resource's default scopes. An empty result is `invalid_scope`.
/// 5. decides `sub` = `client_id` (spec CC-12; the issuer adds `client_id`), no refresh token
///    ([`RefreshPolicy::None`], RFC 6749 §4.4.3, spec CC-11), no `auth_time`.
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
        if client.is_public() {
            return Err(GrantError::PublicClient);
        }
        if client.source != ClientSource::Admin && !self.allow_self_registered {
            return Err(GrantError::NotOperatorRegistered);
        }
        Ok(())
    }

    fn choose_resource<'a>(
        &self,
        ctx: &GrantContext<'a>,
    ) -> Result<&'a ProtectedResource, OAuthError> {
        let values = ctx.params.get_all("resource");
        if values.is_empty() && self.resource_policy == ResourcePolicy::Require {
            return Err(GrantError::ResourceRequired.into());
        }
        let resource = ctx.resources.select(values)?;
        if !ctx.client.allows_resource(&resource.resource) {
            return Err(GrantError::ResourceNotAllowed(resource.resource.to_string()).into());
        }
        Ok(resource)
    }
}

/// Step 4 of [`ClientCredentialsGrant`]: the granted scopes.
///
/// # Errors
/// [`GrantError::ScopeUnknown`], [`GrantError::ScopeNotAllowed`], [`GrantError::NoScope`].
pub fn grant_scopes(
    client: &Client,
    resource: &ProtectedResource,
    requested: Option<&ScopeSet>,
) -> Result<ScopeSet, GrantError> {
    let granted = match requested.filter(|r| !r.is_empty()) {
        Some(requested) => {
            if let Some(unknown) = requested
                .difference(&resource.scopes_supported)
                .iter()
                .next()
            {
                return Err(GrantError::ScopeUnknown {
                    scope: unknown.to_string(),
                    resource: resource.resource.to_string(),
                });
            }
            if let Some(allowed) = &client.scope
                && let Some(denied) = requested.difference(allowed).iter().next()
            {
                return Err(GrantError::ScopeNotAllowed(denied.to_string()));
            }
            requested.clone()
        }
        None => match &client.scope {
            Some(allowed) => {
                let defaults = resource.default_scopes.intersection(allowed);
                if defaults.is_empty() {
                    allowed.intersection(&resource.scopes_supported)
                } else {
                    defaults
                }
            }
            None => resource.default_scopes.clone(),
        },
    };
    if granted.is_empty() {
        return Err(GrantError::NoScope(resource.resource.to_string()));
    }
    Ok(granted)
}

#[async_trait]
impl GrantHandler for ClientCredentialsGrant {
    fn grant_type(&self) -> &str {
        GrantType::CLIENT_CREDENTIALS
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        self.check_client(ctx.client)?;
        let resource = self.choose_resource(ctx)?;
        let requested = ctx
            .params
            .get("scope")
            .map(|s| {
                s.parse::<ScopeSet>()
                    .map_err(|e| OAuthError::invalid_scope(format!("malformed scope: {}", e.0)))
            })
            .transpose()?;
        let scope = grant_scopes(ctx.client, resource, requested.as_ref())?;
        Ok(GrantDecision {
            subject: ctx.client.client_id.as_str().to_owned(),
            resource: resource.clone(),
            scope,
            refresh: RefreshPolicy::None,
            auth_time: None,
            extra_claims: serde_json::Map::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::protected_resource::ResourceRegistry;
    use mcp_auth_core::{ErrorCode, FormParams, Issuer, TokenEndpointAuthMethod};

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
            secrets: vec![],
            jwks: None,
            jwks_uri: None,
            scope: scope.map(|s| s.parse().unwrap()),
            resources: None,
            client_id_issued_at: NOW,
            source: ClientSource::Admin,
        }
    }

    async fn decide(
        grant: &ClientCredentialsGrant,
        client: &Client,
        form: &str,
        default_resource: bool,
    ) -> Result<GrantDecision, OAuthError> {
        let params = FormParams::parse(form.as_bytes()).unwrap();
        let issuer: Issuer = "https://auth.example.com".parse().unwrap();
        let resources = ResourceRegistry::new(
            vec![resource()],
            default_resource.then(|| RESOURCE.parse().unwrap()),
        )
        .unwrap();
        let ctx = GrantContext {
            client,
            params: &params,
            issuer: &issuer,
            resources: &resources,
            now: NOW,
        };
        grant.decide(&ctx).await
    }

    fn scopes(s: &str) -> ScopeSet {
        s.parse().unwrap()
    }

    /// CC-10: no scope asked → the resource defaults the client is allowed.
    #[test]
    fn omitted_scope_is_resource_defaults_within_allowance() {
        let got = grant_scopes(&machine(Some("mcp:basic reports:read")), &resource(), None);
        assert_eq!(got.unwrap(), scopes("mcp:basic"));
    }

    /// CC-10: a client allowed none of the defaults gets its allowance within the resource.
    #[test]
    fn omitted_scope_without_allowed_defaults_is_the_allowance() {
        let got = grant_scopes(&machine(Some("reports:read other:x")), &resource(), None);
        assert_eq!(got.unwrap(), scopes("reports:read"));
    }

    /// CC-10: a client without a scope list gets the resource defaults.
    #[test]
    fn omitted_scope_without_client_list_is_resource_defaults() {
        let got = grant_scopes(&machine(None), &resource(), None);
        assert_eq!(got.unwrap(), scopes("mcp:basic"));
    }

    /// CC-10: nothing grantable is `invalid_scope`.
    #[test]
    fn omitted_scope_with_nothing_grantable_is_no_scope() {
        let got = grant_scopes(&machine(Some("other:x")), &resource(), None);
        assert_eq!(got.unwrap_err(), GrantError::NoScope(RESOURCE.into()));
    }

    /// CC-10: a requested scope beyond the allowance is refused.
    #[test]
    fn requested_scope_outside_allowance_is_refused() {
        let got = grant_scopes(
            &machine(Some("mcp:basic")),
            &resource(),
            Some(&scopes("mcp:basic mcp:tools")),
        );
        assert_eq!(
            got.unwrap_err(),
            GrantError::ScopeNotAllowed("mcp:tools".into())
        );
    }

    /// CC-10: a requested scope the resource does not define is refused.
    #[test]
    fn requested_scope_unknown_to_resource_is_refused() {
        let got = grant_scopes(&machine(None), &resource(), Some(&scopes("admin")));
        assert!(matches!(got, Err(GrantError::ScopeUnknown { .. })));
    }

    /// CC-11, CC-12: `sub` is the client, no refresh token.
    #[tokio::test]
    async fn decision_is_for_the_client_without_refresh() {
        let d = decide(
            &ClientCredentialsGrant::new(),
            &machine(None),
            &format!("grant_type=client_credentials&resource={RESOURCE}"),
            false,
        )
        .await
        .unwrap();
        assert_eq!(d.subject, "svc-reporter");
        assert_eq!(d.refresh, RefreshPolicy::None);
        assert_eq!(d.resource.resource.as_str(), RESOURCE);
        assert_eq!(d.auth_time, None);
    }

    /// CC-08: a public client is refused even when its record lists the grant.
    #[tokio::test]
    async fn public_client_is_unauthorized_client() {
        let mut c = machine(None);
        c.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
        let err = decide(
            &ClientCredentialsGrant::new(),
            &c,
            &format!("grant_type=client_credentials&resource={RESOURCE}"),
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnauthorizedClient);
    }

    /// §5.1: self-registered clients are refused unless dangerously allowed.
    #[tokio::test]
    async fn dynamic_client_is_unauthorized_client_by_default() {
        let mut c = machine(None);
        c.source = ClientSource::Dynamic;
        let form = format!("grant_type=client_credentials&resource={RESOURCE}");
        let err = decide(&ClientCredentialsGrant::new(), &c, &form, false)
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnauthorizedClient);
        let allowed = ClientCredentialsGrant::new().dangerous_allow_self_registered_clients();
        assert!(decide(&allowed, &c, &form, false).await.is_ok());
    }

    /// CC-09: with the server default, a missing resource uses it.
    #[tokio::test]
    async fn missing_resource_uses_the_server_default() {
        let d = decide(
            &ClientCredentialsGrant::new(),
            &machine(None),
            "grant_type=client_credentials",
            true,
        )
        .await
        .unwrap();
        assert_eq!(d.resource.resource.as_str(), RESOURCE);
    }

    /// CC-09: `ResourcePolicy::Require` ignores the server default.
    #[tokio::test]
    async fn missing_resource_is_invalid_target_when_required() {
        let grant = ClientCredentialsGrant::new().with_resource_policy(ResourcePolicy::Require);
        let err = decide(
            &grant,
            &machine(None),
            "grant_type=client_credentials",
            true,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
    }

    /// CC-09: a resource outside the client's list is `invalid_target`.
    #[tokio::test]
    async fn resource_outside_client_list_is_invalid_target() {
        let mut c = machine(None);
        c.resources = Some(vec!["https://other.example.com/mcp".parse().unwrap()]);
        let err = decide(
            &ClientCredentialsGrant::new(),
            &c,
            &format!("grant_type=client_credentials&resource={RESOURCE}"),
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
    }
}
