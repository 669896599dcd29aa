//! Sign-in attempt limits (issue #8 items 2 and 3; spec SEC-06): failures per source address,
//! per (username, source) pair and per username, in fixed windows on the injected clock. The
//! rules are in [`crate::limits::SignInSettings`]. The counts are per node in memory, or shared
//! by every node when the server has [`SharedCounters`] (PostgreSQL, see
//! [`crate::limits_shared`]); a shared counter that fails does not limit.

use std::sync::Arc;

use mcp_auth_core::{Clock, TokenHash};

use crate::limits::SignInSettings;
use crate::limits_shared::{Limiter, SharedCounters};

/// The three failure counters of sign-in.
#[derive(Debug)]
pub struct SignInLimits {
    per_source: Limiter,
    per_pair: Limiter,
    per_user: Limiter,
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
    /// Counters for `settings`, on `clock`; in `shared` when given (keys `signin_source:…`,
    /// `signin_pair:…`, `signin_user:…`, user names hashed), else in memory.
    pub fn new(
        settings: &SignInSettings,
        clock: Arc<dyn Clock>,
        shared: Option<Arc<dyn SharedCounters>>,
    ) -> Self {
        let window = settings.window_secs;
        Self {
            per_source: Limiter::new(settings.max_failures_per_source, window, clock.clone())
                .shared(shared.clone(), "signin_source"),
            per_pair: Limiter::new(
                settings.max_failures_per_user_and_source,
                window,
                clock.clone(),
            )
            .shared(shared.clone(), "signin_pair"),
            per_user: Limiter::new(settings.max_failures_per_user, window, clock)
                .shared(shared, "signin_user"),
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
    pub async fn begin(&self, username: &str, source: &str) -> Result<Attempt, u64> {
        let refused = || self.per_source.retry_after();
        let user = TokenHash::of(username).as_str().to_owned();
        let pair = format!("{user} {source}");
        if self.per_source.exceeded(source).await || self.per_pair.exceeded(&pair).await {
            return Err(refused());
        }
        if self.per_user.exceeded(&user).await && self.per_source.count(source).await > 0 {
            return Err(refused());
        }
        if !self.per_source.check(source).await {
            return Err(refused());
        }
        if !self.per_pair.check(&pair).await {
            self.per_source.refund(source).await;
            return Err(refused());
        }
        let user = self.per_user.check(&user).await.then_some(user);
        Ok(Attempt {
            source: source.to_owned(),
            pair,
            user,
        })
    }

    /// Failures (and attempts in progress) counted for `source` in this window.
    #[cfg(test)]
    pub(crate) fn failures_from(&self, source: &str) -> u32 {
        self.per_source.local_count(source)
    }

    /// Take back an attempt that did not fail: a successful sign-in, or one that could not be
    /// checked (the server was busy or failed).
    pub async fn not_a_failure(&self, attempt: Attempt) {
        self.per_source.refund(&attempt.source).await;
        self.per_pair.refund(&attempt.pair).await;
        if let Some(user) = &attempt.user {
            self.per_user.refund(user).await;
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
        SignInLimits::new(&settings, clock, None)
    }

    async fn fail(l: &SignInLimits, user: &str, source: &str) {
        let _counted = l.begin(user, source).await.unwrap();
    }

    #[tokio::test]
    async fn pair_limit_refuses_that_pair_only() {
        let l = limits(Arc::new(FixedClock::new(0)));
        fail(&l, "alice", "a").await;
        fail(&l, "alice", "a").await;
        assert_eq!(l.begin("alice", "a").await.unwrap_err(), 300);
        assert!(l.begin("alice", "b").await.is_ok());
    }

    #[tokio::test]
    async fn successes_do_not_count() {
        let l = limits(Arc::new(FixedClock::new(0)));
        for _ in 0..10 {
            let a = l.begin("alice", "a").await.unwrap();
            l.not_a_failure(a).await;
        }
        fail(&l, "alice", "a").await;
        assert!(l.begin("alice", "a").await.is_ok());
    }

    #[tokio::test]
    async fn user_over_limit_refuses_only_sources_with_failures() {
        let l = limits(Arc::new(FixedClock::new(0)));
        fail(&l, "alice", "a").await;
        fail(&l, "alice", "b").await;
        fail(&l, "alice", "c").await;
        fail(&l, "bob", "d").await;
        assert_eq!(l.begin("alice", "d").await.unwrap_err(), 300);
        assert!(
            l.begin("alice", "e").await.is_ok(),
            "a clean source may try"
        );
    }

    #[tokio::test]
    async fn window_end_clears_the_limits() {
        let clock = Arc::new(FixedClock::new(0));
        let l = limits(clock.clone());
        fail(&l, "alice", "a").await;
        fail(&l, "alice", "a").await;
        clock.advance(299);
        assert_eq!(l.begin("alice", "a").await.unwrap_err(), 1);
        clock.advance(1);
        assert!(l.begin("alice", "a").await.is_ok());
    }
}
