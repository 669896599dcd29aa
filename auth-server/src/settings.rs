//! Engine settings: lifetimes, registration policy, profile. Built from configuration by the
//! binary, or directly by embedders.

use std::collections::BTreeMap;

use mcp_auth_core::protected_resource::ResourceRegistry;
use mcp_auth_core::{ClientId, Issuer, ResourceUri};

/// The one table of defaults: [`ServerSettings::new`] and the configuration file
/// (`crate::config`) both read them, so an embedder and the binary start from the same values.
/// (The sign-in, client-authentication backstop and HTTP timeout defaults are the `Default`s of
/// the [`crate::limits`] types, which both use as well.)
pub mod defaults {
    /// `tokens.access_token_ttl`: access token lifetime, seconds (spec AS-18 caps it at 3600).
    pub const ACCESS_TOKEN_TTL: u64 = 900;
    /// `tokens.code_ttl`: authorization code lifetime, seconds (OAuth 2.1 §4.1.2: at most 600).
    pub const CODE_TTL: u64 = 120;
    /// `tokens.refresh_idle_ttl` (or `refresh_token_idle_lifetime`): refresh token idle
    /// lifetime, seconds (30 days): a hosted connector that refreshes at least monthly stays
    /// connected for the absolute lifetime.
    pub const REFRESH_IDLE_TTL: u64 = 30 * 24 * 3600;
    /// `tokens.refresh_absolute_ttl`: refresh token family lifetime, seconds (90 days).
    pub const REFRESH_ABSOLUTE_TTL: u64 = 90 * 24 * 3600;
    /// `tokens.refresh_without_offline_access`: an authorization code redeemed by a client that
    /// may use the `refresh_token` grant starts a refresh token family even when the request did
    /// not ask for `offline_access` (SEP-2207 leaves the policy to the server; clients of the
    /// 2025-11-25 revision never ask).
    pub const REFRESH_WITHOUT_OFFLINE_ACCESS: bool = true;
    /// `tokens.session_ttl`: sign-in session lifetime, seconds (12 hours).
    pub const SESSION_TTL: u64 = 12 * 3600;
    /// `tokens.client_cache_ttl`: seconds a client record stays cached in memory (0 = off).
    pub const CLIENT_CACHE_TTL: u64 = 1;
    /// `registration.enabled`: serve `/register` (RFC 7591).
    pub const REGISTRATION_ENABLED: bool = true;
    /// `registration.max_per_source_per_hour`: registrations per source address per hour.
    pub const REGISTRATIONS_PER_SOURCE_PER_HOUR: u32 = 20;
    /// `registration.unused_ttl`: seconds after which a dynamically registered client that
    /// never received a token is deleted (7 days).
    pub const REGISTRATION_UNUSED_TTL: u64 = 7 * 24 * 3600;
    /// `client_auth.max_failures_per_minute`: failed client authentications per (client id,
    /// source address) pair per minute (spec CC-14).
    pub const CLIENT_AUTH_FAILURES_PER_MINUTE: u32 = 20;
    /// `client_auth.max_token_requests_per_client_per_minute`: token requests per client each
    /// minute (0 = no limit).
    pub const TOKEN_REQUESTS_PER_CLIENT_PER_MINUTE: u32 = 0;
}

/// Dynamic client registration (RFC 7591) policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// Serve `/register` and advertise `registration_endpoint`.
    pub enabled: bool,
    /// Most registrations accepted from one source address per hour. An identical
    /// re-registration of a public client gets the existing client back and is not counted.
    pub max_per_source_per_hour: u32,
    /// Seconds after its registration when a dynamically registered client that never received
    /// a token, and holds no refresh token, is deleted by the background purge (0 = never).
    pub unused_ttl: u64,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            enabled: defaults::REGISTRATION_ENABLED,
            max_per_source_per_hour: defaults::REGISTRATIONS_PER_SOURCE_PER_HOUR,
            unused_ttl: defaults::REGISTRATION_UNUSED_TTL,
        }
    }
}

