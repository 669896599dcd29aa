//! The server built from the configuration: every optional part (the extensions of
//! [`crate::extensions::factories`], the third-party connections of `[vault]` and
//! `[[connections]]`, what PostgreSQL nodes share) is wired here, so that `serve` is
//! "check the configuration, open the stores, build, listen" and names none of them.
//!
//! Two steps, because a mistake in the configuration must leave nothing behind:
//!
//! 1. [`ServerPlan::check`] reads and checks the whole configuration, and asks each extension
//!    whether it can run where the server listens ([`ServerExtension::preflight`]), before any
//!    database is opened or created;
//! 2. [`ServerPlan::build`] wires the checked plan over the opened stores into a
//!    [`BuiltServer`]: the engine, its router and its [`Background`] tasks.

mod background;
mod error;

use std::sync::Arc;

use mcp_auth_core::Issuer;
use mcp_auth_core::ext::ServerExtension;
use mcp_auth_core::store::Stores;

use crate::config::Config;
use crate::http::HttpOptions;
use crate::server::AuthorizationServer;
use crate::settings::ServerSettings;

pub use background::Background;
pub use error::{ExtensionsError, WiringError};

/// A configuration checked for serving at one issuer and address, not yet over any store.
pub struct ServerPlan {
    issuer: Issuer,
    settings: ServerSettings,
    options: HttpOptions,
    extensions: Vec<Box<dyn ServerExtension>>,
    bound_to_loopback: bool,
}

impl std::fmt::Debug for ServerPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPlan")
            .field("issuer", &self.issuer)
            .field("extensions", &self.extensions.len())
            .field("bound_to_loopback", &self.bound_to_loopback)
            .finish_non_exhaustive()
    }
}

/// A server built by [`ServerPlan::build`]: the engine, its HTTP router, and the tasks to run
/// beside it once it listens.
pub struct BuiltServer {
    /// The engine.
    pub server: AuthorizationServer,
    /// The HTTP routes of [`Self::server`] ([`crate::http::router`]).
    pub app: axum::Router,
    /// What runs beside the server ([`Background::spawn`]).
    pub background: Background,
}

impl std::fmt::Debug for BuiltServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl ServerPlan {
    /// Check `config` for a server at `issuer`, listening on loopback only when
    /// `bound_to_loopback`: the engine settings ([`Config::settings`], which also checks
    /// `[vault]` and `[[connections]]`), `session_secret`, the page templates, the extension
    /// sections and each enabled extension's [`ServerExtension::preflight`], and what a
    /// database shared by several nodes needs. Opens and creates nothing; warns when
    /// `ui.primary_color` is too light.
    ///
    /// # Errors
    /// The first mistake found ([`WiringError`]), naming the setting.
    pub fn check(
        config: &Config,
        issuer: Issuer,
        bound_to_loopback: bool,
    ) -> Result<Self, WiringError> {
        let settings = config.settings(issuer.clone())?;
        let options = http_options(config)?;
        crate::http::check_templates(&settings)?;
        warn_about_a_light_primary_color(&settings);
        let extensions = crate::extensions::from_sections(
            &crate::extensions::factories(),
            &config.extension_sections()?,
        )?;
        for extension in &extensions {
            extension.preflight(bound_to_loopback)?;
        }
        crate::storage::check_shared_configuration(config)?;
        Ok(Self {
            issuer,
            settings,
            options,
            extensions,
            bound_to_loopback,
        })
    }

    /// Build the server of this plan over `stores` (opened from the same `config`): with
    /// PostgreSQL, the rate-limit counters and the client metadata document cache shared by
    /// every node (over [`crate::storage::shared_pool`]); the third-party connections and the
    /// upstream identity providers of `config`; the services lent to extensions ([`crate::extensions::lend_services`]); the
    /// extensions; then the router.
    ///
    /// # Errors
    /// The shared database pool cannot be opened, the connections or an HTTP client cannot
    /// start, or [`crate::server::AuthorizationServerBuilder::build`] refuses the wiring.
    pub async fn build(self, config: &Config, stores: Stores) -> Result<BuiltServer, WiringError> {
        let clock: Arc<dyn mcp_auth_core::Clock> = Arc::new(mcp_auth_core::SystemClock);
        let mut builder = AuthorizationServer::builder(self.settings, stores.clone());
        if let Some(file) = &config.audit.file {
            builder = builder.audit_sink(Arc::new(crate::audit::AuditTrail::new(
                stores.audit.clone(),
                Some(crate::audit::JsonLines::from_setting(file)),
            )));
        }
        // PostgreSQL: rate-limit counters and the client metadata document cache shared by
        // every node.
        let shared_pool = crate::storage::shared_pool(config).await?;
        if let Some(pool) = &shared_pool {
            builder = builder.shared_counters(crate::storage::postgres::bounded_counters(pool));
        }
        let document_cache =
            shared_pool.map(|pool| Arc::new(crate::storage::postgres::PgCimdCache::new(pool)));
        let connections =
            crate::connections::Connections::from_config(config, &self.issuer, stores.vault)?
                .map(Arc::new);
        if let Some(c) = &connections {
            builder = builder.connections(c.clone());
        }
        let upstreams = crate::upstream::Upstreams::from_config(config, clock.clone())
            .map_err(WiringError::Upstreams)?;
        if let Some(upstreams) = upstreams {
            builder = builder.upstreams(upstreams);
        }
        builder = crate::extensions::lend_services(
            builder.bound_to_loopback(self.bound_to_loopback),
            clock,
            document_cache.clone(),
        )?;
        for extension in self.extensions {
            builder = builder.extension(extension);
        }
        let server = builder.build().await?;
        let app = crate::http::router(server.clone(), self.options)?;
        Ok(BuiltServer {
            background: Background {
                server: server.clone(),
                connections,
                document_cache,
                key_reload_interval: std::time::Duration::from_secs(
                    config.key_reload_interval.max(1),
                ),
            },
            server,
            app,
        })
    }
}

/// Warn when the buttons' white text would be hard to read on `ui.primary_color`.
fn warn_about_a_light_primary_color(settings: &ServerSettings) {
    if let Some(color) = &settings.ui.primary_color {
        let ratio = color.contrast_with_white();
        if ratio < crate::web::ui::MIN_BUTTON_CONTRAST {
            tracing::warn!(
                primary_color = color.as_str(),
                contrast = format!("{ratio:.2}:1"),
                "ui.primary_color is too light for the white text of buttons (WCAG AA asks for 4.5:1); pick a darker colour"
            );
        }
    }
}

/// The HTTP options of `config`: its `session_secret` (at least 32 characters), or a random one.
fn http_options(config: &Config) -> Result<HttpOptions, WiringError> {
    match &config.session_secret {
        Some(s) if s.expose().len() >= 32 => Ok(HttpOptions {
            session_secret: s.expose().as_bytes().to_vec(),
        }),
        Some(_) => Err(WiringError::ShortSessionSecret),
        None => Ok(HttpOptions::random()),
    }
}
