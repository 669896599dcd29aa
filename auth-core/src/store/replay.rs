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
#[derive(Debug, Default)]
pub struct MemoryReplayCache(Mutex<HashMap<String, UnixTime>>);

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn insert_once(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        if map.len() > 10_000 {
            map.retain(|_, exp| *exp > now);
        }
        match map.get(key) {
            Some(exp) if *exp > now => Ok(false),
            _ => {
                map.insert(key.to_owned(), expires_at);
                Ok(true)
            }
        }
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|_, exp| *exp > now);
        Ok((before - map.len()) as u64)
    }
}
