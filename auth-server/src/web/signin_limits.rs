//! Sign-in attempt limits (issue #8 items 2 and 3; spec SEC-06): failures per source address,
//! per (username, source) pair and per username, in fixed windows on the injected clock. The
//! rules are in [`crate::limits::SignInSettings`].

use std::sync::Arc;

use mcp_auth_core::rate_limit::RateLimiter;
use mcp_auth_core::{Clock, TokenHash};

use crate::limits::SignInSettings;

/// The three failure counters of sign-in.
#[derive(Debug)]
pub struct SignInLimits {
    per_source: RateLimiter,
    per_pair: RateLimiter,
    per_user: RateLimiter,
}

/// An attempt in progress: it counts as a failure until [`SignInLimits::not_a_failure`] takes it
/// back.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it is taken back"]
pub struct Attempt {
    source: String,
    pair: String,
    user: Option<String>,
}

impl SignInLimits {
    /// Counters for `settings`, on `clock`.
    pub fn new(settings: &SignInSettings, clock: Arc<dyn Clock>) -> Self {
        let window = i64::try_from(settings.window_secs).unwrap_or(i64::MAX);
        Self {
            per_source: RateLimiter::new(settings.max_failures_per_source, window, clock.clone()),
            per_pair: RateLimiter::new(
                settings.max_failures_per_user_and_source,
                window,
                clock.clone(),
            ),
            per_user: RateLimiter::new(settings.max_failures_per_user, window, clock),
        }
    }

    /// Start a sign-in by `username` from `source` (a [`crate::http::source::SourceAddress`]
    /// rate key), counting it as a failure up front so that concurrent attempts cannot overrun a
    /// limit.
    ///
    /// # Errors
    /// The seconds until the window ends (for `Retry-After`) when the source, the pair, or (for
    /// a source that already failed in this window) the username is over its limit. Nothing is
    /// counted then.
    pub fn begin(&self, username: &str, source: &str) -> Result<Attempt, u64> {
        let refused = || self.per_source.retry_after();
        let user = TokenHash::of(username).as_str().to_owned();
        let pair = format!("{user} {source}");
        if self.per_source.exceeded(source) || self.per_pair.exceeded(&pair) {
            return Err(refused());
        }
        if self.per_user.exceeded(&user) && self.per_source.count(source) > 0 {
            return Err(refused());
        }
        if !self.per_source.check(source) {
            return Err(refused());
        }
        if !self.per_pair.check(&pair) {
            self.per_source.refund(source);
            return Err(refused());
        }
        let user = self.per_user.check(&user).then_some(user);
        Ok(Attempt {
            source: source.to_owned(),
            pair,
            user,
        })
    }

    /// Failures (and attempts in progress) counted for `source` in this window.
    #[cfg(test)]
    pub(crate) fn failures_from(&self, source: &str) -> u32 {
        self.per_source.count(source)
    }

    /// Take back an attempt that did not fail: a successful sign-in, or one that could not be
    /// checked (the server was busy or failed).
    pub fn not_a_failure(&self, attempt: Attempt) {
        self.per_source.refund(&attempt.source);
        self.per_pair.refund(&attempt.pair);
        if let Some(user) = &attempt.user {
            self.per_user.refund(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::FixedClock;

    fn limits(clock: Arc<FixedClock>) -> SignInLimits {
        let settings = SignInSettings {
            window_secs: 300,
            max_failures_per_source: 4,
            max_failures_per_user_and_source: 2,
            max_failures_per_user: 3,
            ..SignInSettings::default()
        };
        SignInLimits::new(&settings, clock)
    }

    fn fail(l: &SignInLimits, user: &str, source: &str) {
        let _counted = l.begin(user, source).unwrap();
    }

    #[test]
    fn pair_limit_refuses_that_pair_only() {
        let l = limits(Arc::new(FixedClock::new(0)));
        fail(&l, "alice", "a");
        fail(&l, "alice", "a");
        assert_eq!(l.begin("alice", "a").unwrap_err(), 300);
        assert!(l.begin("alice", "b").is_ok());
    }

    #[test]
    fn successes_do_not_count() {
        let l = limits(Arc::new(FixedClock::new(0)));
        for _ in 0..10 {
            let a = l.begin("alice", "a").unwrap();
            l.not_a_failure(a);
        }
        fail(&l, "alice", "a");
        assert!(l.begin("alice", "a").is_ok());
    }

    #[test]
    fn user_over_limit_refuses_only_sources_with_failures() {
        let l = limits(Arc::new(FixedClock::new(0)));
        fail(&l, "alice", "a");
        fail(&l, "alice", "b");
        fail(&l, "alice", "c");
        fail(&l, "bob", "d");
        assert_eq!(l.begin("alice", "d").unwrap_err(), 300);
        assert!(l.begin("alice", "e").is_ok(), "a clean source may try");
    }

    #[test]
    fn window_end_clears_the_limits() {
        let clock = Arc::new(FixedClock::new(0));
        let l = limits(clock.clone());
        fail(&l, "alice", "a");
        fail(&l, "alice", "a");
        clock.advance(299);
        assert_eq!(l.begin("alice", "a").unwrap_err(), 1);
        clock.advance(1);
        assert!(l.begin("alice", "a").is_ok());
    }
}
