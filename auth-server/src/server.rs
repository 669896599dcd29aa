//! The authorization server engine and its builder.
//!
//! [`AuthorizationServer`] is cheap to clone (an `Arc`) and holds everything a request needs:
//! settings, stores, the extension registry, the token issuer, the scope policy, the clock and
//! the secret generator. Protocol logic lives in the `engine` and `grants` modules as methods and
//! handlers free of HTTP types; the `http` module is thin glue.

use std::sync::{Arc, RwLock};

use mcp_auth_core::ext::{
    ExtensionServices, LocalKeys, Registry, RegistryError, ScopePolicy, ServerExtension,
    StrictScopePolicy, TokenIssuer,
};
use mcp_auth_core::secret::OsSecretGenerator;
use mcp_auth_core::store::Stores;
use mcp_auth_core::{Clock, SecretGenerator, SystemClock};

use crate::client_auth::{
    ClientAuthThrottle, ClientJwksSource, ClientKeySource, ClientSecretAuthenticator,
    NoneAuthenticator, PrivateKeyJwtAuthenticator,
};
use crate::grants::{AuthorizationCodeGrant, RefreshTokenGrant};
use crate::keys::{JwtTokenIssuer, SigningKey};
use crate::rate_limit::{Limiter, SharedCounters};
use crate::resolver::StoreClientResolver;
use crate::settings::ServerSettings;

/// A wiring or start-up failure; the server refuses to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Settings out of range.
    #[error("invalid settings: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    /// An extension or core part was registered twice, or similar.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(String),
    /// The HTTP client for client key sets could not be created.
    #[error("HTTP client: {0}")]
    HttpClient(String),
    /// A store failed during start-up.
    #[error(transparent)]
    Store(#[from] mcp_auth_core::StoreError),
    /// The password hashing threads could not start.
    #[error("cannot start the password hashing threads: {0}")]
    Threads(String),
}

pub(crate) struct Inner {
    pub(crate) settings: ServerSettings,
    pub(crate) stores: Stores,
    pub(crate) registry: Registry,
    /// The current issuer; swapped by [`AuthorizationServer::reload_signing_keys`].
    pub(crate) token_issuer: Arc<RwLock<IssuerSlot>>,
    pub(crate) scope_policy: Arc<dyn ScopePolicy>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) secrets: Arc<dyn SecretGenerator>,
    pub(crate) registration_limiter: Limiter,
    /// Hits of the connect pages per source address (ELIC-18).
    pub(crate) connect_page_limiter: Limiter,
    pub(crate) auth_throttle: ClientAuthThrottle,
    /// Token requests per client (issue 25 §3).
    pub(crate) token_client_limit: crate::rate_limit::ClientTokenLimit,
    /// Where security events go (issue 25 §2).
    pub(crate) audit: Arc<dyn mcp_auth_core::ext::AuditSink>,
    /// Sign-in limits and the password hashing pool.
    pub(crate) sign_in: crate::engine::sign_in_guard::SignInGuard,
    /// Third-party connections, when configured (issue 11).
    pub(crate) connections: Option<Arc<crate::connections::Connections>>,
    /// Upstream identity providers users sign in through, when configured (issue 23).
    pub(crate) upstreams: Option<Arc<crate::upstream::Upstreams>>,
    /// The rate-limit counters shared by every node, when configured.
    pub(crate) shared_counters: Option<Arc<dyn SharedCounters>>,
    /// DPoP proof checks and nonces (RFC 9449), when `dpop.enabled`.
    pub(crate) dpop: Option<crate::engine::dpop::Dpop>,
    /// The metadata document clients this node knows are in the audit trail.
    pub(crate) cimd_seen: crate::engine::cimd_seen::SeenClients,
}

/// The OAuth 2.1 authorization server engine. Clone freely.
#[derive(Clone)]
pub struct AuthorizationServer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.settings.issuer)
            .field("registry", &self.inner.registry)
            .finish()
    }
}

