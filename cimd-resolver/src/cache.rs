//! Caching of validated documents (spec §3.6, A20): the [`CimdCache`] trait, its in-memory
//! implementation, and the HTTP freshness rules (RFC 9111 §4.2, §5.2) clamped to operator bounds.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use mcp_auth_core::{StoreError, UnixTime};
use serde::{Deserialize, Serialize};

use crate::document::ClientMetadataDocument;

/// One cached document. Serialisable, so that several AS nodes can share a cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedDocument {
    /// The validated document.
    pub document: ClientMetadataDocument,
    /// The response's `ETag`, sent back as `If-None-Match` when revalidating.
    pub etag: Option<String>,
    /// When it was fetched or last revalidated, seconds since the epoch.
    pub fetched_at: UnixTime,
    /// When it stops being fresh, seconds since the epoch. A stale entry is kept for
    /// revalidation but never used without it.
    pub expires_at: UnixTime,
}

impl CachedDocument {
    /// Fresh at `now` (seconds since the epoch)?
    pub fn is_fresh(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }
}

/// Where validated documents are kept, keyed by the exact `client_id` URL.
///
/// Contract: `get` returns what the last `put` for that URL stored (fresh or stale; the caller
/// checks [`CachedDocument::is_fresh`]), or `None`; an implementation may forget entries at any
/// time (eviction). Only valid documents from 200 (or 304) answers are ever put; failures are
/// never stored here (CIMD-09). Implementations for shared storage let several AS nodes reuse
/// one fetch.
#[async_trait]
pub trait CimdCache: Send + Sync {
    /// The entry for `url`, if any.
    ///
    /// # Errors
    /// A backend failure; the resolver answers `server_error`.
    async fn get(&self, url: &str) -> Result<Option<CachedDocument>, StoreError>;

    /// Store or replace the entry for `url`.
    ///
    /// # Errors
    /// A backend failure.
    async fn put(&self, url: &str, entry: CachedDocument) -> Result<(), StoreError>;

    /// Forget the entry for `url`.
    ///
    /// # Errors
    /// A backend failure.
    async fn remove(&self, url: &str) -> Result<(), StoreError>;
}

/// A [`CimdCache`] in process memory, bounded to a number of entries; when full, the entry that
/// expires first is evicted.
#[derive(Debug)]
pub struct InMemoryCimdCache {
    entries: Mutex<HashMap<String, CachedDocument>>,
    capacity: usize,
}

impl InMemoryCimdCache {
    /// Default capacity, in entries.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An empty cache holding at most [`Self::DEFAULT_CAPACITY`] entries.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty cache holding at most `capacity` entries (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, CachedDocument>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for InMemoryCimdCache {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl CimdCache for InMemoryCimdCache {
    async fn get(&self, url: &str) -> Result<Option<CachedDocument>, StoreError> {
        Ok(self.lock().get(url).cloned())
    }

    async fn put(&self, url: &str, entry: CachedDocument) -> Result<(), StoreError> {
        let mut entries = self.lock();
        if !entries.contains_key(url)
            && entries.len() >= self.capacity
            && let Some(victim) = entries
                .iter()
                .min_by_key(|(_, e)| e.expires_at)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&victim);
        }
        entries.insert(url.to_owned(), entry);
        Ok(())
    }

    async fn remove(&self, url: &str) -> Result<(), StoreError> {
        self.lock().remove(url);
        Ok(())
    }
}

/// Operator bounds on cache lifetimes, in seconds (spec §3.6, A20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheBounds {
    /// Shortest lifetime; also used for `no-cache` and `max-age=0`. Default 60 s.
    pub min_ttl: u64,
    /// Longest lifetime (CIMD-15). Default 86 400 s (24 h).
    pub max_ttl: u64,
    /// Lifetime when the response has neither `max-age` nor `Expires`. Default 300 s.
    pub default_ttl: u64,
}

impl Default for CacheBounds {
    fn default() -> Self {
        Self {
            min_ttl: 60,
            max_ttl: 86_400,
            default_ttl: 300,
        }
    }
}

