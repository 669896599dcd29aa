//! Where a `private_key_jwt` client's public keys come from: its inline `jwks` or its
//! `jwks_uri` (RFC 7591 §2, spec §2.3.1 item 6, §3.7).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use mcp_auth_core::client::Client;
use mcp_auth_core::clock::{Clock, UnixTime};
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::types::is_loopback_host;

use super::AuthFailure;

/// The public keys of a client, for checking its assertions.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The client's JWK Set (RFC 7517 §5). Members that are not usable JWKs are left out.
    ///
    /// # Errors
    /// `invalid_client` when the client has no keys or they cannot be obtained; the reason is the
    /// logged source only.
    async fn keys_for(&self, client: &Client) -> Result<JwkSet, OAuthError>;
}

/// One fetched set and when it was fetched.
struct Cached {
    fetched_at: UnixTime,
    keys: JwkSet,
}

/// The default [`JwksSource`]: the client's inline `jwks` if it has one, else a fetch of its
/// `jwks_uri`.
///
/// Fetches use one shared HTTP client: `GET` with `Accept: application/json`, no redirects
/// followed, no proxy, connect timeout 2 s, total timeout 5 s, the body read up to
/// [`Self::MAX_BODY_BYTES`] and abandoned beyond, only status 200 with a JSON content type
/// (`application/json` or `application/…+json`) accepted. Only `https` URLs are fetched, unless
/// [`Self::insecure_allow_http_loopback`] also allows `http` to a loopback host. A fetched set is
/// cached per URL for [`Self::CACHE_TTL_SECS`] seconds of the injected clock.
///
/// This type does not resolve and screen addresses (spec §3.3 SSRF rules); pass a guarded client
/// with [`Self::with_http_client`] where `jwks_uri` values are untrusted.
pub struct ClientJwksSource {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Cached>>,
    allow_http_loopback: bool,
}

impl ClientJwksSource {
    /// How long a fetched set is reused, in seconds.
    pub const CACHE_TTL_SECS: i64 = 300;
    /// Largest accepted `jwks_uri` response body, in bytes.
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    /// Connect timeout of a fetch.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// Total timeout of a fetch.
    pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
    /// Most cached URLs before expired entries are swept.
    const SWEEP_ABOVE: usize = 1024;