impl AuthorizationServer {
    /// Start building a server with these settings and stores.
    pub fn builder(settings: ServerSettings, stores: Stores) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder {
            settings,
            stores,
            clock: Arc::new(SystemClock),
            secrets: Arc::new(OsSecretGenerator::new()),
            extensions: Vec::new(),
            token_issuer: None,
            scope_policy: Arc::new(StrictScopePolicy),
            client_keys: None,
            connections: None,
            upstreams: None,
            shared_counters: None,
            bound_to_loopback: false,
            shared_services: mcp_auth_core::ext::SharedServices::default(),
            audit: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ServerSettings {
        &self.inner.settings
    }

    /// The stores.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// The extension registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The token issuer.
    pub fn token_issuer(&self) -> Arc<dyn TokenIssuer> {
        self.inner
            .token_issuer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .issuer
            .clone()
    }

    /// Re-read the signing keys from the key store and swap in a token issuer built from them,
    /// so a `keys rotate` done by another process, and the end of a retired key's publication,
    /// take effect without a restart. Returns `true` when the signing key changed. Does nothing
    /// (returns `false`) when the builder was given its own token issuer.
    ///
    /// # Errors
    /// [`BuildError::Keys`] when the stored keys cannot be loaded (the current issuer stays),
    /// [`BuildError::Store`] when the store fails.
    pub async fn reload_signing_keys(&self) -> Result<bool, BuildError> {
        let store_kid = self
            .inner
            .token_issuer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .store_kid
            .clone();
        let Some(old_kid) = store_kid else {
            return Ok(false);
        };
        let settings = &self.inner.settings;
        let keys = self.inner.stores.keys.list().await?;
        let fresh = JwtTokenIssuer::new(
            settings.issuer.clone(),
            &keys,
            self.inner.clock.now(),
            settings.max_access_token_ttl() as i64,
        )
        .map_err(|e| BuildError::Keys(e.to_string()))?;
        let new_kid = fresh.current_kid().to_owned();
        let rotated = new_kid != old_kid;
        let mut slot = self
            .inner
            .token_issuer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rotated || slot.issuer.jwks() != fresh.jwks() {
            *slot = IssuerSlot {
                issuer: Arc::new(fresh),
                store_kid: Some(new_kid.clone()),
            };
            tracing::info!(kid = %new_kid, rotated, "signing keys reloaded");
        }
        Ok(rotated)
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The secret generator.
    pub fn secrets(&self) -> &Arc<dyn SecretGenerator> {
        &self.inner.secrets
    }

    /// The third-party connections (issue 11), when configured.
    pub fn connections(&self) -> Option<&Arc<crate::connections::Connections>> {
        self.inner.connections.as_ref()
    }

    /// Count one hit of a connect page (`/connect/{id}`, `/connect/callback`) from the source
    /// with rate-limit key `source` ([`crate::http::source::SourceAddress::rate_key`]); spec
    /// §7.3 ELIC-18. `Err(seconds)` when the source is over
    /// [`crate::limits::ConnectPageLimits::max_hits_per_source_per_minute`] this minute: the
    /// hit is refused (not counted) and may be retried after that many seconds (1 to 60).
    pub(crate) async fn connect_page_hit(&self, source: &str) -> Result<(), u64> {
        let limiter = &self.inner.connect_page_limiter;
        if limiter.check(source).await {
            Ok(())
        } else {
            crate::metrics::rate_limited("connect_page");
            Err(limiter.retry_after())
        }
    }

    /// Record `event` as happening now with the server's audit sink (issue 25 §2).
    pub async fn audit(&self, event: mcp_auth_core::ext::AuditEvent) {
        self.inner
            .audit
            .record(self.inner.clock.now(), &event)
            .await;
    }

    /// The server's audit sink, for parts that record on their own.
    pub fn audit_sink(&self) -> Arc<dyn mcp_auth_core::ext::AuditSink> {
        self.inner.audit.clone()
    }

    /// The rate-limit counters shared by every node, when configured (for their purge).
    pub fn shared_counters(&self) -> Option<&Arc<dyn SharedCounters>> {
        self.inner.shared_counters.as_ref()
    }

    /// The public JWK Set served at `/jwks` (RFC 7517 §5).
    pub fn jwks(&self) -> serde_json::Value {
        self.token_issuer().jwks()
    }
}

/// The token issuer in use, and the `kid` it signs with when it is the built-in JWT issuer over
/// the key store.
pub(crate) struct IssuerSlot {
    pub(crate) issuer: Arc<dyn TokenIssuer>,
    pub(crate) store_kid: Option<String>,
}

/// The published keys of the issuer in the slot, for extensions ([`LocalKeys`]); follows key
/// reloads.
struct SlotKeys(Arc<RwLock<IssuerSlot>>);

impl LocalKeys for SlotKeys {
    fn jwks(&self) -> serde_json::Value {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .issuer
            .jwks()
    }
}

/// Builds an [`AuthorizationServer`]; [`AuthorizationServerBuilder::build`] rejects wiring
/// mistakes.
pub struct AuthorizationServerBuilder {
    settings: ServerSettings,
    stores: Stores,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretGenerator>,
    extensions: Vec<Box<dyn ServerExtension>>,
    token_issuer: Option<Arc<dyn TokenIssuer>>,
    scope_policy: Arc<dyn ScopePolicy>,
    client_keys: Option<Arc<dyn ClientKeySource>>,
    connections: Option<Arc<crate::connections::Connections>>,
    upstreams: Option<Arc<crate::upstream::Upstreams>>,
    shared_counters: Option<Arc<dyn SharedCounters>>,
    bound_to_loopback: bool,
    shared_services: mcp_auth_core::ext::SharedServices,
    audit: Option<Arc<dyn mcp_auth_core::ext::AuditSink>>,
}

impl std::fmt::Debug for AuthorizationServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServerBuilder")
            .field("settings", &self.settings)
            .field("extensions", &self.extensions.len())
            .finish()
    }
}

