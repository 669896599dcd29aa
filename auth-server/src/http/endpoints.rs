//! Token, introspection, revocation, registration, JWKS and metadata routes.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::OAuthError;

use super::{ApiError, AppState, no_store_json};
use crate::engine::token::ClientRequest;

/// A form POST as the engine needs it: the `Authorization` header and the raw body. As an
/// extractor it refuses (with `invalid_request`) a content type other than
/// `application/x-www-form-urlencoded`, a repeated `Authorization` header, and a body over the
/// limit.
pub(super) struct FormPost {
    authorization: Option<String>,
    body: Bytes,
    source: Option<String>,
    dpop: Vec<String>,
}

impl FormPost {
    pub(super) fn request(&self) -> ClientRequest<'_> {
        ClientRequest {
            authorization: self.authorization.as_deref(),
            body: &self.body,
            source: self.source.as_deref(),
            dpop: &self.dpop,
        }
    }
}

impl FromRequest<AppState> for FormPost {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let is_form = content_type_is(headers, "application/x-www-form-urlencoded");
        if !is_form {
            return Err(state.api_error(OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded",
            )));
        }
        let authorization = authorization_header(headers).map_err(|e| state.api_error(e))?;
        let dpop = dpop_headers(headers).map_err(|e| state.api_error(e))?;
        let source = source_address(&req);
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            state.api_error(OAuthError::invalid_request(
                "the request body is too large or unreadable",
            ))
        })?;
        Ok(Self {
            authorization,
            body,
            source,
            dpop,
        })
    }
}

/// The caller's source address as a rate-limit key, resolved by the router's forwarding
/// middleware from the socket peer and, for a trusted proxy, its forwarding headers
/// ([`super::source`]); `None` when the server runs without connection info.
fn source_address(req: &Request) -> Option<String> {
    req.extensions()
        .get::<super::source::SourceAddress>()
        .filter(|s| s.0.is_some())
        .map(super::source::SourceAddress::rate_key)
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

fn authorization_header(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(
            "the Authorization header is repeated",
        ));
    }
    first
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| OAuthError::invalid_request("the Authorization header is not ASCII"))
        })
        .transpose()
}

/// Every `DPoP` header value (RFC 9449 §4.1); the engine refuses more than one.
fn dpop_headers(headers: &HeaderMap) -> Result<Vec<String>, OAuthError> {
    headers
        .get_all(mcp_auth_core::jose::dpop::HEADER)
        .iter()
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                OAuthError::new(
                    mcp_auth_core::ErrorCode::InvalidDpopProof,
                    "the DPoP header is not ASCII",
                )
            })
        })
        .collect()
}

/// `POST /token` (RFC 6749 §3.2), with a fresh `DPoP-Nonce` when nonces are demanded (RFC 9449
/// §8.2).
pub(super) async fn token(
    State(state): State<AppState>,
    form: FormPost,
) -> Result<Response, ApiError> {
    let res = state
        .server
        .token(form.request())
        .await
        .map_err(|e| state.api_error(e))?;
    let mut response = no_store_json(StatusCode::OK, res);
    if let Some(nonce) = state.server.fresh_dpop_nonce()
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        let name = mcp_auth_core::jose::dpop::NONCE_HEADER;
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

/// `POST /introspect` (RFC 7662 §2).
pub(super) async fn introspect(
    State(state): State<AppState>,
    form: FormPost,
) -> Result<Response, ApiError> {
    let res = state
        .server
        .introspect(form.request())
        .await
        .map_err(|e| state.api_error(e))?;
    Ok(no_store_json(StatusCode::OK, res))
}

/// `POST /revoke` (RFC 7009 §2).
pub(super) async fn revoke(
    State(state): State<AppState>,
    form: FormPost,
) -> Result<Response, ApiError> {
    state
        .server
        .revoke(form.request())
        .await
        .map_err(|e| state.api_error(e))?;
    Ok(no_store_json(StatusCode::OK, serde_json::json!({})))
}

/// `POST /register` (RFC 7591 §3).
pub(super) async fn register(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, ApiError> {
    let source = source_address(&req).unwrap_or_else(|| "unknown".into());
    if !content_type_is(req.headers(), "application/json") {
        return Err(state.api_error(OAuthError::new(
            mcp_auth_core::ErrorCode::InvalidClientMetadata,
            "Content-Type must be application/json",
        )));
    }
    let body = Bytes::from_request(req, &state).await.map_err(|_| {
        state.api_error(OAuthError::invalid_request(
            "the request body is too large or unreadable",
        ))
    })?;
    let res = state
        .server
        .register(&source, &body)
        .await
        .map_err(|e| state.api_error(e))?;
    Ok(no_store_json(StatusCode::CREATED, res))
}

/// `GET /jwks` (RFC 7517 §5).
pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = axum::Json(state.server.jwks()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// `GET /.well-known/oauth-authorization-server[/path]` and the OIDC discovery location
/// (RFC 8414 §3).
pub(super) async fn metadata(State(state): State<AppState>) -> Response {
    let mut res = axum::Json(state.server.metadata()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}
