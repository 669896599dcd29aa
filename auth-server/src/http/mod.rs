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
mod routes;
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
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

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

/// Why [`router`] cannot serve a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// The session secret is shorter than 32 bytes.
    #[error("the session secret must be at least 32 bytes")]
    ShortSessionSecret,
    /// A page template fails to load or compile, or the branding is unusable.
    #[error(transparent)]
    Pages(#[from] crate::web::ui::UiError),
}

/// Compile the pages' templates (the shipped ones and the operator's `ui.templates_dir`) for
/// `settings`, without serving them: a broken template is reported before anything starts.
///
/// # Errors
/// [`RouterError::Pages`]: the template that fails to load or compile, with the reason.
pub fn check_templates(settings: &crate::ServerSettings) -> Result<(), RouterError> {
    pages(settings).map(|_| ())
}

/// The pages' assets and compiled templates for `settings`.
fn pages(
    settings: &crate::ServerSettings,
) -> Result<(crate::web::ui::UiAssets, Templates), RouterError> {
    let issuer = &settings.issuer;
    let ui = crate::web::ui::UiAssets::new(&settings.ui);
    let branding = crate::web::templates::Branding {
        product_name: settings.ui.product_name.clone(),
        stylesheet_url: issuer.endpoint(&ui.stylesheet_path()),
        logo_url: ui.logo_path().map(|p| issuer.endpoint(&p)),
    };
    let templates = Templates::with_overrides(settings.ui.templates_dir.as_deref(), &branding)?;
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
/// [`RouterError`]: the options are unusable (short session secret) or a template fails to
/// load.
pub fn router(server: AuthorizationServer, options: HttpOptions) -> Result<Router, RouterError> {
    if options.session_secret.len() < 32 {
        return Err(RouterError::ShortSessionSecret);
    }
    let issuer = server.settings().issuer.clone();
    let state = app_state(server, &options)?;
    let mut under_issuer = routes::back_channel().merge(routes::pages());
    if !issuer.path().is_empty() {
        under_issuer = Router::new().nest(issuer.path(), under_issuer);
    }
    let app = routes::discovery(&issuer).merge(under_issuer);
    Ok(routes::with_layers(app, state))
}

/// The state every handler shares: the engine, the compiled pages and the session codec.
fn app_state(server: AuthorizationServer, options: &HttpOptions) -> Result<AppState, RouterError> {
    let issuer = &server.settings().issuer;
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
    Ok(AppState {
        server,
        web: Arc::new(web),
    })
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

/// A token exchange's answer: a minted token (`200`), or the exchanger's own JSON with its
/// status, sent as it was serialised; `Cache-Control: no-store` either way.
pub(crate) fn exchange_response(answer: crate::engine::token_exchange::ExchangeAnswer) -> Response {
    use crate::engine::token_exchange::ExchangeAnswer;
    match answer {
        ExchangeAnswer::Issued(token) => no_store_json(StatusCode::OK, token),
        ExchangeAnswer::Direct(direct) => {
            let status = StatusCode::from_u16(direct.status().code())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let json = HeaderValue::from_static("application/json");
            let res = (
                status,
                [(header::CONTENT_TYPE, json)],
                direct.body().to_owned(),
            );
            no_store(res.into_response())
        }
    }
}

/// JSON with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub(crate) fn no_store_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    no_store((status, axum::Json(body)).into_response())
}

/// `res` with `Cache-Control: no-store` and `Pragma: no-cache`.
fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
