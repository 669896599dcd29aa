//! Abuse limits of the authorization server (issue #8 items 2, 3 and 6; spec CC-14, SEC-06):
//! sign-in attempts and the password hashing they cost, failed client authentications, request
//! read timeouts, and hits of the connect pages (issue 11, ELIC-18). Part of
//! [`crate::ServerSettings`].

use std::time::Duration;

use mcp_auth_resource_server::listen;
use serde::{Deserialize, Serialize};

use crate::settings::SettingsError;

/// Bounds on sign-in attempts at `POST /authorize/login` and on the Argon2id password checks they
/// cost (issue #8 items 2 and 3; spec SEC-06).
///
/// Failed sign-ins are counted in fixed windows of `window_secs` seconds, per source address, per
/// (username, source address) pair and per username. An attempt is counted when it starts and
/// taken back when it succeeds, so successful sign-ins never count, and concurrent attempts
/// cannot overrun a limit. Past a source or pair limit that source (or pair) gets `429` with
/// `Retry-After` until the window ends, without a password check. Past the per-username limit,
/// only sources that have no failures in the window may still try that username: a user whose
/// name is being guessed elsewhere can still sign in from a clean address.
/// In the configuration file this is the `[signin]` section, with these field names as keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInSettings {
    /// Length of a counting window, seconds (default 300).
    pub window_secs: u64,
    /// Failed sign-ins allowed from one source address per window, whatever the username
    /// (default 20).
    pub max_failures_per_source: u32,
    /// Failed sign-ins allowed for one username from one source address per window (default 5).
    pub max_failures_per_user_and_source: u32,
    /// Failed sign-ins for one username, from all sources, per window; past it only sources with
    /// no failures in the window may try that username (default 10).
    pub max_failures_per_user: u32,
    /// Password checks in flight at once (running or queued on the hashing threads); `0` means
    /// twice the number of CPU cores (the default).
    pub max_concurrent_hashes: usize,
    /// Threads that run password checks; `0` means the number of CPU cores (the default). Memory
    /// for hashing is bounded by this many times 19 MiB (Argon2id's `m = 19456` KiB).
    pub hash_threads: usize,
    /// How long a sign-in waits for a free password-check slot before it gets `429` with
    /// `Retry-After: 1`, milliseconds (default 1000; at most 60000).
    pub hash_wait_ms: u64,
    /// Local password users may sign in (default true). `false`: sign-in only through
    /// `[[upstream_idps]]`; the password form is not shown and `POST /authorize/login` is refused.
    pub passwords: bool,
}

impl Default for SignInSettings {
    fn default() -> Self {
        Self {
            window_secs: 300,
            max_failures_per_source: 20,
            max_failures_per_user_and_source: 5,
            max_failures_per_user: 10,
            max_concurrent_hashes: 0,
            hash_threads: 0,
            hash_wait_ms: 1000,
            passwords: true,
        }
    }
}

impl SignInSettings {
    /// The hashing threads to start: `hash_threads`, or the number of CPU cores when it is 0.
    pub fn effective_hash_threads(&self) -> usize {
        match self.hash_threads {
            0 => cores(),
            n => n,
        }
    }

    /// The password checks allowed in flight: `max_concurrent_hashes`, or twice the number of
    /// CPU cores when it is 0.
    pub fn effective_max_concurrent_hashes(&self) -> usize {
        match self.max_concurrent_hashes {
            0 => 2 * cores(),
            n => n,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The per-source bound on hits of the connect pages of URL-mode elicitations
/// (`GET`/`POST /connect/{id}` and `GET /connect/callback`; issue 11, spec §7.3 ELIC-18).
///
/// Every hit is counted, per source address ([`crate::http::source`]), in fixed windows of one
/// minute, before the page looks anything up. Past the limit the source gets a `429` page with
/// `Retry-After` (seconds until the minute ends) and nothing is read or changed. Counted in
/// every node's memory, or in the shared counters when the server has them
/// ([`crate::rate_limit`]). In the configuration file this is the `[connect_pages]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectPageLimits {
    /// Hits allowed from one source address per minute (default 60; must be positive).
    pub max_hits_per_source_per_minute: u32,
}

impl Default for ConnectPageLimits {
    fn default() -> Self {
        Self {
            max_hits_per_source_per_minute: 60,
        }
    }
}

impl ConnectPageLimits {
    /// Check the limit.
    ///
    /// # Errors
    /// A zero limit, naming the setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.max_hits_per_source_per_minute == 0 {
            return Err(SettingsError::out_of_range(
                "connect_pages.max_hits_per_source_per_minute",
                "positive",
            ));
        }
        Ok(())
    }
}

/// The global backstop on failed client authentications at `/token`, `/introspect` and
/// `/revoke` (issue #8 item 3). The per-(client, source) bound is
/// [`crate::ServerSettings::client_auth_failures_per_minute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthBackstop {
    /// Failed authentications per minute, all clients and sources together, past which every
    /// further failure is answered only after `delay_ms` (default 600). It slows attackers that
    /// spread over many addresses; it never refuses anyone, and a correct credential is never
    /// delayed.
    pub failures_per_minute: u32,
    /// The delay added to a failed authentication past the backstop, milliseconds (default 1000).
    pub delay_ms: u64,
}

impl Default for ClientAuthBackstop {
    fn default() -> Self {
        Self {
            failures_per_minute: 600,
            delay_ms: 1000,
        }
    }
}

