//! The scope and resource rules the engine applies to every grant's decision (RFC 6749 §3.3,
//! RFC 8707 §2, spec §4.4), in one place: a grant says what was asked and what its ceiling is
//! ([`ScopeCeiling`], [`ResourceHint`]); [`resolve_resource`] and [`resolve_scope`] decide.

use crate::client::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::protected_resource::{ProtectedResource, ResourceRegistry};
use crate::types::{ResourceUri, Scope, ScopeSet};

use super::{RequestedResources, ScopePolicy, SingleResourceError};

/// Who fixed the resource of a [`ResourceHint::Bound`] decision; names it in error descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoundBy {
    /// The authorization code (fixed at consent).
    AuthorizationCode,
    /// The refresh token's grant.
    RefreshToken,
    /// The grant's own proof (e.g. an assertion's `resource` claim).
    Grant,
}

/// Where the token's audience resource comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceHint {
    /// From the request (RFC 8707 §2): the one `resource` parameter, or, when there is none and
    /// `required` is false, the server's default resource. It must be served and be in the
    /// client's `resources` list when it has one.
    Request {
        /// Refuse a request without `resource` even when the server has a default.
        required: bool,
    },
    /// Fixed earlier: every `resource` parameter the request sends must name it, and it must
    /// still be served.
    Bound {
        /// The resource.
        resource: ResourceUri,
        /// What fixed it.
        by: BoundBy,
    },
    /// A resource this server does not serve: the token is an assertion for another
    /// authorization server's resource ([`super::TokenProfile::Assertion`]), and the grant
    /// handler has checked it against its own policy. Only with [`ScopeCeiling::Granted`] (the scopes are the handler's to decide) and
    /// a profile other than the access token; the engine refuses anything else as a wiring
    /// mistake (`server_error`).
    Foreign {
        /// The resource, as it goes into the token's `resource` claim.
        resource: ResourceUri,
    },
}

/// What limits the scopes of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeCeiling {
    /// Scopes granted earlier (at consent, or to a refresh token's family): the request may only
    /// narrow them; when it names none, all of them.
    Granted(ScopeSet),
    /// The client's allowance within the resource, decided by the server's configured
    /// [`ScopePolicy`]. An empty result is `invalid_scope`.
    ClientAllowance {
        /// What a request that names no scope gets.
        when_omitted: OmittedScope,
    },
}

/// What a [`ScopeCeiling::ClientAllowance`] request without `scope` gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OmittedScope {
    /// What the [`ScopePolicy`] grants for an omitted `scope` (by default the resource's
    /// default scopes within the client's allowance).
    #[default]
    PolicyDefault,
    /// As `PolicyDefault`; when that is empty, the client's allowed scopes within the
    /// resource's scopes (a machine client provisioned only for non-default scopes).
    DefaultsElseAllowance,
}

/// A refusal by the engine's scope or resource rules, mapped to the wire by
/// `From<PolicyError> for OAuthError` (`invalid_target` or `invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `resource` is missing and the grant requires it (`invalid_target`, RFC 8707 §2).
    #[error("the resource parameter is required (RFC 8707)")]
    ResourceRequired,
    /// The client's `resources` list does not include the resource (`invalid_target`).
    #[error("this client may not get tokens for resource {0}")]
    ResourceNotAllowed(String),
    /// A `resource` parameter names another resource than the bound one (`invalid_target`).
    #[error("{}", not_bound(*.0))]
    ResourceNotBound(BoundBy),
    /// The bound resource is no longer configured (`invalid_target`).
    #[error("{}", not_served(*.0))]
    ResourceNotServed(BoundBy),
    /// The request asks for scopes beyond those granted earlier (`invalid_scope`).
    #[error("a refresh may not add scopes that were not granted")]
    ScopeWidened,
    /// Nothing grantable: the client is allowed no scope of the resource (`invalid_scope`).
    #[error("this client is allowed no scope of resource {0}")]
    NoScope(String),
}

