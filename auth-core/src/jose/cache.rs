//! A JWKS cache over an injected fetcher and clock: one cached key set per [`KeySource`]
//! (a `jwks_uri`, or an issuer whose RFC 8414 metadata names it), refreshed after a while,
//! refetched on an unknown `kid` at most once per interval, and kept past a failed refresh only
//! until a hard expiry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use jsonwebtoken::Algorithm;

use super::{KeyError, KeySet, VerifyingKey};
use crate::clock::{Clock, UnixTime};
use crate::types::Issuer;

/// Fetches the bytes of a URL: the one piece of I/O of the cache. The authorization server
/// implements it with its SSRF-guarded client, the resource server with its own HTTP client.
///
/// An implementation should follow no redirects, bound the time and the body size, and accept
/// only a `200` response.
#[async_trait]
pub trait JwksFetcher: Send + Sync {
    /// `GET url`; the body of a successful response.
    ///
    /// # Errors
    /// [`FetchError`] with a reason for the logs (status, transport, size, content type).
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError>;
}

/// A failed fetch; the text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// Where a key set comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySource {
    /// Fetch this JWK Set URL (a client's `jwks_uri`, RFC 7591 §2; a configured JWKS URL).
    JwksUri(String),
    /// Read `jwks_uri` from the issuer's RFC 8414 metadata
    /// (`<origin>/.well-known/oauth-authorization-server<path>`), whose `issuer` must be
    /// byte-identical to this one (RFC 8414 §3.3); the URL found is kept for later refreshes.
    Discover(Issuer),
    /// The same through OpenID Connect Discovery 1.0 §4
    /// (`<issuer>/.well-known/openid-configuration`), for identity providers that publish only
    /// that document (§4.3: its `issuer` must be identical too).
    DiscoverOpenId(Issuer),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::JwksUri(uri) => write!(f, "jwks_uri {uri}"),
            Self::Discover(issuer) | Self::DiscoverOpenId(issuer) => {
                write!(f, "the keys of {issuer}")
            }
        }
    }
}

/// Timing of a [`JwksCache`], in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTiming {
    /// A fetched set is used without refetching for this long (default 300).
    pub refresh_after: i64,
    /// After failed refreshes, a known key is still used until `fetched_at + max_stale`
    /// (default 3600). Set it to `refresh_after` to never use a stale key.
    pub max_stale: i64,
    /// Fetches of one source (for an unknown `kid`, a set due for refresh, or after a failure)
    /// happen at most once per this interval (default 30).
    pub min_refetch_interval: i64,
}

impl Default for CacheTiming {
    fn default() -> Self {
        Self {
            refresh_after: 300,
            max_stale: 3600,
            min_refetch_interval: 30,
        }
    }
}

/// Why a [`JwksCache`] gave no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The key set is known and no key of it verifies this JWS (after the refetch the rules
    /// allow): the JWS is bad.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The keys could not be obtained: no fetch has succeeded yet, or the last good set is older
    /// than `max_stale` and the refresh failed. The JWS may well be good.
    #[error("keys unavailable: {0}")]
    Unavailable(String),
}

#[derive(Default)]
struct Snapshot {
    keys: KeySet,
    fetched_at: Option<UnixTime>,
    jwks_uri: Option<String>,
}

/// The cache state of one source.
struct Entry {
    snapshot: RwLock<Arc<Snapshot>>,
    /// One fetch in flight per source; others wait for it and read its result.
    fetch_lock: tokio::sync::Mutex<()>,
    last_attempt: AtomicI64,
}

