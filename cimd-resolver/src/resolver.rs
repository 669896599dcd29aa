//! [`CimdResolver`]: URL rules, policy, cache, one fetch in flight per URL, validation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use mcp_auth_core::ext::ClientResolver;
use mcp_auth_core::{Client, ClientId, Clock, OAuthError, SystemClock, UnixTime};
use reqwest::Url;
use reqwest::header::{CACHE_CONTROL, DATE, ETAG, EXPIRES, HeaderMap};

use crate::cache::{CacheBounds, CachedDocument, CimdCache, InMemoryCimdCache};
use crate::document::{ClientMetadataDocument, ValidationOptions};
use crate::error::CimdError;
use crate::policy::{FetchRateLimiter, HostPattern, HostPolicy};
use crate::url_rules::check_url;
use mcp_auth_outbound::{
    AddressPolicy, DnsLookup, Fetched, GUARDED_USER_AGENT, OutboundClient, SystemLookup,
};

/// A configuration mistake found by [`CimdResolverBuilder::build`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CimdBuildError {
    /// A setting is out of range; the message names it.
    #[error("invalid CIMD resolver setting: {0}")]
    Setting(String),
    /// A PEM root certificate given to
    /// [`CimdResolverBuilder::insecure_add_root_certificate_pem`] does not parse.
    #[error("invalid root certificate: {0}")]
    Certificate(String),
    /// The HTTP client could not be created (TLS backend initialisation failed).
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

/// One fetch in flight, shared by every request waiting for that URL.
type Flight = Shared<BoxFuture<'static, Result<ClientMetadataDocument, CimdError>>>;

struct Inner {
    fetcher: OutboundClient,
    #[cfg(test)]
    handed_out: Arc<Mutex<Vec<std::net::SocketAddr>>>,
    cache: Arc<dyn CimdCache>,
    clock: Arc<dyn Clock>,
    bounds: CacheBounds,
    negative_ttl: u64,
    negative: Mutex<HashMap<String, (UnixTime, CimdError)>>,
    hosts: HostPolicy,
    limiter: FetchRateLimiter,
    validation: ValidationOptions,
    addresses: AddressPolicy,
    allow_ip_literal_hosts: bool,
    in_flight: Mutex<HashMap<String, (u64, Flight)>>,
    next_flight: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Resolves URL-shaped `client_id`s (SEP-991) to clients by fetching and validating their
/// Client ID Metadata Documents. Cheap to clone (an `Arc`).
///
/// For each `client_id`: the URL rules (spec §3.2) and the host lists are checked without any
/// network I/O; a fresh cached document is used as is; otherwise one fetch runs per URL, however
/// many requests wait on it, subject to the per-host rate limit; the answer is validated
/// (spec §3.4) and cached for its HTTP lifetime clamped to the [`CacheBounds`] (spec §3.6). A
/// stale entry with an `ETag` is revalidated with `If-None-Match`. Failures are never cached
/// beyond the negative window (default 0 s, i.e. not at all; CIMD-09).
#[derive(Clone)]
pub struct CimdResolver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CimdResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CimdResolver")
            .field("bounds", &self.inner.bounds)
            .field("negative_ttl", &self.inner.negative_ttl)
            .field("hosts", &self.inner.hosts)
            .field(
                "allow_loopback",
                &(self.inner.addresses == AddressPolicy::PublicAndLoopback),
            )
            .finish_non_exhaustive()
    }
}

impl CimdResolver {
    /// A builder with the safe defaults listed on [`CimdResolverBuilder`].
    pub fn builder() -> CimdResolverBuilder {
        CimdResolverBuilder::default()
    }