fn not_bound(by: BoundBy) -> &'static str {
    match by {
        BoundBy::AuthorizationCode => "resource must be the resource the code was issued for",
        BoundBy::RefreshToken => "resource must be the resource the refresh token was issued for",
        BoundBy::Grant => "resource must be the resource the grant names",
    }
}

fn not_served(by: BoundBy) -> &'static str {
    match by {
        BoundBy::AuthorizationCode => "the code's resource is no longer served",
        BoundBy::RefreshToken => "the resource is no longer served",
        BoundBy::Grant => "the grant's resource is not served",
    }
}

impl From<PolicyError> for OAuthError {
    fn from(e: PolicyError) -> Self {
        let code = match &e {
            PolicyError::ResourceRequired
            | PolicyError::ResourceNotAllowed(_)
            | PolicyError::ResourceNotBound(_)
            | PolicyError::ResourceNotServed(_) => ErrorCode::InvalidTarget,
            PolicyError::ScopeWidened | PolicyError::NoScope(_) => ErrorCode::InvalidScope,
        };
        OAuthError::new(code, e.to_string())
    }
}

/// The resource a decision's token is for.
///
/// # Errors
/// `invalid_target`: see [`ResourceHint`] and [`select_resource`] (unknown, malformed, repeated
/// or missing `resource`), and [`PolicyError`].
pub fn resolve_resource<'a>(
    hint: &ResourceHint,
    client: &Client,
    requested: &RequestedResources,
    resources: &'a ResourceRegistry,
) -> Result<&'a ProtectedResource, OAuthError> {
    match hint {
        ResourceHint::Request { required } => {
            if requested.is_empty() && *required {
                return Err(PolicyError::ResourceRequired.into());
            }
            let resource = select_resource(requested, resources)?;
            if !client.allows_resource(&resource.resource) {
                return Err(PolicyError::ResourceNotAllowed(resource.resource.to_string()).into());
            }
            Ok(resource)
        }
        ResourceHint::Bound { resource, by } => {
            if !requested.all_name(resource) {
                return Err(PolicyError::ResourceNotBound(*by).into());
            }
            resources
                .get(resource)
                .ok_or_else(|| PolicyError::ResourceNotServed(*by).into())
        }
        ResourceHint::Foreign { .. } => Err(OAuthError::server_error(ForeignResource)),
    }
}

/// The resource a request names (RFC 8707 §2), as [`ResourceRegistry::select`] chooses it:
/// none → the default resource; one → it, when configured; several → refused (one audience per
/// token, spec §10 A19).
///
/// # Errors
/// `invalid_target`: no `resource` and no default resource, a malformed or unknown one, or more
/// than one.
pub fn select_resource<'a>(
    requested: &RequestedResources,
    resources: &'a ResourceRegistry,
) -> Result<&'a ProtectedResource, OAuthError> {
    match requested.single() {
        Ok(None) => resources.select(&[]),
        Ok(Some(uri)) => resources
            .get(uri)
            .ok_or_else(|| OAuthError::invalid_target("unknown resource")),
        Err(SingleResourceError::Malformed(e)) => Err(OAuthError::invalid_target(e.0)),
        Err(SingleResourceError::Several) => Err(OAuthError::invalid_target(
            "only one resource may be requested per token",
        )),
    }
}

/// A requested scope outside the scopes granted earlier; the first such scope, in sorted order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {0} was not granted")]
pub struct ScopeNotGranted(pub Scope);

impl From<ScopeNotGranted> for PolicyError {
    fn from(_: ScopeNotGranted) -> Self {
        PolicyError::ScopeWidened
    }
}