/// Time limits on reading a request (issue #8 item 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest time to receive a request's header section, counted from when the connection
    /// starts waiting for it: a new connection, or a kept-alive one after its previous response
    /// (so it is also the idle limit of a kept-alive connection). Past it the connection is
    /// closed. Default 10 s. Applied by [`crate::http::serve`].
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole request body, counted from when the server starts reading
    /// it. Past it the answer is `408 Request Timeout` and the connection is closed. Default
    /// 30 s.
    pub body_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: listen::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: listen::DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}

impl HttpLimits {
    /// The listener limits of the main port: these timeouts and no connection cap.
    pub fn listener_limits(&self) -> listen::ListenerLimits {
        let mut limits = listen::ListenerLimits::default();
        limits.header_read_timeout = self.header_read_timeout;
        limits.body_read_timeout = self.body_read_timeout;
        limits.max_connections = None;
        limits
    }
}

/// The `[http]` section of the configuration file: [`HttpLimits`] in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// [`HttpLimits::header_read_timeout`], seconds (default 10).
    pub header_read_timeout: u64,
    /// [`HttpLimits::body_read_timeout`], seconds (default 30).
    pub body_read_timeout: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let d = HttpLimits::default();
        Self {
            header_read_timeout: d.header_read_timeout.as_secs(),
            body_read_timeout: d.body_read_timeout.as_secs(),
        }
    }
}

impl From<HttpConfig> for HttpLimits {
    fn from(c: HttpConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(c.header_read_timeout),
            body_read_timeout: Duration::from_secs(c.body_read_timeout),
        }
    }
}

/// Parse the `trusted_proxies` setting: networks in CIDR form (`10.0.0.0/8`, `fd00::/8`) or
/// single addresses (a `/32` or `/128`).
///
/// # Errors
/// The first entry that is neither, named in the message.
pub fn parse_trusted_proxies(entries: &[String]) -> Result<Vec<ipnet::IpNet>, SettingsError> {
    entries
        .iter()
        .map(|e| {
            let text = e.trim();
            text.parse::<ipnet::IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| SettingsError::TrustedProxy(e.clone()))
        })
        .collect()
}

/// Check the limits; the error names the offending setting.
pub(crate) fn validate(
    signin: &SignInSettings,
    client_auth_failures_per_minute: u32,
    backstop: &ClientAuthBackstop,
    http: &HttpLimits,
) -> Result<(), SettingsError> {
    if signin.window_secs == 0
        || signin.max_failures_per_source == 0
        || signin.max_failures_per_user_and_source == 0
        || signin.max_failures_per_user == 0
    {
        return Err(SettingsError::out_of_range(
            "signin.window and the signin.max_failures_* limits",
            "positive",
        ));
    }
    if signin.hash_wait_ms > 60_000 {
        return Err(SettingsError::out_of_range(
            "signin.hash_wait_ms",
            "at most 60000",
        ));
    }
    if client_auth_failures_per_minute == 0 || backstop.failures_per_minute == 0 {
        return Err(SettingsError::out_of_range(
            "client_auth.max_failures_per_minute and client_auth.backstop_failures_per_minute",
            "positive",
        ));
    }
    if backstop.delay_ms > 60_000 {
        return Err(SettingsError::out_of_range(
            "client_auth.backstop_delay_ms",
            "at most 60000",
        ));
    }
    if http.header_read_timeout.is_zero() || http.body_read_timeout.is_zero() {
        return Err(SettingsError::out_of_range(
            "http.header_read_timeout and http.body_read_timeout",
            "positive",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_limits_are_refused() {
        let ok = validate(
            &SignInSettings::default(),
            20,
            &ClientAuthBackstop::default(),
            &HttpLimits::default(),
        );
        assert_eq!(ok, Ok(()));
        let zero = SignInSettings {
            max_failures_per_user: 0,
            ..SignInSettings::default()
        };
        assert!(
            validate(
                &zero,
                20,
                &ClientAuthBackstop::default(),
                &HttpLimits::default()
            )
            .is_err()
        );
        let no_timeout = HttpLimits {
            header_read_timeout: Duration::ZERO,
            ..HttpLimits::default()
        };
        assert!(
            validate(
                &SignInSettings::default(),
                20,
                &ClientAuthBackstop::default(),
                &no_timeout
            )
            .is_err()
        );
    }

    #[test]
    fn connect_page_limit_defaults_to_60_and_must_be_positive() {
        let d = ConnectPageLimits::default();
        assert_eq!(d.max_hits_per_source_per_minute, 60);
        assert_eq!(d.validate(), Ok(()));
        let zero = ConnectPageLimits {
            max_hits_per_source_per_minute: 0,
        };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "connect_pages.max_hits_per_source_per_minute must be positive"
        );
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let nets =
            parse_trusted_proxies(&["10.0.0.0/8".into(), "192.0.2.7".into(), "fd00::/8".into()])
                .unwrap();
        assert_eq!(
            nets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]
        );
        assert_eq!(
            parse_trusted_proxies(&["10.0.0.0/33".into()])
                .unwrap_err()
                .to_string(),
            "trusted_proxies: \"10.0.0.0/33\" is not an address or a network like 10.0.0.0/8"
        );
        assert!(parse_trusted_proxies(&["proxy.internal".into()]).is_err());
    }

    #[test]
    fn zero_means_derived_from_the_cores() {
        let s = SignInSettings::default();
        assert!(s.effective_hash_threads() >= 1);
        assert_eq!(
            s.effective_max_concurrent_hashes(),
            2 * s.effective_hash_threads()
        );
        let fixed = SignInSettings {
            hash_threads: 3,
            max_concurrent_hashes: 5,
            ..SignInSettings::default()
        };
        assert_eq!(fixed.effective_hash_threads(), 3);
        assert_eq!(fixed.effective_max_concurrent_hashes(), 5);
    }
}
