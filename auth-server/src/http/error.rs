//! The one place an [`OAuthError`] becomes an HTTP response (RFC 6749 §5.2, RFC 7591 §3.2.2).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::{ChallengeHint, ErrorCode, OAuthError, StoreError};

/// An [`OAuthError`] as a JSON error response: the status from its code, `Cache-Control:
/// no-store`, `WWW-Authenticate: Basic realm="…"` on a 401 after a Basic attempt (AS-19),
/// `Retry-After: seconds` on a rate-limit refusal (429), and `503 temporarily_unavailable` with
/// `Retry-After` when the store failed ([`store_failure`]).
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

/// Seconds a client is asked to wait (`Retry-After`, RFC 9110 §10.2.3) when the store failed.
pub const DATABASE_RETRY_AFTER: u64 = 5;

/// The one decision of how a failed store is answered, shared by the JSON endpoints
/// ([`ApiError`]) and the HTML pages (the authorization and connect pages): when `error` or
/// one of its sources is a [`StoreError`], the failure is logged here (a warning when the store
/// was unavailable, an error otherwise, with the private detail) and `Some` is returned; the
/// caller then answers `503` with [`DATABASE_RETRY_AFTER`] ([`store_unavailable`]).
///
/// Every variant is answered the same way, deliberately: the request was acceptable and it is
/// the server's storage that failed (unreachable, too slow for its deadline, locked by another
/// writer, or in an unexpected state), so the client is told to retry rather than that it did
/// something wrong; `500` is kept for faults that are not the store's.
pub fn store_failure<'a>(
    error: &'a (dyn std::error::Error + 'static),
    what: &str,
) -> Option<&'a StoreError> {
    let store = mcp_auth_core::store_error_in(error)?;
    if store.is_unavailable() {
        tracing::warn!(error = %store, request = what, "store unavailable; answering 503");
    } else {
        tracing::error!(error = %store, request = what, "store failed; answering 503");
    }
    Some(store)
}

/// Make `res` the answer to a failed store: status `503 Service Unavailable` (RFC 9110
/// §15.6.4), `Retry-After: 5` ([`DATABASE_RETRY_AFTER`] seconds) and `Cache-Control:
/// no-store`.
pub fn store_unavailable(mut res: Response) -> Response {
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = res.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(DATABASE_RETRY_AFTER));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `503 temporarily_unavailable` with `Retry-After` (RFC 6749 §4.1.2.1, RFC 9110 §15.6.4) for a
/// request that failed because the store did: the client should retry, possibly at another
/// node.
fn database_unavailable() -> Response {
    let error = OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        mcp_auth_core::STORE_UNAVAILABLE,
    );
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(error.to_json())).into_response();
    res.extensions_mut()
        .insert(crate::metrics::http::OAuthErrorCode(error.code().as_str()));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    store_unavailable(res)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.error;
        if store_failure(e, "api").is_some() {
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
        if let Some(nonce) = e.dpop_nonce()
            && let Ok(v) = HeaderValue::from_str(nonce)
        {
            h.insert(mcp_auth_core::jose::dpop::NONCE_HEADER, v);
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
