//! Configuration: a TOML file with environment overrides (prefix `MCP_AUTH_`, `__` between
//! nested keys), then command-line flags. Every field has a default, so no file is needed.
//!
//! ```toml
//! issuer = "https://auth.example.com"
//! bind = "0.0.0.0:9000"
//! database = "/var/lib/mcp-auth/mcp-auth.db"
//! default_resource = "https://mcp.example.com/mcp"
//!
//! [[resources]]
//! resource = "https://mcp.example.com/mcp"
//! scopes = ["mcp:basic", "files:read", "files:write"]
//! default_scopes = ["mcp:basic"]
//! introspection_clients = ["mcp-server"]   # may introspect this resource's tokens
//!
//! [tokens]
//! access_token_ttl = 900
//!
//! [registration]
//! enabled = true
//! max_per_source_per_hour = 20
//!
//! [extensions.client_credentials]   # each extension reads its own section
//! enabled = true
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use mcp_auth_core::ext::ExtensionSection;
use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::{ClientId, Issuer, ResourceUri, ScopeSet, Secret};
use serde::{Deserialize, Serialize};

use crate::settings::{RegistrationSettings, ServerSettings, defaults};

/// A configuration problem; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The whole configuration file. `Debug` prints `[redacted]` for `session_secret` and only the
/// names of the `[extensions.<name>]` sections (an extension's section may hold its secrets).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Issuer URL; default `http://` + the bound address. https unless the host is loopback.
    pub issuer: Option<String>,
    /// Listen address, default `127.0.0.1:9000`. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// The database: a SQLite file path (default `mcp-auth.db` in the working directory), or a
    /// `postgres://user@host:port/dbname` URL, which selects PostgreSQL so that several nodes
    /// share their state (also `MCP_AUTH_DATABASE`). See `crate::storage::open`.
    pub database: PathBuf,
    /// With PostgreSQL: the most connections one node opens (default 10).
    pub database_pool_size: u32,
    /// How often every node reads the signing keys again to pick up a rotation made by
    /// `auth-server keys rotate` or another node, in seconds (default 60, at least 1).
    pub key_reload_interval: u64,
    /// Development profile (see `--dev`).
    pub dev: bool,
    /// Master secret of the session cookie (at least 32 characters). Random per start when
    /// absent, which signs everyone out on restart. A [`Secret`]: `Debug` prints `[redacted]`,
    /// and it is never serialized back out.
    #[serde(skip_serializing)]
    pub session_secret: Option<Secret>,
    /// Resource used when an authorization request omits `resource` (spec §10 A4).
    pub default_resource: Option<String>,
    /// Protected resources (MCP servers) tokens may be issued for.
    pub resources: Vec<ResourceConfig>,
    /// Token lifetimes.
    pub tokens: TokenConfig,
    /// Dynamic client registration.
    pub registration: RegistrationConfig,
    /// Client ID Metadata Documents (SEP-991): the documented alias of `[extensions.cimd]`
    /// (see [`Config::extension_sections`]; giving both is an error).
    pub cimd: CimdConfig,
    /// Shorthand for `[extensions.client_credentials] enabled = true` (SEP-1046, machine
    /// clients; default false).
    pub client_credentials: bool,
    /// OpenID Connect sign-in (OIDC Core §3.1): an authorization request with the `openid`
    /// scope also gets an ID token; discovery lists the OpenID Connect members. Default false;
    /// the Cross App Access IdP role (`[extensions.xaa_idp]`) turns it on by itself.
    pub openid_connect: bool,
    /// Per-extension sections `[extensions.<name>]`, each read by its extension's own crate
    /// (`MCP_AUTH_EXTENSIONS__<NAME>__<KEY>` overrides a key). An extension is on when its
    /// section says `enabled = true`; a section no compiled-in extension reads is an error.
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// Bounds on failed client authentications.
    pub client_auth: ClientAuthConfig,
    /// Sign-in limits and password hashing bounds (issue #8 items 2, 3).
    pub signin: crate::limits::SignInSettings,
    /// Hits of the connect pages per source address (issue 11, ELIC-18).
    pub connect_pages: crate::limits::ConnectPageLimits,
    /// Proxies whose forwarding headers are believed: networks (`10.0.0.0/8`) or addresses.
    /// Default none: the source address is the socket peer.
    pub trusted_proxies: Vec<String>,
    /// Request read timeouts.
    pub http: crate::limits::HttpConfig,
    /// Log format: `text` (human-readable, the default) or `json` (one JSON object per line,
    /// with the span fields). Also `MCP_AUTH_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// Prometheus metrics (`[metrics]`); off unless `bind` is set.
    pub metrics: MetricsConfig,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish before the process
    /// exits anyway, in seconds (default 30).
    pub shutdown_grace_period: u64,
    /// Branding of the sign-in, consent and error pages.
    pub ui: UiConfig,
    /// Descriptions of scopes shown on the consent page, by scope name (`[scopes]`
    /// `"files:read" = "Read your files"`); a resource's `scope_descriptions` wins.
    pub scopes: BTreeMap<String, String>,
    /// The token vault's keys (`[vault]`): required when `[[connections]]` exist.
    pub vault: VaultConfig,
    /// Third-party connections (`[[connections]]`, issue 11): accounts users connect so that
    /// MCP servers can get their third-party credential by token exchange at `/connect/token`.
    pub connections: Vec<ConnectionConfig>,
    /// Where each value came from (the file, a variable, a default), for messages. Set by
    /// [`Config::load`]; not a setting.
    #[serde(skip)]
    pub origins: Origins,
}

/// The format of the log lines on standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (tracing-subscriber's default format).
    #[default]
    Text,
    /// One JSON object per event, with the fields of the spans it is in (`request_id`,
    /// `grant_type`, `client_id`).
    Json,
}

