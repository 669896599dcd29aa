//! `[[connections]]`: third parties whose credentials users connect (issue 11, spec §7.4), and
//! the rules their settings are checked against at start (names, third-party URLs). Read by
//! `crate::connections`.

use std::collections::{BTreeMap, BTreeSet};

use mcp_auth_core::{ResourceUri, Secret};
use mcp_auth_outbound::{AddressPolicy, UrlError, UrlRules};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Config, ConfigError, ResourceConfig};

/// One `[[connections]]` entry: a third party whose credential users connect (issue 11,
/// spec §7.4). Checked at start by [`Config::settings`]; see `crate::connections`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// The connection's name, `[a-z0-9_-]{1,32}`: the `audience` of `/connect/token`.
    pub name: String,
    /// Shown to users on the connect and connections pages.
    pub display_name: String,
    /// `oauth` (default): authorization code + PKCE at the third party; `api_key`: the user
    /// types a secret into a form.
    #[serde(default)]
    pub kind: ConnectionKind,
    /// The third party's issuer: its endpoints come from RFC 8414 metadata, else OpenID
    /// Connect discovery, with `issuer` checked equal. Or give the endpoints below.
    pub issuer: Option<String>,
    /// The third party's authorization endpoint (instead of discovery).
    pub authorization_endpoint: Option<String>,
    /// The third party's token endpoint (instead of discovery).
    pub token_endpoint: Option<String>,
    /// The third party's RFC 7009 revocation endpoint (optional).
    pub revocation_endpoint: Option<String>,
    /// This server's client id at the third party (oauth).
    pub client_id: Option<String>,
    /// This server's client secret at the third party (oauth; sent with HTTP Basic).
    #[serde(skip_serializing)]
    pub client_secret: Option<Secret>,
    /// Scopes asked of the third party (oauth).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// RFC 8707 `resource` sent to the third party (optional, an absolute URL).
    pub resource_indicator: Option<String>,
    /// The MCP servers (`[[resources]]` entries) that may use this connection.
    pub resources: Vec<String>,
    /// Allow a plain-http third party on a loopback host (tests, development). Default false:
    /// every third-party URL is https.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Allow a third party whose https URLs name or resolve to special-use addresses
    /// (private, loopback, link-local, …: an internal OAuth server). Default false: such an IP
    /// literal is refused at start-up and in discovered metadata, and a name resolving there is
    /// refused when it is fetched, as for CIMD documents. Logs a warning.
    #[serde(default)]
    pub allow_insecure_private_addresses: bool,
    /// Descriptions of `scopes` in words, shown on the connect page next to each scope name
    /// (`scope_descriptions = { "calendar:read" = "See your calendar events" }`). Every key must
    /// be one of `scopes`; a description is non-empty text without control characters.
    #[serde(default)]
    pub scope_descriptions: BTreeMap<String, String>,
}

/// How a connection's credential is obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionKind {
    /// Authorization code + PKCE S256 at the third party; the vault keeps its access and
    /// refresh tokens (`kind = "oauth"`, the default).
    #[default]
    #[serde(rename = "oauth")]
    OAuth,
    /// The user types an API key into the connect page's form (`kind = "api_key"`).
    #[serde(rename = "api_key")]
    ApiKey,
}

impl ConnectionKind {
    /// The configuration and vault spelling: `oauth` or `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::ApiKey => "api_key",
        }
    }
}

/// Whether `name` is a valid connection name: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Parse a third party's URL: absolute, no fragment, no userinfo (`https://user@host/…`),
/// `https`, or `http` when `allow_insecure_http` and the host is loopback. An `https` URL whose
/// host is a special-use IP address (private, loopback, link-local, …; the ranges CIMD
/// documents are refused from, [`mcp_auth_outbound::special_use_range`]) is refused unless
/// `allow_private_addresses`; host names are screened when they are resolved, by the guarded
/// client ([`ThirdPartyHttp`]).
///
/// # Errors
/// The [`UrlError`] found; its text never echoes userinfo.
pub fn check_third_party_url(
    value: &str,
    allow_insecure_http: bool,
    allow_private_addresses: bool,
) -> Result<Url, UrlError> {
    mcp_auth_outbound::check_configured_url(
        value,
        UrlRules {
            allow_http_loopback: allow_insecure_http,
            addresses: if allow_private_addresses {
                AddressPolicy::AnyConfigured
            } else {
                AddressPolicy::PublicOnly
            },
        },
    )
}