impl AuthorizationServerBuilder {
    /// Use this clock (tests: [`mcp_auth_core::FixedClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Use this secret generator.
    pub fn secrets(mut self, secrets: Arc<dyn SecretGenerator>) -> Self {
        self.secrets = secrets;
        self
    }

    /// Install an extension (grant handlers, authenticators, resolvers, metadata).
    pub fn extension(mut self, extension: Box<dyn ServerExtension>) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Use this token issuer instead of the ES256 JWT issuer over the key store.
    pub fn token_issuer(mut self, issuer: Arc<dyn TokenIssuer>) -> Self {
        self.token_issuer = Some(issuer);
        self
    }

    /// Use this scope policy instead of [`StrictScopePolicy`].
    pub fn scope_policy(mut self, policy: Arc<dyn ScopePolicy>) -> Self {
        self.scope_policy = policy;
        self
    }

    /// Use this source of client keys for `private_key_jwt` instead of [`ClientJwksSource`].
    pub fn client_key_source(mut self, source: Arc<dyn ClientKeySource>) -> Self {
        self.client_keys = Some(source);
        self
    }

    /// Serve these third-party connections (issue 11): the connect pages, `/connections` and
    /// `/connect/token` use them.
    pub fn connections(mut self, connections: Arc<crate::connections::Connections>) -> Self {
        self.connections = Some(connections);
        self
    }

    /// Sign users in through these upstream identity providers (`[[upstream_idps]]`).
    pub fn upstreams(mut self, upstreams: Arc<crate::upstream::Upstreams>) -> Self {
        self.upstreams = Some(upstreams);
        self
    }

