//! Operator policy: host allow and deny lists, trusted hosts, and the per-host fetch rate limit
//! (spec §3.3, CIMD-UI-5, SEC-06).

use std::sync::Arc;

use mcp_auth_core::Clock;
use mcp_auth_core::rate_limit::RateLimiter;

/// A host pattern: an exact host name (`app.example.com`) or a wildcard that matches every
/// subdomain but not the name itself (`*.example.com`). Compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPattern(String);

impl HostPattern {
    pub(crate) fn new(pattern: &str) -> Self {
        Self(pattern.trim().trim_end_matches('.').to_ascii_lowercase())
    }

    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == self.0,
        }
    }
}

/// The host lists. The deny list wins over the allow list; an empty allow list allows every
/// host (open mode), a non-empty one only its hosts (protected mode).
#[derive(Debug, Clone, Default)]
pub(crate) struct HostPolicy {
    pub(crate) allow: Vec<HostPattern>,
    pub(crate) deny: Vec<HostPattern>,
    pub(crate) trusted: Vec<HostPattern>,
}

impl HostPolicy {
    pub(crate) fn is_allowed(&self, host: &str) -> bool {
        if self.deny.iter().any(|p| p.matches(host)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|p| p.matches(host))
    }

    pub(crate) fn is_trusted(&self, host: &str) -> bool {
        self.is_allowed(host) && self.trusted.iter().any(|p| p.matches(host))
    }
}

/// At most `limit` fetches per host in each fixed window of `window` seconds of the injected
/// clock. Hosts compare case-insensitively.
pub(crate) struct FetchRateLimiter(RateLimiter);

impl FetchRateLimiter {
    pub(crate) fn new(limit: u32, window: i64, clock: Arc<dyn Clock>) -> Self {
        Self(RateLimiter::new(limit, window, clock))
    }

    /// Count one fetch for `host`; false when its window's budget is spent.
    pub(crate) fn try_acquire(&self, host: &str) -> bool {
        self.0.check(&host.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::FixedClock;

    fn policy(allow: &[&str], deny: &[&str], trusted: &[&str]) -> HostPolicy {
        let p = |l: &[&str]| l.iter().map(|s| HostPattern::new(s)).collect();
        HostPolicy {
            allow: p(allow),
            deny: p(deny),
            trusted: p(trusted),
        }
    }

    /// CIMD-UI-5: wildcards match subdomains only, case-insensitively.
    #[test]
    fn wildcard_patterns_match_subdomains_only() {
        let p = HostPattern::new("*.example.com");
        assert!(p.matches("app.example.com"));
        assert!(p.matches("A.B.Example.COM"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(HostPattern::new("App.Example.com").matches("app.example.com."));
    }

    /// CIMD-UI-5: an empty allow list is open mode; the deny list wins.
    #[test]
    fn deny_list_wins_over_allow_list() {
        let open = policy(&[], &["evil.example"], &[]);
        assert!(open.is_allowed("app.example.com"));
        assert!(!open.is_allowed("evil.example"));
        let protected = policy(&["*.example.com"], &["bad.example.com"], &[]);
        assert!(protected.is_allowed("app.example.com"));
        assert!(!protected.is_allowed("bad.example.com"));
        assert!(!protected.is_allowed("other.test"));
    }

    /// CIMD-UI-5: a trusted host must also be allowed.
    #[test]
    fn trusted_hosts_must_be_allowed() {
        let p = policy(&[], &["t2.example"], &["t1.example", "t2.example"]);
        assert!(p.is_trusted("t1.example"));
        assert!(!p.is_trusted("t2.example"));
        assert!(!p.is_trusted("other.example"));
    }

    /// SEC-06: the per-host budget refills when the window passes.
    #[test]
    fn per_host_budget_refills_after_the_window() {
        let clock = Arc::new(FixedClock::new(1_000));
        let limiter = FetchRateLimiter::new(2, 60, clock.clone());
        assert!(limiter.try_acquire("a.example"));
        assert!(limiter.try_acquire("A.example"));
        assert!(!limiter.try_acquire("a.example"));
        assert!(limiter.try_acquire("b.example"));
        clock.advance(60);
        assert!(limiter.try_acquire("a.example"));
    }
}
