//! A third party's endpoints from its metadata: RFC 8414, then OpenID Connect discovery, with
//! `issuer` checked equal (RFC 8414 §3.3) and every endpoint checked like a configured one
//! ([`check_third_party_url`]: https, no userinfo, no special-use IP literal).
//!
//! The metadata is kept for [`METADATA_TTL`] and then fetched again, so a third party's key or
//! endpoint change reaches a long-running server. A refetch that fails keeps the previous
//! metadata (with a warning) and is tried again after [`METADATA_RETRY`]; while one request
//! refetches, the others use the previous metadata instead of waiting.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use url::Url;

use super::ConnectionError;
use super::registry::{Connection, Endpoints, check_third_party_url, third_party_url_error};
use super::third_party::ThirdPartyHttp;

/// How long discovered metadata is used before it is fetched again: one hour.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);

/// After a failed refetch, how long the previous metadata is used before the next attempt
/// (at most the TTL): one minute.
pub const METADATA_RETRY: Duration = Duration::from_secs(60);

/// Largest metadata document read, bytes.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// Discovered endpoints and when to fetch them again.
struct Cached {
    endpoints: Arc<Endpoints>,
    refresh_at: Instant,
}

/// The discovered metadata of one connection, refreshed every `ttl`.
pub(crate) struct Discovery {
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
    /// One refetch at a time.
    refreshing: tokio::sync::Mutex<()>,
}

impl Discovery {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached endpoints, and whether they are still fresh at `now`.
    fn cached(&self, now: Instant) -> Option<(Arc<Endpoints>, bool)> {
        let guard = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .map(|c| (c.endpoints.clone(), now < c.refresh_at))
    }

    fn store(&self, endpoints: Arc<Endpoints>, refresh_at: Instant) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            endpoints,
            refresh_at,
        });
    }

    /// The endpoints of `connection` at `issuer`: cached while fresh; else fetched again
    /// (another request's refetch in progress: the previous ones); a failed refetch keeps the
    /// previous ones.
    ///
    /// # Errors
    /// [`ConnectionError::Discovery`] when nothing was ever discovered and the fetch fails.
    pub(crate) async fn endpoints(
        &self,
        connection: &Connection,
        http: &ThirdPartyHttp,
        issuer: &Url,
    ) -> Result<Arc<Endpoints>, ConnectionError> {
        let cached = self.cached(Instant::now());
        if let Some((endpoints, true)) = &cached {
            return Ok(endpoints.clone());
        }
        let _refreshing = match (self.refreshing.try_lock(), cached) {
            (Ok(guard), _) => guard,
            (Err(_), Some((stale, _))) => return Ok(stale),
            (Err(_), None) => self.refreshing.lock().await,
        };
        // Another request may have refreshed while this one waited.
        let previous = match self.cached(Instant::now()) {
            Some((endpoints, true)) => return Ok(endpoints),
            Some((stale, false)) => Some(stale),
            None => None,
        };
        match discover(connection, http, issuer).await {
            Ok(endpoints) => {
                let endpoints = Arc::new(endpoints);
                self.store(endpoints.clone(), Instant::now() + self.ttl);
                Ok(endpoints)
            }
            Err(e) => {
                let Some(previous) = previous else {
                    return Err(e);
                };
                tracing::warn!(
                    connection = %connection.name,
                    error = %e,
                    "third-party metadata refresh failed; keeping the previous metadata"
                );
                self.store(
                    previous.clone(),
                    Instant::now() + self.ttl.min(METADATA_RETRY),
                );
                Ok(previous)
            }
        }
    }
}

/// Fetch and check the metadata: `{origin}/.well-known/oauth-authorization-server{path}`, then
/// `{issuer}/.well-known/openid-configuration`.
async fn discover(
    connection: &Connection,
    http: &ThirdPartyHttp,
    issuer: &Url,
) -> Result<Endpoints, ConnectionError> {
    let expected = connection.issuer_str().unwrap_or_default();
    let path = issuer.path().trim_end_matches('/');
    let origin = issuer.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{expected}/.well-known/openid-configuration"),
    ];
    let mut last = String::new();
    for url in candidates {
        match fetch_metadata(connection, http, &url).await {
            Ok(doc) => return endpoints_from(connection, &doc, &expected),
            Err(e) => last = e,
        }
    }
    tracing::warn!(connection = %connection.name, error = %last, "third-party discovery failed");
    Err(ConnectionError::Discovery(format!(
        "connection {}: {last}",
        connection.name
    )))
}

