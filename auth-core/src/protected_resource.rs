//! Protected resources the authorization server issues tokens for (RFC 8707).

use serde::{Deserialize, Serialize};

use crate::types::{ResourceUri, ScopeSet};

/// One protected resource (an MCP server) known to the authorization server.
///
/// Tokens for it carry `aud` = [`ProtectedResource::resource`] (MCP §Token Audience Binding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResource {
    /// Canonical resource URI (RFC 8707 §2), e.g. `https://mcp.example.com/mcp`.
    pub resource: ResourceUri,
    /// Every scope valid for this resource.
    pub scopes_supported: ScopeSet,
    /// Scopes granted when a request omits `scope` (SEP-835; spec §4.4 SCOPE-AS-01).
    pub default_scopes: ScopeSet,
    /// Access token lifetime for this resource, seconds. `None` = the server default (900 s).
    pub access_token_ttl: Option<u64>,
}

/// The protected resources the server knows, with the optional default for requests that omit
/// `resource` (spec §10 A4).
#[derive(Debug, Clone, Default)]
pub struct ResourceRegistry {
    resources: Vec<ProtectedResource>,
    default_resource: Option<ResourceUri>,
}

/// Why [`ResourceRegistry::new`] refuses a list of resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceRegistryError {
    /// The resource is listed twice.
    #[error("resource {0} is configured twice")]
    Twice(ResourceUri),
    /// The resource's default scopes are not all among its scopes.
    #[error("default scopes of {0} are not all in its scopes")]
    DefaultScopes(ResourceUri),
    /// The default resource is not one of the resources.
    #[error("default resource {0} is not a configured resource")]
    UnknownDefault(ResourceUri),
}

impl ResourceRegistry {
    /// A registry of `resources`. `default_resource`, when set, must be one of them.
    ///
    /// # Errors
    /// [`ResourceRegistryError`] naming the resource: a resource listed twice, a default that
    /// is not listed, or default scopes that are not among the resource's scopes.
    pub fn new(
        resources: Vec<ProtectedResource>,
        default_resource: Option<ResourceUri>,
    ) -> Result<Self, ResourceRegistryError> {
        for (i, r) in resources.iter().enumerate() {
            if resources[..i].iter().any(|o| o.resource == r.resource) {
                return Err(ResourceRegistryError::Twice(r.resource.clone()));
            }
            if !r.default_scopes.is_subset(&r.scopes_supported) {
                return Err(ResourceRegistryError::DefaultScopes(r.resource.clone()));
            }
        }
        if let Some(d) = &default_resource
            && !resources.iter().any(|r| &r.resource == d)
        {
            return Err(ResourceRegistryError::UnknownDefault(d.clone()));
        }
        Ok(Self {
            resources,
            default_resource,
        })
    }

    /// The resource with this canonical URI.
    pub fn get(&self, resource: &ResourceUri) -> Option<&ProtectedResource> {
        self.resources.iter().find(|r| &r.resource == resource)
    }

    /// Every resource.
    pub fn all(&self) -> &[ProtectedResource] {
        &self.resources
    }

    /// The union of every resource's scopes: the AS `scopes_supported`.
    pub fn all_scopes(&self) -> ScopeSet {
        self.resources
            .iter()
            .fold(ScopeSet::new(), |acc, r| acc.union(&r.scopes_supported))
    }

    /// Choose the resource for a request from its `resource` values (RFC 8707 §2).
    ///
    /// No value → the default resource, or `invalid_target` when there is none. One value → it
    /// must parse and be configured. Several values → `invalid_target` (one audience per token,
    /// spec §10 A19).
    pub fn select(&self, values: &[String]) -> Result<&ProtectedResource, crate::OAuthError> {
        use crate::OAuthError;
        match values {
            [] => match &self.default_resource {
                Some(d) => self.get(d).ok_or_else(|| {
                    OAuthError::invalid_target("default resource is not configured")
                }),
                None => Err(OAuthError::invalid_target(
                    "the resource parameter is required (RFC 8707)",
                )),
            },
            [one] => {
                let uri: ResourceUri = one
                    .parse()
                    .map_err(|e: crate::types::ParseError| OAuthError::invalid_target(e.0))?;
                self.get(&uri)
                    .ok_or_else(|| OAuthError::invalid_target("unknown resource"))
            }
            _ => Err(OAuthError::invalid_target(
                "only one resource may be requested per token",
            )),
        }
    }
}