    /// The validated document for `client_id`, from the cache or fetched.
    ///
    /// # Errors
    /// [`CimdError`]: a URL rule (before any I/O), the host lists, the rate limit, any fetch
    /// failure (including special-use addresses, redirects, non-200, non-JSON, oversized body,
    /// timeouts), a document rule, or a cache backend failure.
    pub async fn resolve_document(
        &self,
        client_id: &ClientId,
    ) -> Result<ClientMetadataDocument, CimdError> {
        let inner = &self.inner;
        let url = check_url(
            client_id.as_str(),
            inner.addresses,
            inner.allow_ip_literal_hosts,
        )?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if !inner.hosts.is_allowed(&host) {
            return Err(CimdError::HostNotAllowed(host));
        }
        let key = client_id.as_str().to_owned();
        let now = inner.clock.now();
        let cached = inner.cache_get(&key).await?;
        if let Some(entry) = &cached
            && entry.is_fresh(now)
        {
            return Ok(entry.document.clone());
        }
        if let Some(err) = inner.negative_hit(&key, now) {
            return Err(err);
        }
        let flight = {
            let mut flights = lock(&inner.in_flight);
            match flights.get(&key) {
                Some((_, flight)) => flight.clone(),
                None => {
                    let generation = inner.next_flight.fetch_add(1, Ordering::Relaxed);
                    let task = tokio::spawn(Arc::clone(inner).refresh_and_land(
                        client_id.clone(),
                        url,
                        host,
                        cached,
                        generation,
                    ));
                    let flight = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(CimdError::Transport(format!("fetch task failed: {e}")))
                        })
                    }
                    .boxed()
                    .shared();
                    flights.insert(key, (generation, flight.clone()));
                    flight
                }
            }
        };
        flight.await
    }

    /// True when `client_id` is a metadata-document URL whose host is on the trusted list (and
    /// allowed): the operator lets such clients be approved without a consent prompt
    /// (CIMD-UI-5). Does no I/O.
    pub fn is_trusted(&self, client_id: &ClientId) -> bool {
        client_id.is_metadata_document_url()
            && Url::parse(client_id.as_str())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .is_some_and(|host| self.inner.hosts.is_trusted(&host))
    }

    /// The shared fetch client: no redirects, no proxy, the timeouts, and the screening DNS
    /// resolver. For fetching a document's `jwks_uri` under the same SSRF rules (CIMD-20), e.g.
    /// through the server's JWKS source. It does not limit body sizes, and IP-literal hosts do
    /// not pass through its resolver, so callers refuse them first (document validation already
    /// does for `jwks_uri`).
    pub fn http_client(&self) -> reqwest::Client {
        self.inner.fetcher.http().clone()
    }

    #[cfg(test)]
    pub(crate) fn handed_out(&self) -> Vec<std::net::SocketAddr> {
        lock(&self.inner.handed_out).clone()
    }

    #[cfg(test)]
    pub(crate) fn flights_in_progress(&self) -> usize {
        lock(&self.inner.in_flight).len()
    }
}

impl Inner {
    async fn cache_get(&self, key: &str) -> Result<Option<CachedDocument>, CimdError> {
        self.cache.get(key).await.map_err(CimdError::Cache)
    }

