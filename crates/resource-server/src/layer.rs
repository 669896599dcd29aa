//! The bearer token [`tower::Layer`], shaped like tower-http's async authorization layer:
//! configuration behind an `Arc`, failures answered as responses, the principal put into request
//! extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::ScopeSet;
use axum::body::Body;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service};

use crate::config::ResourceServerConfig;
use crate::error::AuthError;
use crate::policy::McpOperation;
use crate::validator::TokenValidator;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Shared {
    config: ResourceServerConfig,
    validator: Arc<dyn TokenValidator>,
}

/// Requires a valid bearer token (RFC 6750 §2.1, header only) with enough scope on every request.
///
/// Per request, in order:
/// 1. `access_token` in the query → 400 `invalid_request`; several `Authorization` headers or a
///    `Bearer` value that is not one token68 → 400 `invalid_request`.
/// 2. A `POST`/`PUT`/`PATCH` with a JSON or form body is buffered (at most
///    [`ResourceServerConfig::body_limit`] bytes, else 413), a form `access_token` → 400, and
///    the JSON-RPC operations are read to find the required scopes
///    ([`crate::ScopePolicy::required`]). The body is passed on intact.
/// 3. No token (or a non-Bearer scheme) → 401 with `resource_metadata` and `scope`; a token the
///    validator refuses → 401 `invalid_token`; validation unavailable → 503.
/// 4. Too little scope → 403 `insufficient_scope` with the §4.3 scope set.
/// 5. Otherwise the [`crate::Principal`] goes into the request extensions, `Authorization` is
///    removed (unless configured otherwise), and the inner service runs.
///
/// Every method is authenticated (GET streams and DELETE included); no session state is used.
#[derive(Clone)]
pub struct BearerAuthLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("resource", self.shared.config.resource())
            .finish_non_exhaustive()
    }
}

impl BearerAuthLayer {
    /// A layer for `config` validating tokens with `validator`.
    pub fn new(config: ResourceServerConfig, validator: impl TokenValidator) -> Self {
        Self::with_shared_validator(config, Arc::new(validator))
    }

    /// As [`Self::new`], with a validator shared elsewhere.
    pub fn with_shared_validator(
        config: ResourceServerConfig,
        validator: Arc<dyn TokenValidator>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared { config, validator }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ResourceServerConfig {
        &self.shared.config
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`BearerAuthLayer`].
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            match shared.authorize(req).await {
                Ok(req) => inner.call(req).await.map(|r| r.map(Body::new)),
                Err(rejection) => Ok(rejection),
            }
        })
    }
}

impl Shared {
    async fn authorize<B>(&self, req: Request<B>) -> Result<Request<Body>, Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let policy = self.config.policy();
        let (mut parts, body) = req.into_parts();
        let baseline = policy.baseline();
        if parts.uri.query().is_some_and(query_has_token) {
            return Err(self.reject(AuthError::TokenInQuery, baseline));
        }
        let token = extract_token(&parts.headers).map_err(|e| self.reject(e, baseline))?;

        let (body, operations) = match body_kind(&parts.method, &parts.headers) {
            BodyKind::Pass => (Body::new(body), Vec::new()),
            kind => {
                let bytes = self
                    .read_body(&parts.headers, body)
                    .await
                    .map_err(|e| self.reject(e, baseline))?;
                let ops = match kind {
                    BodyKind::Json => McpOperation::parse_body(&bytes),
                    _ => {
                        if form_has_token(&bytes) {
                            return Err(self.reject(AuthError::TokenInBody, baseline));
                        }
                        Vec::new()
                    }
                };
                (Body::from(bytes), ops)
            }
        };
        let required = policy.required(&parts.method, parts.uri.path(), &operations);
        let advertised = policy.minimal(&required);

        let Some(token) = token else {
            return Err(self.reject(AuthError::MissingToken, &advertised));
        };
        let principal = match self.validator.validate(token).await {
            Ok(p) => p,
            Err(e) => return Err(self.reject(e.into(), &advertised)),
        };
        if let Err((missing, challenge)) = policy.check(&principal.scopes, &required) {
            tracing::info!(
                required = %required,
                granted = %principal.scopes,
                missing = %missing,
                sub = %principal.subject,
                client_id = %principal.client_id,
                "scope elevation required"
            );
            return Err(self.reject(AuthError::InsufficientScope { missing }, &challenge));
        }
        if self.config.strip_authorization() {
            parts.headers.remove(AUTHORIZATION);
        }
        parts.extensions.insert(principal);
        Ok(Request::from_parts(parts, body))
    }

    async fn read_body<B>(&self, headers: &HeaderMap, body: B) -> Result<Bytes, AuthError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let limit = self.config.body_limit();
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|l| l > limit as u64) {
            return Err(AuthError::BodyTooLarge(limit));
        }
        match Limited::new(body, limit).collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                Err(AuthError::BodyTooLarge(limit))
            }
            Err(_) => Err(AuthError::BodyUnreadable),
        }
    }

    /// The one place a refusal becomes an HTTP response.
    fn reject(&self, error: AuthError, scope: &ScopeSet) -> Response<Body> {
        let body = serde_json::json!({
            "error": error.code(),
            "error_description": error.to_string(),
        });
        let mut resp = Response::new(Body::from(body.to_string()));
        *resp.status_mut() = error.status();
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = error.challenge(self.config.metadata_url(), scope)
            && let Ok(v) = HeaderValue::from_str(&challenge.to_header_value())
        {
            headers.insert(WWW_AUTHENTICATE, v);
        }
        resp
    }
}

enum BodyKind {
    Pass,
    Json,
    Form,
}

fn body_kind(method: &Method, headers: &HeaderMap) -> BodyKind {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return BodyKind::Pass;
    }
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        BodyKind::Json
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        BodyKind::Form
    } else {
        BodyKind::Pass
    }
}

fn query_has_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
}

fn form_has_token(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(k, _)| k == "access_token")
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1): `Ok(None)` when absent or
/// another scheme; `Ok(Some(""))` for a bare `Bearer`.
fn extract_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::SeveralCredentials);
    }
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    if rest.is_empty() {
        return Ok(Some(""));
    }
    if !is_token68(rest) {
        return Err(AuthError::MalformedHeader);
    }
    Ok(Some(rest))
}

/// RFC 7235 §2.1 `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// A CORS layer for browser-based MCP clients: any origin, the MCP methods and request headers,
/// and `WWW-Authenticate` (plus `Mcp-Session-Id`) exposed so a browser client can read the
/// challenge. Put it *outside* the bearer layer so preflights are answered before
/// authentication.
pub fn cors_layer() -> tower_http::cors::CorsLayer {
    use http::HeaderName;
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            http::header::ACCEPT,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([WWW_AUTHENTICATE, HeaderName::from_static("mcp-session-id")])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            extract_token(&headers(&["bEaReR abc.def-_~+/=="])),
            Ok(Some("abc.def-_~+/=="))
        );
    }

    #[test]
    fn two_spaces_or_two_tokens_are_malformed() {
        assert_eq!(
            extract_token(&headers(&["Bearer  abc"])),
            Err(AuthError::MalformedHeader)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer a, Bearer b"])),
            Err(AuthError::MalformedHeader)
        );
    }

    #[test]
    fn other_scheme_counts_as_no_token() {
        assert_eq!(extract_token(&headers(&["Basic dTpw"])), Ok(None));
    }
}
