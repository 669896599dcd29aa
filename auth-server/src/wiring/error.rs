//! Why a configuration cannot become a running server ([`super::ServerPlan::check`],
//! [`super::ServerPlan::build`], and the parts they call).

use mcp_auth_core::ext::{ExtensionConfigError, RegistryError};

use crate::config::ConfigError;
use crate::connections::ConnectionError;
use crate::http::RouterError;
use crate::server::BuildError;
use crate::storage::OpenError;

/// The first mistake found while checking or wiring the server; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WiringError {
    /// The configuration or the settings made from it.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `session_secret` is shorter than 32 characters.
    #[error("session_secret must be at least 32 characters")]
    ShortSessionSecret,
    /// An `[extensions.*]` section.
    #[error(transparent)]
    Extensions(#[from] ExtensionsError),
    /// An extension's [`mcp_auth_core::ext::ServerExtension::preflight`] refused.
    #[error(transparent)]
    Preflight(#[from] RegistryError),
    /// The database, or what several nodes sharing it need.
    #[error(transparent)]
    Storage(#[from] OpenError),
    /// `[vault]` and `[[connections]]`.
    #[error(transparent)]
    Connections(#[from] ConnectionError),
    /// `[[upstream_idps]]`.
    #[error("upstream identity providers: {0}")]
    Upstreams(#[source] crate::upstream::UpstreamError),
    /// An HTTP client could not be built (TLS backend).
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// The engine refused the wiring ([`crate::server::AuthorizationServerBuilder::build`]).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The pages or the router.
    #[error(transparent)]
    Router(#[from] RouterError),
}

/// Why the `[extensions.*]` sections make no extensions ([`crate::extensions::from_sections`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionsError {
    /// No factory of this build reads the section (a typo, or an extension not compiled in).
    #[error("[extensions.{section}]: no such extension in this build (known: {known})")]
    Unknown {
        /// The section's name.
        section: String,
        /// The names this build knows, comma-separated, or `none`.
        known: String,
    },
    /// The section says neither `enabled = true` nor `enabled = false`.
    #[error("[extensions.{0}]: say `enabled = true` or `enabled = false`")]
    EnabledMissing(String),
    /// The factory refused the section.
    #[error(transparent)]
    Section(#[from] ExtensionConfigError),
}
