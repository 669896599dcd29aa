//! Resource server configuration: the public MCP URL, trusted authorization servers, scope
//! policy, metadata options. Built once with a fallible [`ResourceServerConfig::builder`].

use mcp_auth_core::types::is_loopback_host;
use mcp_auth_core::wire::ProtectedResourceMetadata;
use mcp_auth_core::{Issuer, ResourceUri};
use url::Url;

pub use crate::dpop::{DpopConfig, DpopMode};
pub use crate::error::ConfigError;
use crate::policy::ScopeRequirements;

/// The RFC 9728 §3 well-known prefix.
pub const WELL_KNOWN_PRM: &str = "/.well-known/oauth-protected-resource";

/// Default cap on an inspected request body, bytes (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Most bytes of body the layer reads from a request without a valid token (8 KiB), and only
/// when the body's size is known beforehand to be at most this (issue #8 item 6).
pub const UNAUTHENTICATED_BODY_LIMIT: usize = 8 * 1024;

/// Whether and how the root `/.well-known/oauth-protected-resource` is served (spec RS-03,
/// §10 A1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootMetadata {
    /// Only the path-suffixed document is served (default).
    #[default]
    Off,
    /// The root serves the same document (`resource` = the canonical MCP URL): for hosts with a
    /// single MCP endpoint and clients that accept a prefix match.
    SameDocument,
    /// The root serves a document whose `resource` is the origin (RFC 9728 §3.3 strict form),
    /// and tokens whose `aud` is the origin are accepted too.
    Origin,
}

/// Everything the layer and the metadata routes share. Cheap to clone behind an `Arc`.
#[derive(Debug, Clone)]
pub struct ResourceServerConfig {
    resource: ResourceUri,
    origin: String,
    authorization_servers: Vec<Issuer>,
    policy: ScopeRequirements,
    root_metadata: RootMetadata,
    metadata_url: String,
    metadata_path: String,
    resource_name: Option<String>,
    body_limit: usize,
    strip_authorization: bool,
    discover_public: bool,
    dpop: DpopConfig,
}

impl ResourceServerConfig {
    /// A builder for the MCP endpoint at `public_url` (what clients are configured with, e.g.
    /// `https://mcp.example.com/mcp`; never derived from the `Host` header, RS-R2-05).
    pub fn builder(public_url: &str) -> ResourceServerConfigBuilder {
        ResourceServerConfigBuilder {
            public_url: public_url.to_owned(),
            authorization_servers: Vec::new(),
            policy: ScopeRequirements::default(),
            root_metadata: RootMetadata::Off,
            resource_name: None,
            body_limit: DEFAULT_BODY_LIMIT,
            strip_authorization: true,
            discover_public: false,
            dpop: DpopConfig::default(),
        }
    }

    /// DPoP (RFC 9449 §7): the mode, proof checks, nonces and replay cache.
    pub fn dpop(&self) -> &DpopConfig {
        &self.dpop
    }

    /// The canonical resource URI (RFC 8707 §2): PRM `resource` and the accepted `aud`. The
    /// public URL is canonicalised once, at build time (scheme and host lowercased, a default
    /// port dropped; path and query as written); a token's `aud` must equal it exactly.
    pub fn resource(&self) -> &ResourceUri {
        &self.resource
    }

    /// `scheme://host[:port]` of the resource.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The audiences a token may carry, compared exactly (no case folding, no trailing-slash
    /// tolerance; issue #8 item 6): the resource, plus the origin with
    /// [`RootMetadata::Origin`] (spec §10 A1).
    pub fn accepted_audiences(&self) -> Vec<String> {
        let mut out = vec![self.resource.as_str().to_owned()];
        if self.root_metadata == RootMetadata::Origin && self.origin != self.resource.as_str() {
            out.push(self.origin.clone());
        }
        out
    }

    /// The trusted issuers, in configuration order (PRM `authorization_servers`).
    pub fn authorization_servers(&self) -> &[Issuer] {
        &self.authorization_servers
    }