/// `[metrics]`: a separate listener serving `GET /metrics` in the Prometheus text format.
///
/// The listener has the main port's header and body read timeouts (`[http]`) and serves at
/// most `max_connections` connections at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Listen address of the metrics listener, e.g. `127.0.0.1:9464` (also
    /// `MCP_AUTH_METRICS_BIND`). Metrics are off when absent.
    pub bind: Option<SocketAddr>,
    /// Label `mcp_auth_tokens_issued_total` with the `client_id` (default false: one series
    /// per client; turn on only with a bounded number of clients).
    pub client_id_labels: bool,
    /// Most connections the metrics listener serves at once (default
    /// [`crate::metrics::DEFAULT_MAX_CONNECTIONS`], 16; at least 1). Past it new connections
    /// wait in the listen backlog until one ends, so idle connections to the metrics port
    /// cannot use up the descriptors the main port needs (issue 19 §3).
    pub max_connections: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            bind: None,
            client_id_labels: false,
            max_connections: crate::metrics::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Default of [`Config::key_reload_interval`], seconds.
pub const DEFAULT_KEY_RELOAD_INTERVAL: u64 = 60;

/// Default of [`Config::shutdown_grace_period`], seconds.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: u64 = 30;

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured without `..`, so a new field cannot be left out by accident.
        let Config {
            issuer,
            bind,
            database,
            database_pool_size,
            key_reload_interval,
            dev,
            session_secret,
            default_resource,
            resources,
            tokens,
            registration,
            cimd,
            client_credentials,
            openid_connect,
            extensions,
            client_auth,
            signin,
            connect_pages,
            trusted_proxies,
            http,
            log_format,
            metrics,
            shutdown_grace_period,
            ui,
            scopes,
            vault,
            connections,
            origins: _,
        } = self;
        f.debug_struct("Config")
            .field("issuer", issuer)
            .field("bind", bind)
            .field(
                "database",
                &crate::storage::Database::from_config_value(database),
            )
            .field("database_pool_size", database_pool_size)
            .field("key_reload_interval", key_reload_interval)
            .field("dev", dev)
            .field("session_secret", session_secret)
            .field("default_resource", default_resource)
            .field("resources", resources)
            .field("tokens", tokens)
            .field("registration", registration)
            .field("cimd", cimd)
            .field("client_credentials", client_credentials)
            .field("openid_connect", openid_connect)
            .field("extensions", &extensions.keys().collect::<Vec<_>>())
            .field("client_auth", client_auth)
            .field("signin", signin)
            .field("connect_pages", connect_pages)
            .field("trusted_proxies", trusted_proxies)
            .field("http", http)
            .field("log_format", log_format)
            .field("metrics", metrics)
            .field("shutdown_grace_period", shutdown_grace_period)
            .field("ui", ui)
            .field("scopes", scopes)
            .field("vault", vault)
            .field("connections", connections)
            .finish()
    }
}

/// The `[extensions.<name>]` section `[cimd]` is an alias of.
const CIMD_SECTION: &str = "cimd";

/// Client ID Metadata Documents: URL-shaped `client_id`s whose metadata the server fetches.
/// The keys of [`mcp_auth_cimd_resolver::CimdSettings`], which reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CimdConfig {
    /// Accept URL-shaped client ids and advertise `client_id_metadata_document_supported`
    /// (default true).
    pub enabled: bool,
    /// When non-empty, only these hosts (or `*.domain` patterns) may serve documents.
    pub allow_hosts: Vec<String>,
    /// Hosts (or `*.domain` patterns) whose documents are never fetched.
    pub deny_hosts: Vec<String>,
    /// Hosts whose clients are trusted: after sign-in their requests are approved without a
    /// consent prompt.
    pub trusted_hosts: Vec<String>,
    /// Shortest time a fetched document is cached, seconds (default 60).
    pub min_cache_ttl: u64,
    /// Longest time a fetched document is cached, seconds (default 86400).
    pub max_cache_ttl: u64,
    /// Fetches allowed per host per minute (default 10).
    pub fetches_per_host_per_minute: u32,
    /// Show the client_id host when a document has no `client_name`, instead of refusing it.
    pub lenient_client_name: bool,
    /// Testing only: allow documents on loopback hosts. Refused unless the server itself is
    /// bound to a loopback address; logs a warning.
    pub insecure_allow_loopback: bool,
    /// Testing only: a PEM file of an extra root certificate to trust for document fetches.
    pub insecure_ca_file: Option<PathBuf>,
}

impl Default for CimdConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            trusted_hosts: Vec::new(),
            min_cache_ttl: 60,
            max_cache_ttl: 86_400,
            fetches_per_host_per_minute: 10,
            lenient_client_name: false,
            insecure_allow_loopback: false,
            insecure_ca_file: None,
        }
    }
}

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
}