/// The "requested ⊆ granted" rule (RFC 6749 §6, RFC 8693 §2.1, SEP-990 EMA-09), the one place
/// it is written: a request that names no scope gets all of `granted`; one that names scopes
/// gets exactly those, when every one is in `granted`.
///
/// # Errors
/// [`ScopeNotGranted`] naming the first requested scope outside `granted`; each caller words
/// its refusal (`invalid_scope`).
pub fn narrow_scope(
    requested: Option<&ScopeSet>,
    granted: &ScopeSet,
) -> Result<ScopeSet, ScopeNotGranted> {
    let Some(asked) = requested else {
        return Ok(granted.clone());
    };
    match asked.iter().find(|s| !granted.contains(s.as_str())) {
        Some(extra) => Err(ScopeNotGranted(extra.clone())),
        None => Ok(asked.clone()),
    }
}

/// A foreign resource has no [`ProtectedResource`] here; the engine handles
/// [`ResourceHint::Foreign`] itself.
#[derive(Debug, thiserror::Error)]
#[error("a foreign resource is not resolved against this server's resources")]
struct ForeignResource;

/// The scopes a decision's token carries, for `resource`.
///
/// # Errors
/// `invalid_scope`: what `policy` refuses, [`PolicyError::ScopeWidened`],
/// [`PolicyError::NoScope`].
pub fn resolve_scope(
    policy: &dyn ScopePolicy,
    client: &Client,
    resource: &ProtectedResource,
    requested: Option<&ScopeSet>,
    ceiling: &ScopeCeiling,
) -> Result<ScopeSet, OAuthError> {
    match ceiling {
        ScopeCeiling::Granted(granted) => {
            narrow_scope(requested, granted).map_err(|e| PolicyError::from(e).into())
        }
        ScopeCeiling::ClientAllowance { when_omitted } => {
            let mut granted = policy.grant(client, resource, requested)?;
            if granted.is_empty()
                && requested.is_none()
                && *when_omitted == OmittedScope::DefaultsElseAllowance
                && let Some(allowed) = &client.scope
            {
                granted = allowed.intersection(&resource.scopes_supported);
            }
            if granted.is_empty() {
                return Err(PolicyError::NoScope(resource.resource.to_string()).into());
            }
            Ok(granted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientSource;
    use crate::ext::StrictScopePolicy;
    use crate::types::{GrantType, TokenEndpointAuthMethod};

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
            client_id_issued_at: 0,
            source: ClientSource::Admin,
            dpop_bound_access_tokens: false,
        }
    }

    fn scopes(s: &str) -> ScopeSet {
        s.parse().unwrap()
    }

    fn allowance(
        client: &Client,
        requested: Option<&str>,
        when_omitted: OmittedScope,
    ) -> Result<ScopeSet, OAuthError> {
        resolve_scope(
            &StrictScopePolicy,
            client,
            &resource(),
            requested.map(scopes).as_ref(),
            &ScopeCeiling::ClientAllowance { when_omitted },
        )
    }

    const FALLBACK: OmittedScope = OmittedScope::DefaultsElseAllowance;

    /// CC-10: no scope asked → the resource defaults the client is allowed.
    #[test]
    fn omitted_scope_is_resource_defaults_within_allowance() {
        let got = allowance(&machine(Some("mcp:basic reports:read")), None, FALLBACK);
        assert_eq!(got.unwrap(), scopes("mcp:basic"));
    }

    /// CC-10: a client allowed none of the defaults gets its allowance within the resource.
    #[test]
    fn omitted_scope_without_allowed_defaults_is_the_allowance() {
        let got = allowance(&machine(Some("reports:read other:x")), None, FALLBACK);
        assert_eq!(got.unwrap(), scopes("reports:read"));
    }

    /// Without the fallback, the same client gets nothing: `invalid_scope`.
    #[test]
    fn omitted_scope_without_fallback_and_no_allowed_default_is_invalid_scope() {
        let got = allowance(
            &machine(Some("reports:read")),
            None,
            OmittedScope::PolicyDefault,
        );
        assert_eq!(
            got.unwrap_err().description(),
            "this client is allowed no scope of resource https://mcp.example.com/mcp"
        );
    }

    /// CC-10: a client without a scope list gets the resource defaults.
    #[test]
    fn omitted_scope_without_client_list_is_resource_defaults() {
        let got = allowance(&machine(None), None, FALLBACK);
        assert_eq!(got.unwrap(), scopes("mcp:basic"));
    }

    /// CC-10: nothing grantable is `invalid_scope`.
    #[test]
    fn omitted_scope_with_nothing_grantable_is_invalid_scope() {
        let err = allowance(&machine(Some("other:x")), None, FALLBACK).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
        assert_eq!(
            err.description(),
            "this client is allowed no scope of resource https://mcp.example.com/mcp"
        );
    }

    /// CC-10: a requested scope beyond the allowance is refused, naming it.
    #[test]
    fn requested_scope_outside_allowance_is_invalid_scope() {
        let err = allowance(
            &machine(Some("mcp:basic")),
            Some("mcp:basic mcp:tools"),
            FALLBACK,
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
        assert_eq!(
            err.description(),
            "scope mcp:tools is not allowed for this client"
        );
    }

    /// CC-10: a requested scope the resource does not define is refused.
    #[test]
    fn requested_scope_unknown_to_resource_is_invalid_scope() {
        let err = allowance(&machine(None), Some("admin"), FALLBACK).unwrap_err();
        assert_eq!(
            err.description(),
            "scope admin is not defined for resource https://mcp.example.com/mcp"
        );
    }

    /// A refresh (or any granted ceiling) can only narrow.
    #[test]
    fn granted_ceiling_only_narrows() {
        let ceiling = ScopeCeiling::Granted(scopes("mcp:basic mcp:tools"));
        let narrow = resolve_scope(
            &StrictScopePolicy,
            &machine(None),
            &resource(),
            Some(&scopes("mcp:tools")),
            &ceiling,
        );
        assert_eq!(narrow.unwrap(), scopes("mcp:tools"));
        let all = resolve_scope(
            &StrictScopePolicy,
            &machine(None),
            &resource(),
            None,
            &ceiling,
        );
        assert_eq!(all.unwrap(), scopes("mcp:basic mcp:tools"));
        let err = resolve_scope(
            &StrictScopePolicy,
            &machine(None),
            &resource(),
            Some(&scopes("reports:read")),
            &ceiling,
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
        assert_eq!(
            err.description(),
            "a refresh may not add scopes that were not granted"
        );
    }

    fn registry(default: bool) -> ResourceRegistry {
        ResourceRegistry::new(vec![resource()], default.then(|| RESOURCE.parse().unwrap())).unwrap()
    }

    fn form(s: &str) -> RequestedResources {
        RequestedResources::parse(&crate::params::FormParams::parse(s.as_bytes()).unwrap())
    }

    /// CC-09: `required` ignores the server default.
    #[test]
    fn required_resource_ignores_the_server_default() {
        let reg = registry(true);
        let hint = ResourceHint::Request { required: true };
        let err = resolve_resource(&hint, &machine(None), &form("a=b"), &reg).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
        assert_eq!(
            err.description(),
            "the resource parameter is required (RFC 8707)"
        );
        let hint = ResourceHint::Request { required: false };
        let got = resolve_resource(&hint, &machine(None), &form("a=b"), &reg).unwrap();
        assert_eq!(got.resource.as_str(), RESOURCE);
    }

    /// CC-09: a resource outside the client's list is `invalid_target`.
    #[test]
    fn resource_outside_the_clients_list_is_invalid_target() {
        let mut c = machine(None);
        c.resources = Some(vec!["https://other.example.com/mcp".parse().unwrap()]);
        let hint = ResourceHint::Request { required: false };
        let err = resolve_resource(&hint, &c, &form("a=b"), &registry(true)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
        assert_eq!(
            err.description(),
            "this client may not get tokens for resource https://mcp.example.com/mcp"
        );
    }

    /// A bound resource refuses another `resource` parameter.
    #[test]
    fn bound_resource_refuses_another_resource() {
        let hint = ResourceHint::Bound {
            resource: RESOURCE.parse().unwrap(),
            by: BoundBy::AuthorizationCode,
        };
        let reg = registry(false);
        let err = resolve_resource(
            &hint,
            &machine(None),
            &form("resource=https%3A%2F%2Fother.example.com%2Fmcp"),
            &reg,
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
        assert_eq!(
            err.description(),
            "resource must be the resource the code was issued for"
        );
        let same = form("resource=https%3A%2F%2Fmcp.example.com%2Fmcp");
        assert!(resolve_resource(&hint, &machine(None), &same, &reg).is_ok());
    }

    /// RFC 8707 §2 with a bound resource: the same resource sent twice is accepted; a malformed
    /// value never names it.
    #[test]
    fn bound_resource_accepts_repeats_of_itself_and_refuses_a_malformed_value() {
        let hint = ResourceHint::Bound {
            resource: RESOURCE.parse().unwrap(),
            by: BoundBy::RefreshToken,
        };
        let reg = registry(false);
        let twice = form(
            "resource=https%3A%2F%2Fmcp.example.com%2Fmcp&resource=https%3A%2F%2Fmcp.example.com%2Fmcp",
        );
        assert!(resolve_resource(&hint, &machine(None), &twice, &reg).is_ok());
        let err =
            resolve_resource(&hint, &machine(None), &form("resource=relative"), &reg).unwrap_err();
        assert_eq!(
            err.description(),
            "resource must be the resource the refresh token was issued for"
        );
    }

    /// CC-09, spec §10 A19: a request names one resource; several, a malformed one or an
    /// unknown one is `invalid_target`, worded as [`ResourceRegistry::select`] words it.
    #[test]
    fn select_resource_refuses_several_malformed_and_unknown() {
        let reg = registry(true);
        let several = form(
            "resource=https%3A%2F%2Fmcp.example.com%2Fmcp&resource=https%3A%2F%2Fmcp.example.com%2Fmcp",
        );
        let err = select_resource(&several, &reg).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
        assert_eq!(
            err.description(),
            "only one resource may be requested per token"
        );
        let unknown = form("resource=https%3A%2F%2Fother.example.com%2Fmcp");
        let err = select_resource(&unknown, &reg).unwrap_err();
        assert_eq!(err.description(), "unknown resource");
        for raw in ["relative", "https%3A%2F%2Fmcp.example.com%2Fmcp%23frag"] {
            let requested = form(&format!("resource={raw}"));
            let from_registry = reg
                .select(&[url_decoded(raw)])
                .unwrap_err()
                .description()
                .to_owned();
            let err = select_resource(&requested, &reg).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidTarget);
            assert_eq!(err.description(), from_registry);
        }
        let default = select_resource(&form("a=b"), &reg).unwrap();
        assert_eq!(default.resource.as_str(), RESOURCE);
        let err = select_resource(&form("a=b"), &registry(false)).unwrap_err();
        assert_eq!(
            err.description(),
            "the resource parameter is required (RFC 8707)"
        );
    }

    fn url_decoded(raw: &str) -> String {
        url::form_urlencoded::parse(format!("v={raw}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned()
    }

    /// RFC 6749 §6, SEP-990 EMA-09: a request only narrows what was granted; none asked is all
    /// of it; the refusal names the first scope outside it, in sorted order.
    #[test]
    fn narrow_scope_only_narrows_and_names_the_first_extra_scope() {
        let granted = scopes("mcp:basic mcp:tools");
        assert_eq!(narrow_scope(None, &granted).unwrap(), granted);
        assert_eq!(
            narrow_scope(Some(&scopes("mcp:tools")), &granted).unwrap(),
            scopes("mcp:tools")
        );
        let err = narrow_scope(Some(&scopes("z:last mcp:basic a:first")), &granted).unwrap_err();
        assert_eq!(err.0.as_str(), "a:first");
        assert_eq!(
            OAuthError::from(PolicyError::from(err)).description(),
            "a refresh may not add scopes that were not granted"
        );
    }
}