impl Entry {
    fn new() -> Self {
        Self {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            fetch_lock: tokio::sync::Mutex::new(()),
            last_attempt: AtomicI64::new(i64::MIN),
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn usable_until(&self, timing: CacheTiming) -> UnixTime {
        self.current().fetched_at.map_or(UnixTime::MIN, |t| {
            t.saturating_add(timing.max_stale.max(timing.refresh_after))
        })
    }
}

enum RefreshError {
    RateLimited,
    Failed(String),
}

/// A cache of JWK Sets, one per [`KeySource`], with its rules:
///
/// 1. a set fetched less than `refresh_after` ago answers without I/O;
/// 2. a `kid` (or, without `kid`, an `alg`) the set has no key for triggers a refetch, and a set
///    due for refresh is refetched; fetches of one source happen at most once per
///    `min_refetch_interval`, one at a time (concurrent callers wait and read the result);
/// 3. when a refresh fails, a known key is used until `fetched_at + max_stale`, then
///    [`JwksError::Unavailable`];
/// 4. a fetched document without a `keys` array is a failed fetch, not an empty set.
///
/// Time is the injected [`Clock`]'s; I/O is the injected [`JwksFetcher`]'s. When more than
/// [`Self::SWEEP_ABOVE`] sources are cached, sources whose keys can no longer be used are
/// forgotten.
pub struct JwksCache {
    fetcher: Arc<dyn JwksFetcher>,
    clock: Arc<dyn Clock>,
    timing: CacheTiming,
    // A map with its own sweep rather than a `moka` cache (issue 21 §5), by measurement (moka
    // 0.12.16, `sync::Cache` bounded at 1024 like `SWEEP_ABOVE`): after one usable source and
    // 1024 sources named twice each (an attacker's never-fetchable `jwks_uri`s), the usable
    // source had been evicted, and a new source inserted next was not admitted at all. Here the
    // sweep forgets only sources whose keys can no longer be used (rule 3), and a source always
    // gets its entry, so its refetch stays limited to once per `min_refetch_interval` (a source
    // without an entry would be fetched on every request). Nor does `try_get_with` fit: it
    // shares the load of a *missing* entry, while rules 1 to 3 refetch a present one (unknown
    // `kid`, due for refresh, stale) under the per-source lock and interval.
    entries: RwLock<HashMap<KeySource, Arc<Entry>>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// Most cached sources before unusable ones are swept.
    pub const SWEEP_ABOVE: usize = 1024;

    /// A cache fetching through `fetcher`, timed by `clock`, with [`CacheTiming::default`].
    pub fn new(fetcher: Arc<dyn JwksFetcher>, clock: Arc<dyn Clock>) -> Self {
        Self {
            fetcher,
            clock,
            timing: CacheTiming::default(),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Use `timing` instead of the default.
    pub fn with_timing(mut self, timing: CacheTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The timing in use.
    pub fn timing(&self) -> CacheTiming {
        self.timing
    }

    fn entry(&self, source: &KeySource, now: UnixTime) -> Arc<Entry> {
        if let Some(entry) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(source)
        {
            return entry.clone();
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(source) {
            return entry.clone();
        }
        if entries.len() >= Self::SWEEP_ABOVE {
            let timing = self.timing;
            entries.retain(|_, e| now < e.usable_until(timing));
        }
        let entry = Arc::new(Entry::new());
        entries.insert(source.clone(), entry.clone());
        entry
    }

    /// The key of `source` that verifies a JWS with header `alg` and `kid`
    /// ([`KeySet::select`]), under the rules above.
    ///
    /// # Errors
    /// [`JwksError::Key`] when the set is known and has no such key (unknown `kid` after the
    /// allowed refetch, wrong key type or `alg`, `HS*`); [`JwksError::Unavailable`] when no set
    /// could be obtained or the last one is past `max_stale`.
    pub async fn key(
        &self,
        source: &KeySource,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, JwksError> {
        let now = self.clock.now();
        let entry = self.entry(source, now);
        let snap = entry.current();
        if let Some(fetched_at) = snap.fetched_at {
            let missing = match snap.keys.select(kid, alg) {
                Ok(key) if now < fetched_at.saturating_add(self.timing.refresh_after) => {
                    return Ok(key);
                }
                Ok(key) => {
                    return match self.refresh(&entry, source, now, snap.fetched_at).await {
                        Ok(fresh) => Ok(fresh.keys.select(kid, alg)?),
                        Err(_) if now < fetched_at.saturating_add(self.timing.max_stale) => Ok(key),
                        Err(_) => Err(JwksError::Unavailable(format!("{source} expired"))),
                    };
                }
                Err(e) if !e.is_missing() => return Err(e.into()),
                Err(missing) => missing,
            };
            // Known set without the key: refetch if allowed, else the key is not there.
            return match self.refresh(&entry, source, now, snap.fetched_at).await {
                Ok(fresh) => Ok(fresh.keys.select(kid, alg)?),
                Err(_) => Err(missing.into()),
            };
        }
        match self.refresh(&entry, source, now, None).await {
            Ok(fresh) => Ok(fresh.keys.select(kid, alg)?),
            Err(RefreshError::Failed(why)) => Err(JwksError::Unavailable(why)),
            Err(RefreshError::RateLimited) => Err(JwksError::Unavailable(format!(
                "{source}: the last fetch failed; retrying later"
            ))),
        }
    }

    /// Refetch, unless another task already did since `seen` or the last attempt is too recent.
    async fn refresh(
        &self,
        entry: &Entry,
        source: &KeySource,
        now: UnixTime,
        seen: Option<UnixTime>,
    ) -> Result<Arc<Snapshot>, RefreshError> {
        let _guard = entry.fetch_lock.lock().await;
        let cur = entry.current();
        if cur.fetched_at != seen {
            return Ok(cur);
        }
        let last = entry.last_attempt.load(Ordering::SeqCst);
        if last != i64::MIN && now.saturating_sub(last) < self.timing.min_refetch_interval {
            return Err(RefreshError::RateLimited);
        }
        entry.last_attempt.store(now, Ordering::SeqCst);
        let jwks_uri = match (source, &cur.jwks_uri) {
            (KeySource::JwksUri(uri), _) => uri.clone(),
            (KeySource::Discover(_) | KeySource::DiscoverOpenId(_), Some(uri)) => uri.clone(),
            (KeySource::Discover(issuer), None) => {
                let url = format!("{}{}", issuer.origin(), issuer.metadata_path());
                self.discover(issuer, &url)
                    .await
                    .map_err(RefreshError::Failed)?
            }
            (KeySource::DiscoverOpenId(issuer), None) => {
                let url = format!("{}{}", issuer.origin(), issuer.openid_configuration_path());
                self.discover(issuer, &url)
                    .await
                    .map_err(RefreshError::Failed)?
            }
        };
        let body = self
            .fetcher
            .fetch(&jwks_uri)
            .await
            .map_err(|e| RefreshError::Failed(format!("{jwks_uri}: {e}")))?;
        let keys = KeySet::from_slice(&body)
            .map_err(|e| RefreshError::Failed(format!("{jwks_uri}: {e}")))?;
        let snap = Arc::new(Snapshot {
            keys,
            fetched_at: Some(now),
            jwks_uri: Some(jwks_uri),
        });
        *entry
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = snap.clone();
        Ok(snap)
    }

    /// The `jwks_uri` of `issuer`'s metadata document at `url`.
    async fn discover(&self, issuer: &Issuer, url: &str) -> Result<String, String> {
        let body = self
            .fetcher
            .fetch(url)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer.as_str()) {
            return Err(format!("metadata at {url} names another issuer"));
        }
        doc.get("jwks_uri")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("metadata at {url} has no jwks_uri"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::clock::FixedClock;

    const NOW: UnixTime = 1_700_000_000;
    const URI: &str = "https://keys.example/jwks.json";

    fn ec(kid: &str) -> serde_json::Value {
        json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tgk5-Cpfz2dQ",
            "y": "x_FEzRjGJpAgeHmLzn13a0x6iE8_-hspbNjcDjb4IW0"
        })
    }

    /// Answers every URL from a table, counting fetches per URL; a missing URL is a 404.
    #[derive(Default)]
    struct FakeFetcher {
        docs: Mutex<HashMap<String, Vec<u8>>>,
        fetches: Mutex<Vec<String>>,
        calls: AtomicUsize,
    }

    impl FakeFetcher {
        fn serve(&self, url: &str, doc: serde_json::Value) {
            self.docs
                .lock()
                .unwrap()
                .insert(url.to_owned(), doc.to_string().into_bytes());
        }

        fn fail(&self, url: &str) {
            self.docs.lock().unwrap().remove(url);
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl JwksFetcher for FakeFetcher {
        async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.fetches.lock().unwrap().push(url.to_owned());
            self.docs
                .lock()
                .unwrap()
                .get(url)
                .cloned()
                .ok_or_else(|| FetchError("status 404".into()))
        }
    }

    struct Fixture {
        fetcher: Arc<FakeFetcher>,
        clock: Arc<FixedClock>,
        cache: JwksCache,
    }

    fn fixture(keys: &[&str]) -> Fixture {
        let fetcher = Arc::new(FakeFetcher::default());
        let set: Vec<_> = keys.iter().map(|k| ec(k)).collect();
        fetcher.serve(URI, json!({ "keys": set }));
        let clock = Arc::new(FixedClock::new(NOW));
        let cache = JwksCache::new(fetcher.clone(), clock.clone());
        Fixture {
            fetcher,
            clock,
            cache,
        }
    }

    fn uri() -> KeySource {
        KeySource::JwksUri(URI.into())
    }

    impl Fixture {
        async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, JwksError> {
            self.cache.key(&uri(), Some(kid), Algorithm::ES256).await
        }
    }

    #[tokio::test]
    async fn fetched_set_answers_without_io_until_refresh_after() {
        let f = fixture(&["k1"]);
        assert_eq!(f.key("k1").await.unwrap().kid(), Some("k1"));
        f.clock.advance(299);
        f.key("k1").await.unwrap();
        assert_eq!(f.fetcher.calls(), 1);
        f.clock.advance(1);
        f.key("k1").await.unwrap();
        assert_eq!(f.fetcher.calls(), 2);
    }

    #[tokio::test]
    async fn unknown_kid_is_refetched_once_per_interval() {
        let f = fixture(&["k1"]);
        f.key("k1").await.unwrap();
        f.fetcher.serve(URI, json!({"keys": [ec("k1"), ec("k2")]}));
        f.clock.advance(10);
        assert_eq!(
            f.key("k2").await.unwrap_err(),
            JwksError::Key(KeyError::UnknownKid("k2".into()))
        );
        assert_eq!(f.fetcher.calls(), 1);
        f.clock.set(NOW + 30);
        assert_eq!(f.key("k2").await.unwrap().kid(), Some("k2"));
        assert_eq!(f.fetcher.calls(), 2);
        // A forged kid right after cannot force another fetch.
        f.clock.set(NOW + 31);
        assert_eq!(
            f.key("forged").await.unwrap_err(),
            JwksError::Key(KeyError::UnknownKid("forged".into()))
        );
        assert_eq!(f.fetcher.calls(), 2);
    }

    #[tokio::test]
    async fn alg_mismatch_is_refused_without_a_refetch() {
        let f = fixture(&["k1"]);
        f.key("k1").await.unwrap();
        f.clock.advance(60);
        assert_eq!(
            f.cache
                .key(&uri(), Some("k1"), Algorithm::RS256)
                .await
                .unwrap_err(),
            JwksError::Key(KeyError::KeyTypeMismatch("RS256"))
        );
        assert_eq!(f.fetcher.calls(), 1);
    }

    #[tokio::test]
    async fn none_and_hmac_are_refused() {
        let f = fixture(&["k1"]);
        assert_eq!(
            f.cache
                .key(&uri(), Some("k1"), Algorithm::HS256)
                .await
                .unwrap_err(),
            JwksError::Key(KeyError::DisallowedAlgorithm("HS256"))
        );
        assert!("none".parse::<Algorithm>().is_err());
    }

    #[tokio::test]
    async fn stale_keys_are_dropped_after_max_stale() {
        let f = fixture(&["k1"]);
        f.key("k1").await.unwrap();
        f.fetcher.fail(URI);
        f.clock.set(NOW + 3599);
        assert_eq!(f.key("k1").await.unwrap().kid(), Some("k1"));
        f.clock.set(NOW + 3600);
        assert!(matches!(
            f.key("k1").await.unwrap_err(),
            JwksError::Unavailable(_)
        ));
    }

    #[tokio::test]
    async fn max_stale_equal_to_refresh_after_never_uses_a_stale_key() {
        let mut f = fixture(&["k1"]);
        f.cache = JwksCache::new(f.fetcher.clone(), f.clock.clone()).with_timing(CacheTiming {
            refresh_after: 300,
            max_stale: 300,
            min_refetch_interval: 30,
        });
        f.key("k1").await.unwrap();
        f.fetcher.fail(URI);
        f.clock.set(NOW + 300);
        assert!(matches!(
            f.key("k1").await.unwrap_err(),
            JwksError::Unavailable(_)
        ));
    }

    #[tokio::test]
    async fn first_fetch_failure_is_unavailable_and_retried_only_after_the_interval() {
        let f = fixture(&["k1"]);
        f.fetcher.fail(URI);
        assert!(matches!(
            f.key("k1").await.unwrap_err(),
            JwksError::Unavailable(_)
        ));
        f.fetcher.serve(URI, json!({"keys": [ec("k1")]}));
        f.clock.advance(29);
        assert!(matches!(
            f.key("k1").await.unwrap_err(),
            JwksError::Unavailable(_)
        ));
        assert_eq!(f.fetcher.calls(), 1);
        f.clock.advance(1);
        f.key("k1").await.unwrap();
        assert_eq!(f.fetcher.calls(), 2);
    }

    #[tokio::test]
    async fn document_without_keys_array_is_a_failed_fetch() {
        let f = fixture(&[]);
        f.fetcher.serve(URI, json!("not a JWKS"));
        let err = f.key("k1").await.unwrap_err();
        assert_eq!(
            err,
            JwksError::Unavailable(format!("{URI}: JWK Set has no keys array"))
        );
    }

    #[tokio::test]
    async fn discovery_reads_jwks_uri_from_metadata_once() {
        let f = fixture(&["k1"]);
        let issuer: Issuer = "https://as.example/tenant".parse().unwrap();
        let metadata = "https://as.example/.well-known/oauth-authorization-server/tenant";
        f.fetcher.serve(
            metadata,
            json!({"issuer": "https://as.example/tenant", "jwks_uri": URI}),
        );
        let source = KeySource::Discover(issuer);
        let key = f.cache.key(&source, Some("k1"), Algorithm::ES256).await;
        assert_eq!(key.unwrap().kid(), Some("k1"));
        f.clock.advance(300);
        f.cache
            .key(&source, Some("k1"), Algorithm::ES256)
            .await
            .unwrap();
        assert_eq!(*f.fetcher.fetches.lock().unwrap(), [metadata, URI, URI]);
    }

    #[tokio::test]
    async fn openid_discovery_appends_the_well_known_path() {
        let f = fixture(&["k1"]);
        let config = "https://idp.example/tenant/.well-known/openid-configuration";
        f.fetcher.serve(
            config,
            json!({"issuer": "https://idp.example/tenant", "jwks_uri": URI}),
        );
        let source = KeySource::DiscoverOpenId("https://idp.example/tenant".parse().unwrap());
        let key = f.cache.key(&source, Some("k1"), Algorithm::ES256).await;
        assert_eq!(key.unwrap().kid(), Some("k1"));
        assert_eq!(*f.fetcher.fetches.lock().unwrap(), [config, URI]);
    }

    #[tokio::test]
    async fn discovery_refuses_metadata_naming_another_issuer() {
        let f = fixture(&["k1"]);
        let metadata = "https://as.example/.well-known/oauth-authorization-server";
        f.fetcher.serve(
            metadata,
            json!({"issuer": "https://evil.example", "jwks_uri": URI}),
        );
        let source = KeySource::Discover("https://as.example".parse().unwrap());
        let err = f
            .cache
            .key(&source, Some("k1"), Algorithm::ES256)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            JwksError::Unavailable(format!("metadata at {metadata} names another issuer"))
        );
    }

    #[tokio::test]
    async fn sources_whose_keys_are_unusable_are_swept_above_the_bound() {
        let f = fixture(&["k1"]);
        f.key("k1").await.unwrap();
        for i in 0..JwksCache::SWEEP_ABOVE {
            let source = KeySource::JwksUri(format!("https://down.example/{i}"));
            let err = f.cache.key(&source, Some("k1"), Algorithm::ES256).await;
            assert!(matches!(err, Err(JwksError::Unavailable(_))));
        }
        // The last insertion swept every source never fetched; the usable one stayed.
        let entries = f.cache.entries.read().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.contains_key(&uri()));
    }

    #[tokio::test]
    async fn sources_are_cached_separately() {
        let f = fixture(&["k1"]);
        let other = "https://other.example/jwks.json";
        f.fetcher.serve(other, json!({"keys": [ec("k9")]}));
        f.key("k1").await.unwrap();
        let k9 = f
            .cache
            .key(
                &KeySource::JwksUri(other.into()),
                Some("k9"),
                Algorithm::ES256,
            )
            .await;
        assert_eq!(k9.unwrap().kid(), Some("k9"));
        assert_eq!(f.fetcher.calls(), 2);
    }
}
