//! `[extensions.xaa_idp]`: which authorization servers this IdP issues ID-JAGs for, for which
//! resources, scopes and clients.

use std::collections::BTreeMap;

use mcp_auth_core::ext::ExtensionConfigError;
use mcp_auth_core::{ResourceUri, Scope, ScopeSet};
use serde::Deserialize;

use super::DEFAULT_ID_JAG_LIFETIME;

/// The `[extensions.xaa_idp]` section.
///
/// ```toml
/// [extensions.xaa_idp]
/// enabled = true
/// id_jag_lifetime = 300                         # seconds, 1..=600
///
/// [[extensions.xaa_idp.targets]]
/// audience = "https://auth.mcp.example.com"     # the MCP authorization server's issuer
/// resources = ["https://mcp.example.com/mcp"]   # its MCP servers (RFC 9728 `resource`)
/// scopes = ["files:read", "files:write"]        # the most an ID-JAG for it may carry
/// # this IdP's client_id → the same client's client_id at that authorization server
/// client_ids = { "idp-client-1" = "mcp-client-7" }
/// # a client whose client_id here is an https URL (a Client ID Metadata Document) keeps it
/// cimd_client_ids_as_is = true
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpConfig {
    /// Install the role.
    pub enabled: bool,
    /// Lifetime of each ID-JAG in seconds; default 300, at most 600 (the redeeming side's
    /// default `max_lifetime`).
    #[serde(default = "default_lifetime")]
    pub id_jag_lifetime: u64,
    /// The authorization servers ID-JAGs may be issued for. None: every exchange is
    /// `invalid_target`.
    #[serde(default)]
    pub targets: Vec<TargetPolicy>,
}

fn default_lifetime() -> u64 {
    DEFAULT_ID_JAG_LIFETIME
}

/// One authorization server this IdP vouches for users to (SEP-990 §6.8: the (audience,
/// resource) pairing table, the scopes and the client mapping).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPolicy {
    /// The authorization server's issuer identifier, compared byte for byte with `audience`.
    pub audience: String,
    /// The resources that authorization server governs (at least one). A request naming none
    /// gets the only one, or `invalid_target` when there are several.
    pub resources: Vec<ResourceUri>,
    /// The scopes an ID-JAG for this target may carry. A request without `scope` gets all of
    /// them; one asking for more is `invalid_scope`.
    pub scopes: Vec<Scope>,
    /// This IdP's `client_id` → the client's `client_id` at the target.
    #[serde(default)]
    pub client_ids: BTreeMap<String, String>,
    /// A client not in `client_ids` whose `client_id` is an https URL (a Client ID Metadata
    /// Document, one namespace for every server) keeps it at the target. Default false.
    #[serde(default)]
    pub cimd_client_ids_as_is: bool,
}

impl TargetPolicy {
    /// [`Self::scopes`] as a set.
    pub fn scope_set(&self) -> ScopeSet {
        self.scopes.iter().cloned().collect()
    }

    /// The `client_id` at the target of this IdP's client `client_id`, if the policy allows
    /// the client at all.
    pub fn client_id_at_target(&self, client_id: &str) -> Option<String> {
        if let Some(mapped) = self.client_ids.get(client_id) {
            return Some(mapped.clone());
        }
        (self.cimd_client_ids_as_is && client_id.starts_with("https://")).then(|| client_id.into())
    }
}

/// Why [`IdpConfig::check`] refuses `[extensions.xaa_idp]`; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdpConfigError {
    /// `id_jag_lifetime` outside 1..=600.
    #[error("id_jag_lifetime must be between 1 and 600 seconds")]
    Lifetime,
    /// A target's `audience` does not parse.
    #[error("targets.audience {0:?} is not a URL")]
    NotAUrl(String),
    /// A target's `audience` is neither https nor loopback http.
    #[error("targets.audience {0:?} must be an https issuer")]
    NotHttps(String),
    /// A target names this server.
    #[error("targets.audience {0:?} is this server's own issuer")]
    OwnIssuer(String),
    /// Two targets share an `audience`.
    #[error("targets.audience {0:?} is listed twice")]
    Twice(String),
    /// A target without resources.
    #[error("target {0:?} needs at least one resource")]
    NoResource(String),
    /// A target without scopes.
    #[error("target {0:?} needs at least one scope")]
    NoScope(String),
}

