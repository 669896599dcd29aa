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
    /// Refresh token idle lifetime (default 30 days): each refresh token expires this long after
    /// it was issued unless used, and using it (rotation) issues one with a fresh idle lifetime,
    /// so a client that refreshes at least this often stays connected for the absolute
    /// lifetime. See also `refresh_token_idle_lifetime`.
    pub refresh_idle_ttl: u64,
    /// Refresh token family absolute lifetime (default 90 days), never extended by rotation.
    /// See also `refresh_token_max_lifetime`.
    pub refresh_absolute_ttl: u64,
    /// Another name of `refresh_idle_ttl`; when set, it wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_idle_lifetime: Option<u64>,
    /// Another name of `refresh_absolute_ttl`; when set, it wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_max_lifetime: Option<u64>,
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
            refresh_token_idle_lifetime: None,
            refresh_token_max_lifetime: None,
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
        let key = if self.refresh_token_idle_lifetime.is_some() {
            "tokens.refresh_token_idle_lifetime"
        } else {
            "tokens.refresh_idle_ttl"
        };
        origins.in_range(key, self.refresh_idle(), 1, self.refresh_absolute())
    }

    /// The refresh token idle lifetime, under whichever name it was set.
    pub fn refresh_idle(&self) -> u64 {
        self.refresh_token_idle_lifetime
            .unwrap_or(self.refresh_idle_ttl)
    }

    /// The refresh token family absolute lifetime, under whichever name it was set.
    pub fn refresh_absolute(&self) -> u64 {
        self.refresh_token_max_lifetime
            .unwrap_or(self.refresh_absolute_ttl)
    }

    /// Set the lifetimes of `settings`.
    pub fn apply(&self, settings: &mut ServerSettings) {
        settings.access_token_ttl = self.access_token_ttl;
        settings.code_ttl = self.code_ttl;
        settings.refresh_idle_ttl = self.refresh_idle();
        settings.refresh_absolute_ttl = self.refresh_absolute();
        settings.refresh_without_offline_access = self.refresh_without_offline_access;
        settings.session_ttl = self.session_ttl;
        settings.client_cache_ttl = self.client_cache_ttl;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    /// Issue 25 §3: the refresh lifetimes default to 30 days idle and 90 days absolute, and
    /// are read under either name (`refresh_idle_ttl` / `refresh_token_idle_lifetime`,
    /// `refresh_absolute_ttl` / `refresh_token_max_lifetime`); the idle one may not exceed the
    /// absolute one, and the error names the key as written.
    #[test]
    fn refresh_lifetimes_default_and_read_under_either_name() {
        let d = Config::default();
        assert_eq!(d.tokens.refresh_idle_ttl, 30 * 24 * 3600);
        assert_eq!(d.tokens.refresh_absolute_ttl, 90 * 24 * 3600);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[tokens]\nrefresh_token_idle_lifetime = 86400\nrefresh_token_max_lifetime = 172800\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.tokens.refresh_idle(), 86_400);
        assert_eq!(c.tokens.refresh_absolute(), 172_800);
        let issuer = c.issuer(c.bind).unwrap();
        let settings = c.settings(issuer).unwrap();
        assert_eq!(settings.refresh_idle_ttl, 86_400);
        assert_eq!(settings.refresh_absolute_ttl, 172_800);
        std::fs::write(&path, "[tokens]\nrefresh_token_idle_lifetime = 9000000\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let e = c
            .settings(c.issuer(c.bind).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokens.refresh_token_idle_lifetime"), "{e}");
    }
}
