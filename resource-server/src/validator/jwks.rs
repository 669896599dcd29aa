//! A per-issuer JWKS cache: keys discovered from RFC 8414 metadata (or configured), one
//! pre-built `DecodingKey` per key with its algorithm pinned, refetched on an unknown `kid` at
//! most once per interval, and kept past a failed refresh only until a hard expiry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use mcp_auth_core::{Clock, Issuer, UnixTime};

use crate::config::ConfigError;
use crate::error::{TokenError, Unavailable, ValidationError};

/// Largest JWKS or metadata document accepted, bytes.
const MAX_DOCUMENT: usize = 256 * 1024;

/// Where a trusted issuer's keys come from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JwksSource {
    /// Read `jwks_uri` from the issuer's RFC 8414 metadata
    /// (`<origin>/.well-known/oauth-authorization-server<path>`), whose `issuer` must be
    /// byte-identical to the configured one (RFC 8414 §3.3).
    Discover,
    /// Fetch this JWKS URL directly.
    JwksUri(String),
    /// Use these keys (`{"keys":[…]}`); never refetched.
    Static(serde_json::Value),
}

/// An issuer whose tokens are accepted, with where its keys come from.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedIssuer {
    /// The issuer, compared byte for byte with the token `iss`.
    pub issuer: Issuer,
    /// Its key source.
    pub source: JwksSource,
}

/// Timing of the cache, seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheTiming {
    /// A fetched set is used without refetching for this long.
    pub refresh_after: i64,
    /// After a failed refresh, a key is still used until `fetched_at + max_stale`.
    pub max_stale: i64,
    /// Refetches (for an unknown `kid` or a stale set) happen at most once per interval.
    pub min_refetch_interval: i64,
}

/// A verification key with its pinned algorithm.
pub(crate) struct VerifyKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

#[derive(Default)]
struct Snapshot {
    keys: HashMap<String, Arc<VerifyKey>>,
    /// The only key when the set has exactly one: matched by tokens without `kid`.
    only: Option<Arc<VerifyKey>>,
    fetched_at: Option<UnixTime>,
    jwks_uri: Option<String>,
}

impl Snapshot {
    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        match kid {
            Some(kid) => self.keys.get(kid).cloned(),
            None => self.only.clone(),
        }
    }
}

enum RefreshError {
    RateLimited,
    Failed(String),
}

/// The key cache of one issuer.
pub(crate) struct KeyCache {
    issuer: Issuer,
    source: JwksSource,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    timing: CacheTiming,
    allowed: Vec<Algorithm>,
    snapshot: RwLock<Arc<Snapshot>>,
    fetch_lock: tokio::sync::Mutex<()>,
    last_attempt: AtomicI64,
}

impl KeyCache {
    pub(crate) fn new(
        trusted: TrustedIssuer,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        timing: CacheTiming,
        allowed: Vec<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let mut snapshot = Snapshot::default();
        if let JwksSource::Static(doc) = &trusted.source {
            snapshot = parse_jwks(doc, &allowed).map_err(ConfigError::Validator)?;
            snapshot.fetched_at = Some(UnixTime::MAX);
            if snapshot.keys.is_empty() && snapshot.only.is_none() {
                return Err(ConfigError::Validator(format!(
                    "the static JWKS of {} has no usable key",
                    trusted.issuer
                )));
            }
        }
        Ok(Self {
            issuer: trusted.issuer,
            source: trusted.source,
            http,
            clock,
            timing,
            allowed,
            snapshot: RwLock::new(Arc::new(snapshot)),
            fetch_lock: tokio::sync::Mutex::new(()),
            last_attempt: AtomicI64::new(i64::MIN),
        })
    }

    pub(crate) fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key for `kid` (or the only key when the token has no `kid`).
    pub(crate) async fn key(&self, kid: Option<&str>) -> Result<Arc<VerifyKey>, ValidationError> {
        let now = self.clock.now();
        let snap = self.current();
        let is_static = matches!(self.source, JwksSource::Static(_));
        if let Some(key) = snap.find(kid) {
            let fetched_at = snap.fetched_at.unwrap_or(UnixTime::MIN);
            if is_static || now < fetched_at.saturating_add(self.timing.refresh_after) {
                return Ok(key);
            }
            return match self.refresh(now, snap.fetched_at).await {
                Ok(fresh) => fresh
                    .find(kid)
                    .ok_or(ValidationError::Token(TokenError::UnknownKey)),
                Err(_) if now < fetched_at.saturating_add(self.timing.max_stale) => Ok(key),
                Err(_) => Err(Unavailable(format!("keys of {} expired", self.issuer)).into()),
            };
        }
        if is_static {
            return Err(TokenError::UnknownKey.into());
        }
        match self.refresh(now, snap.fetched_at).await {
            Ok(fresh) => fresh.find(kid).ok_or(TokenError::UnknownKey.into()),
            Err(RefreshError::Failed(why)) if snap.fetched_at.is_none() => {
                Err(Unavailable(why).into())
            }
            Err(_) => Err(TokenError::UnknownKey.into()),
        }
    }

