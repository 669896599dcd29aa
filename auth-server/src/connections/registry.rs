//! The configured connections, resolved: names, kinds, the MCP servers allowed to use each, and
//! the third party's endpoints, from the configuration or from its RFC 8414 metadata (then
//! OpenID Connect discovery) with `issuer` checked equal (RFC 8414 §3.3).

use std::time::Duration;

use mcp_auth_core::types::is_loopback_host;
use mcp_auth_core::{ResourceUri, Secret};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use url::Url;

use super::ConnectionError;
use crate::config::ConnectionConfig;

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

/// Parse a third party's URL: absolute, no fragment, `https`, or `http` when
/// `allow_insecure_http` and the host is loopback.
///
/// # Errors
/// A message naming what is wrong (never containing secrets: URLs here are configuration).
pub fn check_third_party_url(value: &str, allow_insecure_http: bool) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("{value:?} is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("{value} must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http && url.host_str().is_some_and(is_loopback_host) => Ok(url),
        "http" => Err(format!(
            "{value} is plain http: use https (http only with allow_insecure_http on a loopback host)"
        )),
        other => Err(format!("{value}: scheme {other} is not https")),
    }
}

/// The third party's endpoints in use for an oauth connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Its authorization endpoint.
    pub authorization_endpoint: Url,
    /// Its token endpoint.
    pub token_endpoint: Url,
    /// Its RFC 7009 revocation endpoint, if any.
    pub revocation_endpoint: Option<Url>,
    /// Its metadata says `authorization_response_iss_parameter_supported: true` (RFC 9207 §3):
    /// the callback then requires `iss`.
    pub iss_parameter_supported: bool,
}

/// One configured connection. `Debug` never prints the client secret.
pub struct Connection {
    /// The name, `[a-z0-9_-]{1,32}`: the `audience` of `/connect/token`.
    pub name: String,
    /// Shown to users.
    pub display_name: String,
    /// oauth or api_key.
    pub kind: ConnectionKind,
    /// Scopes asked of the third party (oauth).
    pub scopes: Vec<String>,
    /// The MCP servers allowed to use it.
    pub resources: Vec<ResourceUri>,
    /// The third party's issuer, when configured (its `iss` on the callback must equal it).
    pub issuer: Option<Url>,
    /// This server's client id at the third party (oauth; empty for api_key).
    pub client_id: String,
    /// This server's client secret there.
    pub client_secret: Option<Secret>,
    /// RFC 8707 `resource` sent to the third party.
    pub resource_indicator: Option<String>,
    /// Plain http allowed for a loopback third party.
    pub allow_insecure_http: bool,
    configured: Option<Endpoints>,
    discovered: OnceCell<Endpoints>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .field("kind", &self.kind)
            .field("scopes", &self.scopes)
            .field("resources", &self.resources)
            .field("issuer", &self.issuer.as_ref().map(Url::as_str))
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Resolve a configured connection (already checked by
    /// [`crate::config::Config::check_connections`]; checked again here, failing closed).
    ///
    /// # Errors
    /// [`ConnectionError::Config`] naming the setting.
    pub fn from_config(c: &ConnectionConfig) -> Result<Self, ConnectionError> {
        let bad = |m: String| ConnectionError::Config(format!("connection {}: {m}", c.name));
        if !is_valid_name(&c.name) {
            return Err(bad("invalid name".into()));
        }
        let url = |v: &str| check_third_party_url(v, c.allow_insecure_http).map_err(bad);
        let resources = c
            .resources
            .iter()
            .map(|r| {
                r.parse()
                    .map_err(|e: mcp_auth_core::ParseError| bad(e.to_string()))
            })
            .collect::<Result<Vec<ResourceUri>, _>>()?;
        let issuer = c.issuer.as_deref().map(url).transpose()?;
        let configured = match (&c.authorization_endpoint, &c.token_endpoint) {
            (Some(a), Some(t)) => Some(Endpoints {
                authorization_endpoint: url(a)?,
                token_endpoint: url(t)?,
                revocation_endpoint: c.revocation_endpoint.as_deref().map(url).transpose()?,
                iss_parameter_supported: false,
            }),
            _ => None,
        };
        if c.kind == ConnectionKind::OAuth && configured.is_none() && issuer.is_none() {
            return Err(bad("no issuer and no endpoints".into()));
        }
        Ok(Self {
            name: c.name.clone(),
            display_name: c.display_name.clone(),
            kind: c.kind,
            scopes: c.scopes.clone(),
            resources,
            issuer,
            client_id: c.client_id.clone().unwrap_or_default(),
            client_secret: c.client_secret.clone(),
            resource_indicator: c.resource_indicator.clone(),
            allow_insecure_http: c.allow_insecure_http,
            configured,
            discovered: OnceCell::new(),
        })
    }

    /// The configured issuer as text, exactly as the third party's metadata must spell it
    /// (without the trailing `/` the URL parser adds to a bare origin).
    pub fn issuer_str(&self) -> Option<String> {
        self.issuer.as_ref().map(|u| {
            let s = u.as_str();
            if u.path() == "/" && u.query().is_none() {
                s.trim_end_matches('/').to_owned()
            } else {
                s.to_owned()
            }
        })
    }

    /// Whether `resource` (an MCP server) may use this connection.
    pub fn allows(&self, resource: &ResourceUri) -> bool {
        self.resources.contains(resource)
    }

    /// The endpoints: the configured ones, else discovered on first use (RFC 8414 metadata,
    /// then OpenID Connect discovery). A failed discovery is tried again on the next call.
    ///
    /// # Errors
    /// [`ConnectionError::Discovery`] when neither document can be fetched, or it is not JSON,
    /// names another issuer, lacks an endpoint, has a non-https endpoint, or lists
    /// `code_challenge_methods_supported` without `S256`; [`ConnectionError::Config`] for an
    /// api_key connection.
    pub async fn endpoints(&self, http: &reqwest::Client) -> Result<&Endpoints, ConnectionError> {
        if let Some(e) = &self.configured {
            return Ok(e);
        }
        let Some(issuer) = &self.issuer else {
            return Err(ConnectionError::Config(format!(
                "connection {} has no third-party endpoints",
                self.name
            )));
        };
        self.discovered
            .get_or_try_init(|| async { self.discover(http, issuer).await })
            .await
    }

    async fn discover(
        &self,
        http: &reqwest::Client,
        issuer: &Url,
    ) -> Result<Endpoints, ConnectionError> {
        let expected = self.issuer_str().unwrap_or_default();
        let path = issuer.path().trim_end_matches('/');
        let origin = issuer.origin().ascii_serialization();
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{}/.well-known/openid-configuration", expected),
        ];
        let mut last = String::new();
        for url in candidates {
            match fetch_metadata(http, &url).await {
                Ok(doc) => return self.endpoints_from(&doc, &expected),
                Err(e) => last = e,
            }
        }
        tracing::warn!(connection = %self.name, error = %last, "third-party discovery failed");
        Err(ConnectionError::Discovery(format!(
            "connection {}: {last}",
            self.name
        )))
    }

