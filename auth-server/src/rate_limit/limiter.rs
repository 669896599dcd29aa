//! The [`Limiter`]: at most `limit` events per key in each fixed window, counted in memory or
//! in [`SharedCounters`] (see [the module](super) for the rules).

use std::sync::Arc;

use mcp_auth_core::rate_limit::RateLimiter;
use mcp_auth_core::{Clock, StoreError, UnixTime};

use super::shared::{SharedCounters, window_bounds};

/// How long a node trusts a shared count it read (or wrote) before reading it again, seconds.
pub const SHARED_READ_TTL: i64 = 1;

/// Cached shared counts a node keeps at most.
const MAX_CACHED_COUNTS: u64 = 10_000;

/// How long the cache keeps a remembered count at most, on the system clock. Freshness is
/// decided on the injected clock ([`SHARED_READ_TTL`]); this only lets memory go.
const CACHED_COUNT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// At most `limit` events per key in each fixed window of `window_secs` seconds, counted in
/// memory or, when given shared counters, across every node (see the module documentation).
pub struct Limiter {
    local: RateLimiter,
    shared: Option<(Arc<dyn SharedCounters>, &'static str)>,
    /// Shared counts this node read or wrote: key → (window start, count, read at), at most
    /// [`MAX_CACHED_COUNTS`] of them.
    seen: moka::sync::Cache<String, (i64, u64, i64)>,
    limit: u64,
    window_secs: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.limit)
            .field("window_secs", &self.window_secs)
            .field("shared", &self.shared.as_ref().map(|(_, name)| *name))
            .finish()
    }
}

impl Limiter {
    /// `limit` events per `window_secs` seconds per key, counted by this node in memory.
    pub fn new(limit: u32, window_secs: u64, clock: Arc<dyn Clock>) -> Self {
        let window_secs = window_secs.max(1);
        Self {
            local: RateLimiter::new(
                limit,
                i64::try_from(window_secs).unwrap_or(i64::MAX),
                clock.clone(),
            ),
            shared: None,
            seen: moka::sync::Cache::builder()
                .max_capacity(MAX_CACHED_COUNTS)
                // Least recently used first: the newest keys are the ones that matter, and moka's
                // default (TinyLFU) may refuse a new key once full.
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(CACHED_COUNT_LIFETIME)
                .build(),
            limit: u64::from(limit),
            window_secs,
            clock,
        }
    }

    /// Count in `counters` instead, under keys starting with `name` and `:` (e.g.
    /// `registration`); `None` keeps counting in memory.
    pub fn shared(mut self, counters: Option<Arc<dyn SharedCounters>>, name: &'static str) -> Self {
        self.shared = counters.map(|c| (c, name));
        self
    }

    fn shared_key(name: &str, key: &str) -> String {
        format!("{name}:{key}")
    }

    /// Remember `count` for `key` as of `now`.
    fn remember(&self, key: &str, count: u64, now: UnixTime) {
        let (start, _) = window_bounds(self.window_secs, now);
        self.seen.insert(key.to_owned(), (start, count, now));
    }

    /// The count remembered for `key`, when read in this window less than
    /// [`SHARED_READ_TTL`] ago.
    fn remembered(&self, key: &str, now: UnixTime) -> Option<u64> {
        let (start, _) = window_bounds(self.window_secs, now);
        self.seen
            .get(key)
            .filter(|(w, _, at)| *w == start && now >= *at && now - *at < SHARED_READ_TTL)
            .map(|(_, count, _)| count)
    }

    fn warn(name: &str, e: &StoreError) {
        tracing::warn!(limit = name, error = %e, "shared rate-limit counter unavailable; not limiting");
    }

    /// Seconds until the current window ends (a `Retry-After` value), between 1 and
    /// `window_secs`.
    pub fn retry_after(&self) -> u64 {
        self.local.retry_after()
    }

    /// The events counted for `key` in this window (0 when the shared counter fails; at most
    /// [`SHARED_READ_TTL`] old when shared).
    pub async fn count(&self, key: &str) -> u64 {
        match &self.shared {
            None => u64::from(self.local.count(key)),
            Some((counters, name)) => {
                let now = self.clock.now();
                if let Some(n) = self.remembered(key, now) {
                    return n;
                }
                let k = Self::shared_key(name, key);
                match counters.count(&k, self.window_secs, now).await {
                    Ok(n) => {
                        self.remember(key, n, now);
                        n
                    }
                    Err(e) => {
                        Self::warn(name, &e);
                        0
                    }
                }
            }
        }
    }

    /// The events counted by this node in memory (tests; 0 for a shared limiter).
    /// The events counted by this node in memory (tests; 0 for a shared limiter).
    #[cfg(test)]
    pub(crate) fn local_count(&self, key: &str) -> u32 {
        self.local.count(key)
    }