    fn negative_hit(&self, key: &str, now: UnixTime) -> Option<CimdError> {
        if self.negative_ttl == 0 {
            return None;
        }
        let mut negative = lock(&self.negative);
        match negative.get(key) {
            Some((until, err)) if now < *until => Some(err.clone()),
            Some(_) => {
                negative.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember_failure(&self, key: &str, err: &CimdError, now: UnixTime) {
        if self.negative_ttl == 0 || matches!(err, CimdError::RateLimited(_)) {
            return;
        }
        let mut negative = lock(&self.negative);
        if negative.len() > 4096 {
            negative.retain(|_, (until, _)| now < *until);
        }
        negative.insert(
            key.to_owned(),
            (now + self.negative_ttl as i64, err.clone()),
        );
    }

    /// Run [`Self::refresh`] as its own task, so a fetch completes (and fills the cache) even
    /// when every request waiting on it has gone, then retire the flight.
    async fn refresh_and_land(
        self: Arc<Self>,
        client_id: ClientId,
        url: Url,
        host: String,
        cached: Option<CachedDocument>,
        generation: u64,
    ) -> Result<ClientMetadataDocument, CimdError> {
        let key = client_id.as_str().to_owned();
        let result = Arc::clone(&self)
            .refresh(client_id, url, host, cached)
            .await;
        let mut flights = lock(&self.in_flight);
        if flights.get(&key).is_some_and(|(g, _)| *g == generation) {
            flights.remove(&key);
        }
        result
    }

    /// The one fetch for a URL: rate limit, conditional GET, validation, caching.
    async fn refresh(
        self: Arc<Self>,
        client_id: ClientId,
        url: Url,
        host: String,
        cached: Option<CachedDocument>,
    ) -> Result<ClientMetadataDocument, CimdError> {
        let key = client_id.as_str();
        if let Some(entry) = self.cache_get(key).await?
            && entry.is_fresh(self.clock.now())
        {
            return Ok(entry.document);
        }
        if !self.limiter.try_acquire(&host) {
            tracing::warn!(client_id = %key, host = %host, "CIMD fetch rate limit reached");
            return Err(CimdError::RateLimited(host));
        }
        let etag = cached.as_ref().and_then(|c| c.etag.clone());
        let had_entry = cached.is_some();
        let result = match self
            .fetcher
            .get_json_conditional(&url, etag.as_deref())
            .await
        {
            Ok(Fetched::NotModified { headers }) => match cached {
                Some(entry) => Ok((entry.document, headers, entry.etag)),
                None => Err(CimdError::Status(304)),
            },
            Ok(Fetched::Body { body, headers }) => {
                ClientMetadataDocument::validate(&body, &client_id, &self.validation)
                    .map(|doc| {
                        let etag = header_str(&headers, ETAG);
                        (doc, headers, etag)
                    })
                    .map_err(CimdError::from)
            }
            Err(e) => Err(CimdError::from(e)),
        };
        let now = self.clock.now();
        match result {
            Ok((document, headers, etag)) => {
                let cache_control = headers
                    .get_all(CACHE_CONTROL)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(",");
                let lifetime = self.bounds.lifetime(
                    Some(&cache_control),
                    header_str(&headers, EXPIRES).as_deref(),
                    header_str(&headers, DATE).as_deref(),
                    now,
                );
                tracing::info!(client_id = %key, lifetime = ?lifetime, "client metadata document accepted");
                match lifetime {
                    Some(ttl) => {
                        let entry = CachedDocument {
                            document: document.clone(),
                            etag,
                            fetched_at: now,
                            expires_at: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
                        };
                        if let Err(e) = self.cache.put(key, entry).await {
                            tracing::warn!(client_id = %key, error = %e, "could not cache client metadata document");
                        }
                    }
                    None => {
                        if let Err(e) = self.cache.remove(key).await {
                            tracing::warn!(client_id = %key, error = %e, "could not drop cached client metadata document");
                        }
                    }
                }
                Ok(document)
            }
            Err(err) => {
                tracing::warn!(client_id = %key, error = %err, "client metadata document refused");
                if had_entry && let Err(e) = self.cache.remove(key).await {
                    tracing::warn!(client_id = %key, error = %e, "could not drop cached client metadata document");
                }
                self.remember_failure(key, &err, now);
                Err(err)
            }
        }
    }
}

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[async_trait]
impl ClientResolver for CimdResolver {
    fn handles(&self, client_id: &ClientId) -> bool {
        client_id.is_metadata_document_url()
    }

    async fn resolve(&self, client_id: &ClientId) -> Result<Option<Client>, OAuthError> {
        let document = self.resolve_document(client_id).await?;
        Ok(Some(document.to_client(self.inner.clock.now())))
    }

    fn is_trusted(&self, client_id: &ClientId) -> bool {
        CimdResolver::is_trusted(self, client_id)
    }
}

/// Builds a [`CimdResolver`]. Defaults (spec §3.3, §3.6):
///
/// | setting | default |
/// |---|---|
/// | connect timeout / total timeout | 2 s / 5 s |
/// | body limit | 5 120 bytes (at most 65 536) |
/// | cache lifetime bounds | 60 s … 86 400 s; 300 s without freshness headers |
/// | negative window | 0 s (failures are not cached) |
/// | fetch rate limit | 10 per host per 60 s |
/// | host lists | empty allow (open mode), empty deny, no trusted hosts |
/// | `client_name` | required |
/// | grant types a document may list | `authorization_code`, `refresh_token` |
/// | IP-literal hosts | refused |
/// | loopback targets, private roots | refused (`insecure_*` switches) |
/// | clock, cache, DNS | system clock, [`InMemoryCimdCache`], [`SystemLookup`] |
pub struct CimdResolverBuilder {
    clock: Arc<dyn Clock>,
    cache: Arc<dyn CimdCache>,
    lookup: Arc<dyn DnsLookup>,
    connect_timeout: Duration,
    total_timeout: Duration,
    max_body_bytes: usize,
    bounds: CacheBounds,
    negative_ttl: u64,
    hosts: HostPolicy,
    rate_limit: u32,
    rate_window: u64,
    validation: ValidationOptions,
    allow_ip_literal_hosts: bool,
    insecure_allow_loopback: bool,
    insecure_roots: Vec<Vec<u8>>,
}

impl Default for CimdResolverBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            cache: Arc::new(InMemoryCimdCache::new()),
            lookup: Arc::new(SystemLookup),
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            bounds: CacheBounds::default(),
            negative_ttl: 0,
            hosts: HostPolicy::default(),
            rate_limit: 10,
            rate_window: 60,
            validation: ValidationOptions::default(),
            allow_ip_literal_hosts: false,
            insecure_allow_loopback: false,
            insecure_roots: Vec::new(),
        }
    }
}