/// `e` for an operator: a refused private address names the switch that allows it.
pub(crate) fn third_party_url_error(e: &UrlError) -> String {
    match e {
        UrlError::SpecialUse { .. } => {
            format!("{e}; set allow_insecure_private_addresses for a private third party")
        }
        UrlError::PlainHttp(_) => format!("{e} (allow_insecure_http)"),
        _ => e.to_string(),
    }
}

impl Config {
    /// Check `[vault]`, `[[connections]]` and `server_clients` (issue 11). Called by
    /// [`Config::settings`], so a bad entry stops the start.
    ///
    /// # Errors
    /// Connections without `vault.key`; a name not `[a-z0-9_-]{1,32}` or given twice; a
    /// connection's `resources` empty or naming no configured `[[resources]]` entry, or one
    /// without `server_clients`; an oauth connection without `client_id`, `client_secret`, or
    /// `issuer` / both endpoints; a third-party URL that is not https (plain http only with
    /// `allow_insecure_http` on a loopback host), carries userinfo, or names a special-use IP
    /// address (unless `allow_insecure_private_addresses`); an api_key connection with oauth
    /// settings.
    pub fn check_connections(&self) -> Result<(), ConfigError> {
        let keyring = self.vault_keyring()?;
        if !self.connections.is_empty() && keyring.is_none() {
            return Err(ConfigError(
                "[[connections]] are configured but the vault has no key: set vault.key (or MCP_AUTH_VAULT__KEY) to the base64 of 32 random bytes".into(),
            ));
        }
        let configured: Vec<ResourceUri> = self
            .resources
            .iter()
            .filter_map(|r| r.resource.parse::<ResourceUri>().ok())
            .collect();
        let mut seen = BTreeSet::new();
        for c in &self.connections {
            c.check_name(&mut seen)?;
            c.check_text()?;
            c.check_resources(&self.resources, &configured)?;
            c.check_resource_indicator()?;
            match c.kind {
                ConnectionKind::ApiKey => c.check_api_key()?,
                ConnectionKind::OAuth => c.check_oauth()?,
            }
        }
        Ok(())
    }
}

impl ConnectionConfig {
    /// An error about this connection: `connection NAME: what`.
    fn error(&self, what: impl std::fmt::Display) -> ConfigError {
        ConfigError(format!("connection {}: {what}", self.name))
    }