impl IdpConfig {
    /// Check the section: a lifetime of 1..=600 s; each target with an absolute https (or,
    /// for loopback, http) `audience`, at least one resource and one scope; no audience twice;
    /// no target naming this server itself (`own_issuer`: an ID-JAG for ourselves would be
    /// refused by our own redeeming side, SEP-990 EMA-14).
    ///
    /// # Errors
    /// The first problem ([`IdpConfigError`]), naming the key.
    pub fn check(&self, own_issuer: &str) -> Result<(), IdpConfigError> {
        use IdpConfigError as E;
        if !(1..=600).contains(&self.id_jag_lifetime) {
            return Err(E::Lifetime);
        }
        let mut seen = std::collections::BTreeSet::new();
        for target in &self.targets {
            let audience = url::Url::parse(&target.audience)
                .map_err(|_| E::NotAUrl(target.audience.clone()))?;
            let loopback = matches!(
                audience.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            ) || matches!(audience.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || audience.host_str() == Some("localhost");
            if !(audience.scheme() == "https" || (audience.scheme() == "http" && loopback)) {
                return Err(E::NotHttps(target.audience.clone()));
            }
            let trimmed = |s: &str| s.strip_suffix('/').unwrap_or(s).to_owned();
            if trimmed(&target.audience) == trimmed(own_issuer) {
                return Err(E::OwnIssuer(target.audience.clone()));
            }
            if !seen.insert(target.audience.as_str()) {
                return Err(E::Twice(target.audience.clone()));
            }
            if target.resources.is_empty() {
                return Err(E::NoResource(target.audience.clone()));
            }
            if target.scopes.is_empty() {
                return Err(E::NoScope(target.audience.clone()));
            }
        }
        Ok(())
    }

    /// The target whose `audience` is exactly `audience`.
    pub fn target(&self, audience: &str) -> Option<&TargetPolicy> {
        self.targets.iter().find(|t| t.audience == audience)
    }

    /// [`Self::check`] as an [`ExtensionConfigError`] of `section`.
    pub(crate) fn checked(
        self,
        section: &mcp_auth_core::ext::ExtensionSection,
        own_issuer: &str,
    ) -> Result<Self, ExtensionConfigError> {
        self.check(own_issuer)
            .map_err(|e| section.error(e.to_string()))?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: serde_json::Value) -> Result<IdpConfig, String> {
        let c: IdpConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
        c.check("https://idp.example.com")
            .map_err(|e| e.to_string())?;
        Ok(c)
    }

    fn target() -> serde_json::Value {
        serde_json::json!({
            "audience": "https://as.example.com",
            "resources": ["https://mcp.example.com/mcp"],
            "scopes": ["files:read", "files:write"],
            "client_ids": {"idp-app": "as-app"},
        })
    }

    #[test]
    fn a_complete_section_is_accepted() {
        let c = config(serde_json::json!({"enabled": true, "targets": [target()]})).unwrap();
        assert_eq!(c.id_jag_lifetime, 300);
        let t = c.target("https://as.example.com").unwrap();
        assert_eq!(t.client_id_at_target("idp-app").as_deref(), Some("as-app"));
        assert_eq!(t.client_id_at_target("other"), None);
    }

    #[test]
    fn cimd_client_ids_pass_as_is_only_when_configured() {
        let mut t = target();
        let url = "https://app.example.com/client.json";
        let c = config(serde_json::json!({"enabled": true, "targets": [t.clone()]})).unwrap();
        assert_eq!(c.targets[0].client_id_at_target(url), None);
        t["cimd_client_ids_as_is"] = true.into();
        let c = config(serde_json::json!({"enabled": true, "targets": [t]})).unwrap();
        assert_eq!(c.targets[0].client_id_at_target(url).as_deref(), Some(url));
        assert_eq!(
            c.targets[0].client_id_at_target("http://app.example.com/c"),
            None
        );
    }

    #[test]
    fn bad_sections_are_refused_with_the_key() {
        let mut own = target();
        own["audience"] = "https://idp.example.com".into();
        let err = config(serde_json::json!({"enabled": true, "targets": [own]})).unwrap_err();
        assert!(err.contains("own issuer"), "{err}");
        let mut plain = target();
        plain["audience"] = "http://as.example.com".into();
        let err = config(serde_json::json!({"enabled": true, "targets": [plain]})).unwrap_err();
        assert!(err.contains("https"), "{err}");
        let err = config(serde_json::json!({"enabled": true, "targets": [target(), target()]}))
            .unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let err =
            config(serde_json::json!({"enabled": true, "id_jag_lifetime": 3600})).unwrap_err();
        assert!(err.contains("id_jag_lifetime"), "{err}");
        let mut typo = target();
        typo["scope"] = "x".into();
        assert!(config(serde_json::json!({"enabled": true, "targets": [typo]})).is_err());
        let mut no_resource = target();
        no_resource["resources"] = serde_json::json!([]);
        assert!(config(serde_json::json!({"enabled": true, "targets": [no_resource]})).is_err());
    }
}
