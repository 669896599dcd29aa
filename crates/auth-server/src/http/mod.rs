//! HTTP routes: thin glue from axum to the engine.
//!
//! Routes live under the issuer's path; the RFC 8414 metadata is also served at the
//! path-inserted well-known URL on the origin root.

mod authorize;
mod endpoints;
mod error;

pub use error::ApiError;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::server::AuthorizationServer;
use crate::web::session::SessionCodec;
use crate::web::templates::Templates;
use auth_core::rate_limit::RateLimiter;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the HTTP layer adds to the engine: templates, the session codec, the login limiter.
pub(crate) struct WebContext {
    pub(crate) templates: Templates,
    pub(crate) sessions: SessionCodec,
    pub(crate) login_limiter: RateLimiter,
}

/// Shared state of every route.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) server: AuthorizationServer,
    pub(crate) web: Arc<WebContext>,
}

/// Options of the HTTP layer.
#[derive(Clone)]
pub struct HttpOptions {
    /// Master secret for the session cookie and CSRF tokens, at least 32 bytes. Sessions survive
    /// a restart only when this is fixed; a random one is fine for a single node.
    pub session_secret: Vec<u8>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpOptions { session_secret: [redacted] }")
    }
}

impl HttpOptions {
    /// Options with a fresh random session secret.
    pub fn random() -> Self {
        let mut secret = vec![0u8; 64];
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).is_err() {
            panic!("operating system random number generator failed");
        }
        Self {
            session_secret: secret,
        }
    }
}

impl AppState {
    /// `error` as a response, with this server's issuer as the Basic realm.
    pub(crate) fn api_error(&self, error: auth_core::OAuthError) -> ApiError {
        ApiError::new(error, self.server.settings().issuer.as_str())
    }
}

/// Build the router for `server`.
///
/// # Errors
/// A message when the options are unusable (short session secret) or a template fails to load.
pub fn router(server: AuthorizationServer, options: HttpOptions) -> Result<Router, String> {
    if options.session_secret.len() < 32 {
        return Err("the session secret must be at least 32 bytes".into());
    }
    let issuer = server.settings().issuer.clone();
    let secure = !issuer.is_insecure_loopback();
    let web = WebContext {
        templates: Templates::load().map_err(|e| e.to_string())?,
        sessions: SessionCodec::new(
            &options.session_secret,
            secure,
            server.settings().session_ttl,
        ),
        login_limiter: RateLimiter::new(10, 300, server.clock().clone()),
    };
    let state = AppState {
        server: server.clone(),
        web: Arc::new(web),
    };
    let public = Router::new()
        .route("/jwks", get(endpoints::jwks))
        .route("/token", post(endpoints::token))
        .route("/introspect", post(endpoints::introspect))
        .route("/revoke", post(endpoints::revoke))
        .route("/register", post(endpoints::register))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
                .expose_headers([header::WWW_AUTHENTICATE]),
        );
    let pages = Router::new()
        .route("/authorize", get(authorize::authorize))
        .route("/authorize/login", post(authorize::login))
        .route("/authorize/consent", post(authorize::consent));
    let mut under_issuer = public.merge(pages);
    if !issuer.path().is_empty() {
        under_issuer = Router::new().nest(issuer.path(), under_issuer);
    }
    let discovery = Router::new()
        .route(&issuer.metadata_path(), get(endpoints::metadata))
        .route(
            &issuer.openid_configuration_path(),
            get(endpoints::metadata),
        )
        .layer(CorsLayer::new().allow_origin(Any).allow_methods(Any));
    Ok(discovery
        .merge(under_issuer)
        .layer(middleware::from_fn_with_state(state.clone(), require_https))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state))
}

/// Refuse requests that a TLS-terminating proxy reports as plain http when the issuer is https
/// (spec AS-20, SEC-01).
async fn require_https(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let issuer = &state.server.settings().issuer;
    if !issuer.is_insecure_loopback()
        && let Some(proto) = req.headers().get("x-forwarded-proto")
        && proto.as_bytes() != b"https"
    {
        let err = auth_core::OAuthError::invalid_request("plain http is refused; use https");
        return ApiError::new(err, issuer.as_str()).into_response();
    }
    next.run(req).await
}

/// JSON with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub(crate) fn no_store_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