/// The endpoints of metadata document `doc`, checked.
pub(crate) fn endpoints_from(
    connection: &Connection,
    doc: &serde_json::Value,
    expected_issuer: &str,
) -> Result<Endpoints, ConnectionError> {
    let bad =
        |m: String| ConnectionError::Discovery(format!("connection {}: {m}", connection.name));
    if doc["issuer"].as_str() != Some(expected_issuer) {
        return Err(bad(format!(
            "the metadata's issuer is not {expected_issuer} (RFC 8414 §3.3)"
        )));
    }
    let endpoint = |member: &str| -> Result<Option<Url>, ConnectionError> {
        match &doc[member] {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => check_third_party_url(
                s,
                connection.allow_insecure_http,
                connection.allow_insecure_private_addresses,
            )
            .map(Some)
            .map_err(|e| bad(format!("{member}: {}", third_party_url_error(&e)))),
            _ => Err(bad(format!("{member} is not a string"))),
        }
    };
    if let Some(methods) = doc.get("code_challenge_methods_supported") {
        let has_s256 = methods
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "S256"));
        if !has_s256 {
            return Err(bad("the third party does not support PKCE S256".into()));
        }
    }
    Ok(Endpoints {
        authorization_endpoint: endpoint("authorization_endpoint")?
            .ok_or_else(|| bad("no authorization_endpoint".into()))?,
        token_endpoint: endpoint("token_endpoint")?
            .ok_or_else(|| bad("no token_endpoint".into()))?,
        revocation_endpoint: endpoint("revocation_endpoint")?,
        iss_parameter_supported: doc["authorization_response_iss_parameter_supported"]
            == serde_json::Value::Bool(true),
    })
}