    /// Whether `key` has used up its limit in this window. Counts nothing. `false` when the
    /// shared counter fails.
    pub async fn exceeded(&self, key: &str) -> bool {
        match &self.shared {
            None => self.local.exceeded(key),
            Some(_) => self.count(key).await >= self.limit,
        }
    }

    /// Count one event for `key`; `false` when the key is over its limit in this window (the
    /// event is then not counted). `true` when the shared counter fails.
    pub async fn check(&self, key: &str) -> bool {
        let Some((counters, name)) = &self.shared else {
            return self.local.check(key);
        };
        let k = Self::shared_key(name, key);
        let now = self.clock.now();
        match counters.hit(&k, self.window_secs, now).await {
            Ok(n) if n <= self.limit => {
                self.remember(key, n, now);
                true
            }
            Ok(n) => {
                self.remember(key, n - 1, now);
                if let Err(e) = counters.refund(&k, self.window_secs, now).await {
                    Self::warn(name, &e);
                }
                false
            }
            Err(e) => {
                Self::warn(name, &e);
                true
            }
        }
    }

    /// Take back one event counted by [`Limiter::check`] in this window.
    pub async fn refund(&self, key: &str) {
        match &self.shared {
            None => self.local.refund(key),
            Some((counters, name)) => {
                let k = Self::shared_key(name, key);
                let now = self.clock.now();
                if let Some(n) = self.remembered(key, now) {
                    self.remember(key, n.saturating_sub(1), now);
                }
                if let Err(e) = counters.refund(&k, self.window_secs, now).await {
                    Self::warn(name, &e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::MemorySharedCounters;
    use async_trait::async_trait;
    use mcp_auth_core::FixedClock;

    /// A counter store that always fails (a lost database).
    #[derive(Debug)]
    struct Down;

    #[async_trait]
    impl SharedCounters for Down {
        async fn hit(&self, _: &str, _: u64, _: UnixTime) -> Result<u64, StoreError> {
            Err(StoreError::unavailable("gone"))
        }
        async fn count(&self, _: &str, _: u64, _: UnixTime) -> Result<u64, StoreError> {
            Err(StoreError::unavailable("gone"))
        }
        async fn refund(&self, _: &str, _: u64, _: UnixTime) -> Result<(), StoreError> {
            Err(StoreError::unavailable("gone"))
        }
        async fn purge(&self, _: UnixTime) -> Result<u64, StoreError> {
            Err(StoreError::unavailable("gone"))
        }
    }

    /// Two limiters (two nodes) on one set of counters reach the limit together: a node sees
    /// its own events at once and the other's within [`SHARED_READ_TTL`]; a refused event is
    /// not counted; the window's end starts again from zero.
    #[tokio::test]
    async fn two_nodes_share_one_count() {
        let clock = Arc::new(FixedClock::new(600));
        let counters: Arc<dyn SharedCounters> = Arc::new(MemorySharedCounters::default());
        let a = Limiter::new(3, 60, clock.clone()).shared(Some(counters.clone()), "t");
        let b = Limiter::new(3, 60, clock.clone()).shared(Some(counters), "t");
        assert!(!b.exceeded("k").await, "b reads 0 and remembers it");
        assert!(a.check("k").await);
        assert!(a.check("k").await);
        assert!(b.check("k").await, "b's write sees a's two events");
        assert!(b.exceeded("k").await, "b knows the total it wrote");
        assert!(!a.exceeded("k").await, "a still trusts the count it wrote");
        clock.advance(SHARED_READ_TTL);
        assert!(a.exceeded("k").await, "a reads the shared count again");
        assert!(!a.check("k").await);
        assert_eq!(a.count("k").await, 3, "a refused event is not counted");
        assert!(!a.exceeded("other").await);
        b.refund("k").await;
        clock.advance(SHARED_READ_TTL);
        assert!(!a.exceeded("k").await);
        assert!(a.check("k").await);
        clock.advance(60);
        assert!(!a.exceeded("k").await);
        assert!(b.check("k").await);
    }

    /// A failing counter store never refuses: the limiter answers "not limited".
    #[tokio::test]
    async fn a_failing_counter_store_does_not_limit() {
        let clock = Arc::new(FixedClock::new(0));
        let l = Limiter::new(1, 60, clock).shared(Some(Arc::new(Down)), "t");
        for _ in 0..5 {
            assert!(l.check("k").await);
        }
        assert!(!l.exceeded("k").await);
        assert_eq!(l.count("k").await, 0);
        l.refund("k").await;
    }

    /// Without shared counters a limiter is the in-memory one.
    #[tokio::test]
    async fn without_shared_counters_it_counts_in_memory() {
        let clock = Arc::new(FixedClock::new(0));
        let l = Limiter::new(1, 60, clock);
        assert!(l.check("k").await);
        assert!(!l.check("k").await);
        assert_eq!(l.local_count("k"), 1);
        assert_eq!(l.retry_after(), 60);
    }
}