    /// The name is `[a-z0-9_-]{1,32}` and not in `seen` (which it joins).
    fn check_name(&self, seen: &mut BTreeSet<String>) -> Result<(), ConfigError> {
        let name = &self.name;
        if !is_valid_name(name) {
            return Err(ConfigError(format!(
                "connection name {name:?} must be 1 to 32 of a-z, 0-9, _ and -"
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(ConfigError(format!(
                "connection {name} is configured twice"
            )));
        }
        Ok(())
    }

    /// `display_name`, a non-empty `resources`, and `scope_descriptions` of its own scopes.
    fn check_text(&self) -> Result<(), ConfigError> {
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 100 {
            return Err(self.error("display_name must be 1 to 100 characters"));
        }
        if self.resources.is_empty() {
            return Err(self.error("resources must name at least one [[resources]] entry"));
        }
        if let Some(unknown) = self
            .scope_descriptions
            .keys()
            .find(|k| !self.scopes.contains(k))
        {
            return Err(self.error(format!(
                "scope_descriptions describes {unknown:?}, which is not one of its scopes"
            )));
        }
        crate::web::ui::check_descriptions(&self.scope_descriptions).map_err(|e| self.error(e))
    }

    /// Each of `resources` is one of the configured `[[resources]]` entries (`entries`, whose
    /// parsed URIs are `configured`) and lists `server_clients`.
    fn check_resources(
        &self,
        entries: &[ResourceConfig],
        configured: &[ResourceUri],
    ) -> Result<(), ConfigError> {
        for r in &self.resources {
            let uri: ResourceUri = r
                .parse()
                .map_err(|e: mcp_auth_core::ParseError| self.error(format!("resource {r}: {e}")))?;
            let Some(entry) = entries
                .iter()
                .zip(configured.iter())
                .find(|(_, u)| **u == uri)
                .map(|(e, _)| e)
            else {
                return Err(self.error(format!(
                    "resource {r} is not a configured [[resources]] entry"
                )));
            };
            if entry.server_clients.is_empty() {
                return Err(self.error(format!(
                    "resource {r} has no server_clients: list the client id of its MCP server"
                )));
            }
        }
        Ok(())
    }

    /// `resource_indicator`, when given, is an absolute URL without a fragment.
    fn check_resource_indicator(&self) -> Result<(), ConfigError> {
        if let Some(r) = &self.resource_indicator {
            let u = Url::parse(r).map_err(|e| self.error(format!("resource_indicator: {e}")))?;
            if u.fragment().is_some() {
                return Err(self.error("resource_indicator must not have a fragment"));
            }
        }
        Ok(())
    }

    /// An api_key connection has none of the oauth settings.
    fn check_api_key(&self) -> Result<(), ConfigError> {
        if self.issuer.is_some()
            || self.authorization_endpoint.is_some()
            || self.token_endpoint.is_some()
            || self.revocation_endpoint.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || !self.scopes.is_empty()
            || self.resource_indicator.is_some()
        {
            return Err(self.error(
                "an api_key connection takes no issuer, endpoints, client_id, client_secret, scopes or resource_indicator",
            ));
        }
        Ok(())
    }

    /// An oauth connection has a client id and secret, an issuer or both endpoints (each a
    /// third-party URL, see [`check_third_party_url`]), and scopes that are scope tokens.
    fn check_oauth(&self) -> Result<(), ConfigError> {
        if self
            .client_id
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
        {
            return Err(self.error("client_id is required"));
        }
        if self
            .client_secret
            .as_ref()
            .is_none_or(|s| s.expose().is_empty())
        {
            return Err(self.error("client_secret is required"));
        }
        if let Some(i) = &self.issuer {
            let u = self.third_party_url("issuer", i)?;
            if u.query().is_some() {
                return Err(self.error("issuer must not have a query"));
            }
        }
        match (&self.authorization_endpoint, &self.token_endpoint) {
            (Some(a), Some(t)) => {
                self.third_party_url("authorization_endpoint", a)?;
                self.third_party_url("token_endpoint", t)?;
            }
            (None, None) if self.issuer.is_some() => {}
            _ => {
                return Err(self.error(
                    "give issuer (for discovery) or both authorization_endpoint and token_endpoint",
                ));
            }
        }
        if let Some(r) = &self.revocation_endpoint {
            self.third_party_url("revocation_endpoint", r)?;
        }
        self.check_scopes()
    }

    /// Each of `scopes` is a scope token (RFC 6749 §3.3: printable ASCII but `"` and `\`).
    fn check_scopes(&self) -> Result<(), ConfigError> {
        for s in &self.scopes {
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                return Err(self.error(format!("scope {s:?} is not a valid scope token")));
            }
        }
        Ok(())
    }

    /// `value` of `field` as a third-party URL, by this connection's allowances.
    fn third_party_url(&self, field: &str, value: &str) -> Result<Url, ConfigError> {
        check_third_party_url(
            value,
            self.allow_insecure_http,
            self.allow_insecure_private_addresses,
        )
        .map_err(|e| self.error(format!("{field}: {}", third_party_url_error(&e))))
    }
}
