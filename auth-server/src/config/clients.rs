//! Client-facing limits: dynamic client registration (`[registration]`, RFC 7591) and the
//! bounds on failed client authentications (`[client_auth]`).

use serde::{Deserialize, Serialize};

use crate::settings::{RegistrationSettings, ServerSettings, defaults};

/// Dynamic client registration (RFC 7591).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Serve `/register` (default true).
    pub enabled: bool,
    /// Registrations accepted per source address per hour (default 20). An identical
    /// re-registration of a public client returns the existing client and is not counted.
    pub max_per_source_per_hour: u32,
    /// Seconds after which a dynamically registered client that never received a token (and
    /// holds no refresh token) is deleted by the background purge (default 604800, 7 days;
    /// 0 = never).
    pub unused_ttl: u64,
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
    /// Token requests per authenticated client each minute, counted by each node (default 0:
    /// no limit). A public client is counted per (client, source address) pair, since anyone
    /// can send its client_id; a confidential one per client.
    pub max_token_requests_per_client_per_minute: u32,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        let backstop = crate::limits::ClientAuthBackstop::default();
        Self {
            max_failures_per_minute: defaults::CLIENT_AUTH_FAILURES_PER_MINUTE,
            backstop_failures_per_minute: backstop.failures_per_minute,
            backstop_delay_ms: backstop.delay_ms,
            max_token_requests_per_client_per_minute:
                defaults::TOKEN_REQUESTS_PER_CLIENT_PER_MINUTE,
        }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        let d = RegistrationSettings::default();
        Self {
            enabled: d.enabled,
            max_per_source_per_hour: d.max_per_source_per_hour,
            unused_ttl: d.unused_ttl,
        }
    }
}

impl RegistrationConfig {
    /// The engine's registration policy.
    pub fn settings(&self) -> RegistrationSettings {
        RegistrationSettings {
            enabled: self.enabled,
            max_per_source_per_hour: self.max_per_source_per_hour,
            unused_ttl: self.unused_ttl,
        }
    }
}

impl ClientAuthConfig {
    /// Set the client-authentication bounds of `settings`.
    pub fn apply(&self, settings: &mut ServerSettings) {
        settings.client_auth_failures_per_minute = self.max_failures_per_minute;
        settings.client_auth_backstop = crate::limits::ClientAuthBackstop {
            failures_per_minute: self.backstop_failures_per_minute,
            delay_ms: self.backstop_delay_ms,
        };
        settings.token_requests_per_client_per_minute =
            self.max_token_requests_per_client_per_minute;
    }
}