impl std::fmt::Debug for CimdResolverBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CimdResolverBuilder")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("bounds", &self.bounds)
            .field("insecure_allow_loopback", &self.insecure_allow_loopback)
            .finish_non_exhaustive()
    }
}

impl CimdResolverBuilder {
    /// Default body limit, in bytes (5 KiB, spec §3.3).
    pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024;
    /// Largest allowed body limit, in bytes (64 KiB).
    pub const MAX_BODY_BYTES_LIMIT: usize = 64 * 1024;
    /// Longest allowed cache lifetime, in seconds (24 h, SEP-991).
    pub const MAX_TTL_LIMIT: u64 = 86_400;
    /// Longest allowed negative window, in seconds.
    pub const MAX_NEGATIVE_TTL: u64 = 60;

    /// Read time from `clock` (tests: [`mcp_auth_core::FixedClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keep documents in `cache` (e.g. one shared by several AS nodes).
    pub fn cache(mut self, cache: Arc<dyn CimdCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Look names up with `lookup` instead of the system resolver. Every address it returns is
    /// still screened.
    pub fn dns_lookup(mut self, lookup: Arc<dyn DnsLookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// Connect timeout of a fetch (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total timeout of a fetch, body included (default 5 s).
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// Largest document body, in bytes (default 5 120, at most 65 536).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Bounds on cache lifetimes, in seconds (default 60 … 86 400; max at most 86 400).
    pub fn cache_ttl_bounds(mut self, min_ttl: u64, max_ttl: u64) -> Self {
        self.bounds.min_ttl = min_ttl;
        self.bounds.max_ttl = max_ttl;
        self
    }

    /// Lifetime when a response has no freshness headers, in seconds (default 300; clamped to
    /// the bounds).
    pub fn default_ttl(mut self, seconds: u64) -> Self {
        self.bounds.default_ttl = seconds;
        self
    }

    /// Remember a failed fetch for `seconds` (default 0, at most 60), so a burst of requests
    /// for a broken URL does not cause a burst of fetches.
    pub fn negative_ttl(mut self, seconds: u64) -> Self {
        self.negative_ttl = seconds;
        self
    }

    /// Allow only hosts matching one of the allow patterns (protected mode): `host` or
    /// `*.domain` (subdomains only). With no allow pattern every host is allowed (open mode).
    pub fn allow_host(mut self, pattern: &str) -> Self {
        self.hosts.allow.push(HostPattern::new(pattern));
        self
    }

    /// Refuse hosts matching `pattern` (`host` or `*.domain`); wins over the allow list.
    pub fn deny_host(mut self, pattern: &str) -> Self {
        self.hosts.deny.push(HostPattern::new(pattern));
        self
    }

    /// Mark hosts matching `pattern` as trusted: see [`CimdResolver::is_trusted`].
    pub fn trusted_host(mut self, pattern: &str) -> Self {
        self.hosts.trusted.push(HostPattern::new(pattern));
        self
    }

    /// At most `fetches` fetches per host per `window_secs` seconds (default 10 per 60 s).
    pub fn fetch_rate_limit(mut self, fetches: u32, window_secs: u64) -> Self {
        self.rate_limit = fetches;
        self.rate_window = window_secs;
        self
    }

    /// Accept documents without `client_name`; the consent page shows the client_id host
    /// instead (spec A9). Default off.
    pub fn lenient_client_name(mut self, lenient: bool) -> Self {
        self.validation.lenient_client_name = lenient;
        self
    }

    /// The grant types a document may list (default `authorization_code`, `refresh_token`).
    pub fn supported_grant_types<I, S>(mut self, grant_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.validation.supported_grant_types = grant_types.into_iter().map(Into::into).collect();
        self
    }

    /// Accept `client_id` URLs whose host is a public IP literal (spec §3.2 refuses them by
    /// default). Special-use literals stay refused.
    pub fn allow_ip_literal_hosts(mut self, allow: bool) -> Self {
        self.allow_ip_literal_hosts = allow;
        self
    }

    /// TESTS ONLY: let fetches connect to loopback addresses (`127.0.0.0/8`, `::1`), e.g. a
    /// local test server (spec A6). Every other special-use range stays refused. Logs a warning
    /// at build. Never enable in production: it opens the AS host's own services to SSRF.
    pub fn insecure_allow_loopback(mut self, allow: bool) -> Self {
        self.insecure_allow_loopback = allow;
        self
    }

    /// TESTS ONLY: also trust the PEM root certificates in `pem` (e.g. a test CA) for document
    /// fetches. Logs a warning at build.
    pub fn insecure_add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.insecure_roots.push(pem.to_vec());
        self
    }

    /// The numeric settings of [`Self::build`].
    fn check_settings(&self) -> Result<(), CimdBuildError> {
        let setting = |msg: &str| Err(CimdBuildError::Setting(msg.to_owned()));
        if self.connect_timeout.is_zero() || self.total_timeout.is_zero() {
            return setting("timeouts must be more than zero");
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > Self::MAX_BODY_BYTES_LIMIT {
            return setting("max_body_bytes must be between 1 and 65536");
        }
        if self.bounds.min_ttl > self.bounds.max_ttl {
            return setting("min_ttl must not exceed max_ttl");
        }
        if self.bounds.max_ttl > Self::MAX_TTL_LIMIT {
            return setting("max_ttl must not exceed 86400 seconds");
        }
        if self.negative_ttl > Self::MAX_NEGATIVE_TTL {
            return setting("negative_ttl must not exceed 60 seconds");
        }
        if self.rate_limit == 0 || self.rate_window == 0 {
            return setting("the fetch rate limit must allow at least one fetch per window");
        }
        Ok(())
    }

    /// The extra root certificates of [`Self::build`], each PEM bundle holding at least one.
    fn extra_roots(&self) -> Result<Vec<reqwest::Certificate>, CimdBuildError> {
        let mut extra_roots = Vec::new();
        for pem in &self.insecure_roots {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| CimdBuildError::Certificate(e.to_string()))?;
            if certs.is_empty() {
                return Err(CimdBuildError::Certificate(
                    "no PEM certificate found".to_owned(),
                ));
            }
            extra_roots.extend(certs);
        }
        Ok(extra_roots)
    }

    /// Check the settings and build the resolver and its HTTP client.
    ///
    /// # Errors
    /// [`CimdBuildError::Setting`] for a zero timeout, a body limit outside 1 … 65 536 bytes,
    /// `min_ttl > max_ttl`, `max_ttl` above 86 400 s, a negative window above 60 s or a zero
    /// rate limit; [`CimdBuildError::Certificate`] for a root certificate that does not parse;
    /// [`CimdBuildError::HttpClient`] if the client cannot be created.
    pub fn build(self) -> Result<CimdResolver, CimdBuildError> {
        self.check_settings()?;
        let extra_roots = self.extra_roots()?;
        if self.insecure_allow_loopback {
            tracing::warn!(
                "INSECURE: client metadata document fetches may connect to loopback addresses; for tests only"
            );
        }
        if !extra_roots.is_empty() {
            tracing::warn!(
                "INSECURE: client metadata document fetches trust extra root certificates; for tests only"
            );
        }
        let addresses = if self.insecure_allow_loopback {
            AddressPolicy::PublicAndLoopback
        } else {
            AddressPolicy::PublicOnly
        };
        let mut http = OutboundClient::builder()
            .timeouts(self.connect_timeout, self.total_timeout)
            .max_body_bytes(self.max_body_bytes)
            .addresses(addresses)
            .lookup(self.lookup)
            .user_agent(GUARDED_USER_AGENT);
        for cert in extra_roots {
            http = http.add_root_certificate(cert);
        }
        #[cfg(test)]
        let handed_out: Arc<Mutex<Vec<std::net::SocketAddr>>> = Arc::default();
        #[cfg(test)]
        {
            let seen = handed_out.clone();
            http = http.observe_connections(Arc::new(move |_, addrs| {
                // Safety net: tests never connect anywhere but loopback.
                assert!(
                    addrs.iter().all(|a| a.ip().is_loopback()),
                    "test tried to connect to {addrs:?}"
                );
                lock(&seen).extend(addrs.iter().copied());
            }));
        }
        let fetcher = http
            .build()
            .map_err(|e| CimdBuildError::HttpClient(e.to_string()))?;
        let window = i64::try_from(self.rate_window).unwrap_or(i64::MAX);
        Ok(CimdResolver {
            inner: Arc::new(Inner {
                fetcher,
                #[cfg(test)]
                handed_out,
                cache: self.cache,
                limiter: FetchRateLimiter::new(self.rate_limit, window, self.clock.clone()),
                clock: self.clock,
                bounds: self.bounds,
                negative_ttl: self.negative_ttl,
                negative: Mutex::new(HashMap::new()),
                hosts: self.hosts,
                validation: self.validation,
                addresses,
                allow_ip_literal_hosts: self.allow_ip_literal_hosts,
                in_flight: Mutex::new(HashMap::new()),
                next_flight: AtomicU64::new(0),
            }),
        })
    }
}
