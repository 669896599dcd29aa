//! `[tokens]`: token, code and session lifetimes, with their bounds.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};
use crate::settings::{ServerSettings, defaults};

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

impl TokenConfig {
    /// Check the bounds: access tokens 1 to 3600 s, codes 1 to 600 s, the refresh idle
    /// lifetime at most the absolute one.
    ///
    /// # Errors
    /// The first value out of range, naming the key and where it was set (`origins`).
    pub fn check(&self, origins: &Origins) -> Result<(), ConfigError> {
        origins.in_range("tokens.access_token_ttl", self.access_token_ttl, 1, 3600)?;
        origins.in_range("tokens.code_ttl", self.code_ttl, 1, 600)?;
        origins.in_range(
            "tokens.refresh_idle_ttl",
            self.refresh_idle_ttl,
            1,
            self.refresh_absolute_ttl,
        )
    }

    /// Set the lifetimes of `settings`.
    pub fn apply(&self, settings: &mut ServerSettings) {
        settings.access_token_ttl = self.access_token_ttl;
        settings.code_ttl = self.code_ttl;
        settings.refresh_idle_ttl = self.refresh_idle_ttl;
        settings.refresh_absolute_ttl = self.refresh_absolute_ttl;
        settings.refresh_without_offline_access = self.refresh_without_offline_access;
        settings.session_ttl = self.session_ttl;
        settings.client_cache_ttl = self.client_cache_ttl;
    }
}