/// `GET url`: a JSON object of at most [`MAX_METADATA_BYTES`], through the client the
/// connection's rules choose.
async fn fetch_metadata(
    connection: &Connection,
    http: &ThirdPartyHttp,
    url: &str,
) -> Result<serde_json::Value, String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let client = http.client_for(connection, &parsed);
    let bytes = mcp_auth_outbound::get_json(client, url, MAX_METADATA_BYTES)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| format!("GET {url}: not JSON"))?;
    if !doc.is_object() {
        return Err(format!("GET {url}: not a JSON object"));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;
    use crate::config::ConnectionConfig;

    /// A loopback metadata server: serves `doc` (or `status` when it is not 200) and counts
    /// the requests.
    #[derive(Clone)]
    struct MetadataServer {
        issuer: String,
        hits: Arc<AtomicUsize>,
        token_path: Arc<Mutex<String>>,
        status: Arc<Mutex<StatusCode>>,
    }

    impl MetadataServer {
        async fn start() -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let issuer = format!("http://{}", listener.local_addr().unwrap());
            let server = Self {
                issuer,
                hits: Arc::default(),
                token_path: Arc::new(Mutex::new("/token".into())),
                status: Arc::new(Mutex::new(StatusCode::OK)),
            };
            let state = server.clone();
            let app = axum::Router::new().route(
                "/.well-known/oauth-authorization-server",
                axum::routing::get(move || {
                    let s = state.clone();
                    async move {
                        s.hits.fetch_add(1, Ordering::SeqCst);
                        let status = *s.status.lock().unwrap();
                        if status != StatusCode::OK {
                            return status.into_response();
                        }
                        let token = s.token_path.lock().unwrap().clone();
                        axum::Json(serde_json::json!({
                            "issuer": s.issuer,
                            "authorization_endpoint": format!("{}/authorize", s.issuer),
                            "token_endpoint": format!("{}{token}", s.issuer),
                        }))
                        .into_response()
                    }
                }),
            );
            tokio::spawn(async move { axum::serve(listener, app).await });
            server
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn connection(issuer: &str) -> Connection {
        Connection::from_config(&ConnectionConfig {
            name: "calendar".into(),
            display_name: "Calendar".into(),
            kind: crate::connections::ConnectionKind::OAuth,
            issuer: Some(issuer.into()),
            authorization_endpoint: None,
            token_endpoint: None,
            revocation_endpoint: None,
            client_id: Some("c".into()),
            client_secret: Some(mcp_auth_core::Secret::new("s")),
            scopes: vec![],
            resource_indicator: None,
            resources: vec!["https://mcp.example.com/mcp".into()],
            allow_insecure_http: true,
            allow_insecure_private_addresses: false,
            scope_descriptions: Default::default(),
        })
        .unwrap()
    }

    /// Within the TTL the metadata is fetched once.
    #[tokio::test]
    async fn metadata_is_cached_within_its_ttl() {
        let tp = MetadataServer::start().await;
        let conn = connection(&tp.issuer);
        let http = ThirdPartyHttp::new().unwrap();
        conn.endpoints(&http).await.unwrap();
        conn.endpoints(&http).await.unwrap();
        assert_eq!(tp.hits(), 1);
    }

    /// Issue 19 §7: metadata is refreshed once its TTL has passed (here a TTL of zero: every
    /// use), so a changed endpoint is picked up; a refresh that fails keeps the previous
    /// metadata.
    #[tokio::test]
    async fn metadata_is_refreshed_after_its_ttl_and_kept_when_the_refresh_fails() {
        let tp = MetadataServer::start().await;
        let conn = connection(&tp.issuer).with_metadata_ttl(Duration::ZERO);
        let http = ThirdPartyHttp::new().unwrap();
        let first = conn.endpoints(&http).await.unwrap();
        assert_eq!(first.token_endpoint.path(), "/token");

        *tp.token_path.lock().unwrap() = "/oauth/token".into();
        let second = conn.endpoints(&http).await.unwrap();
        assert_eq!(tp.hits(), 2);
        assert_eq!(second.token_endpoint.path(), "/oauth/token");

        *tp.status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
        let kept = conn.endpoints(&http).await.unwrap();
        assert_eq!(tp.hits(), 3, "the refresh was attempted");
        assert_eq!(kept.token_endpoint.path(), "/oauth/token");
    }

    /// Nothing discovered yet and the fetch fails: a discovery error, tried again next time.
    #[tokio::test]
    async fn a_first_discovery_failure_is_an_error_and_retried() {
        let tp = MetadataServer::start().await;
        *tp.status.lock().unwrap() = StatusCode::NOT_FOUND;
        let conn = connection(&tp.issuer);
        let http = ThirdPartyHttp::new().unwrap();
        let e = conn.endpoints(&http).await.unwrap_err();
        assert!(matches!(e, ConnectionError::Discovery(_)), "{e}");
        *tp.status.lock().unwrap() = StatusCode::OK;
        conn.endpoints(&http).await.unwrap();
    }

    /// Issue 19 §7: an https third party whose name resolves to a special-use address is
    /// refused before any connection (`localhost`: loopback; port 9 is never contacted).
    #[tokio::test]
    async fn an_https_third_party_resolving_to_a_special_use_address_is_refused() {
        let mut conn = connection("https://localhost:9");
        conn.allow_insecure_http = false;
        let http = ThirdPartyHttp::new().unwrap();
        let e = conn.endpoints(&http).await.unwrap_err().to_string();
        assert!(e.contains("host localhost resolves to"), "{e}");
    }

    /// Issue 19 §7: a discovered endpoint with userinfo, or on a special-use IP literal, is
    /// refused like a configured one.
    #[test]
    fn discovered_endpoints_are_checked_like_configured_ones() {
        let conn = connection("https://tp.example.com");
        let doc = |authorize: &str| {
            serde_json::json!({
                "issuer": "https://tp.example.com",
                "authorization_endpoint": authorize,
                "token_endpoint": "https://tp.example.com/token",
            })
        };
        for bad in [
            "https://user@tp.example.com/authorize",
            "https://user:pw@tp.example.com/authorize",
            "https://10.0.0.5/authorize",
            "https://[fd00::1]/authorize",
        ] {
            let e = endpoints_from(&conn, &doc(bad), "https://tp.example.com").unwrap_err();
            assert!(
                e.to_string().contains("authorization_endpoint"),
                "{bad}: {e}"
            );
        }
        endpoints_from(
            &conn,
            &doc("https://tp.example.com/authorize"),
            "https://tp.example.com",
        )
        .unwrap();
    }
}
