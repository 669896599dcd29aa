//! A fixed-window event counter per key (a source address, a client id, a host), on the
//! injected clock: the rate limits of spec SEC-06 (registrations, failed client
//! authentications, metadata document fetches). In memory: each node counts its own traffic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;

// Kept hand-written instead of `governor`'s keyed limiter (issue 21 §5), by measurement
// (governor 0.10.4 on its `FakeRelativeClock`): with the quota "2 per 3600 s" (burst 2, one cell
// per 1800 s) it allowed a third event 1800 s after the first two, and with "10 per 60 s" an
// 11th event 6 s after ten, where these limits allow them only when the window ends (3600 s,
// 60 s). GCRA is not a fixed window, so the limits' numbers and their `Retry-After` (the rest of
// the window, the same for every key) would change. Nor does governor have a refund (sign-in
// takes back an attempt that succeeded) or a read that counts nothing (`exceeded`, `count`).
// And the PostgreSQL counters shared by a cluster (`mcp_auth_server::rate_limit`) count in these
// same fixed windows, so one node and a cluster refuse the same events.

/// Allows at most `limit` events per key in each window of `window_secs` seconds.
pub struct RateLimiter {
    limit: u32,
    window_secs: i64,
    clock: Arc<dyn Clock>,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("window_secs", &self.window_secs)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter of `limit` events per `window_secs` seconds per key.
    pub fn new(limit: u32, window_secs: i64, clock: Arc<dyn Clock>) -> Self {
        Self {
            limit,
            window_secs: window_secs.max(1),
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// True when `key` has used up its limit in the current window. Counts nothing.
    pub fn exceeded(&self, key: &str) -> bool {
        let window = self.clock.now().div_euclid(self.window_secs);
        let map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key)
            .is_some_and(|(w, count)| *w == window && *count >= self.limit)
    }

    /// Events counted for `key` in the current window (0 when none).
    pub fn count(&self, key: &str) -> u32 {
        let window = self.clock.now().div_euclid(self.window_secs);
        let map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key)
            .filter(|(w, _)| *w == window)
            .map_or(0, |(_, count)| *count)
    }

    /// Seconds until the current window ends and every key starts again from zero: the value of
    /// a `Retry-After` header (RFC 9110 §10.2.3). Between 1 and `window_secs`.
    pub fn retry_after(&self) -> u64 {
        let into = self.clock.now().rem_euclid(self.window_secs);
        u64::try_from(self.window_secs - into).unwrap_or(1).max(1)
    }

    /// Take back one event counted for `key` by [`RateLimiter::check`] in the current window (an
    /// attempt reserved up front that turned out not to count, such as a successful sign-in).
    /// Does nothing when the window has ended since, or nothing is counted.
    pub fn refund(&self, key: &str) {
        let window = self.clock.now().div_euclid(self.window_secs);
        let mut map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((w, count)) = map.get_mut(key)
            && *w == window
        {
            *count = count.saturating_sub(1);
        }
    }

    /// Count one event for `key`; `false` when the key is over its limit in this window (the
    /// event is then not counted).
    pub fn check(&self, key: &str) -> bool {
        let now = self.clock.now();
        let window = now.div_euclid(self.window_secs);
        let mut map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[test]
    fn limit_applies_per_key_and_resets_each_window() {
        let clock = Arc::new(FixedClock::new(3600 * 10));
        let rl = RateLimiter::new(2, 3600, clock.clone());
        assert!(rl.check("a"));
        assert!(rl.check("a"));
        assert!(!rl.check("a"));
        assert!(rl.check("b"));
        clock.advance(3600);
        assert!(rl.check("a"));
    }

    #[test]
    fn retry_after_is_the_rest_of_the_window() {
        let clock = Arc::new(FixedClock::new(120 + 15));
        let rl = RateLimiter::new(1, 60, clock.clone());
        assert_eq!(rl.retry_after(), 45);
        clock.advance(44);
        assert_eq!(rl.retry_after(), 1);
        clock.advance(1);
        assert_eq!(rl.retry_after(), 60);
    }

    #[test]
    fn refund_takes_back_one_event_of_the_current_window() {
        let clock = Arc::new(FixedClock::new(0));
        let rl = RateLimiter::new(2, 60, clock.clone());
        assert!(rl.check("a"));
        assert!(rl.check("a"));
        assert_eq!(rl.count("a"), 2);
        rl.refund("a");
        assert_eq!(rl.count("a"), 1);
        assert!(rl.check("a"));
        assert!(!rl.check("a"));
        rl.refund("b");
        assert_eq!(rl.count("b"), 0);
        clock.advance(60);
        rl.refund("a");
        assert_eq!(rl.count("a"), 0);
        assert!(rl.check("a"));
    }

    #[test]
    fn exceeded_reports_without_counting() {
        let clock = Arc::new(FixedClock::new(0));
        let rl = RateLimiter::new(1, 60, clock.clone());
        assert!(!rl.exceeded("a"));
        assert!(!rl.exceeded("a"));
        assert!(rl.check("a"));
        assert!(rl.exceeded("a"));
        clock.advance(60);
        assert!(!rl.exceeded("a"));
    }
}