/// `[vault]`: the keys of the token vault (AES-256-GCM, issue 11). `Debug` prints the key ids
/// only; the keys are never serialized back out.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// The current key: standard base64 of 32 random bytes (also `MCP_AUTH_VAULT__KEY`).
    /// Required when `[[connections]]` exist; it seals every new entry.
    #[serde(skip_serializing)]
    pub key: Option<Secret>,
    /// The current key's id, stored with each entry (default `k1`).
    pub key_id: String,
    /// Earlier keys by id (`old_keys = { k0 = "<base64>" }`): they only open entries sealed
    /// before a rotation; an entry opened with one is sealed again under the current key.
    #[serde(skip_serializing)]
    pub old_keys: BTreeMap<String, Secret>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            key: None,
            key_id: DEFAULT_VAULT_KEY_ID.to_owned(),
            old_keys: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("key", &mcp_auth_core::secret::Redacted::option(&self.key))
            .field("key_id", &self.key_id)
            .field("old_keys", &self.old_keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Default of [`VaultConfig::key_id`].
pub const DEFAULT_VAULT_KEY_ID: &str = "k1";

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
    pub kind: crate::connections::ConnectionKind,
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

/// Branding of the pages (`[ui]`). Checked at start-up: a bad value stops the server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Name shown in the page header and titles (default `mcp-auth`).
    pub product_name: Option<String>,
    /// A local `.png`, `.svg`, `.jpg`/`.jpeg` or `.webp` file of at most 512 KiB, read at start
    /// and served by the server at `/ui/logo`. Never a URL.
    pub logo_path: Option<PathBuf>,
    /// Colour of the primary button: `#rgb` or `#rrggbb`.
    pub primary_color: Option<String>,
    /// A directory whose `base.html`, `login.html`, `consent.html` or `error.html` override the
    /// shipped templates of that name.
    pub templates_dir: Option<PathBuf>,
}

impl UiConfig {
    /// The checked branding, with `descriptions` as the scope descriptions.
    ///
    /// # Errors
    /// The first unusable setting ([`crate::web::ui::UiError`]).
    pub fn settings(
        &self,
        descriptions: crate::web::ui::ScopeDescriptions,
    ) -> Result<crate::web::ui::UiSettings, crate::web::ui::UiError> {
        use crate::web::ui::{Logo, UiSettings};
        let mut ui = UiSettings {
            scope_descriptions: descriptions,
            ..UiSettings::default()
        };
        if let Some(name) = &self.product_name {
            UiSettings::check_product_name(name)?;
            ui.product_name = name.trim().to_owned();
        }
        ui.logo = self.logo_path.as_deref().map(Logo::load).transpose()?;
        ui.primary_color = self.primary_color.as_deref().map(str::parse).transpose()?;
        if let Some(dir) = &self.templates_dir {
            if !dir.is_dir() {
                return Err(crate::web::ui::UiError::Templates {
                    path: dir.display().to_string(),
                    message: "not a readable directory".into(),
                });
            }
            ui.templates_dir = Some(dir.clone());
        }
        Ok(ui)
    }
}

/// Token lifetimes, all in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Access token lifetime (1 to 3600; default 900).
    pub access_token_ttl: u64,
    /// Authorization code lifetime (1 to 600; default 120).
    pub code_ttl: u64,
    /// Refresh token idle lifetime (default 14 days).
    pub refresh_idle_ttl: u64,
    /// Refresh token family absolute lifetime (default 90 days).
    pub refresh_absolute_ttl: u64,
    /// Whether a client that may use the `refresh_token` grant gets a refresh token from an
    /// authorization code whose request did not ask for `offline_access` (default true;
    /// SEP-2207). With `false`, only requests with `offline_access` get one.
    pub refresh_without_offline_access: bool,
    /// Login session lifetime (default 12 hours).
    pub session_ttl: u64,
    /// How long a client record is cached in memory (default 1; 0 = off). Client removal or
    /// secret rotation by the admin commands reaches a running server at most this much later.
    pub client_cache_ttl: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: defaults::ACCESS_TOKEN_TTL,
            code_ttl: defaults::CODE_TTL,
            refresh_idle_ttl: defaults::REFRESH_IDLE_TTL,
            refresh_absolute_ttl: defaults::REFRESH_ABSOLUTE_TTL,
            refresh_without_offline_access: defaults::REFRESH_WITHOUT_OFFLINE_ACCESS,
            session_ttl: defaults::SESSION_TTL,
            client_cache_ttl: defaults::CLIENT_CACHE_TTL,
        }
    }
}

/// Dynamic client registration (RFC 7591).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Serve `/register` (default true).
    pub enabled: bool,
    /// Registrations accepted per source address per hour (default 20).
    pub max_per_source_per_hour: u32,
}

/// Bounds on failed client authentications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Failed authentications allowed per (client id, source address) pair each minute
    /// (default 20); past it that pair gets 429 until the minute ends.
    pub max_failures_per_minute: u32,
    /// Failed authentications per minute over all clients and sources past which each further
    /// failure is answered after `backstop_delay_ms` (default 600).
    pub backstop_failures_per_minute: u32,
    /// That delay, milliseconds (default 1000).
    pub backstop_delay_ms: u64,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        let backstop = crate::limits::ClientAuthBackstop::default();
        Self {
            max_failures_per_minute: defaults::CLIENT_AUTH_FAILURES_PER_MINUTE,
            backstop_failures_per_minute: backstop.failures_per_minute,
            backstop_delay_ms: backstop.delay_ms,
        }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        let d = RegistrationSettings::default();
        Self {
            enabled: d.enabled,
            max_per_source_per_hour: d.max_per_source_per_hour,
        }
    }
}

/// The section the `client_credentials = true` shorthand (and `serve --client-credentials`)
/// turns on.
pub const CLIENT_CREDENTIALS_SECTION: &str = "client_credentials";

