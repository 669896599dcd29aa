//! HTTP routes: thin glue from axum to the engine.
//!
//! Routes live under the issuer's path; the RFC 8414 metadata is also served at the
//! path-inserted well-known URL on the origin root.

mod account;
mod authorize;
#[cfg(test)]
mod busy_tests;
mod connect_api;
mod connect_pages;
mod endpoints;
mod error;
mod health;
mod listen;
mod live_session;
mod logout;
pub mod request_id;
pub mod source;
mod upstream;

pub use error::ApiError;
pub use listen::serve;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use crate::server::AuthorizationServer;
use crate::web::session::SessionCodec;
use crate::web::templates::Templates;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the HTTP layer adds to the engine: templates and the session codec. (The sign-in limits
/// and the password hashing pool belong to the engine: [`AuthorizationServer::sign_in`].)
pub(crate) struct WebContext {
    pub(crate) templates: Templates,
    pub(crate) sessions: SessionCodec,
    /// The stylesheet and logo the pages load (issue 14).
    pub(crate) ui: crate::web::ui::UiAssets,
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
    pub(crate) fn api_error(&self, error: mcp_auth_core::OAuthError) -> ApiError {
        ApiError::new(error, self.server.settings().issuer.as_str())
    }
}

/// Compile the pages' templates (the shipped ones and the operator's `ui.templates_dir`) for
/// `settings`, without serving them: a broken template is reported before anything starts.
///
/// # Errors
/// The template that fails to load or compile, with the reason.
pub fn check_templates(settings: &crate::ServerSettings) -> Result<(), String> {
    pages(settings).map(|_| ())
}

/// The pages' assets and compiled templates for `settings`.
fn pages(
    settings: &crate::ServerSettings,
) -> Result<(crate::web::ui::UiAssets, Templates), String> {
    let issuer = &settings.issuer;
    let ui = crate::web::ui::UiAssets::new(&settings.ui);
    let branding = crate::web::templates::Branding {
        product_name: settings.ui.product_name.clone(),
        stylesheet_url: issuer.endpoint(&ui.stylesheet_path()),
        logo_url: ui.logo_path().map(|p| issuer.endpoint(&p)),
    };
    let templates = Templates::with_overrides(settings.ui.templates_dir.as_deref(), &branding)
        .map_err(|e| e.to_string())?;
    Ok((ui, templates))
}

/// Build the router for `server`.
///
/// Every request first has its source address and protocol resolved from the socket peer and,
/// for a trusted proxy, the forwarding headers ([`source`]); then its body is read within
/// [`crate::limits::HttpLimits::body_read_timeout`]. Serve it with [`serve`] (header read
/// timeout, connection info); without connection info every caller shares one source address.
///
/// # Errors
/// A message when the options are unusable (short session secret) or a template fails to load.
pub fn router(server: AuthorizationServer, options: HttpOptions) -> Result<Router, String> {
    if options.session_secret.len() < 32 {
        return Err("the session secret must be at least 32 bytes".into());
    }
    let issuer = server.settings().issuer.clone();
    let secure = !issuer.is_insecure_loopback();
    let (ui, templates) = pages(server.settings())?;
    let web = WebContext {
        templates,
        ui,
        sessions: SessionCodec::new(
            &options.session_secret,
            issuer.as_str(),
            secure,
            server.settings().session_ttl,
        ),
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
        .merge(connect_api::routes())
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
        .route("/authorize/consent", post(authorize::consent))
        .route("/authorize/upstream", post(upstream::start))
        .route(
            crate::engine::upstream_sign_in::UPSTREAM_CALLBACK_PATH,
            get(upstream::callback),
        )
        .route(
            "/login",
            get(connect_pages::login_form).post(connect_pages::login),
        )
        .route("/connect/callback", get(connect_pages::callback))
        .route(
            "/connect/{id}",
            get(connect_pages::connect_page).post(connect_pages::connect_decision),
        )
        .route("/connect/{id}/retry", post(connect_pages::retry))
        .route("/connections", get(connect_pages::list))
        .route("/connections/{name}/remove", post(connect_pages::remove))
        .route("/logout", post(logout::logout))
        .route("/account", get(account::page))
        .route("/account/remove", post(account::remove))
        .layer(middleware::from_fn(crate::web::pages::with_request_id))
        .route(crate::web::ui::STYLESHEET_PATH, get(stylesheet))
        .route(crate::web::ui::LOGO_PATH, get(logo));
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
    let router = discovery
        .merge(under_issuer)
        // Innermost: the store budget counts from when the handler starts, after the body.
        .layer(middleware::from_fn(store_budget))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            read_body_in_time,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), forwarding))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Probes reach these on the node's own address: added after the layers above, so the
        // forwarding and https checks do not apply to them.
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // Outermost: every request, probes included, is counted and gets a request id (an
        // insane incoming id is dropped, then tower-http sets one and echoes it).
        .layer(middleware::from_fn(crate::metrics::http::track))
        .layer(middleware::from_fn(request_id::record))
        .layer(PropagateRequestIdLayer::new(request_id::REQUEST_ID_HEADER))
        .layer(SetRequestIdLayer::new(
            request_id::REQUEST_ID_HEADER,
            request_id::HexIds,
        ))
        .layer(middleware::map_request(request_id::drop_insane))
        .with_state(state);
    Ok(router)
}