impl CacheBounds {
    /// How long a response may be reused, in seconds, or `None` for `Cache-Control: no-store`
    /// (use for this request only, never store).
    ///
    /// `cache_control` is the `Cache-Control` header values joined by `,`; `expires` and `date`
    /// are the raw `Expires` and `Date` values; `now` is seconds since the epoch. The freshness
    /// lifetime is RFC 9111 §4.2.1's as [`http_cache_semantics::CachePolicy`] computes it for a
    /// private cache: `max-age` if present (§5.2.2.1; a malformed value counts as 0), else
    /// `Expires` minus `Date` (or minus `now` without a valid `Date`; a malformed `Expires`
    /// counts as 0); `no-cache` counts as 0. Without `max-age` and `Expires` it is
    /// `default_ttl` (no heuristic). The result is clamped to `[min_ttl, max_ttl]`.
    pub fn lifetime(
        &self,
        cache_control: Option<&str>,
        expires: Option<&str>,
        date: Option<&str>,
        now: UnixTime,
    ) -> Option<u64> {
        let policy = freshness_policy(cache_control, expires, date, now);
        if !policy.is_storable() {
            return None;
        }
        let raw = if has_freshness_information(cache_control, expires) {
            policy.time_to_live(system_time(now)).as_secs()
        } else {
            self.default_ttl
        };
        Some(raw.clamp(self.min_ttl, self.max_ttl.max(self.min_ttl)))
    }
}

