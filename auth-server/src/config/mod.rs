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
//!
//! Each subsystem's section lives in its own module with its checks: [`tokens`], [`resources`],
//! [`clients`] (registration and client authentication), [`cimd`], [`database`], [`vault`],
//! [`connections`], [`branding`] (`[ui]`, `[scopes]`), [`operations`] (logs, metrics,
//! shutdown), [`extensions`]; [`errors`] words the problems. Every type is re-exported here.

pub mod branding;
pub mod cimd;
pub mod clients;
pub mod connections;
pub mod database;
pub mod dpop;
pub mod errors;
pub mod extensions;
pub mod operations;
pub mod resources;
pub mod tokens;
pub mod upstream;
pub mod vault;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use mcp_auth_core::{Issuer, Secret};
use serde::{Deserialize, Serialize};

pub use branding::UiConfig;
pub use cimd::CimdConfig;
pub use clients::{ClientAuthConfig, RegistrationConfig};
pub use connections::{ConnectionConfig, ConnectionKind};
pub use database::{DEFAULT_POOL_SIZE, Database, DatabaseConfig};
pub use dpop::DpopConfig;
pub use errors::{ConfigError, Origins};
pub use extensions::CLIENT_CREDENTIALS_SECTION;
pub use operations::{DEFAULT_SHUTDOWN_GRACE_PERIOD, LogFormat, MetricsConfig};
pub use resources::{DEFAULT_RESOURCE, ResourceConfig};
pub use tokens::TokenConfig;
pub use upstream::{
    GITHUB_API_URL, GITHUB_URL, UpstreamClientAuth, UpstreamIdpConfig, UpstreamKind,
};
pub use vault::{DEFAULT_VAULT_KEY_ID, VaultConfig};

use crate::settings::ServerSettings;
use errors::{describe_figment_error, unknown_environment_key};
use resources::default_resources;

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
    /// Client ID Metadata Documents (SEP-991).
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
    /// The audit trail (`[audit]`): JSON lines and retention.
    pub audit: operations::AuditConfig,
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
    /// Upstream identity providers users sign in through (`[[upstream_idps]]`, issue 23).
    pub upstream_idps: Vec<UpstreamIdpConfig>,
    /// DPoP-bound access tokens (`[dpop]`, RFC 9449); off by default.
    pub dpop: DpopConfig,
    /// Where each value came from (the file, a variable, a default), for messages. Set by
    /// [`Config::load`]; not a setting.
    #[serde(skip)]
    pub origins: Origins,
}

/// Default of [`Config::key_reload_interval`], seconds.
pub const DEFAULT_KEY_RELOAD_INTERVAL: u64 = 60;

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
            audit,
            shutdown_grace_period,
            ui,
            scopes,
            vault,
            connections,
            upstream_idps,
            dpop,
            origins: _,
        } = self;
        f.debug_struct("Config")
            .field("issuer", issuer)
            .field("bind", bind)
            .field("database", &Database::from_config_value(database))
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
            .field("audit", audit)
            .field("shutdown_grace_period", shutdown_grace_period)
            .field("ui", ui)
            .field("scopes", scopes)
            .field("vault", vault)
            .field("connections", connections)
            .field("upstream_idps", upstream_idps)
            .field("dpop", dpop)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 9000)),
            database: PathBuf::from("mcp-auth.db"),
            database_pool_size: DEFAULT_POOL_SIZE,
            key_reload_interval: DEFAULT_KEY_RELOAD_INTERVAL,
            dev: false,
            session_secret: None,
            default_resource: Some(DEFAULT_RESOURCE.into()),
            resources: default_resources(),
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
            audit: operations::AuditConfig::default(),
            shutdown_grace_period: DEFAULT_SHUTDOWN_GRACE_PERIOD,
            ui: UiConfig::default(),
            scopes: BTreeMap::new(),
            vault: VaultConfig::default(),
            connections: Vec::new(),
            upstream_idps: Vec::new(),
            dpop: DpopConfig::default(),
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
                    config.origins = Origins::loaded(figment);
                    config.apply_upstream_secret_variables();
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
        if !Database::from_config_value(&self.database).is_shared() {
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
                // MCP_AUTH_UPSTREAM_IDPS_<NAME>_CLIENT_SECRET is read by
                // `apply_upstream_secret_variables`.
                .filter(move |key| {
                    key != "log"
                        && key != "config"
                        && !key.as_str().starts_with("upstream_idps_")
                        && !ignored.iter().any(|i| key == i.as_str())
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

    /// The engine settings for `issuer`.
    ///
    /// # Errors
    /// A malformed resource or scope, a default resource that is not configured, a lifetime out
    /// of range, a malformed trusted proxy, unusable branding, a bad `[vault]` or
    /// `[[connections]]` entry.
    pub fn settings(&self, issuer: Issuer) -> Result<ServerSettings, ConfigError> {
        let resources = self.resource_settings()?;
        self.tokens.check(&self.origins)?;
        let mut settings = ServerSettings::new(issuer, resources.registry);
        self.tokens.apply(&mut settings);
        settings.registration = self.registration.settings();
        settings.dangerous_dev_mode = self.dev;
        settings.openid_connect = self.openid_connect;
        self.client_auth.apply(&mut settings);
        settings.signin = self.signin.clone();
        settings.connect_pages = self.connect_pages.clone();
        self.origins.in_range(
            "audit.keep_days",
            u64::from(self.audit.keep_days),
            1,
            100_000,
        )?;
        settings.audit_keep_days = self.audit.keep_days;
        settings.trusted_proxies = crate::limits::parse_trusted_proxies(&self.trusted_proxies)
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.http = self.http.into();
        settings.introspection_clients = resources.introspection_clients;
        settings.server_clients = resources.server_clients;
        settings.exchange_targets = resources.exchange_targets;
        settings.ui = self.ui_settings()?;
        settings.dpop = self
            .dpop
            .settings(self.session_secret.as_ref(), &self.origins)?;
        self.check_connections()?;
        self.check_upstream_idps()?;
        settings
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(settings)
    }
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
        let (a, b) = (&from_config.dpop, &engine.dpop);
        assert_eq!(
            (a.enabled, &a.algorithms, a.iat_window),
            (b.enabled, &b.algorithms, b.iat_window)
        );
        assert_eq!(
            (a.require_nonce, a.nonce_lifetime),
            (b.require_nonce, b.nonce_lifetime)
        );
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
}
