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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.error;
        if e.code() == ErrorCode::ServerError {
            tracing::error!(error = %e, source = ?e.internal_source(), "request failed");
        } else {
            tracing::debug!(error = %e, "request refused");
        }
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(e.to_json())).into_response();
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