    /// Record security events with `sink` instead of the default
    /// [`crate::audit::AuditTrail`] over the stores' audit chain (no JSON lines).
    pub fn audit_sink(mut self, sink: Arc<dyn mcp_auth_core::ext::AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Count failed client authentications, registrations per source and sign-in failures in
    /// `counters`, shared by every node (PostgreSQL: [`crate::storage::postgres::PgSharedCounters`]),
    /// instead of in each node's memory. See [`crate::rate_limit`].
    pub fn shared_counters(mut self, counters: Arc<dyn SharedCounters>) -> Self {
        self.shared_counters = Some(counters);
        self
    }

    /// Tell extensions the server listens on loopback only
    /// ([`ExtensionServices::bound_to_loopback`]; default false).
    pub fn bound_to_loopback(mut self, bound_to_loopback: bool) -> Self {
        self.bound_to_loopback = bound_to_loopback;
        self
    }

    /// Lend `value` to extensions ([`ExtensionServices::shared`]), e.g. a shared cache.
    pub fn shared_service<T: std::any::Any + Send + Sync>(mut self, value: T) -> Self {
        self.shared_services.insert(value);
        self
    }

    /// The stores the server will use (to build [`crate::connections::Connections`] over
    /// `stores().vault`).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Install the core grants, authenticators and resolver, then the extensions; check the
    /// whole registry once ([`Registry::validate`]); load (or create, on first start) the
    /// signing key.
    ///
    /// # Errors
    /// [`BuildError`] for bad settings, a part registered twice, a wiring mistake found by
    /// [`Registry::validate`] (a grant accepting a client authentication method without
    /// authenticator, an advertised `none`/`HS*` algorithm, metadata naming an unhandled grant
    /// or method), or key/store failures.
    pub async fn build(self) -> Result<AuthorizationServer, BuildError> {
        self.settings.validate().map_err(BuildError::Settings)?;
        let dpop =
            crate::engine::dpop::Dpop::from_settings(&self.settings.dpop, &self.settings.issuer)
                .map_err(BuildError::Settings)?;
        let stores = self.stores;
        let clock = self.clock;
        let audit: Arc<dyn mcp_auth_core::ext::AuditSink> = self
            .audit
            .unwrap_or_else(|| Arc::new(crate::audit::AuditTrail::new(stores.audit.clone(), None)));
        let mut registry = core_registry(
            &self.settings,
            &stores,
            &clock,
            self.client_keys,
            audit.clone(),
        )?;
        let token_issuer = issuer_slot(self.token_issuer, &self.settings, &stores, &clock).await?;
        let token_issuer = Arc::new(RwLock::new(token_issuer));
        if !self.settings.exchange_targets.is_empty() {
            registry.add_token_exchanger(Arc::new(crate::grants::OnBehalfOf::new(
                token_issuer.clone(),
                stores.denylist.clone(),
                self.settings.server_clients.clone(),
                self.settings.exchange_targets.clone(),
            )))?;
        }
        let services = ExtensionServices {
            issuer: self.settings.issuer.clone(),
            clock: clock.clone(),
            replay: stores.replay.clone(),
            refresh_tokens: stores.refresh_tokens.clone(),
            local_keys: Arc::new(SlotKeys(token_issuer.clone())),
            development: self.settings.dangerous_dev_mode,
            bound_to_loopback: self.bound_to_loopback,
            shared: self.shared_services,
        };
        install_extensions(self.extensions, &mut registry, &services)?;
        // The store resolver answers for every id no extension claimed, so it goes last.
        registry.add_resolver(Arc::new(StoreClientResolver::with_cache(
            stores.clients.clone(),
            clock.clone(),
            self.settings.client_cache_ttl,
        )));
        // Once every extension is in: no grant accepts a method without authenticator, no
        // unsafe algorithm is advertised, no metadata member lists what nothing handles.
        registry.validate()?;

        if self.settings.dangerous_dev_mode {
            tracing::warn!(
                "DEVELOPMENT PROFILE: the development user is signed in automatically and consent is skipped; never use this outside a developer machine"
            );
        }
        let shared = self.shared_counters;
        let limits = EngineLimits::new(&self.settings, &clock, &shared)?;
        if let Some(c) = &self.connections {
            c.lend_audit(audit.clone(), clock.clone());
        }
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                settings: self.settings,
                stores,
                registry,
                token_issuer,
                scope_policy: self.scope_policy,
                clock,
                secrets: self.secrets,
                registration_limiter: limits.registration,
                connect_page_limiter: limits.connect_page,
                auth_throttle: limits.auth_throttle,
                token_client_limit: limits.token_client,
                audit,
                sign_in: limits.sign_in,
                connections: self.connections,
                upstreams: self.upstreams,
                shared_counters: shared,
                dpop,
                cimd_seen: Default::default(),
            }),
        })
    }
}

/// Install every extension into `registry`, in order, lending each `services`.
fn install_extensions(
    extensions: Vec<Box<dyn ServerExtension>>,
    registry: &mut Registry,
    services: &ExtensionServices,
) -> Result<(), BuildError> {
    for ext in extensions {
        let name = ext.name().to_owned();
        tracing::info!(extension = %name, "installing extension");
        ext.install(registry, services)?;
    }
    Ok(())
}

/// The engine's rate limits and sign-in guard, built from the settings: per-source
/// registrations (per hour) and connect-page hits (per minute), shared with other PostgreSQL
/// nodes through `shared`; per-client token requests; failed client authentications; sign-in.
struct EngineLimits {
    registration: Limiter,
    connect_page: Limiter,
    token_client: crate::rate_limit::ClientTokenLimit,
    auth_throttle: ClientAuthThrottle,
    sign_in: crate::engine::sign_in_guard::SignInGuard,
}