/// `GET /ui/style.css`: the pages' stylesheet ([`crate::web::ui`]).
async fn stylesheet(State(state): State<AppState>) -> Response {
    state.web.ui.stylesheet_response()
}

/// `GET /ui/logo`: the configured logo, or `404`.
async fn logo(State(state): State<AppState>) -> Response {
    state.web.ui.logo_response()
}

/// Resolve the request's source address (put into its extensions as a
/// [`source::SourceAddress`]) and refuse, with `400 invalid_request`, requests whose forwarding
/// headers cannot be believed or that are reported as (or, from a trusted proxy, not shown to
/// be) https when the issuer is https (spec AS-20, SEC-01; issue #8 items 3 and 6).
async fn forwarding(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let settings = state.server.settings();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let require_https = !settings.issuer.is_insecure_loopback();
    match source::resolve(
        peer,
        req.headers(),
        &settings.trusted_proxies,
        require_https,
    ) {
        Ok(source) => {
            req.extensions_mut().insert(source);
            next.run(req).await
        }
        Err(e) => {
            tracing::info!(error = %e, peer = ?peer, "forwarding headers refused");
            let err = mcp_auth_core::OAuthError::invalid_request(e.to_string());
            ApiError::new(err, settings.issuer.as_str()).into_response()
        }
    }
}

/// Give the request its store budget ([`crate::storage::deadline::REQUEST_STORE_BUDGET`]): its
/// store calls together wait at most that long, then fail as unavailable (`503`).
async fn store_budget(req: Request, next: Next) -> Response {
    crate::storage::deadline::with_request_budget(
        crate::storage::deadline::REQUEST_STORE_BUDGET,
        next.run(req),
    )
    .await
}

/// Read the whole body (at most [`MAX_BODY_BYTES`]) within the body read timeout before the
/// route runs; the connection is closed after any refusal (issue #8 item 6):
/// - `413 invalid_request` at once, before any of the body is read, when `Content-Length`
///   declares more than [`MAX_BODY_BYTES`] (issue 19 §7), and when more arrives than that;
/// - `408 invalid_request` when the body is late (this timeout, or the listener's);
/// - `400 invalid_request` when it is unreadable.
///
/// The deadline is on the whole body. It stays a `tokio::time::timeout` instead of tower-http's
/// `RequestBodyTimeoutLayer` (issue 21 §5), by measurement: tower-http 0.6's `TimeoutBody` with a
/// 100 ms timeout accepted a 10-byte body sent one byte every 60 ms (whole after 614 ms), since
/// its timer restarts at every frame; a client dribbling its body would hold a request open for
/// as long as it likes.
async fn read_body_in_time(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.server.settings().http.body_read_timeout;
    let refuse = |status: StatusCode, description: &str| {
        let err = mcp_auth_core::OAuthError::invalid_request(description);
        let mut res = no_store_json(status, err.to_json());
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        res
    };
    const TOO_LARGE: &str = "the request body is too large";
    const LATE: &str = "the request body did not arrive in time";
    if declared_length(req.headers()).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE);
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    match tokio::time::timeout(limit, limited.collect()).await {
        Ok(Ok(collected)) => {
            let req = Request::from_parts(parts, Body::from(collected.to_bytes()));
            next.run(req).await
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
        }
        Ok(Err(e)) if mcp_auth_resource_server::listen::is_body_read_timeout(&*e) => {
            tracing::info!("request body not received within the body read timeout");
            refuse(StatusCode::REQUEST_TIMEOUT, LATE)
        }
        Ok(Err(_)) => refuse(StatusCode::BAD_REQUEST, "the request body is unreadable"),
        Err(_) => {
            tracing::info!("request body not received within the body read timeout");
            refuse(StatusCode::REQUEST_TIMEOUT, LATE)
        }
    }
}

/// The `Content-Length` of a request, when it is one number (hyper has refused conflicting
/// ones already).
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
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