    /// A source with its own HTTP client (no redirects, no proxy, the timeouts above).
    ///
    /// # Errors
    /// The HTTP client could not be built (TLS backend initialisation failed).
    pub fn new(clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Self::CONNECT_TIMEOUT)
            .timeout(Self::TOTAL_TIMEOUT)
            .build()?;
        Ok(Self::with_http_client(http, clock))
    }

    /// A source using `http`, which the caller has configured (it should not follow redirects).
    pub fn with_http_client(http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        Self {
            http,
            clock,
            cache: Mutex::new(HashMap::new()),
            allow_http_loopback: false,
        }
    }

    /// Also fetch plain `http` URLs whose host is loopback (`127.0.0.0/8`, `localhost`, `[::1]`).
    /// For development and tests only; logs a warning.
    pub fn insecure_allow_http_loopback(mut self) -> Self {
        tracing::warn!("jwks_uri fetches over plain http to loopback hosts are allowed (insecure)");
        self.allow_http_loopback = true;
        self
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_url(&self, uri: &str) -> Result<reqwest::Url, OAuthError> {
        let url = reqwest::Url::parse(uri)
            .map_err(|_| AuthFailure::invalid_client("jwks_uri is not a URL"))?;
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "https" if !host.is_empty() => Ok(url),
            "http" if self.allow_http_loopback && is_loopback_host(host) => Ok(url),
            _ => Err(AuthFailure::invalid_client(format!(
                "jwks_uri {uri} is not an https URL"
            ))),
        }
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<JwkSet, OAuthError> {
        let fail =
            |reason: String| AuthFailure::invalid_client(format!("jwks_uri {url}: {reason}"));
        let mut response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {e}")))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(fail(format!("status {}", response.status())));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !is_json_media_type(content_type) {
            return Err(fail(format!("content type {content_type:?} is not JSON")));
        }
        if response
            .content_length()
            .is_some_and(|len| len > Self::MAX_BODY_BYTES as u64)
        {
            return Err(fail("body too large".to_owned()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(format!("reading body failed: {e}")))?
        {
            if body.len() + chunk.len() > Self::MAX_BODY_BYTES {
                return Err(fail("body too large".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| fail(format!("body is not JSON: {e}")))?;
        parse_jwk_set(&value)
    }
}

#[async_trait]
impl JwksSource for ClientJwksSource {
    async fn keys_for(&self, client: &Client) -> Result<JwkSet, OAuthError> {
        if let Some(inline) = &client.jwks {
            return parse_jwk_set(inline);
        }
        let Some(uri) = &client.jwks_uri else {
            return Err(AuthFailure::invalid_client(
                "client has neither jwks nor jwks_uri",
            ));
        };
        let url = self.check_url(uri)?;
        let now = self.clock.now();
        if let Some(hit) = self.cache().get(uri)
            && now - hit.fetched_at < Self::CACHE_TTL_SECS
        {
            return Ok(hit.keys.clone());
        }
        let keys = self.fetch(url).await?;
        let mut cache = self.cache();
        if cache.len() >= Self::SWEEP_ABOVE {
            cache.retain(|_, c| now - c.fetched_at < Self::CACHE_TTL_SECS);
        }
        cache.insert(
            uri.clone(),
            Cached {
                fetched_at: now,
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }
}

impl std::fmt::Debug for ClientJwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientJwksSource")
            .field("allow_http_loopback", &self.allow_http_loopback)
            .finish_non_exhaustive()
    }
}

/// `application/json` or `application/<x>+json`, parameters allowed (spec §3.3).
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JWK Set from JSON: `{"keys":[…]}`; members that do not parse as a JWK are skipped (RFC 7517
/// §5: implementations SHOULD ignore keys they do not understand).
fn parse_jwk_set(value: &serde_json::Value) -> Result<JwkSet, OAuthError> {
    let members = value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| AuthFailure::invalid_client("JWK Set has no keys array"))?;
    let keys = members
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .collect();
    Ok(JwkSet { keys })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mcp_auth_core::clock::FixedClock;
    use mcp_auth_core::error::ErrorCode;
    use mcp_auth_core::types::TokenEndpointAuthMethod;

    use super::*;
    use crate::client_auth::test_support::{NOW, client};
    use crate::keys::SigningKey;

    fn jwks_json() -> serde_json::Value {
        let key = SigningKey::from_stored(&SigningKey::generate(NOW).unwrap()).unwrap();
        serde_json::json!({"keys": [key.public_jwk(), {"kty": "unknown-kind"}]})
    }

    fn pkjwt_client() -> Client {
        client("c1", TokenEndpointAuthMethod::PrivateKeyJwt)
    }

    /// A server on 127.0.0.1 serving `body` at `/jwks.json`, counting requests.
    async fn serve(body: serde_json::Value) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let counter = counter.clone();
                let body = body.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    axum::Json(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}/jwks.json"), hits)
    }

    #[tokio::test]
    async fn inline_jwks_is_used_and_unknown_members_skipped() {
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW))).unwrap();
        let mut c = pkjwt_client();
        c.jwks = Some(jwks_json());
        c.jwks_uri = Some("https://unreachable.invalid/jwks.json".into());
        let set = source.keys_for(&c).await.unwrap();
        assert_eq!(set.keys.len(), 1);
    }

    #[tokio::test]
    async fn client_without_keys_is_invalid_client() {
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW))).unwrap();
        let err = source.keys_for(&pkjwt_client()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn plain_http_jwks_uri_is_refused_without_a_request() {
        let (uri, hits) = serve(jwks_json()).await;
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW))).unwrap();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);
        let err = source.keys_for(&c).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        assert_eq!(err.description(), "client authentication failed");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn insecure_switch_allows_only_loopback_http() {
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW)))
            .unwrap()
            .insecure_allow_http_loopback();
        assert!(source.check_url("http://127.0.0.1:9/jwks.json").is_ok());
        assert!(source.check_url("http://localhost:9/jwks.json").is_ok());
        let err = source
            .check_url("http://keys.example.com/jwks.json")
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn fetched_set_is_cached_for_300_seconds() {
        let (uri, hits) = serve(jwks_json()).await;
        let clock = Arc::new(FixedClock::new(NOW));
        let source = ClientJwksSource::new(clock.clone())
            .unwrap()
            .insecure_allow_http_loopback();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);

        let set = source.keys_for(&c).await.unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        clock.advance(ClientJwksSource::CACHE_TTL_SECS - 1);
        source.keys_for(&c).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        clock.advance(1);
        source.keys_for(&c).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn oversized_body_is_invalid_client() {
        let padding = "x".repeat(ClientJwksSource::MAX_BODY_BYTES);
        let (uri, _) = serve(serde_json::json!({"keys": [], "pad": padding})).await;
        let source = ClientJwksSource::new(Arc::new(FixedClock::new(NOW)))
            .unwrap()
            .insecure_allow_http_loopback();
        let mut c = pkjwt_client();
        c.jwks_uri = Some(uri);
        let err = source.keys_for(&c).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type(
            "application/jwk-set+json; charset=utf-8"
        ));
        assert!(!is_json_media_type("text/html"));
        assert!(!is_json_media_type(""));
    }
}
