//! A fixed-window event counter per key (a source address, a client id, a host), on the
//! injected clock: the rate limits of spec SEC-06 (registrations, failed client
//! authentications, metadata document fetches). In memory: each node counts its own traffic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;

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
