use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;

use super::lock;

/// Remembers single-use identifiers (`jti` of client assertions, RFC 7523 §3 item 7) until they
/// expire.
///
/// Contract: `insert_once(key, expires_at, now)` returns `true` for the first insert of `key`
/// and `false` for any later one while the earlier entry has not expired (`now < expires_at`).
/// Of concurrent inserts of one key exactly one gets `true`. `purge(now)` deletes the entries
/// that expired at or before `now` and returns how many; it never makes a live key reusable.
#[async_trait]
pub trait ReplayCache: Send + Sync {
    /// Record `key` until `expires_at`; `false` if it is already recorded.
    async fn insert_once(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Delete entries whose `expires_at <= now` (seconds since the epoch); returns how many.
    /// The server calls it periodically.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// In-memory [`ReplayCache`]. Expired entries are swept as new ones arrive.
///
/// The reference implementation of the [`ReplayCache`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
///
/// A sweep visits every entry, so it runs only once the map has grown to twice its size after
/// the previous sweep (and to at least [`SWEEP_FLOOR`] entries): an insert costs O(1) on
/// average however many entries are live (a resource server's layer records one DPoP proof
/// per request, tens of thousands within one `iat` window under load).
#[derive(Debug, Default)]
pub struct MemoryReplayCache(Mutex<Entries>);

/// The size, in entries, below which [`MemoryReplayCache`] never sweeps.
const SWEEP_FLOOR: usize = 10_000;

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, UnixTime>,
    /// Sweep when the map holds this many entries (never fewer than [`SWEEP_FLOOR`]).
    sweep_at: usize,
}

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn insert_once(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut entries = lock(&self.0);
        if entries.map.len() >= entries.sweep_at.max(SWEEP_FLOOR) {
            entries.map.retain(|_, exp| *exp > now);
            entries.sweep_at = entries.map.len().saturating_mul(2);
        }
        match entries.map.get(key) {
            Some(exp) if *exp > now => Ok(false),
            _ => {
                entries.map.insert(key.to_owned(), expires_at);
                Ok(true)
            }
        }
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut entries = lock(&self.0);
        let before = entries.map.len();
        entries.map.retain(|_, exp| *exp > now);
        Ok((before - entries.map.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Live entries past the floor: the next sweep waits until the map has doubled, so inserts
    /// do not each visit every entry; expired entries still go at that sweep.
    #[tokio::test]
    async fn sweeps_are_spaced_by_doubling() {
        let cache = MemoryReplayCache::default();
        for i in 0..SWEEP_FLOOR {
            assert!(
                cache
                    .insert_once(&format!("live-{i}"), 100, 10)
                    .await
                    .unwrap()
            );
        }
        // At the floor: this insert sweeps (nothing expired) and sets the next sweep at 2x.
        assert!(cache.insert_once("short", 20, 10).await.unwrap());
        assert_eq!(lock(&cache.0).sweep_at, 2 * SWEEP_FLOOR);
        for i in 0..SWEEP_FLOOR - 1 {
            assert!(
                cache
                    .insert_once(&format!("more-{i}"), 100, 30)
                    .await
                    .unwrap()
            );
        }
        // `short` expired at 20, but no sweep has run since: it is still in the map.
        assert_eq!(lock(&cache.0).map.len(), 2 * SWEEP_FLOOR);
        // The map has doubled: this insert sweeps `short` out, then records it again.
        assert!(cache.insert_once("short", 40, 30).await.unwrap());
        assert_eq!(lock(&cache.0).sweep_at, 2 * (2 * SWEEP_FLOOR - 1));
        assert_eq!(lock(&cache.0).map.len(), 2 * SWEEP_FLOOR);
        // A live key stays refused across sweeps.
        assert!(!cache.insert_once("live-0", 100, 30).await.unwrap());
    }
}
