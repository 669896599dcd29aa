//! The request id (issue 14): every request gets one, from its `X-Request-Id` header when that
//! is a sane token (1 to 128 visible ASCII characters), else a fresh random one. It is
//!
//! - echoed in the response's `X-Request-Id` header,
//! - recorded as the `request_id` field of a per-request tracing span (so every log line of the
//!   request carries it, and the token endpoint's span adds `grant_type` and `client_id`),
//! - put into the request's extensions as a [`RequestId`], for error pages ([`request_id`]).
//!
//! tower-http does the setting and the echo (`SetRequestIdLayer` with [`HexIds`], then
//! `PropagateRequestIdLayer`; see `crate::http::router`). `SetRequestId` keeps any incoming header as it is and asks its
//! `MakeRequestId` only when there is none, so it cannot refuse an insane one: [`drop_insane`]
//! removes such a header before it, and [`HexIds`] then makes the fresh id.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::MakeRequestId;
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
    hex::encode(bytes)
}

/// The [`MakeRequestId`] of tower-http's `SetRequestIdLayer`: a fresh id from [`generate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HexIds;

impl MakeRequestId for HexIds {
    fn make_request_id<B>(
        &mut self,
        _: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&generate())
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// Middleware (`axum::middleware::map_request`), before tower-http's `SetRequestIdLayer`: remove an
/// incoming `X-Request-Id` that is not [`is_sane`], so a fresh one replaces it.
pub async fn drop_insane(mut req: Request) -> Request {
    let sane = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_sane);
    if !sane {
        req.headers_mut().remove(&REQUEST_ID_HEADER);
    }
    req
}

/// Middleware (`axum::middleware::from_fn`), inside tower-http's `SetRequestIdLayer` and
/// `PropagateRequestIdLayer`: run the request inside a
/// `request` span carrying its id (with the method and the matched route template, never the
/// raw path or query), put the id into the extensions as a [`RequestId`], and log one `request`
/// line with the status and latency.
pub async fn record(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(generate, str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::http::UNMATCHED, |m| m.as_str())
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let start = Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = start.elapsed().as_millis() as u64,
            "request"
        );
    });
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