    /// Refetch, unless another task already did since `seen` or the last attempt is too recent.
    async fn refresh(
        &self,
        now: UnixTime,
        seen: Option<UnixTime>,
    ) -> Result<Arc<Snapshot>, RefreshError> {
        let _guard = self.fetch_lock.lock().await;
        let cur = self.current();
        if cur.fetched_at != seen {
            return Ok(cur);
        }
        let last = self.last_attempt.load(Ordering::SeqCst);
        if last != i64::MIN && now.saturating_sub(last) < self.timing.min_refetch_interval {
            return Err(RefreshError::RateLimited);
        }
        self.last_attempt.store(now, Ordering::SeqCst);
        let jwks_uri = match (&self.source, &cur.jwks_uri) {
            (JwksSource::JwksUri(u), _) => u.clone(),
            (_, Some(u)) => u.clone(),
            _ => self.discover().await.map_err(RefreshError::Failed)?,
        };
        let doc = self
            .get_json(&jwks_uri)
            .await
            .map_err(RefreshError::Failed)?;
        let mut snap = parse_jwks(&doc, &self.allowed).map_err(RefreshError::Failed)?;
        snap.fetched_at = Some(now);
        snap.jwks_uri = Some(jwks_uri);
        let snap = Arc::new(snap);
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = snap.clone();
        Ok(snap)
    }

    async fn discover(&self) -> Result<String, String> {
        let url = format!("{}{}", self.issuer.origin(), self.issuer.metadata_path());
        let doc = self.get_json(&url).await?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(format!("metadata at {url} names another issuer"));
        }
        doc.get("jwks_uri")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("metadata at {url} has no jwks_uri"))
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let resp = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: status {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_DOCUMENT as u64)
        {
            return Err(format!("GET {url}: document too large"));
        }
        let body = resp.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
        if body.len() > MAX_DOCUMENT {
            return Err(format!("GET {url}: document too large"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }
}

/// The algorithm a JWK is pinned to: its `alg`, else the one its key type implies. `None` for
/// symmetric keys, encryption keys, or an `alg` that does not fit the key type.
fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let (family, implied) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => (AlgorithmFamily::Ec, Algorithm::ES256),
            EllipticCurve::P384 => (AlgorithmFamily::Ec, Algorithm::ES384),
            _ => return None,
        },
        AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, Algorithm::RS256),
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (AlgorithmFamily::Ed, Algorithm::EdDSA)
        }
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::ES384) => Algorithm::ES384,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::RS384) => Algorithm::RS384,
        Some(KeyAlgorithm::RS512) => Algorithm::RS512,
        Some(KeyAlgorithm::PS256) => Algorithm::PS256,
        Some(KeyAlgorithm::PS384) => Algorithm::PS384,
        Some(KeyAlgorithm::PS512) => Algorithm::PS512,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    // An EC key pinned to ES384 must be P-384, and so on.
    let curve_fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(_), a) => a == implied,
        _ => true,
    };
    (alg.family() == family && curve_fits).then_some(alg)
}

/// Build the verification keys of a JWKS document; unusable keys are skipped. A document
/// without a `keys` array is an error (a failed fetch, not an empty set).
fn parse_jwks(doc: &serde_json::Value, allowed: &[Algorithm]) -> Result<Snapshot, String> {
    let mut snap = Snapshot::default();
    let mut usable = Vec::new();
    let entries = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| "JWKS has no keys array".to_owned())?;
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        let Some(alg) = pinned_algorithm(&jwk).filter(|a| allowed.contains(a)) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = Arc::new(VerifyKey { key, alg });
        if let Some(kid) = &jwk.common.key_id {
            snap.keys.insert(kid.clone(), key.clone());
        }
        usable.push(key);
    }
    if usable.len() == 1 {
        snap.only = usable.pop();
    }
    Ok(snap)
}
