//! The route groups of [`super::router`]: the back channel (CORS open), the browser pages, the
//! discovery documents, and the layers every request goes through.

use axum::Router;
use axum::http::header;
use axum::middleware;
use axum::routing::{get, post};
use mcp_auth_core::Issuer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use super::{
    AppState, MAX_BODY_BYTES, account, authorize, connect_api, connect_pages, endpoints,
    forwarding, health, logo, logout, read_body_in_time, request_id, store_budget, stylesheet,
    upstream,
};

/// The endpoints clients and MCP servers call directly (JWKS, token, introspection,
/// revocation, registration, `/connect/token` and `/connect/status`), open to any origin
/// (CORS), with `WWW-Authenticate` readable by browser clients.
pub(super) fn back_channel() -> Router<AppState> {
    Router::new()
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
                // `DPoP-Nonce` (RFC 9449 §8): browser DPoP clients read the server nonce.
                .expose_headers([
                    header::WWW_AUTHENTICATE,
                    axum::http::HeaderName::from_static("dpop-nonce"),
                ]),
        )
}

/// The pages a user's browser sees (authorization, sign-in, consent, connections), each with
/// its request id in the page; the stylesheet and logo.
pub(super) fn pages() -> Router<AppState> {
    Router::new()
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
        .route(crate::web::ui::LOGO_PATH, get(logo))
}

/// The RFC 8414 and OpenID Connect discovery documents of `issuer` (at the host root, as the
/// RFC places them), open to any origin.
pub(super) fn discovery(issuer: &Issuer) -> Router<AppState> {
    Router::new()
        .route(&issuer.metadata_path(), get(endpoints::metadata))
        .route(
            &issuer.openid_configuration_path(),
            get(endpoints::metadata),
        )
        .layer(CorsLayer::new().allow_origin(Any).allow_methods(Any))
}

/// `app` with the layers every request goes through, the health probes, and `state`.
pub(super) fn with_layers(app: Router<AppState>, state: AppState) -> Router {
    app
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
        .with_state(state)
}