    /// The scope policy.
    pub fn policy(&self) -> &ScopeRequirements {
        &self.policy
    }

    /// The root metadata mode.
    pub fn root_metadata(&self) -> RootMetadata {
        self.root_metadata
    }

    /// The absolute path-suffixed PRM URL put in every challenge's `resource_metadata`
    /// (RFC 9728 §3.1, §5.1).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The path part of [`Self::metadata_url`], e.g. `/.well-known/oauth-protected-resource/mcp`.
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The inspected body cap, bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Whether the layer removes `Authorization` before calling the inner service (RS-15).
    pub fn strip_authorization(&self) -> bool {
        self.strip_authorization
    }

    /// Whether a 2026-07-28 `server/discover` without a token is passed on (delta RS-R2-12;
    /// off by default). See [`ResourceServerConfigBuilder::discover_public`].
    pub fn discover_public(&self) -> bool {
        self.discover_public
    }

    /// The RFC 9728 document for the path-suffixed URL.
    pub fn metadata(&self) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata {
            resource: self.resource.as_str().to_owned(),
            authorization_servers: self
                .authorization_servers
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            scopes_supported: self
                .policy
                .baseline()
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: self.resource_name.clone(),
            resource_documentation: None,
            // RFC 9728 §2, RFC 9449 §7: the proof algorithms, and whether only DPoP-bound
            // tokens are accepted.
            dpop_signing_alg_values_supported: self
                .dpop
                .algorithm_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            dpop_bound_access_tokens_required: self.dpop.mode() == DpopMode::Required,
        }
    }

    /// The document for the root URL, or `None` when [`RootMetadata::Off`].
    pub fn root_document(&self) -> Option<ProtectedResourceMetadata> {
        match self.root_metadata {
            RootMetadata::Off => None,
            RootMetadata::SameDocument => Some(self.metadata()),
            RootMetadata::Origin => Some(ProtectedResourceMetadata {
                resource: self.origin.clone(),
                ..self.metadata()
            }),
        }
    }
}

/// Builder of [`ResourceServerConfig`].
#[derive(Debug)]
pub struct ResourceServerConfigBuilder {
    public_url: String,
    authorization_servers: Vec<String>,
    policy: ScopeRequirements,
    root_metadata: RootMetadata,
    resource_name: Option<String>,
    body_limit: usize,
    strip_authorization: bool,
    discover_public: bool,
    dpop: DpopConfig,
}

impl ResourceServerConfigBuilder {
    /// DPoP (RFC 9449 §7; default [`DpopMode::Allowed`], every asymmetric algorithm, 300 s
    /// `iat` window, no nonces, an in-memory replay cache).
    pub fn dpop(mut self, dpop: DpopConfig) -> Self {
        self.dpop = dpop;
        self
    }

    /// Trust the authorization server `issuer`; it is published byte-identical in PRM
    /// `authorization_servers` (RS-R2-06). Call once per issuer.
    pub fn authorization_server(mut self, issuer: &str) -> Self {
        self.authorization_servers.push(issuer.to_owned());
        self
    }

    /// The scope policy (default: no requirements).
    pub fn policy(mut self, policy: ScopeRequirements) -> Self {
        self.policy = policy;
        self
    }

    /// Whether and how to serve the root metadata URL.
    pub fn root_metadata(mut self, mode: RootMetadata) -> Self {
        self.root_metadata = mode;
        self
    }

    /// PRM `resource_name`.
    pub fn resource_name(mut self, name: &str) -> Self {
        self.resource_name = Some(name.to_owned());
        self
    }

