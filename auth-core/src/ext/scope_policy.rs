use crate::client::Client;
use crate::error::OAuthError;
use crate::protected_resource::ProtectedResource;
use crate::types::ScopeSet;

/// Decides the scopes granted for a request (RFC 6749 §3.3, spec §4.4).
pub trait ScopePolicy: Send + Sync {
    /// The scopes to grant `client` for `resource` when it asked for `requested` (`None` = the
    /// `scope` parameter was omitted). Errors are `invalid_scope`.
    fn grant(
        &self,
        client: &Client,
        resource: &ProtectedResource,
        requested: Option<&ScopeSet>,
    ) -> Result<ScopeSet, OAuthError>;
}

/// The default policy (spec SCOPE-AS-01, SCOPE-AS-04, strict mode):
///
/// - `scope` omitted → the resource's default scopes, intersected with the client's allowed
///   scopes when it has a list;
/// - every requested scope must be a scope of the resource and allowed to the client, else
///   `invalid_scope` naming the first offender.
#[derive(Debug, Default, Clone, Copy)]
pub struct StrictScopePolicy;

impl ScopePolicy for StrictScopePolicy {
    fn grant(
        &self,
        client: &Client,
        resource: &ProtectedResource,
        requested: Option<&ScopeSet>,
    ) -> Result<ScopeSet, OAuthError> {
        let Some(requested) = requested else {
            return Ok(match &client.scope {
                Some(allowed) => resource.default_scopes.intersection(allowed),
                None => resource.default_scopes.clone(),
            });
        };
        if let Some(unknown) = requested
            .difference(&resource.scopes_supported)
            .iter()
            .next()
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope {unknown} is not defined for resource {}",
                resource.resource
            )));
        }
        if let Some(allowed) = &client.scope
            && let Some(denied) = requested.difference(allowed).iter().next()
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope {denied} is not allowed for this client"
            )));
        }
        Ok(requested.clone())
    }
}
