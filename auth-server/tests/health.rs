//! `/healthz` and `/readyz` for load balancers and Kubernetes probes: liveness always answers;
//! readiness answers 503 naming the failed check when the store fails or no signing key is
//! loaded, and both are reachable outside the forwarding checks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{ISSUER, settings};
use http_body_util::BodyExt;
use mcp_auth_core::store::{MemorySigningKeyStore, SigningKeyStore, StoredSigningKey, Stores};
use mcp_auth_core::{StoreError, UnixTime};
use mcp_auth_server::{AuthorizationServer, HttpOptions, router};
use tower::ServiceExt;

/// A key store that fails every call once `failing` is set.
#[derive(Default)]
struct FlakyKeys {
    inner: MemorySigningKeyStore,
    failing: AtomicBool,
}

impl FlakyKeys {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend("database is down"));
        }
        Ok(())
    }
}

#[async_trait]
impl SigningKeyStore for FlakyKeys {
    async fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.check()?;
        self.inner.list().await
    }
    async fn rotate(&self, key: &StoredSigningKey, now: UnixTime) -> Result<(), StoreError> {
        self.check()?;
        self.inner.rotate(key, now).await
    }
    async fn purge_retired(&self, retired_before: UnixTime) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.purge_retired(retired_before).await
    }
}

async fn app_with(keys: Arc<FlakyKeys>) -> axum::Router {
    let mut stores = Stores::in_memory();
    stores.keys = keys;
    let server = AuthorizationServer::builder(settings(ISSUER), stores)
        .build()
        .await
        .unwrap();
    router(
        server,
        HttpOptions {
            session_secret: vec![7; 64],
        },
    )
    .unwrap()
}

async fn get(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let cache = res
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), cache)
}

/// Liveness answers `200 {"status":"ok"}`, not cached.
#[tokio::test]
async fn healthz_answers_ok() {
    let app = app_with(Arc::default()).await;
    let (status, body, cache) = get(&app, "/healthz", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"status":"ok"}"#);
    assert_eq!(cache, "no-store");
}

/// Readiness is 200 with every check `ok` when the store answers and a key is loaded.
#[tokio::test]
async fn readyz_is_ready_when_the_store_answers_and_a_key_is_loaded() {
    let app = app_with(Arc::default()).await;
    let (status, body, _) = get(&app, "/readyz", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"status": "ready", "checks": {"store": "ok", "signing_key": "ok"}})
    );
}

/// Readiness is 503 naming the store when the store fails, and ready again once it recovers;
/// liveness stays 200 throughout.
#[tokio::test]
async fn readyz_is_503_while_the_store_fails_and_recovers_by_itself() {
    let keys = Arc::new(FlakyKeys::default());
    let app = app_with(keys.clone()).await;
    keys.failing.store(true, Ordering::SeqCst);
    let (status, body, cache) = get(&app, "/readyz", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(cache, "no-store");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"status": "not_ready", "checks": {"store": "failed", "signing_key": "ok"}})
    );
    assert_eq!(get(&app, "/healthz", &[]).await.0, StatusCode::OK);
    keys.failing.store(false, Ordering::SeqCst);
    assert_eq!(get(&app, "/readyz", &[]).await.0, StatusCode::OK);
}

/// Probes reach both endpoints on the node's own address: a forwarding header that makes the
/// OAuth endpoints refuse the request (plain http reported for an https issuer) does not apply.
#[tokio::test]
async fn probes_are_outside_the_forwarding_checks() {
    let app = app_with(Arc::default()).await;
    let proxied = [("x-forwarded-proto", "http")];
    assert_eq!(
        get(&app, "/jwks", &proxied).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get(&app, "/healthz", &proxied).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/readyz", &proxied).await.0, StatusCode::OK);
}