/// The resource configured when none is: a local MCP server, for a first run.
pub const DEFAULT_RESOURCE: &str = "http://127.0.0.1:8080/mcp";

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 9000)),
            database: PathBuf::from("mcp-auth.db"),
            database_pool_size: crate::storage::postgres::DEFAULT_POOL_SIZE,
            key_reload_interval: DEFAULT_KEY_RELOAD_INTERVAL,
            dev: false,
            session_secret: None,
            default_resource: Some(DEFAULT_RESOURCE.into()),
            resources: vec![ResourceConfig {
                resource: DEFAULT_RESOURCE.into(),
                scopes: vec!["mcp:basic".into(), "mcp:tools".into()],
                default_scopes: vec!["mcp:basic".into()],
                access_token_ttl: None,
                introspection_clients: Vec::new(),
                scope_descriptions: BTreeMap::new(),
                server_clients: Vec::new(),
            }],
            tokens: TokenConfig::default(),
            registration: RegistrationConfig::default(),
            cimd: CimdConfig::default(),
            client_credentials: false,
            openid_connect: false,
            extensions: BTreeMap::new(),
            client_auth: ClientAuthConfig::default(),
            signin: crate::limits::SignInSettings::default(),
            connect_pages: crate::limits::ConnectPageLimits::default(),
            trusted_proxies: Vec::new(),
            http: crate::limits::HttpConfig::default(),
            log_format: LogFormat::default(),
            metrics: MetricsConfig::default(),
            shutdown_grace_period: DEFAULT_SHUTDOWN_GRACE_PERIOD,
            ui: UiConfig::default(),
            scopes: BTreeMap::new(),
            vault: VaultConfig::default(),
            connections: Vec::new(),
            origins: Origins::default(),
        }
    }
}