/// Everything the engine needs to know that is not a store or a plug-in.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The issuer identifier (RFC 8414 §2), used byte for byte everywhere.
    pub issuer: Issuer,
    /// Protected resources (RFC 8707) and the optional default resource.
    pub resources: ResourceRegistry,
    /// Access token lifetime, seconds (default 900; spec AS-18 caps it at 3600).
    pub access_token_ttl: u64,
    /// Authorization code lifetime, seconds (default 120; at most 600, OAuth 2.1 §4.1.2).
    pub code_ttl: u64,
    /// Refresh token idle lifetime, seconds (default 30 days), renewed by each rotation.
    pub refresh_idle_ttl: u64,
    /// Refresh token family absolute lifetime, seconds (default 90 days).
    pub refresh_absolute_ttl: u64,
    /// Whether an authorization code whose request did not ask for `offline_access` still gets a
    /// refresh token (default true; SEP-2207). A client without the `refresh_token` grant never
    /// gets one either way.
    pub refresh_without_offline_access: bool,
    /// Login session lifetime, seconds (default 12 hours).
    pub session_ttl: u64,
    /// How long a registered client's record is cached in memory, seconds (default 1; 0 = off).
    /// A change made by another process (the admin commands) is seen at most this much later.
    pub client_cache_ttl: u64,
    /// Dynamic registration policy.
    pub registration: RegistrationSettings,
    /// Failed client authentications allowed per (client id, source address) pair each minute;
    /// past it the token, introspection and revocation endpoints answer that pair `429`
    /// `invalid_request` with `Retry-After` until the minute ends, without checking its
    /// credentials (spec CC-14, SEC-06; issue #8 item 3). Default 20.
    pub client_auth_failures_per_minute: u32,
    /// The global backstop on failed client authentications: slows, never refuses.
    pub client_auth_backstop: crate::limits::ClientAuthBackstop,
    /// Token requests allowed per authenticated client each minute, counted by each node
    /// ([`crate::rate_limit::token_client`]); past it the client gets `429` until the minute
    /// ends, while other clients behind the same address go on. 0 (the default) = no limit.
    pub token_requests_per_client_per_minute: u32,
    /// Days audit events are kept before the background purge deletes them (default 400).
    pub audit_keep_days: u32,
    /// Sign-in limits and password hashing bounds.
    pub signin: crate::limits::SignInSettings,
    /// Hits of the connect pages allowed per source address (ELIC-18).
    pub connect_pages: crate::limits::ConnectPageLimits,
    /// Proxies whose forwarding headers (`X-Forwarded-For`, `Forwarded`, `X-Forwarded-Proto`)
    /// are believed, as networks (`10.0.0.0/8`; one address is a `/32` or `/128`). Empty (the
    /// default): a request's source address is the socket peer, and forwarding headers never
    /// vouch for anything. See [`crate::http::source`].
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Request read timeouts.
    pub http: crate::limits::HttpLimits,
    /// Development profile: the fixed development user is signed in automatically and consent is
    /// approved without a prompt. Refused on a non-loopback issuer.
    pub dangerous_dev_mode: bool,
    /// OpenID Connect sign-in: ID tokens for requests with the `openid` scope (OIDC Core
    /// §3.1). Extensions may also turn it on ([`mcp_auth_core::ext::Registry::enable_openid_connect`]).
    /// Default false.
    pub openid_connect: bool,
    /// The clients of each resource's server (RFC 7662 §4): `introspection_clients[R]` may
    /// introspect access tokens whose `aud` is `R`. Any other caller reads `{"active":false}`
    /// for a token not issued to it. Every key must be a configured resource. Default: empty.
    pub introspection_clients: BTreeMap<ResourceUri, Vec<ClientId>>,
    /// The clients acting as each resource's MCP server at `POST /connect/token` (issue 11):
    /// `server_clients[R]` may exchange access tokens whose `aud` is `R` for the users'
    /// third-party credentials. Every key must be a configured resource. Default: empty.
    pub server_clients: BTreeMap<ResourceUri, Vec<ClientId>>,
    /// On-behalf-of token exchange (RFC 8693 §2.1 with `act`): `exchange_targets[R]` are the
    /// resources for which a `server_clients[R]` entry may exchange its users' access tokens
    /// for `R` (`[[resources]] may_exchange_to`). Every key and value must be a configured
    /// resource, and every key must have `server_clients`. Default: empty (no on-behalf-of).
    pub exchange_targets: BTreeMap<ResourceUri, Vec<ResourceUri>>,
    /// Branding of the pages and descriptions of scopes (`[ui]`, `[scopes]`); default: the
    /// shipped look, product name `mcp-auth`, no descriptions.
    pub ui: crate::web::ui::UiSettings,
    /// DPoP-bound access tokens (RFC 9449, `[dpop]`); off by default.
    pub dpop: DpopSettings,
}

