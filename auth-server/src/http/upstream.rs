//! Sign-in through an upstream identity provider (issue 23): the start form's POST and the
//! callback, as thin handlers over
//! [`AuthorizationServer::start_upstream_sign_in`](crate::AuthorizationServer::start_upstream_sign_in)
//! and
//! [`AuthorizationServer::finish_upstream_sign_in`](crate::AuthorizationServer::finish_upstream_sign_in).
//! Every refusal is a page of this server, never a redirect to the MCP client.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use mcp_auth_core::{ErrorCode, OAuthError};

use super::AppState;
use super::authorize::{authorize_error, error_page, form_step, render_error, start_session};
use crate::engine::upstream_sign_in::UpstreamRefusal;
use crate::web::pages::redirect;

/// `POST /authorize/upstream`: the sign-in page's button for one upstream (CSRF checked, the
/// pending request validated again); answers `303` to the upstream with the attempt cookie.
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let step = match form_step(&state, &headers, &body).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let name = step.form.get("upstream").unwrap_or_default();
    redirect_to_upstream(&state, step.jar, name, &step.query, StatusCode::SEE_OTHER).await
}

/// Start signing in at the upstream `name` for the pending request `query`: the attempt
/// cookie and a redirect with `status`, or the refusal page.
pub(super) async fn redirect_to_upstream(
    state: &AppState,
    jar: SignedCookieJar,
    name: &str,
    query: &str,
    status: StatusCode,
) -> Response {
    match state.server.start_upstream_sign_in(name, query).await {
        Ok(start) => {
            let jar = state.web.sessions.write_attempt(jar, &start.attempt);
            (jar, redirect(status, &start.location)).into_response()
        }
        Err(refusal) => refusal_page(state, refusal),
    }
}

/// `GET /upstream/callback`: the upstream's answer. On success the attempt cookie is cleared, a
/// new session starts, and the pending authorization request continues (consent follows).
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let jar = state.web.sessions.jar(&headers);
    let attempt = state.web.sessions.read_attempt(&jar);
    let signed_in = match state
        .server
        .finish_upstream_sign_in(query.as_bytes(), attempt)
        .await
    {
        Ok(s) => s,
        Err(refusal) => return refusal_page(&state, refusal),
    };
    let jar = state.web.sessions.clear_attempt(jar);
    let request = match state
        .server
        .validate_authorization_request_for(signed_in.request.as_bytes(), Some(&signed_in.user.sub))
        .await
    {
        Ok(r) => r,
        Err(e) => return authorize_error(&state, e, StatusCode::FOUND),
    };
    start_session(
        &state,
        jar,
        &signed_in.user,
        &request,
        &signed_in.request,
        StatusCode::FOUND,
    )
    .await
}

/// The page of a refused upstream sign-in: `503` with `Retry-After` when the upstream could
/// not be reached, `403` when a sign-in rule refused the user, `400` otherwise; the text names
/// the rule, never claim values or tokens.
fn refusal_page(state: &AppState, refusal: UpstreamRefusal) -> Response {
    let (code, status) = match refusal {
        UpstreamRefusal::Internal(e) => return error_page(state, e),
        ref r if r.is_unavailable() => (
            ErrorCode::TemporarilyUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        UpstreamRefusal::Rule(_) | UpstreamRefusal::UpstreamError(_) => {
            (ErrorCode::AccessDenied, StatusCode::FORBIDDEN)
        }
        _ => (ErrorCode::InvalidRequest, StatusCode::BAD_REQUEST),
    };
    let description = format!("Sign-in refused: {refusal}. Start again from the application.");
    let mut res = render_error(state, &OAuthError::new(code, description), status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
    }
    res
}
