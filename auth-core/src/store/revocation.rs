use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;

use super::lock;

/// Revoked access tokens, by `jti`, until they would have expired anyway (RFC 7009 §2, and the
/// revocation that follows a replayed code or a reused refresh token).
///
/// Contract: after `deny(jti, exp)`, `is_denied(jti, now)` is `true` for every `now < exp`.
/// `purge(now)` deletes denials with `exp <= now` (no longer needed: the token has expired) and
/// returns how many.
#[async_trait]
pub trait AccessTokenDenylist: Send + Sync {
    /// Deny `jti` until `exp`.
    async fn deny(&self, jti: &str, exp: UnixTime) -> Result<(), StoreError>;
    /// Is `jti` denied at `now`?
    async fn is_denied(&self, jti: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// Delete denials whose `exp <= now` (seconds since the epoch); returns how many. The
    /// server calls it periodically.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// In-memory [`AccessTokenDenylist`].
///
/// The reference implementation of the [`AccessTokenDenylist`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryAccessTokenDenylist(Mutex<HashMap<String, UnixTime>>);

#[async_trait]
impl AccessTokenDenylist for MemoryAccessTokenDenylist {
    async fn deny(&self, jti: &str, exp: UnixTime) -> Result<(), StoreError> {
        let mut map = lock(&self.0);
        let entry = map.entry(jti.to_owned()).or_insert(exp);
        *entry = (*entry).max(exp);
        Ok(())
    }
    async fn is_denied(&self, jti: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(lock(&self.0).get(jti).is_some_and(|exp| now < *exp))
    }
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|_, exp| *exp > now);
        Ok((before - map.len()) as u64)
    }
}
