use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;
use crate::types::ResourceUri;

use super::lock;

/// When a client used what a user authorized: the first and the last time it received an
/// access token for the user and a resource (seconds since the epoch). What the account page
/// and `auth-server grants list` show beside a consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantUse {
    /// The client that received the tokens.
    pub client_id: String,
    /// The resource (RFC 8707) the tokens were for.
    pub resource: ResourceUri,
    /// When the first access token was issued.
    pub first_used: UnixTime,
    /// When the latest access token was issued.
    pub last_used: UnixTime,
}

/// The use of grants per (user, client, resource), and the moments a user removed a client's
/// access ("cut-offs"): an access token of that user and client issued at or before its
/// cut-off is no longer active at the introspection endpoint (RFC 7662 §2.2).
///
/// Contract:
/// - `record_use` keeps, per (sub, client_id, resource), the earliest `at` as `first_used` and
///   the latest as `last_used` (calls may arrive out of order from several nodes).
/// - `list_for_user` returns a user's rows sorted by client id, then resource.
/// - `cut_off` forgets every row of (sub, client_id), returns how many, and remembers the
///   cut-off `at`, keeping the later one when there is one already.
/// - `cut_off_at` is the remembered cut-off of (sub, client_id), or `None`.
/// - `has_use` is whether any user's row of `client_id` exists.
/// - `purge_cut_offs(before)` forgets cut-offs with `at < before` (no access token issued
///   before them is still valid) and returns how many.
#[async_trait]
pub trait GrantUsageStore: Send + Sync {
    /// Note that `client_id` received an access token for `sub` and `resource` at `at`.
    async fn record_use(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Every row of the user `sub`, sorted by client id, then resource.
    async fn list_for_user(&self, sub: &str) -> Result<Vec<GrantUse>, StoreError>;
    /// The user `sub` removed `client_id`'s access at `at`: forget its rows (returns how many)
    /// and remember the cut-off.
    async fn cut_off(&self, sub: &str, client_id: &str, at: UnixTime) -> Result<u64, StoreError>;
    /// The latest cut-off of (sub, client_id).
    async fn cut_off_at(&self, sub: &str, client_id: &str) -> Result<Option<UnixTime>, StoreError>;
    /// Forget cut-offs made before `before`; returns how many.
    async fn purge_cut_offs(&self, before: UnixTime) -> Result<u64, StoreError>;
    /// Whether `client_id` has received an access token for any user (and that use was not
    /// forgotten by a cut-off).
    async fn has_use(&self, client_id: &str) -> Result<bool, StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    /// (sub, client_id, resource) → (first_used, last_used).
    uses: HashMap<(String, String, String), (UnixTime, UnixTime)>,
    /// (sub, client_id) → cut-off.
    cut_offs: HashMap<(String, String), UnixTime>,
}

/// In-memory [`GrantUsageStore`].
///
/// The reference implementation of the [`GrantUsageStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryGrantUsageStore(Mutex<Inner>);

#[async_trait]
impl GrantUsageStore for MemoryGrantUsageStore {
    async fn record_use(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let key = (
            sub.to_owned(),
            client_id.to_owned(),
            resource.as_str().to_owned(),
        );
        let mut inner = lock(&self.0);
        let entry = inner.uses.entry(key).or_insert((at, at));
        entry.0 = entry.0.min(at);
        entry.1 = entry.1.max(at);
        Ok(())
    }

    async fn list_for_user(&self, sub: &str) -> Result<Vec<GrantUse>, StoreError> {
        let inner = lock(&self.0);
        let mut out = Vec::new();
        for ((s, c, r), (first, last)) in &inner.uses {
            if s != sub {
                continue;
            }
            out.push(GrantUse {
                client_id: c.clone(),
                resource: r
                    .parse()
                    .map_err(|e: crate::types::ParseError| StoreError::backend(e.0))?,
                first_used: *first,
                last_used: *last,
            });
        }
        out.sort_by(|a, b| {
            (a.client_id.as_str(), a.resource.as_str())
                .cmp(&(b.client_id.as_str(), b.resource.as_str()))
        });
        Ok(out)
    }

    async fn cut_off(&self, sub: &str, client_id: &str, at: UnixTime) -> Result<u64, StoreError> {
        let mut inner = lock(&self.0);
        let before = inner.uses.len();
        inner
            .uses
            .retain(|(s, c, _), _| !(s == sub && c == client_id));
        let forgotten = (before - inner.uses.len()) as u64;
        let entry = inner
            .cut_offs
            .entry((sub.to_owned(), client_id.to_owned()))
            .or_insert(at);
        *entry = (*entry).max(at);
        Ok(forgotten)
    }

    async fn cut_off_at(&self, sub: &str, client_id: &str) -> Result<Option<UnixTime>, StoreError> {
        Ok(lock(&self.0)
            .cut_offs
            .get(&(sub.to_owned(), client_id.to_owned()))
            .copied())
    }

    async fn purge_cut_offs(&self, before: UnixTime) -> Result<u64, StoreError> {
        let mut inner = lock(&self.0);
        let n = inner.cut_offs.len();
        inner.cut_offs.retain(|_, at| *at >= before);
        Ok((n - inner.cut_offs.len()) as u64)
    }

    async fn has_use(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.0).uses.keys().any(|(_, c, _)| c == client_id))
    }
}