/// DPoP at the token endpoint (RFC 9449, `[dpop]`).
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// Accept `DPoP` proofs, issue DPoP-bound tokens and advertise
    /// `dpop_signing_alg_values_supported` (default false). Off, the `DPoP` header is ignored
    /// and a client registered with `dpop_bound_access_tokens` gets no token.
    pub enabled: bool,
    /// The proof algorithms accepted and advertised (asymmetric only; default every one
    /// [`mcp_auth_core::jose::AllowedAlgorithms::ASYMMETRIC`] names).
    pub algorithms: mcp_auth_core::jose::AllowedAlgorithms,
    /// A proof's `iat` may be at most this many seconds before or after now (default 300).
    pub iat_window: u64,
    /// Demand a server nonce in every proof (RFC 9449 §8; default false).
    pub require_nonce: bool,
    /// How long a nonce is accepted, seconds (default 300); keys rotate at the same pace.
    pub nonce_lifetime: u64,
    /// The secret nonce keys are derived from (at least 32 bytes), the same on every node so
    /// that each accepts the others' nonces. `None`: a random secret per process (one node).
    pub nonce_secret: Option<mcp_auth_core::Secret>,
}

impl Default for DpopSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithms: mcp_auth_core::jose::dpop::ProofVerifier::default_algorithms(),
            iat_window: mcp_auth_core::jose::dpop::DEFAULT_IAT_WINDOW,
            require_nonce: false,
            nonce_lifetime: mcp_auth_core::jose::dpop::DEFAULT_IAT_WINDOW,
            nonce_secret: None,
        }
    }
}

impl ServerSettings {
    /// Settings with the defaults for `issuer` and `resources`.
    pub fn new(issuer: Issuer, resources: ResourceRegistry) -> Self {
        Self {
            issuer,
            resources,
            access_token_ttl: defaults::ACCESS_TOKEN_TTL,
            code_ttl: defaults::CODE_TTL,
            refresh_idle_ttl: defaults::REFRESH_IDLE_TTL,
            refresh_absolute_ttl: defaults::REFRESH_ABSOLUTE_TTL,
            refresh_without_offline_access: defaults::REFRESH_WITHOUT_OFFLINE_ACCESS,
            session_ttl: defaults::SESSION_TTL,
            client_cache_ttl: defaults::CLIENT_CACHE_TTL,
            registration: RegistrationSettings::default(),
            client_auth_failures_per_minute: defaults::CLIENT_AUTH_FAILURES_PER_MINUTE,
            client_auth_backstop: crate::limits::ClientAuthBackstop::default(),
            token_requests_per_client_per_minute: defaults::TOKEN_REQUESTS_PER_CLIENT_PER_MINUTE,
            audit_keep_days: crate::audit::DEFAULT_KEEP_DAYS,
            signin: crate::limits::SignInSettings::default(),
            connect_pages: crate::limits::ConnectPageLimits::default(),
            trusted_proxies: Vec::new(),
            http: crate::limits::HttpLimits::default(),
            dangerous_dev_mode: false,
            openid_connect: false,
            introspection_clients: BTreeMap::new(),
            server_clients: BTreeMap::new(),
            exchange_targets: BTreeMap::new(),
            ui: crate::web::ui::UiSettings::default(),
            dpop: DpopSettings::default(),
        }
    }

