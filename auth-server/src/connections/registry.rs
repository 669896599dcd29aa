//! The configured connections, resolved: names, kinds, the MCP servers allowed to use each, and
//! the third party's endpoints, from the configuration or discovered from its metadata (see
//! [`super::discovery`]).

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::{ResourceUri, Secret};
use url::Url;

use super::ConnectionError;
use super::discovery::{Discovery, METADATA_TTL};
use super::third_party::ThirdPartyHttp;
use crate::config::ConnectionConfig;
pub(crate) use crate::config::connections::third_party_url_error;
pub use crate::config::connections::{ConnectionKind, check_third_party_url, is_valid_name};

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
    /// Descriptions of some of [`Self::scopes`] in words, by scope (checked at start).
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
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
    /// https URLs may name or resolve to special-use (private, loopback, …) addresses.
    pub allow_insecure_private_addresses: bool,
    configured: Option<Arc<Endpoints>>,
    discovery: Discovery,
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
    /// The host the user is sent to (with its port when it has one): the configured
    /// authorization endpoint's, else the issuer's; `None` for an `api_key` connection. Shown on
    /// the connect page so the user knows where they will sign in.
    pub fn domain(&self) -> Option<String> {
        let url = self
            .configured
            .as_ref()
            .map(|e| &e.authorization_endpoint)
            .or(self.issuer.as_ref())?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }

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
        let url = |v: &str| {
            check_third_party_url(v, c.allow_insecure_http, c.allow_insecure_private_addresses)
                .map_err(|e| bad(third_party_url_error(&e)))
        };
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
            (Some(a), Some(t)) => Some(Arc::new(Endpoints {
                authorization_endpoint: url(a)?,
                token_endpoint: url(t)?,
                revocation_endpoint: c.revocation_endpoint.as_deref().map(url).transpose()?,
                iss_parameter_supported: false,
            })),
            _ => None,
        };
        if c.allow_insecure_private_addresses {
            tracing::warn!(
                connection = %c.name,
                "INSECURE: allow_insecure_private_addresses: this third party's URLs may name or resolve to private, loopback or other special-use addresses"
            );
        }
        if let Some(unknown) = c.scope_descriptions.keys().find(|k| !c.scopes.contains(k)) {
            return Err(bad(format!(
                "scope_descriptions describes {unknown:?}, which is not one of its scopes"
            )));
        }
        crate::web::ui::check_descriptions(&c.scope_descriptions)
            .map_err(|e| bad(e.to_string()))?;
        if c.kind == ConnectionKind::OAuth && configured.is_none() && issuer.is_none() {
            return Err(bad("no issuer and no endpoints".into()));
        }
        Ok(Self {
            name: c.name.clone(),
            display_name: c.display_name.clone(),
            kind: c.kind,
            scopes: c.scopes.clone(),
            scope_descriptions: c.scope_descriptions.clone(),
            resources,
            issuer,
            client_id: c.client_id.clone().unwrap_or_default(),
            client_secret: c.client_secret.clone(),
            resource_indicator: c.resource_indicator.clone(),
            allow_insecure_http: c.allow_insecure_http,
            allow_insecure_private_addresses: c.allow_insecure_private_addresses,
            configured,
            discovery: Discovery::new(METADATA_TTL),
        })
    }

    /// Refresh discovered metadata every `ttl` instead of [`METADATA_TTL`] (tests; `ZERO`
    /// refetches on every use).
    pub fn with_metadata_ttl(mut self, ttl: Duration) -> Self {
        self.discovery = Discovery::new(ttl);
        self
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

    /// The endpoints: the configured ones, else discovered (RFC 8414 metadata, then OpenID
    /// Connect discovery) and kept for [`METADATA_TTL`], then fetched again; a failed refetch
    /// keeps the previous ones, a failed first discovery is tried again on the next call.
    ///
    /// # Errors
    /// [`ConnectionError::Discovery`] when neither document can be fetched (never fetched
    /// before), or it is not JSON, names another issuer, lacks an endpoint, has an endpoint that
    /// [`check_third_party_url`] refuses, or lists `code_challenge_methods_supported` without
    /// `S256`; [`ConnectionError::Config`] for an api_key connection.
    pub async fn endpoints(
        &self,
        http: &ThirdPartyHttp,
    ) -> Result<Arc<Endpoints>, ConnectionError> {
        if let Some(e) = &self.configured {
            return Ok(e.clone());
        }
        let Some(issuer) = &self.issuer else {
            return Err(ConnectionError::Config(format!(
                "connection {} has no third-party endpoints",
                self.name
            )));
        };
        self.discovery.endpoints(self, http, issuer).await
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22 §4: the connect page names where the user will sign in: the configured
    /// authorization endpoint's host, else the issuer's (with a port when it has one); an
    /// `api_key` connection has none.
    #[test]
    fn domain_is_where_the_user_signs_in() {
        let config = |issuer: Option<&str>, endpoints: Option<(&str, &str)>| ConnectionConfig {
            name: "calendar".into(),
            display_name: "Calendar".into(),
            kind: ConnectionKind::OAuth,
            issuer: issuer.map(str::to_owned),
            authorization_endpoint: endpoints.map(|e| e.0.to_owned()),
            token_endpoint: endpoints.map(|e| e.1.to_owned()),
            revocation_endpoint: None,
            client_id: Some("c".into()),
            client_secret: None,
            scopes: vec![],
            resource_indicator: None,
            resources: vec![],
            allow_insecure_http: true,
            allow_insecure_private_addresses: false,
            scope_descriptions: Default::default(),
        };
        let by_issuer = Connection::from_config(&config(Some("https://cal.example.com"), None));
        assert_eq!(
            by_issuer.unwrap().domain().as_deref(),
            Some("cal.example.com")
        );
        let by_endpoint = Connection::from_config(&config(
            Some("https://cal.example.com"),
            Some((
                "http://127.0.0.1:9100/authorize",
                "http://127.0.0.1:9100/token",
            )),
        ));
        assert_eq!(
            by_endpoint.unwrap().domain().as_deref(),
            Some("127.0.0.1:9100")
        );
        let mut key = config(None, None);
        key.kind = ConnectionKind::ApiKey;
        assert_eq!(Connection::from_config(&key).unwrap().domain(), None);
    }

    /// Issue 19 §7: userinfo is refused in every third-party URL, and not echoed.
    #[test]
    fn a_third_party_url_with_userinfo_is_refused() {
        for bad in [
            "https://user@tp.example.com/authorize",
            "https://user:secret@tp.example.com/authorize",
            "https://:secret@tp.example.com/authorize",
            "http://user@127.0.0.1:9/authorize",
        ] {
            let e = check_third_party_url(bad, true, true).unwrap_err();
            assert_eq!(e, mcp_auth_outbound::UrlError::Userinfo);
            assert!(!third_party_url_error(&e).contains("secret"));
        }
    }

    /// Issue 19 §7: https IP literals are classified like CIMD hosts: special-use ranges are
    /// refused unless private addresses are allowed; global addresses and names pass.
    #[test]
    fn https_special_use_ip_literals_need_the_private_switch() {
        for bad in [
            "https://10.1.2.3/token",
            "https://127.0.0.1/token",
            "https://169.254.169.254/token",
            "https://100.64.0.1/token",
            "https://[::1]/token",
            "https://[fd00::1]/token",
            "https://[::ffff:192.168.0.1]/token",
        ] {
            let e = check_third_party_url(bad, false, false).unwrap_err();
            let text = third_party_url_error(&e);
            assert!(
                text.contains("names a special-use address"),
                "{bad}: {text}"
            );
            assert!(
                text.contains("allow_insecure_private_addresses"),
                "{bad}: {text}"
            );
            check_third_party_url(bad, false, true).unwrap();
        }
        for ok in [
            "https://93.184.216.34/token",
            "https://[2606:2800:220:1::1]/token",
            "https://tp.example.com/token",
        ] {
            check_third_party_url(ok, false, false).unwrap();
        }
    }
}
