//! `POST /logout`: the signed-in user signs out of this browser.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::FormParams;

use super::AppState;
use super::connect_pages::message;

/// `POST /logout` (form: `csrf_token`): the session cookie is rewritten with nobody signed in
/// (the same session id, so the CSRF token of another open page stays valid), then a "Signed
/// out" page. A wrong or missing CSRF token is a `400` page and changes nothing; without a
/// session there is nothing to end and the page says so as well. Other browsers' sessions
/// stay: `auth-server user passwd` or `user remove` ends them all.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let jar = state.web.sessions.jar(&headers);
    let now = state.server.clock().now();
    let Some(session) = state.web.sessions.read(&jar, now) else {
        return signed_out_page(&state);
    };
    let token = FormParams::parse(&body)
        .ok()
        .and_then(|form| form.get("csrf_token").map(str::to_owned))
        .unwrap_or_default();
    if !state.web.sessions.check_csrf(&session, &token) {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "This request cannot be completed",
            "Invalid CSRF token.",
        );
    }
    if let Some(sub) = &session.sub {
        tracing::info!(sub = %sub, "signed out");
    }
    let jar = state.web.sessions.write(jar, &session.signed_out());
    (jar, signed_out_page(&state)).into_response()
}

fn signed_out_page(state: &AppState) -> Response {
    let product = &state.server.settings().ui.product_name;
    message(
        state,
        StatusCode::OK,
        "Signed out",
        &format!("You are signed out of {product} in this browser."),
    )
}
