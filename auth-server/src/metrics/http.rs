//! The HTTP metrics middleware: [`names::HTTP_REQUESTS`], [`names::HTTP_REQUEST_DURATION`] and
//! [`names::OAUTH_ERRORS`] for every request of the main router.
//!
//! The `endpoint` label is the matched route template (axum's [`MatchedPath`], e.g. `/token`),
//! never the raw path, so a scanner cannot create series; an unmatched request is `other`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::names;

/// The RFC 6749 error code of an error response, put into the response's extensions by the one
/// place errors become responses, for [`track`] to count.
#[derive(Debug, Clone, Copy)]
pub struct OAuthErrorCode(pub &'static str);

/// The `endpoint` label of a request without a matched route.
pub const UNMATCHED: &str = "other";

/// Middleware (`axum::middleware::from_fn`): time the request and count it by endpoint,
/// method and status; count an OAuth error response by endpoint and error code.
pub async fn track(req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = res.status().as_u16().to_string();
    if let Some(code) = res.extensions().get::<OAuthErrorCode>() {
        super::oauth_error(&endpoint, code.0);
    }
    let labels = [
        ("endpoint", endpoint),
        ("method", method),
        ("status", status),
    ];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION, &labels).record(elapsed);
    res
}
