//! `[[resources]]` and `default_resource`: the protected resources (MCP servers) tokens may be
//! issued for, their scopes, and the clients that may introspect their tokens or act as their
//! MCP server.

use std::collections::BTreeMap;

use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::{ClientId, ResourceUri, ScopeSet};
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// One protected resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// Canonical URI of the MCP server, e.g. `https://mcp.example.com/mcp`.
    pub resource: String,
    /// Every scope valid for it.
    pub scopes: Vec<String>,
    /// Scopes granted when a request names none (SEP-835).
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Access token lifetime for this resource, seconds.
    pub access_token_ttl: Option<u64>,
    /// Client ids of this resource's server: the clients that may introspect access tokens
    /// issued for it (RFC 7662 §4). Other callers can introspect only tokens issued to
    /// themselves. Default: none.
    #[serde(default)]
    pub introspection_clients: Vec<String>,
    /// Descriptions of this resource's scopes shown on the consent page, by scope name; they
    /// win over the global `[scopes]` table.
    #[serde(default)]
    pub scope_descriptions: BTreeMap<String, String>,
    /// Client ids acting as this resource's MCP server at `POST /connect/token`: they may
    /// exchange access tokens issued for this resource for the users' third-party credentials
    /// (issue 11). Each must be a confidential client. Default: none.
    #[serde(default)]
    pub server_clients: Vec<String>,
    /// On-behalf-of token exchange (RFC 8693 §2.1 with `act`): the resources for which this
    /// resource's `server_clients` may exchange the access tokens their users sent them. Each
    /// must be a configured resource; anything else is `invalid_target`. Default: none.
    #[serde(default)]
    pub may_exchange_to: Vec<String>,
}

/// The resource configured when none is: a local MCP server, for a first run.
pub const DEFAULT_RESOURCE: &str = "http://127.0.0.1:8080/mcp";

/// The `[[resources]]` of a configuration without a file: [`DEFAULT_RESOURCE`] with the scopes
/// `mcp:basic` (its default) and `mcp:tools`.
pub(super) fn default_resources() -> Vec<ResourceConfig> {
    vec![ResourceConfig {
        resource: DEFAULT_RESOURCE.into(),
        scopes: vec!["mcp:basic".into(), "mcp:tools".into()],
        default_scopes: vec!["mcp:basic".into()],
        access_token_ttl: None,
        introspection_clients: Vec::new(),
        scope_descriptions: BTreeMap::new(),
        server_clients: Vec::new(),
        may_exchange_to: Vec::new(),
    }]
}

/// The checked resources of a configuration, for the engine settings.
pub(super) struct ResourceSettings {
    /// The resources and the default one.
    pub(super) registry: ResourceRegistry,
    /// Per resource, the clients that may introspect its tokens.
    pub(super) introspection_clients: BTreeMap<ResourceUri, Vec<ClientId>>,
    /// Per resource, the clients acting as its MCP server at `/connect/token`.
    pub(super) server_clients: BTreeMap<ResourceUri, Vec<ClientId>>,
    /// Per resource, the resources its servers may exchange users' tokens for.
    pub(super) exchange_targets: BTreeMap<ResourceUri, Vec<ResourceUri>>,
}

impl Config {
    /// `[[resources]]` and `default_resource`, parsed and checked.
    ///
    /// # Errors
    /// A malformed resource, client id or scope; a default resource that is not configured.
    pub(super) fn resource_settings(&self) -> Result<ResourceSettings, ConfigError> {
        let mut resources = Vec::with_capacity(self.resources.len());
        let mut introspection_clients = BTreeMap::new();
        let mut server_clients = BTreeMap::new();
        let mut exchange_targets = BTreeMap::new();
        for r in &self.resources {
            let resource: ResourceUri =
                r.resource.parse().map_err(|e: mcp_auth_core::ParseError| {
                    ConfigError(format!("resource {}: {e}", r.resource))
                })?;
            if !r.introspection_clients.is_empty() {
                let clients = r.client_ids("introspection_clients", &r.introspection_clients)?;
                introspection_clients.insert(resource.clone(), clients);
            }
            if !r.server_clients.is_empty() {
                let clients = r.client_ids("server_clients", &r.server_clients)?;
                server_clients.insert(resource.clone(), clients);
            }
            if !r.may_exchange_to.is_empty() {
                exchange_targets.insert(resource.clone(), r.exchange_targets()?);
            }
            resources.push(ProtectedResource {
                resource,
                scopes_supported: scope_set(&r.scopes, &r.resource)?,
                default_scopes: scope_set(&r.default_scopes, &r.resource)?,
                access_token_ttl: r.access_token_ttl,
            });
        }
        let default_resource = self
            .default_resource
            .as_deref()
            .map(|d| {
                d.parse::<ResourceUri>()
                    .map_err(|e| ConfigError(format!("default_resource: {e}")))
            })
            .transpose()?;
        let registry = ResourceRegistry::new(resources, default_resource)
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(ResourceSettings {
            registry,
            introspection_clients,
            server_clients,
            exchange_targets,
        })
    }
}

impl ResourceConfig {
    /// `may_exchange_to`, parsed as resource URIs.
    fn exchange_targets(&self) -> Result<Vec<ResourceUri>, ConfigError> {
        self.may_exchange_to
            .iter()
            .map(|t| {
                t.parse::<ResourceUri>().map_err(|e| {
                    ConfigError(format!("may_exchange_to of {}: {t}: {e}", self.resource))
                })
            })
            .collect()
    }

    /// `ids`, the value of this resource's `field`, parsed as client ids.
    fn client_ids(&self, field: &str, ids: &[String]) -> Result<Vec<ClientId>, ConfigError> {
        ids.iter()
            .map(|c| {
                c.parse::<ClientId>()
                    .map_err(|e| ConfigError(format!("{field} of {}: {e}", self.resource)))
            })
            .collect()
    }
}

/// `scopes` of `resource` as a scope set; `offline_access` is refused.
fn scope_set(scopes: &[String], resource: &str) -> Result<ScopeSet, ConfigError> {
    if scopes.is_empty() {
        return Ok(ScopeSet::new());
    }
    // SEP-2207, spec SCOPE-05: an authorization server scope is never a resource's scope (it
    // would be advertised in the resource's metadata and challenges).
    if scopes.iter().any(|s| s == mcp_auth_core::OFFLINE_ACCESS) {
        return Err(ConfigError(format!(
            "scopes of {resource}: offline_access is a scope of the authorization server, not of \
             a resource; remove it (clients may ask for it at /authorize all the same)"
        )));
    }
    scopes
        .join(" ")
        .parse()
        .map_err(|e: mcp_auth_core::ParseError| ConfigError(format!("scopes of {resource}: {e}")))
}
