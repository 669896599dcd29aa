//! The request id (issue 14): every request gets one, from its `X-Request-Id` header when that
//! is a sane token (1 to 128 visible ASCII characters), else a fresh random one. It is
//!
//! - echoed in the response's `X-Request-Id` header,
//! - recorded as the `request_id` field of a per-request tracing span (so every log line of the
//!   request carries it, and the token endpoint's span adds `grant_type` and `client_id`),
//! - put into the request's extensions as a [`RequestId`], for error pages ([`request_id`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header carrying the request id, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a caller, in characters.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The request id of a request, for pages that show it (the error page's "Request id: …").
/// `None` only when the request did not pass through the router's request id middleware.
pub fn request_id(parts: &axum::http::request::Parts) -> Option<String> {
    parts.extensions.get::<RequestId>().map(|r| r.0.clone())
}

/// Whether a caller's request id is kept: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters
/// (`!` to `~`; no spaces, no control characters).
pub fn is_sane(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh id: 16 random bytes, hex (32 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // The id is for correlation only; a time-based one still tells requests apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{nanos:032x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Middleware (`axum::middleware::from_fn`): choose the request id, run the request inside a
/// `request` span carrying it (with the method and the matched route template, never the raw
/// path or query), log one `request` line with the status and latency, and echo the id.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(generate, str::to_owned);
    let header = HeaderValue::from_str(&id).ok();
    match &header {
        Some(v) => {
            req.headers_mut().insert(REQUEST_ID_HEADER, v.clone());
        }
        None => {
            req.headers_mut().remove(REQUEST_ID_HEADER);
        }
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::http::UNMATCHED, |m| m.as_str())
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let start = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = start.elapsed().as_millis() as u64,
            "request"
        );
    });
    if let Some(v) = header {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_ascii_tokens_are_kept() {
        assert!(is_sane("test-rid-1"));
        assert!(is_sane(&"a".repeat(MAX_REQUEST_ID_LEN)));
    }

    #[test]
    fn empty_long_spaced_or_non_ascii_ids_are_replaced() {
        assert!(!is_sane(""));
        assert!(!is_sane(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(!is_sane("has space"));
        assert!(!is_sane("tab\there"));
        assert!(!is_sane("é"));
    }

    #[test]
    fn generated_ids_are_sane_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 32);
        assert!(is_sane(&a));
        assert_ne!(a, b);
    }
}