/// The cache policy of a `200` answer to a `GET` with these headers, received at `now`, for a
/// private cache (`s-maxage` ignored) without heuristic freshness. HTTP-dates in any of the
/// three formats of RFC 9110 §5.6.7 are given to it as IMF-fixdate; an unreadable `Date` is
/// left out (the receipt time stands for it), an unreadable `Expires` kept (already expired).
fn freshness_policy(
    cache_control: Option<&str>,
    expires: Option<&str>,
    date: Option<&str>,
    now: UnixTime,
) -> http_cache_semantics::CachePolicy {
    let mut response = http::Response::new(());
    let headers = response.headers_mut();
    let mut put = |name: http::HeaderName, value: String| {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    if let Some(cc) = cache_control {
        put(http::header::CACHE_CONTROL, lowercase_directive_names(cc));
    }
    if let Some(expires) = expires {
        put(
            http::header::EXPIRES,
            imf_fixdate(expires).unwrap_or_else(|| expires.to_owned()),
        );
    }
    if let Some(date) = date.and_then(imf_fixdate) {
        put(http::header::DATE, date);
    }
    let options = http_cache_semantics::CacheOptions {
        shared: false,
        cache_heuristic: 0.0,
        immutable_min_time_to_live: std::time::Duration::ZERO,
        ignore_cargo_cult: false,
    };
    http_cache_semantics::CachePolicy::new_options(
        &http::Request::new(()),
        &response,
        system_time(now),
        options,
    )
}

/// `cache_control` with its directive names lowercased (they are case-insensitive, RFC 9111
/// §5.2; the policy compares them as written), values untouched.
fn lowercase_directive_names(cache_control: &str) -> String {
    cache_control
        .split(',')
        .map(|directive| match directive.split_once('=') {
            Some((name, value)) => format!("{}={value}", name.trim().to_ascii_lowercase()),
            None => directive.trim().to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the response states its freshness (`max-age` or `Expires`, RFC 9111 §4.2.1; or
/// `no-cache`, which makes it 0).
fn has_freshness_information(cache_control: Option<&str>, expires: Option<&str>) -> bool {
    expires.is_some()
        || cache_control
            .unwrap_or_default()
            .split(',')
            .any(|directive| {
                let name = directive.split_once('=').map_or(directive, |(n, _)| n);
                let name = name.trim();
                name.eq_ignore_ascii_case("max-age") || name.eq_ignore_ascii_case("no-cache")
            })
}

/// `now` (seconds since the epoch) as a [`std::time::SystemTime`] (the epoch when negative).
fn system_time(now: UnixTime) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(now).unwrap_or(0))
}

/// An HTTP-date (RFC 9110 §5.6.7, any of its three formats) rewritten as IMF-fixdate.
fn imf_fixdate(raw: &str) -> Option<String> {
    httpdate::parse_http_date(raw.trim())
        .ok()
        .map(httpdate::fmt_http_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn http_date(t: UnixTime) -> String {
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64))
    }

    fn life(cc: Option<&str>, expires: Option<&str>) -> Option<u64> {
        CacheBounds::default().lifetime(cc, expires, None, NOW)
    }

    /// CIMD-14: `max-age` inside the bounds is used as is.
    #[test]
    fn max_age_within_bounds_is_honoured() {
        assert_eq!(life(Some("max-age=600"), None), Some(600));
        assert_eq!(life(Some("public, max-age=\"3600\""), None), Some(3600));
    }

    /// CIMD-15, A20: lifetimes are clamped to [60 s, 24 h].
    #[test]
    fn lifetimes_are_clamped() {
        assert_eq!(life(Some("max-age=31536000"), None), Some(86_400));
        assert_eq!(life(Some("max-age=5"), None), Some(60));
        assert_eq!(life(Some("max-age=0"), None), Some(60));
        assert_eq!(life(Some("max-age=banana"), None), Some(60));
        assert_eq!(life(Some("no-cache"), None), Some(60));
    }

    /// Spec §3.6: `no-store` means not stored at all.
    #[test]
    fn no_store_is_not_stored() {
        assert_eq!(life(Some("max-age=600, no-store"), None), None);
        assert_eq!(life(Some("No-Store"), None), None);
    }

    /// RFC 9111 §5.3: `Expires` is used when there is no `max-age`, relative to `Date`.
    #[test]
    fn expires_is_used_without_max_age() {
        let expires = http_date(NOW + 1800);
        assert_eq!(life(None, Some(&expires)), Some(1800));
        let date = http_date(NOW - 600);
        assert_eq!(
            CacheBounds::default().lifetime(None, Some(&expires), Some(&date), NOW),
            Some(2400)
        );
        assert_eq!(life(Some("max-age=120"), Some(&expires)), Some(120));
        assert_eq!(life(None, Some("0")), Some(60));
        assert_eq!(life(None, Some(&http_date(NOW + 999_999))), Some(86_400));
    }

    /// RFC 9111 §5.2: directive names are case-insensitive; `s-maxage` is for shared caches
    /// (this one is private) and does not set the lifetime.
    #[test]
    fn directive_names_are_case_insensitive_and_s_maxage_is_ignored() {
        assert_eq!(life(Some("Max-Age=600"), None), Some(600));
        assert_eq!(life(Some("s-maxage=3600"), None), Some(300));
        assert_eq!(life(Some("s-maxage=3600, max-age=120"), None), Some(120));
    }

    /// RFC 9110 §5.6.7: the obsolete RFC 850 and asctime date formats are read too.
    #[test]
    fn obsolete_date_formats_are_read() {
        assert_eq!(
            life(None, Some("Thursday, 01-Jan-26 00:30:00 GMT")),
            Some(1800)
        );
        assert_eq!(life(None, Some("Thu Jan  1 00:30:00 2026")), Some(1800));
    }

    /// Without freshness information the default lifetime applies.
    #[test]
    fn default_lifetime_applies_without_headers() {
        assert_eq!(life(None, None), Some(300));
        assert_eq!(life(Some("public"), None), Some(300));
    }

    /// The in-memory cache evicts the entry that expires first when full.
    #[tokio::test]
    async fn full_in_memory_cache_evicts_the_earliest_expiry() {
        let cache = InMemoryCimdCache::with_capacity(2);
        let doc = crate::document::ClientMetadataDocument::validate(
            br#"{"client_id":"https://a.example/c","client_name":"A","redirect_uris":["https://a.example/cb"]}"#,
            &"https://a.example/c".parse().unwrap(),
            &crate::document::ValidationOptions::default(),
        )
        .unwrap();
        let entry = |expires_at| CachedDocument {
            document: doc.clone(),
            etag: None,
            fetched_at: 0,
            expires_at,
        };
        cache.put("u1", entry(30)).await.unwrap();
        cache.put("u2", entry(10)).await.unwrap();
        cache.put("u3", entry(20)).await.unwrap();
        assert!(cache.get("u2").await.unwrap().is_none());
        assert_eq!(cache.get("u1").await.unwrap().unwrap().expires_at, 30);
        assert_eq!(cache.get("u3").await.unwrap().unwrap().expires_at, 20);
    }
}