impl EngineLimits {
    fn new(
        settings: &ServerSettings,
        clock: &Arc<dyn Clock>,
        shared: &Option<Arc<dyn SharedCounters>>,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            registration: Limiter::new(
                settings.registration.max_per_source_per_hour,
                3600,
                clock.clone(),
            )
            .shared(shared.clone(), "registration"),
            connect_page: Limiter::new(
                settings.connect_pages.max_hits_per_source_per_minute,
                60,
                clock.clone(),
            )
            .shared(shared.clone(), "connect_page"),
            token_client: crate::rate_limit::ClientTokenLimit::new(
                settings.token_requests_per_client_per_minute,
                clock.clone(),
            ),
            auth_throttle: ClientAuthThrottle::new(
                settings.client_auth_failures_per_minute,
                &settings.client_auth_backstop,
                clock.clone(),
                shared.clone(),
            ),
            sign_in: crate::engine::sign_in_guard::SignInGuard::new(
                &settings.signin,
                clock.clone(),
                shared.clone(),
            )
            .map_err(|e| BuildError::Threads(e.to_string()))?,
        })
    }
}

/// The registry with the engine's own parts: the authorization_code and refresh_token grants
/// and the four client authenticators (`private_key_jwt` reading keys from `client_keys`, or
/// from each client's JWKS).
fn core_registry(
    settings: &ServerSettings,
    stores: &Stores,
    clock: &Arc<dyn Clock>,
    client_keys: Option<Arc<dyn ClientKeySource>>,
    audit: Arc<dyn mcp_auth_core::ext::AuditSink>,
) -> Result<Registry, BuildError> {
    let mut registry = Registry::new();
    if settings.openid_connect {
        registry.enable_openid_connect();
    }
    registry.add_grant(Arc::new(
        AuthorizationCodeGrant::new(stores.clone())
            .refresh_without_offline_access(settings.refresh_without_offline_access)
            .code_ttl(settings.code_ttl)
            .audit(audit),
    ))?;
    registry.add_grant(Arc::new(RefreshTokenGrant::new(stores.clone())))?;
    let client_keys: Arc<dyn ClientKeySource> = match client_keys {
        Some(source) => source,
        None => Arc::new(
            ClientJwksSource::new(clock.clone())
                .map_err(|e| BuildError::HttpClient(e.to_string()))?,
        ),
    };
    registry.add_authenticator(Arc::new(NoneAuthenticator))?;
    registry.add_authenticator(Arc::new(ClientSecretAuthenticator::basic()))?;
    registry.add_authenticator(Arc::new(ClientSecretAuthenticator::post()))?;
    registry.add_authenticator(Arc::new(PrivateKeyJwtAuthenticator::new(
        stores.replay.clone(),
        client_keys,
    )))?;
    Ok(registry)
}

/// The token issuer: `token_issuer` when given, else a JWT issuer over the stored signing
/// keys (the first key is created on first start).
async fn issuer_slot(
    token_issuer: Option<Arc<dyn TokenIssuer>>,
    settings: &ServerSettings,
    stores: &Stores,
    clock: &Arc<dyn Clock>,
) -> Result<IssuerSlot, BuildError> {
    Ok(match token_issuer {
        Some(issuer) => IssuerSlot {
            issuer,
            store_kid: None,
        },
        None => {
            let now = clock.now();
            let mut keys = stores.keys.list().await?;
            if !keys.iter().any(|k| k.retired_at.is_none()) {
                let key = SigningKey::generate(now).map_err(|e| BuildError::Keys(e.to_string()))?;
                stores.keys.rotate(&key, now).await?;
                tracing::info!(kid = %key.kid, "created the first signing key");
                keys = stores.keys.list().await?;
            }
            let max_ttl = settings.max_access_token_ttl() as i64;
            let issuer = JwtTokenIssuer::new(settings.issuer.clone(), &keys, now, max_ttl)
                .map_err(|e| BuildError::Keys(e.to_string()))?;
            IssuerSlot {
                store_kid: Some(issuer.current_kid().to_owned()),
                issuer: Arc::new(issuer),
            }
        }
    })
}