impl Config {
    /// Load the defaults, then `path` (if given; it must exist), then `MCP_AUTH_*` variables.
    ///
    /// An unknown key in the file is an error; an `MCP_AUTH_*` variable that names no setting is
    /// logged once as a warning and ignored: a platform may set variables of that prefix for its
    /// own reasons (Kubernetes sets `MCP_AUTH_PORT=tcp://…` for a Service named `mcp-auth`).
    ///
    /// # Errors
    /// A missing file, TOML syntax, an unknown key in the file, or a value of the wrong type.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        if let Some(path) = path
            && !path.exists()
        {
            return Err(ConfigError(format!("{} does not exist", path.display())));
        }
        let mut ignored: Vec<String> = Vec::new();
        loop {
            let figment = Self::figment(path, &ignored);
            match figment.extract::<Self>() {
                Ok(mut config) => {
                    config.resolve_relative_paths(&figment);
                    config.origins = Origins(Some(figment));
                    return Ok(config);
                }
                Err(e) => match unknown_environment_key(&e) {
                    // Bounded: each round ignores one more variable of a finite environment.
                    Some(key) if !ignored.contains(&key) => {
                        tracing::warn!(
                            variable = %format!("MCP_AUTH_{}", key.to_uppercase()),
                            "ignoring an environment variable that names no setting"
                        );
                        ignored.push(key);
                    }
                    _ => return Err(ConfigError(describe_figment_error(e))),
                },
            }
        }
    }

    /// Relative paths written in the configuration file (`database` when it is a SQLite file,
    /// `cimd.insecure_ca_file`, `ui.logo_path`, `ui.templates_dir`) name files next to that
    /// file, wherever the server is started from; a path from an `MCP_AUTH_*` variable or a
    /// default stays relative to the working directory.
    fn resolve_relative_paths(&mut self, figment: &Figment) {
        let folder_of = |key: &str| -> Option<PathBuf> {
            match figment.find_metadata(key)?.source.as_ref()? {
                figment::Source::File(file) => file.parent().map(Path::to_path_buf),
                _ => None,
            }
        };
        let resolve = |key: &str, value: &mut PathBuf| {
            if value.is_relative()
                && let Some(folder) = folder_of(key)
            {
                *value = folder.join(&*value);
            }
        };
        if !crate::storage::Database::from_config_value(&self.database).is_shared() {
            resolve("database", &mut self.database);
        }
        if let Some(file) = &mut self.cimd.insecure_ca_file {
            resolve("cimd.insecure_ca_file", file);
        }
        if let Some(file) = &mut self.ui.logo_path {
            resolve("ui.logo_path", file);
        }
        if let Some(dir) = &mut self.ui.templates_dir {
            resolve("ui.templates_dir", dir);
        }
    }

    /// The layers of [`Config::load`], without the environment variables in `ignored` (their
    /// keys as figment reads them: lower case, `__` between levels).
    fn figment(path: Option<&Path>, ignored: &[String]) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            figment = figment.merge(Toml::file(path));
        }
        let ignored = ignored.to_vec();
        figment.merge(
            Env::prefixed("MCP_AUTH_")
                // MCP_AUTH_LOG and MCP_AUTH_CONFIG configure the process, not the server.
                .filter(move |key| {
                    key != "log" && key != "config" && !ignored.iter().any(|i| key == i.as_str())
                })
                // MCP_AUTH_METRICS_BIND, the documented short form of MCP_AUTH_METRICS__BIND.
                .map(|key| {
                    if key == "metrics_bind" {
                        "metrics.bind".into()
                    } else {
                        key.into()
                    }
                })
                .split("__"),
        )
    }

    /// The issuer: the configured one, or `http://` + `bound` (the address actually bound).
    ///
    /// # Errors
    /// An issuer that is not https on a non-loopback host, or has a query or fragment.
    pub fn issuer(&self, bound: SocketAddr) -> Result<Issuer, ConfigError> {
        let raw = self
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        raw.parse()
            .map_err(|e: mcp_auth_core::ParseError| ConfigError(format!("issuer: {e}")))
    }

    /// The `[extensions.<name>]` sections, with the `client_credentials = true` shorthand
    /// applied (it sets `enabled = true` in `[extensions.client_credentials]`).
    ///
    /// The top-level `[cimd]` section is an alias of `[extensions.cimd]`: when the latter is
    /// absent, `[cimd]` (or its defaults: CIMD is on unless turned off) becomes it.
    ///
    /// # Errors
    /// Both `[cimd]` (with a value other than its default) and `[extensions.cimd]` are given.
    pub fn extension_sections(&self) -> Result<Vec<ExtensionSection>, ConfigError> {
        let mut sections = self.extensions.clone();
        if sections.contains_key(CIMD_SECTION) {
            if self.cimd != CimdConfig::default() {
                return Err(ConfigError(
                    "[cimd] is an alias of [extensions.cimd]: give one of them, not both".into(),
                ));
            }
        } else {
            let alias = serde_json::to_value(&self.cimd)
                .map_err(|e| ConfigError(format!("[cimd]: {e}")))?;
            sections.insert(CIMD_SECTION.to_owned(), alias);
        }
        if self.client_credentials {
            let section = sections
                .entry(CLIENT_CREDENTIALS_SECTION.to_owned())
                .or_insert_with(|| serde_json::json!({}));
            if let Some(table) = section.as_object_mut() {
                table.insert("enabled".into(), serde_json::Value::Bool(true));
            }
        }
        Ok(sections
            .into_iter()
            .map(|(name, value)| ExtensionSection::new(name, value))
            .collect())
    }

    /// The engine settings for `issuer`.
    ///
    /// # Errors
    /// A malformed resource or scope, a default resource that is not configured.
    pub fn settings(&self, issuer: Issuer) -> Result<ServerSettings, ConfigError> {
        let mut resources = Vec::with_capacity(self.resources.len());
        let mut introspection_clients = BTreeMap::new();
        let mut server_clients = BTreeMap::new();
        for r in &self.resources {
            let resource: ResourceUri =
                r.resource.parse().map_err(|e: mcp_auth_core::ParseError| {
                    ConfigError(format!("resource {}: {e}", r.resource))
                })?;
            if !r.introspection_clients.is_empty() {
                let clients = r
                    .introspection_clients
                    .iter()
                    .map(|c| {
                        c.parse::<ClientId>().map_err(|e| {
                            ConfigError(format!("introspection_clients of {}: {e}", r.resource))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                introspection_clients.insert(resource.clone(), clients);
            }
            if !r.server_clients.is_empty() {
                let clients = r
                    .server_clients
                    .iter()
                    .map(|c| {
                        c.parse::<ClientId>().map_err(|e| {
                            ConfigError(format!("server_clients of {}: {e}", r.resource))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                server_clients.insert(resource.clone(), clients);
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
        let registry = ResourceRegistry::new(resources, default_resource).map_err(ConfigError)?;
        let origins = &self.origins;
        origins.in_range(
            "tokens.access_token_ttl",
            self.tokens.access_token_ttl,
            1,
            3600,
        )?;
        origins.in_range("tokens.code_ttl", self.tokens.code_ttl, 1, 600)?;
        origins.in_range(
            "tokens.refresh_idle_ttl",
            self.tokens.refresh_idle_ttl,
            1,
            self.tokens.refresh_absolute_ttl,
        )?;
        let mut settings = ServerSettings::new(issuer, registry);
        settings.access_token_ttl = self.tokens.access_token_ttl;
        settings.code_ttl = self.tokens.code_ttl;
        settings.refresh_idle_ttl = self.tokens.refresh_idle_ttl;
        settings.refresh_absolute_ttl = self.tokens.refresh_absolute_ttl;
        settings.refresh_without_offline_access = self.tokens.refresh_without_offline_access;
        settings.session_ttl = self.tokens.session_ttl;
        settings.client_cache_ttl = self.tokens.client_cache_ttl;
        settings.registration = RegistrationSettings {
            enabled: self.registration.enabled,
            max_per_source_per_hour: self.registration.max_per_source_per_hour,
        };
        settings.dangerous_dev_mode = self.dev;
        settings.openid_connect = self.openid_connect;
        settings.client_auth_failures_per_minute = self.client_auth.max_failures_per_minute;
        settings.client_auth_backstop = crate::limits::ClientAuthBackstop {
            failures_per_minute: self.client_auth.backstop_failures_per_minute,
            delay_ms: self.client_auth.backstop_delay_ms,
        };
        settings.signin = self.signin.clone();
        settings.connect_pages = self.connect_pages.clone();
        settings.trusted_proxies =
            crate::limits::parse_trusted_proxies(&self.trusted_proxies).map_err(ConfigError)?;
        settings.http = self.http.into();
        settings.introspection_clients = introspection_clients;
        settings.server_clients = server_clients;
        settings.ui = self.ui_settings()?;
        self.check_connections()?;
        settings.validate().map_err(ConfigError)?;
        Ok(settings)
    }
}

impl Config {
    /// The vault keyring of `[vault]`: the current key first, then `old_keys`; `None` when no
    /// key is configured.
    ///
    /// # Errors
    /// A key that is not base64 of 32 bytes, a bad or repeated key id (the message names the
    /// setting, never the key).
    pub fn vault_keyring(&self) -> Result<Option<mcp_auth_core::vault::VaultKeyring>, ConfigError> {
        let Some(key) = &self.vault.key else {
            if !self.vault.old_keys.is_empty() {
                return Err(ConfigError("vault.old_keys given without vault.key".into()));
            }
            return Ok(None);
        };
        let mut keys: Vec<(&str, &Secret)> = vec![(self.vault.key_id.as_str(), key)];
        keys.extend(self.vault.old_keys.iter().map(|(id, k)| (id.as_str(), k)));
        mcp_auth_core::vault::VaultKeyring::new(&keys)
            .map(Some)
            .map_err(|e| ConfigError(format!("vault: {e}")))
    }

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
        let mut configured: Vec<ResourceUri> = Vec::new();
        for r in &self.resources {
            if let Ok(uri) = r.resource.parse::<ResourceUri>() {
                configured.push(uri);
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.connections {
            let name = &c.name;
            if !crate::connections::is_valid_name(name) {
                return Err(ConfigError(format!(
                    "connection name {name:?} must be 1 to 32 of a-z, 0-9, _ and -"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(ConfigError(format!(
                    "connection {name} is configured twice"
                )));
            }
            let bad = |what: String| ConfigError(format!("connection {name}: {what}"));
            if c.display_name.trim().is_empty() || c.display_name.chars().count() > 100 {
                return Err(bad("display_name must be 1 to 100 characters".into()));
            }
            if c.resources.is_empty() {
                return Err(bad(
                    "resources must name at least one [[resources]] entry".into()
                ));
            }
            if let Some(unknown) = c.scope_descriptions.keys().find(|k| !c.scopes.contains(k)) {
                return Err(bad(format!(
                    "scope_descriptions describes {unknown:?}, which is not one of its scopes"
                )));
            }
            crate::web::ui::check_descriptions(&c.scope_descriptions)
                .map_err(|e| bad(e.to_string()))?;
            for r in &c.resources {
                let uri: ResourceUri = r
                    .parse()
                    .map_err(|e: mcp_auth_core::ParseError| bad(format!("resource {r}: {e}")))?;
                let Some(entry) = self
                    .resources
                    .iter()
                    .zip(configured.iter())
                    .find(|(_, u)| **u == uri)
                    .map(|(e, _)| e)
                else {
                    return Err(bad(format!(
                        "resource {r} is not a configured [[resources]] entry"
                    )));
                };
                if entry.server_clients.is_empty() {
                    return Err(bad(format!(
                        "resource {r} has no server_clients: list the client id of its MCP server"
                    )));
                }
            }
            let url = |field: &str, value: &str| -> Result<url::Url, ConfigError> {
                crate::connections::check_third_party_url(
                    value,
                    c.allow_insecure_http,
                    c.allow_insecure_private_addresses,
                )
                .map_err(|e| bad(format!("{field}: {e}")))
            };
            if let Some(r) = &c.resource_indicator {
                let u = url::Url::parse(r).map_err(|e| bad(format!("resource_indicator: {e}")))?;
                if u.fragment().is_some() {
                    return Err(bad("resource_indicator must not have a fragment".into()));
                }
            }
            match c.kind {
                crate::connections::ConnectionKind::ApiKey => {
                    if c.issuer.is_some()
                        || c.authorization_endpoint.is_some()
                        || c.token_endpoint.is_some()
                        || c.revocation_endpoint.is_some()
                        || c.client_id.is_some()
                        || c.client_secret.is_some()
                        || !c.scopes.is_empty()
                        || c.resource_indicator.is_some()
                    {
                        return Err(bad(
                            "an api_key connection takes no issuer, endpoints, client_id, client_secret, scopes or resource_indicator".into(),
                        ));
                    }
                }
                crate::connections::ConnectionKind::OAuth => {
                    if c.client_id.as_deref().is_none_or(|s| s.trim().is_empty()) {
                        return Err(bad("client_id is required".into()));
                    }
                    if c.client_secret
                        .as_ref()
                        .is_none_or(|s| s.expose().is_empty())
                    {
                        return Err(bad("client_secret is required".into()));
                    }
                    if let Some(i) = &c.issuer {
                        let u = url("issuer", i)?;
                        if u.query().is_some() {
                            return Err(bad("issuer must not have a query".into()));
                        }
                    }
                    match (&c.authorization_endpoint, &c.token_endpoint) {
                        (Some(a), Some(t)) => {
                            url("authorization_endpoint", a)?;
                            url("token_endpoint", t)?;
                        }
                        (None, None) if c.issuer.is_some() => {}
                        _ => {
                            return Err(bad(
                                "give issuer (for discovery) or both authorization_endpoint and token_endpoint".into(),
                            ));
                        }
                    }
                    if let Some(r) = &c.revocation_endpoint {
                        url("revocation_endpoint", r)?;
                    }
                    for s in &c.scopes {
                        if s.is_empty()
                            || !s
                                .bytes()
                                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                        {
                            return Err(bad(format!("scope {s:?} is not a valid scope token")));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The pages' branding and scope descriptions (`[ui]`, `[scopes]`, each resource's
    /// `scope_descriptions`), checked; the logo file is read here.
    ///
    /// # Errors
    /// A URL or unusable file as `ui.logo_path`, a malformed `ui.primary_color`, a missing
    /// `ui.templates_dir`, an empty product name or scope description.
    pub fn ui_settings(&self) -> Result<crate::web::ui::UiSettings, ConfigError> {
        let mut descriptions = crate::web::ui::ScopeDescriptions::new(self.scopes.clone())
            .map_err(|e| ConfigError(e.to_string()))?;
        for r in &self.resources {
            descriptions = descriptions
                .with_resource(&r.resource, r.scope_descriptions.clone())
                .map_err(|e| ConfigError(format!("resource {}: {e}", r.resource)))?;
        }
        self.ui
            .settings(descriptions)
            .map_err(|e| ConfigError(e.to_string()))
    }
}

/// Where the values of a loaded [`Config`] came from: the file, an `MCP_AUTH_*` variable or a
/// default. Messages name the key and its origin (`tokens.code_ttl = 900 in auth.toml: …`).
#[derive(Clone, Default)]
pub struct Origins(Option<Figment>);

impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Origins")
    }
}

impl Origins {
    /// Where `key` (dotted, `tokens.code_ttl`) was set: ` in FILE`, ` (from MCP_AUTH_…)`, or
    /// empty for a default or a configuration not made by [`Config::load`].
    pub fn of(&self, key: &str) -> String {
        let Some(metadata) = self.0.as_ref().and_then(|f| f.find_metadata(key)) else {
            return String::new();
        };
        match &metadata.source {
            Some(figment::Source::File(file)) => format!(" in {}", file.display()),
            Some(figment::Source::Code(_)) => String::new(),
            _ => format!(" (from MCP_AUTH_{})", key.to_uppercase().replace('.', "__")),
        }
    }

    /// `value` of `key` is between `min` and `max` seconds, or an error naming the key, the
    /// value and where it was set.
    fn in_range(&self, key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
        if (min..=max).contains(&value) {
            return Ok(());
        }
        Err(ConfigError(format!(
            "{key} = {value}{}: must be between {min} and {max} seconds",
            self.of(key)
        )))
    }
}

/// A figment error as this server words it: each problem as `key in FILE: what`, without
/// figment's profile prefix, and an unknown key with the closest known one ("did you mean").
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                Some(figment::Source::File(file)) => format!(" in {}", file.display()),
                _ => String::new(),
            };
            let what = match &e.kind {
                figment::error::Kind::UnknownField(field, known) => {
                    let closest = known
                        .iter()
                        .map(|k| (strsim::jaro_winkler(field, k), *k))
                        .filter(|(score, _)| *score >= 0.85)
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    match closest {
                        Some((_, k)) => format!("unknown key; did you mean `{k}`?"),
                        None => format!("unknown key (known here: {})", known.join(", ")),
                    }
                }
                other => other.to_string(),
            };
            if key.is_empty() {
                format!("{what}{origin}")
            } else {
                format!("{key}{origin}: {what}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

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

/// The key of the `MCP_AUTH_*` variable an unknown-field error of `error` comes from (lower
/// case, `__` between levels, as [`Config::figment`] filters it), or `None` when the error is
/// anything else (an unknown key in the file stays an error).
fn unknown_environment_key(error: &figment::Error) -> Option<String> {
    let figment::error::Kind::UnknownField(field, _) = &error.kind else {
        return None;
    };
    let from_environment = error
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    if !from_environment {
        return None;
    }
    // The path starts with the profile (`default`), which is no part of the variable's name.
    let mut parts: Vec<&str> = error
        .path
        .iter()
        .map(String::as_str)
        .skip_while(|p| *p == "default")
        .collect();
    if parts.last() != Some(&field.as_str()) {
        parts.push(field);
    }
    Some(parts.join("__"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_make_a_loopback_issuer() {
        let c = Config::default();
        let issuer = c.issuer(c.bind).unwrap();
        assert_eq!(issuer.as_str(), "http://127.0.0.1:9000");
        let s = c.settings(issuer).unwrap();
        assert_eq!(s.resources.all().len(), 1);
    }

    /// Issue #9 §5: one table of defaults. The settings an empty configuration file gives are
    /// exactly the engine's own defaults.
    #[test]
    fn configuration_defaults_are_the_engine_defaults() {
        let c = Config::default();
        let issuer = c.issuer(c.bind).unwrap();
        let from_config = c.settings(issuer.clone()).unwrap();
        let engine = ServerSettings::new(issuer, from_config.resources.clone());
        assert_eq!(from_config.access_token_ttl, engine.access_token_ttl);
        assert_eq!(from_config.code_ttl, engine.code_ttl);
        assert_eq!(from_config.refresh_idle_ttl, engine.refresh_idle_ttl);
        assert_eq!(
            from_config.refresh_absolute_ttl,
            engine.refresh_absolute_ttl
        );
        assert_eq!(
            from_config.refresh_without_offline_access,
            engine.refresh_without_offline_access
        );
        assert_eq!(from_config.session_ttl, engine.session_ttl);
        assert_eq!(from_config.client_cache_ttl, engine.client_cache_ttl);
        assert_eq!(from_config.client_cache_ttl, 1);
        assert_eq!(from_config.registration, engine.registration);
        assert_eq!(
            from_config.client_auth_failures_per_minute,
            engine.client_auth_failures_per_minute
        );
        assert_eq!(
            from_config.client_auth_backstop,
            engine.client_auth_backstop
        );
        assert_eq!(from_config.signin, engine.signin);
        assert_eq!(from_config.connect_pages, engine.connect_pages);
        assert_eq!(from_config.http, engine.http);
        assert_eq!(from_config.trusted_proxies, engine.trusted_proxies);
        assert_eq!(from_config.dangerous_dev_mode, engine.dangerous_dev_mode);
    }

    #[test]
    fn plain_http_issuer_off_loopback_is_refused() {
        let c = Config {
            issuer: Some("http://auth.example.com".into()),
            ..Config::default()
        };
        assert!(c.issuer(c.bind).is_err());
    }

    #[test]
    fn file_then_environment_override() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "issuer = \"https://auth.example.com\"\n[tokens]\naccess_token_ttl = 600\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.issuer.as_deref(), Some("https://auth.example.com"));
        assert_eq!(c.tokens.access_token_ttl, 600);
        assert_eq!(c.tokens.code_ttl, 120);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue #8 items 2, 3, 6: the new settings are read from the file.
    #[test]
    fn limits_and_trusted_proxies_are_read_from_the_file() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-l-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n[signin]\nmax_failures_per_user = 4\nhash_threads = 1\n[http]\nheader_read_timeout = 3\n[client_auth]\nbackstop_delay_ms = 10\n[connect_pages]\nmax_hits_per_source_per_minute = 7\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let s = c.settings(c.issuer(c.bind).unwrap()).unwrap();
        assert_eq!(
            s.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.0.2.1/32"]
        );
        assert_eq!(s.signin.max_failures_per_user, 4);
        assert_eq!(s.signin.hash_threads, 1);
        assert_eq!(s.signin.window_secs, 300);
        assert_eq!(
            s.http.header_read_timeout,
            std::time::Duration::from_secs(3)
        );
        assert_eq!(s.http.body_read_timeout, std::time::Duration::from_secs(30));
        assert_eq!(s.client_auth_backstop.delay_ms, 10);
        assert_eq!(s.connect_pages.max_hits_per_source_per_minute, 7);
        std::fs::write(&path, "trusted_proxies = [\"example.com\"]\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert!(c.settings(c.issuer(c.bind).unwrap()).is_err());
        std::fs::write(
            &path,
            "[connect_pages]\nmax_hits_per_source_per_minute = 0\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert!(c.settings(c.issuer(c.bind).unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue #9: `[extensions.<name>]` sections are read from the file and overridden by
    /// `MCP_AUTH_EXTENSIONS__<NAME>__<KEY>`; `client_credentials = true` is a shorthand.
    #[test]
    fn extension_sections_come_from_the_file_and_the_shorthand() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-x-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[extensions.client_credentials]\nenabled = false\nrequire_resource = true\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let sections = c.extension_sections().unwrap();
        assert_eq!(sections.len(), 2);
        // `[cimd]`, here its defaults, is the alias of `[extensions.cimd]`.
        assert_eq!(sections[0].name(), "cimd");
        assert!(sections[0].enabled());
        assert_eq!(sections[1].name(), "client_credentials");
        assert!(!sections[1].enabled());
        assert_eq!(sections[1].value()["require_resource"], true);
        let shorthand = Config {
            client_credentials: true,
            ..c
        };
        let sections = shorthand.extension_sections().unwrap();
        assert!(sections[1].enabled());
        assert_eq!(sections[1].value()["require_resource"], true);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `[cimd]` is an alias of `[extensions.cimd]`: either one configures CIMD, both is an
    /// error.
    #[test]
    fn cimd_alias_and_extensions_cimd_are_one_section() {
        let mut only_extensions = Config::default();
        only_extensions.extensions.insert(
            "cimd".into(),
            serde_json::json!({"enabled": true, "trusted_hosts": ["app.example.com"]}),
        );
        let sections = only_extensions.extension_sections().unwrap();
        assert_eq!(sections[0].value()["trusted_hosts"][0], "app.example.com");
        let mut both = only_extensions.clone();
        both.cimd.trusted_hosts = vec!["other.example.com".into()];
        let err = both.extension_sections().unwrap_err();
        assert!(err.to_string().contains("alias"), "{err}");
        let mut alias = Config::default();
        alias.cimd.enabled = false;
        let sections = alias.extension_sections().unwrap();
        assert_eq!(sections[0].name(), "cimd");
        assert!(!sections[0].enabled());
    }

    /// Issue 14: `[ui]`, `[scopes]` and a resource's `scope_descriptions` are read from the
    /// file; the resource's description wins.
    #[test]
    fn ui_and_scope_descriptions_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let logo = dir.path().join("logo.png");
        std::fs::write(&logo, b"\x89PNG\r\n\x1a\n....").unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[[resources]]\nresource = \"https://mcp.example.com/mcp\"\nscopes = [\"files:write\", \"files:read\"]\nscope_descriptions = {{ \"files:write\" = \"Create, change and delete your files\" }}\n[scopes]\n\"files:read\" = \"Read your files\"\n\"files:write\" = \"Write\"\n[ui]\nproduct_name = \"Acme\"\nprimary_color = \"#0B6E4F\"\nlogo_path = {:?}\n",
                logo.display().to_string()
            ),
        )
        .unwrap();
        let c = Config {
            default_resource: None,
            ..Config::load(Some(&path)).unwrap()
        };
        let s = c.settings(c.issuer(c.bind).unwrap()).unwrap();
        let d = &s.ui.scope_descriptions;
        let r = "https://mcp.example.com/mcp";
        assert_eq!(
            d.describe(r, "files:write"),
            Some("Create, change and delete your files")
        );
        assert_eq!(d.describe(r, "files:read"), Some("Read your files"));
        assert_eq!(d.describe(r, "mcp:basic"), None);
        assert_eq!(s.ui.product_name, "Acme");
        assert_eq!(s.ui.primary_color.as_ref().unwrap().as_str(), "#0b6e4f");
        assert_eq!(s.ui.logo.as_ref().unwrap().content_type(), "image/png");
    }

    /// Issue 14: a remote logo or a colour that is not `#rgb`/`#rrggbb` stops the start.
    #[test]
    fn remote_logo_and_bad_colour_are_startup_errors() {
        let remote = Config {
            ui: UiConfig {
                logo_path: Some("https://cdn.example.com/logo.png".into()),
                ..UiConfig::default()
            },
            ..Config::default()
        };
        let e = remote.settings(remote.issuer(remote.bind).unwrap());
        assert!(e.unwrap_err().to_string().contains("ui.logo_path"));
        let colour = Config {
            ui: UiConfig {
                primary_color: Some("red; background: url(x)".into()),
                ..UiConfig::default()
            },
            ..Config::default()
        };
        let e = colour.settings(colour.issuer(colour.bind).unwrap());
        assert!(e.unwrap_err().to_string().contains("ui.primary_color"));
    }

    #[test]
    fn unknown_key_is_an_error() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-u-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "isuer = \"typo\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 14: `log_format`, `[metrics]` and `shutdown_grace_period` are read from the file;
    /// metrics are off and the grace period is 30 s by default.
    #[test]
    fn operations_settings_are_read_from_the_file() {
        let d = Config::default();
        assert_eq!(d.log_format, LogFormat::Text);
        assert_eq!(d.metrics.bind, None);
        assert!(!d.metrics.client_id_labels);
        assert_eq!(d.metrics.max_connections, 16);
        assert_eq!(d.shutdown_grace_period, 30);
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-ops-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "log_format = \"json\"\nshutdown_grace_period = 5\n[metrics]\nbind = \"127.0.0.1:9464\"\nclient_id_labels = true\nmax_connections = 4\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.shutdown_grace_period, 5);
        assert_eq!(c.metrics.bind, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(c.metrics.client_id_labels);
        assert_eq!(c.metrics.max_connections, 4);
        std::fs::write(&path, "log_format = \"xml\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