    /// Check the settings; the error names the offending setting.
    ///
    /// # Errors
    /// [`SettingsError`]: a lifetime or limit out of range, a per-resource setting naming a
    /// resource that is not configured, `may_exchange_to` without `server_clients`, or the
    /// development profile on a non-loopback issuer.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.access_token_ttl == 0 || self.access_token_ttl > 3600 {
            return Err(SettingsError::out_of_range(
                "access_token_ttl",
                "between 1 and 3600 seconds",
            ));
        }
        if self.code_ttl == 0 || self.code_ttl > 600 {
            return Err(SettingsError::out_of_range(
                "code_ttl",
                "between 1 and 600 seconds",
            ));
        }
        if self.refresh_idle_ttl == 0 || self.refresh_idle_ttl > self.refresh_absolute_ttl {
            return Err(SettingsError::out_of_range(
                "refresh_idle_ttl",
                "positive and at most refresh_absolute_ttl",
            ));
        }
        for r in self.resources.all() {
            if r.access_token_ttl.is_some_and(|t| t == 0 || t > 3600) {
                return Err(SettingsError::out_of_range(
                    format!("access_token_ttl of {}", r.resource),
                    "between 1 and 3600 seconds",
                ));
            }
        }
        for (setting, map) in [
            ("introspection_clients", &self.introspection_clients),
            ("server_clients", &self.server_clients),
        ] {
            if let Some(r) = map.keys().find(|r| self.resources.get(r).is_none()) {
                return Err(SettingsError::UnknownResource {
                    setting: setting.to_owned(),
                    resource: r.to_string(),
                });
            }
        }
        self.validate_exchange_targets()?;
        crate::limits::validate(
            &self.signin,
            self.client_auth_failures_per_minute,
            &self.client_auth_backstop,
            &self.http,
        )?;
        self.connect_pages.validate()?;
        if self.dangerous_dev_mode && !self.issuer.is_insecure_loopback() {
            let host = self.issuer.url().host_str().unwrap_or("");
            if !mcp_auth_core::types::is_loopback_host(host) {
                return Err(SettingsError::DevelopmentOffLoopback);
            }
        }
        Ok(())
    }

    /// `exchange_targets`: configured resources on both sides; a source with `server_clients`.
    fn validate_exchange_targets(&self) -> Result<(), SettingsError> {
        for (source, targets) in &self.exchange_targets {
            let unknown = std::iter::once(source).chain(targets);
            if let Some(r) = unknown
                .into_iter()
                .find(|r| self.resources.get(r).is_none())
            {
                return Err(SettingsError::UnknownResource {
                    setting: format!("may_exchange_to of {source}"),
                    resource: r.to_string(),
                });
            }
            if !self.server_clients.contains_key(source) {
                return Err(SettingsError::ExchangeWithoutServer(source.to_string()));
            }
        }
        Ok(())
    }

    /// The longest access token lifetime of any resource, seconds: how long a retired signing
    /// key stays published.
    pub fn max_access_token_ttl(&self) -> u64 {
        self.resources
            .all()
            .iter()
            .filter_map(|r| r.access_token_ttl)
            .fold(self.access_token_ttl, u64::max)
    }

    /// True when `client_id` is listed in `server_clients` of `resource` (an access token's
    /// `aud`), and so may ask `/connect/token` for the credentials of that token's user.
    pub fn is_server_client(&self, client_id: &ClientId, resource: &ResourceUri) -> bool {
        self.server_clients
            .get(resource)
            .is_some_and(|clients| clients.contains(client_id))
    }

    /// True when `client_id` is configured as a client of the server of `resource` (an access
    /// token's `aud`), and so may introspect that resource's tokens (RFC 7662 §4).
    pub fn is_introspection_client(&self, client_id: &ClientId, resource: &str) -> bool {
        self.introspection_clients
            .iter()
            .any(|(r, clients)| r.as_str() == resource && clients.contains(client_id))
    }
}

/// Why [`ServerSettings::validate`] refuses the settings; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A lifetime, limit or timeout outside its range.
    #[error("{setting} must be {rule}")]
    OutOfRange {
        /// The setting, e.g. `code_ttl` or `access_token_ttl of https://…`.
        setting: String,
        /// What it must be, e.g. `between 1 and 600 seconds`.
        rule: &'static str,
    },
    /// A per-resource setting names a resource that is not in `[[resources]]`.
    #[error("{setting} names {resource}, which is not a configured resource")]
    UnknownResource {
        /// The setting, e.g. `server_clients`.
        setting: String,
        /// The resource it names.
        resource: String,
    },
    /// A resource has `may_exchange_to` but no `server_clients` to exchange.
    #[error("{0} has may_exchange_to but no server_clients: list the client id of its MCP server")]
    ExchangeWithoutServer(String),
    /// A `trusted_proxies` entry that is neither an address nor a network.
    #[error("trusted_proxies: {0:?} is not an address or a network like 10.0.0.0/8")]
    TrustedProxy(String),
    /// The development profile on an issuer that is not loopback.
    #[error("the development profile is only allowed on a loopback issuer")]
    DevelopmentOffLoopback,
    /// The DPoP nonce key could not be made from `dpop.nonce_secret` (RFC 9449 §8).
    #[error("dpop nonces: {0}")]
    DpopNonceKey(#[from] mcp_auth_core::jose::dpop::NonceKeyError),
}

impl SettingsError {
    /// [`SettingsError::OutOfRange`].
    pub fn out_of_range(setting: impl Into<String>, rule: &'static str) -> Self {
        Self::OutOfRange {
            setting: setting.into(),
            rule,
        }
    }
}