    /// Cap on an inspected request body of an authenticated request, bytes (default 1 MiB);
    /// larger bodies get 413. Unauthenticated bodies are read only up to
    /// [`UNAUTHENTICATED_BODY_LIMIT`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Let a 2026-07-28 `server/discover` through without a token (delta RS-R2-12): it reveals
    /// only the server's versions and capabilities. Off by default: every method needs a valid
    /// token with the baseline scopes. When on, exactly a `POST` with no `Authorization` header
    /// whose body is one JSON-RPC request of method `server/discover` (read as for any request,
    /// within [`UNAUTHENTICATED_BODY_LIMIT`] bytes) is passed on, with no principal and no
    /// session bookkeeping; a request with a token, even an invalid one, is checked as usual.
    pub fn discover_public(mut self, public: bool) -> Self {
        self.discover_public = public;
        self
    }

    /// Keep the `Authorization` header on requests passed to the inner service. Off by default
    /// so that handlers cannot forward the token (RS-15); logs a warning when turned on.
    pub fn dangerous_keep_authorization_header(mut self) -> Self {
        tracing::warn!("the Authorization header will reach the protected service");
        self.strip_authorization = false;
        self
    }

    /// Check and build.
    ///
    /// # Errors
    /// [`ConfigError`] for a malformed or plain-http public URL, a bad issuer, or no issuer.
    pub fn build(self) -> Result<ResourceServerConfig, ConfigError> {
        let resource: ResourceUri = self
            .public_url
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| ConfigError::Resource(e.0))?;
        let url =
            Url::parse(resource.as_str()).map_err(|e| ConfigError::Resource(e.to_string()))?;
        let host = url.host_str().unwrap_or_default();
        if url.scheme() != "https" && !is_loopback_host(host) {
            return Err(ConfigError::InsecureResource);
        }
        let origin = url.origin().ascii_serialization();
        // RFC 9728 §3.1: a terminating "/" right after the host is removed before insertion.
        let path = if url.path() == "/" { "" } else { url.path() };
        let metadata_path = format!("{WELL_KNOWN_PRM}{path}");
        let mut suffix = path.to_owned();
        if let Some(q) = url.query() {
            suffix.push('?');
            suffix.push_str(q);
        }
        let metadata_url = format!("{origin}{WELL_KNOWN_PRM}{suffix}");
        let mut authorization_servers = Vec::new();
        for raw in &self.authorization_servers {
            let issuer: Issuer = raw
                .parse()
                .map_err(|e: mcp_auth_core::ParseError| ConfigError::Issuer(e.0))?;
            if issuer.as_str() != raw {
                return Err(ConfigError::Issuer(format!(
                    "{raw:?} must be written exactly as the AS metadata issuer (no trailing slash)"
                )));
            }
            authorization_servers.push(issuer);
        }
        if authorization_servers.is_empty() {
            return Err(ConfigError::NoAuthorizationServer);
        }
        Ok(ResourceServerConfig {
            resource,
            origin,
            authorization_servers,
            policy: self.policy,
            root_metadata: self.root_metadata,
            metadata_url,
            metadata_path,
            resource_name: self.resource_name,
            body_limit: self.body_limit,
            strip_authorization: self.strip_authorization,
            discover_public: self.discover_public,
            dpop: self.dpop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_inserts_well_known_before_the_path() {
        let c = ResourceServerConfig::builder("https://MCP.example.com/public/mcp")
            .authorization_server("https://auth.example.com")
            .build()
            .unwrap();
        assert_eq!(
            c.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp"
        );
        let root = ResourceServerConfig::builder("https://mcp.example.com")
            .authorization_server("https://auth.example.com")
            .build()
            .unwrap();
        assert_eq!(
            root.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }

    /// RS-17: a plain-http resource is refused unless its host is loopback.
    #[test]
    fn plain_http_resource_is_refused_off_loopback() {
        let err = ResourceServerConfig::builder("http://mcp.example.com/mcp")
            .authorization_server("https://auth.example.com")
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::InsecureResource);
        assert!(
            ResourceServerConfig::builder("http://127.0.0.1:3000/mcp")
                .authorization_server("http://127.0.0.1:9000")
                .build()
                .is_ok()
        );
    }
}
