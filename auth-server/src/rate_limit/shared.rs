//! Fixed-window event counters shared by several nodes ([`SharedCounters`]), the window
//! arithmetic they all use, and an in-memory implementation for tests.

use async_trait::async_trait;
use mcp_auth_core::{StoreError, UnixTime};

/// Fixed-window event counters keyed by a string, shared by several nodes.
///
/// A window of `window_secs` seconds starts at every multiple of `window_secs` since the epoch
/// (`now - now mod window_secs`), as [`mcp_auth_core::rate_limit::RateLimiter`]'s do. Every method is one atomic step.
/// Keys are opaque here; callers put a limit's name in front (`signin:source:…`) and keep
/// secrets and user names out of them (hashed).
#[async_trait]
pub trait SharedCounters: Send + Sync + std::fmt::Debug {
    /// Count one event for `key` in the window containing `now`; returns the count in that
    /// window, this event included (so `1` for the first).
    async fn hit(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<u64, StoreError>;

    /// The count for `key` in the window containing `now`, without counting (0 when none).
    async fn count(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<u64, StoreError>;

    /// Take back one event of `key` in the window containing `now` (never below zero; nothing
    /// when the window has no count).
    async fn refund(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<(), StoreError>;

    /// Delete the counts of windows that ended before `now`; returns how many.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The start of the `window_secs` window holding `now`, and its end (exclusive).
pub fn window_bounds(window_secs: u64, now: UnixTime) -> (UnixTime, UnixTime) {
    let w = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    let start = now - now.rem_euclid(w);
    (start, start.saturating_add(w))
}

/// In-memory [`SharedCounters`], for tests (one process standing for several nodes).
#[derive(Debug, Default)]
pub struct MemorySharedCounters(
    std::sync::Mutex<std::collections::HashMap<(String, i64), (u64, i64)>>,
);

impl MemorySharedCounters {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, i64), (u64, i64)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl SharedCounters for MemorySharedCounters {
    async fn hit(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<u64, StoreError> {
        let (start, end) = window_bounds(window_secs, now);
        let mut map = self.map();
        let e = map.entry((key.to_owned(), start)).or_insert((0, end));
        e.0 += 1;
        Ok(e.0)
    }

    async fn count(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<u64, StoreError> {
        let (start, _) = window_bounds(window_secs, now);
        Ok(self.map().get(&(key.to_owned(), start)).map_or(0, |e| e.0))
    }

    async fn refund(&self, key: &str, window_secs: u64, now: UnixTime) -> Result<(), StoreError> {
        let (start, _) = window_bounds(window_secs, now);
        if let Some(e) = self.map().get_mut(&(key.to_owned(), start)) {
            e.0 = e.0.saturating_sub(1);
        }
        Ok(())
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, (_, end)| *end > now);
        Ok((before - map.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_at_multiples_of_their_length() {
        assert_eq!(window_bounds(60, 125), (120, 180));
        assert_eq!(window_bounds(60, 120), (120, 180));
        assert_eq!(window_bounds(0, 7), (7, 8));
    }

    #[tokio::test]
    async fn memory_counters_purge_ended_windows() {
        let c = MemorySharedCounters::default();
        c.hit("a", 60, 10).await.unwrap();
        c.hit("b", 3600, 10).await.unwrap();
        assert_eq!(c.purge(59).await.unwrap(), 0);
        assert_eq!(c.purge(60).await.unwrap(), 1);
        assert_eq!(c.count("b", 3600, 61).await.unwrap(), 1);
    }
}
