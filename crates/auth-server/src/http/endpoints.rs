//! Token, introspection, revocation, registration, JWKS and metadata routes.

use std::net::SocketAddr;

use auth_core::OAuthError;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, no_store_json};
use crate::engine::token::TokenRequest;

/// The parts of a form POST the engine needs.
struct FormPost {
    authorization: Option<String>,
    body: Bytes,
}

/// Read a form POST: the content type must be `application/x-www-form-urlencoded` and the body
/// within the limit; otherwise `invalid_request`.
async fn read_form(state: &AppState, req: Request) -> Result<FormPost, ApiError> {
    let realm = state.server.settings().issuer.as_str();
    let headers = req.headers();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::new(
            OAuthError::invalid_request("Content-Type must be application/x-www-form-urlencoded"),
            realm,
        ));
    }
    let authorization = authorization_header(headers, realm)?;
    let body = Bytes::from_request(req, state).await.map_err(|_| {
        ApiError::new(
            OAuthError::invalid_request("the request body is too large or unreadable"),
            realm,
        )
    })?;
    Ok(FormPost {
        authorization,
        body,
    })
}

fn authorization_header(headers: &HeaderMap, realm: &str) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::new(
            OAuthError::invalid_request("the Authorization header is repeated"),
            realm,
        ));
    }
    first
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError::new(
                    OAuthError::invalid_request("the Authorization header is not ASCII"),
                    realm,
                )
            })
        })
        .transpose()
}

/// `POST /token` (RFC 6749 §3.2).
pub(super) async fn token(State(state): State<AppState>, req: Request) -> Response {
    let realm = state.server.settings().issuer.as_str().to_owned();
    let form = match read_form(&state, req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let request = TokenRequest {
        authorization: form.authorization.as_deref(),
        body: &form.body,
    };
    match state.server.token(request).await {
        Ok(res) => no_store_json(StatusCode::OK, res),
        Err(e) => ApiError::new(e, &realm).into_response(),
    }
}

/// `POST /introspect` (RFC 7662 §2).
pub(super) async fn introspect(State(state): State<AppState>, req: Request) -> Response {
    let realm = state.server.settings().issuer.as_str().to_owned();
    let form = match read_form(&state, req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match state
        .server
        .introspect(form.authorization.as_deref(), &form.body)
        .await
    {
        Ok(res) => no_store_json(StatusCode::OK, res),
        Err(e) => ApiError::new(e, &realm).into_response(),
    }
}

/// `POST /revoke` (RFC 7009 §2).
pub(super) async fn revoke(State(state): State<AppState>, req: Request) -> Response {
    let realm = state.server.settings().issuer.as_str().to_owned();
    let form = match read_form(&state, req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match state
        .server
        .revoke(form.authorization.as_deref(), &form.body)
        .await
    {
        Ok(()) => no_store_json(StatusCode::OK, serde_json::json!({})),
        Err(e) => ApiError::new(e, &realm).into_response(),
    }
}

/// `POST /register` (RFC 7591 §3).
pub(super) async fn register(State(state): State<AppState>, req: Request) -> Response {
    let realm = state.server.settings().issuer.as_str().to_owned();
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        let err = OAuthError::new(
            auth_core::ErrorCode::InvalidClientMetadata,
            "Content-Type must be application/json",
        );
        return ApiError::new(err, &realm).into_response();
    }
    let body = match Bytes::from_request(req, &state).await {
        Ok(b) => b,
        Err(_) => {
            let err = OAuthError::invalid_request("the request body is too large or unreadable");
            return ApiError::new(err, &realm).into_response();
        }
    };
    match state.server.register(&source, &body).await {
        Ok(res) => no_store_json(StatusCode::CREATED, res),
        Err(e) => ApiError::new(e, &realm).into_response(),
    }
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
