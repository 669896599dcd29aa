//! The one place an [`OAuthError`] becomes an HTTP response (RFC 6749 §5.2, RFC 7591 §3.2.2).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::{ChallengeHint, ErrorCode, OAuthError};

/// An [`OAuthError`] as a JSON error response: the status from its code, `Cache-Control:
/// no-store`, `WWW-Authenticate: Basic realm="…"` on a 401 after a Basic attempt (AS-19), and
/// `Retry-After: seconds` on a rate-limit refusal (429).
#[derive(Debug)]
pub struct ApiError {
    error: OAuthError,
    realm: String,
}

impl ApiError {
    /// Wrap `error`; `realm` is the issuer, named in a Basic challenge.
    pub fn new(error: OAuthError, realm: &str) -> Self {
        Self {
            error,
            realm: realm.to_owned(),
        }
    }
}

/// Seconds a client is asked to wait (`Retry-After`) when the database is unreachable.
pub const DATABASE_RETRY_AFTER: u64 = 5;

/// Whether `error` is a store failure because the database could not be reached (the
/// PostgreSQL backend's [`crate::storage::postgres::UNAVAILABLE`] errors: connection refused or
/// lost, pool acquire timeout).
pub fn is_database_unavailable(error: &OAuthError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error
        .internal_source()
        .map(|s| s as &(dyn std::error::Error + 'static));
    while let Some(s) = source {
        if let Some(store) = s.downcast_ref::<mcp_auth_core::StoreError>() {
            return store.0.starts_with(crate::storage::postgres::UNAVAILABLE);
        }
        source = s.source();
    }
    false
}

/// `503 temporarily_unavailable` with `Retry-After` (RFC 6749 §4.1.2.1, RFC 9110 §15.6.4) for a
/// request that failed because the database is unreachable: the client should retry, possibly
/// at another node.
fn database_unavailable() -> Response {
    let error = OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the authorization server cannot reach its database; try again shortly",
    );
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(error.to_json())).into_response();
    res.extensions_mut()
        .insert(crate::metrics::http::OAuthErrorCode(error.code().as_str()));
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::RETRY_AFTER, HeaderValue::from(DATABASE_RETRY_AFTER));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.error;
        if is_database_unavailable(e) {
            tracing::warn!(error = %e, source = ?e.internal_source(), "database unreachable; answering 503");
            return database_unavailable();
        }
        if e.code() == ErrorCode::ServerError {
            tracing::error!(error = %e, source = ?e.internal_source(), "request failed");
        } else {
            tracing::debug!(error = %e, "request refused");
        }
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(e.to_json())).into_response();
        res.extensions_mut()
            .insert(crate::metrics::http::OAuthErrorCode(e.code().as_str()));
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(seconds) = e.retry_after() {
            h.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED && e.challenge() == ChallengeHint::Basic {
            let realm = self.realm.replace(['"', '\\'], "");
            if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        res
    }
}