    fn endpoints_from(
        &self,
        doc: &serde_json::Value,
        expected_issuer: &str,
    ) -> Result<Endpoints, ConnectionError> {
        let bad = |m: String| ConnectionError::Discovery(format!("connection {}: {m}", self.name));
        if doc["issuer"].as_str() != Some(expected_issuer) {
            return Err(bad(format!(
                "the metadata's issuer is not {expected_issuer} (RFC 8414 §3.3)"
            )));
        }
        let endpoint = |member: &str| -> Result<Option<Url>, ConnectionError> {
            match &doc[member] {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) => check_third_party_url(s, self.allow_insecure_http)
                    .map(Some)
                    .map_err(|e| bad(format!("{member}: {e}"))),
                _ => Err(bad(format!("{member} is not a string"))),
            }
        };
        if let Some(methods) = doc.get("code_challenge_methods_supported") {
            let has_s256 = methods
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m == "S256"));
            if !has_s256 {
                return Err(bad("the third party does not support PKCE S256".into()));
            }
        }
        Ok(Endpoints {
            authorization_endpoint: endpoint("authorization_endpoint")?
                .ok_or_else(|| bad("no authorization_endpoint".into()))?,
            token_endpoint: endpoint("token_endpoint")?
                .ok_or_else(|| bad("no token_endpoint".into()))?,
            revocation_endpoint: endpoint("revocation_endpoint")?,
            iss_parameter_supported: doc["authorization_response_iss_parameter_supported"]
                == serde_json::Value::Bool(true),
        })
    }
}

/// Largest metadata document read, bytes.
const MAX_METADATA_BYTES: usize = 256 * 1024;

async fn fetch_metadata(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    let res = http
        .get(url)
        .header("accept", "application/json")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", e.without_url()))?;
    if !res.status().is_success() {
        return Err(format!("GET {url}: status {}", res.status().as_u16()));
    }
    let bytes = res
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: {}", e.without_url()))?;
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(format!("GET {url}: document too large"));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| format!("GET {url}: not JSON"))?;
    if !doc.is_object() {
        return Err(format!("GET {url}: not a JSON object"));
    }
    Ok(doc)
}

/// The resolved connections, in configuration order.
#[derive(Debug, Default)]
pub struct Registry {
    connections: Vec<Connection>,
}

impl Registry {
    /// A registry of `connections` (names must be unique).
    ///
    /// # Errors
    /// [`ConnectionError::Config`] for a repeated name.
    pub fn new(connections: Vec<Connection>) -> Result<Self, ConnectionError> {
        for (i, c) in connections.iter().enumerate() {
            if connections[..i].iter().any(|o| o.name == c.name) {
                return Err(ConnectionError::Config(format!(
                    "connection {} is configured twice",
                    c.name
                )));
            }
        }
        Ok(Self { connections })
    }

    /// The connection named `name`.
    pub fn get(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// Every connection.
    pub fn all(&self) -> &[Connection] {
        &self.connections
    }
}
