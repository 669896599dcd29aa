//! The authorization endpoint and its login and consent pages (spec §2.2, §2.10).
//!
//! The original authorization query travels through the login and consent forms as a hidden
//! field and is validated again on every step, so nothing the browser posts is trusted beyond
//! the user's decision.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use mcp_auth_core::{FormParams, OAuthError};
use minijinja::context;

use super::AppState;
use super::source::SourceAddress;
use crate::engine::authorize::{AuthorizationRequest, AuthorizeError};
use crate::web::pages::{html, html_with_form_redirect, redirect};
use crate::web::password::PasswordError;
use crate::web::session::Session;

/// `GET /authorize` (RFC 6749 §4.1.1).
pub(super) async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let jar = state.web.sessions.jar(&headers);
    let now = state.server.clock().now();
    let session = state.web.sessions.read(&jar, now);
    let request = match state
        .server
        .validate_authorization_request_for(query.as_bytes(), signed_in(session.as_ref()))
        .await
    {
        Ok(r) => r,
        Err(e) => return authorize_error(&state, e, StatusCode::FOUND),
    };
    match session {
        Some(session) if session.sub.is_some() => {
            proceed(&state, jar, &session, &request, &query, StatusCode::FOUND).await
        }
        existing => {
            if state.server.settings().dangerous_dev_mode {
                return dev_sign_in(&state, jar, &request, &query).await;
            }
            let session = existing.unwrap_or_else(|| new_session(&state, None, None, now));
            let jar = state.web.sessions.write(jar, &session);
            (jar, login_page(&state, &session, &request, &query, None)).into_response()
        }
    }
}

/// A sign-in or consent POST after the common checks: the form parsed, the authorization
/// request it carries validated again, the session read and its CSRF token matched.
struct FormStep {
    form: FormParams,
    query: String,
    request: AuthorizationRequest,
    jar: SignedCookieJar,
    session: Session,
    now: i64,
}

async fn form_step(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<FormStep, Response> {
    let form = FormParams::parse(body)
        .map_err(|_| error_page(state, OAuthError::invalid_request("malformed form")))?;
    let query = form.get("request").unwrap_or_default().to_owned();
    let jar = state.web.sessions.jar(headers);
    let now = state.server.clock().now();
    let session = state.web.sessions.read(&jar, now);
    let request = state
        .server
        .validate_authorization_request_for(query.as_bytes(), signed_in(session.as_ref()))
        .await
        .map_err(|e| authorize_error(state, e, StatusCode::SEE_OTHER))?;
    let session = session.ok_or_else(|| {
        error_page(
            state,
            OAuthError::invalid_request(
                "the sign-in session expired; start again from the application",
            ),
        )
    })?;
    let csrf = form.get("csrf_token").unwrap_or_default();
    if !state.web.sessions.check_csrf(&session, csrf) {
        return Err(error_page(
            state,
            OAuthError::invalid_request("invalid CSRF token"),
        ));
    }
    Ok(FormStep {
        form,
        query,
        request,
        jar,
        session,
        now,
    })
}

/// `POST /authorize/login`: check the CSRF token and the password, then start a new session
/// (a fresh id, so a planted session cannot be promoted) and continue the request.
///
/// Sign-in limits ([`crate::limits::SignInSettings`]): a source, (username, source) pair or
/// username over its limit gets `429` with `Retry-After` and no password check; a check that
/// finds the hashing pool busy gets `429` with `Retry-After: 1`; a check that fails inside (a
/// panic, an unreadable stored hash) is a `500`, never "wrong password" (issue #8 items 2, 3).
pub(super) async fn login(
    State(state): State<AppState>,
    axum::Extension(source): axum::Extension<SourceAddress>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let step = match form_step(&state, &headers, &body).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let FormStep {
        form,
        query,
        request,
        jar,
        session,
        now,
    } = step;
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let limits = &state.web.signin_limits;
    let attempt = match limits.begin(username, &source.rate_key()) {
        Ok(a) => a,
        Err(retry_after) => {
            tracing::info!("sign-in refused: too many failed attempts");
            let message = "Too many failed sign-ins. Wait a few minutes and try again.";
            let page = login_page(&state, &session, &request, &query, Some(message));
            return too_many_requests(page, retry_after);
        }
    };
    let user = match state.server.stores().users.get_by_username(username).await {
        Ok(u) => u,
        Err(e) => {
            limits.not_a_failure(attempt);
            return error_page(&state, OAuthError::from(e));
        }
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = match state.web.hashes.verify(password.to_owned(), hash).await {
        Ok(ok) => ok,
        Err(PasswordError::Busy) => {
            limits.not_a_failure(attempt);
            tracing::warn!("sign-in refused: every password-check slot is busy");
            let message = "The server is busy. Try again in a moment.";
            let page = login_page(&state, &session, &request, &query, Some(message));
            return too_many_requests(page, 1);
        }
        Err(e) => {
            limits.not_a_failure(attempt);
            return error_page(&state, OAuthError::server_error(e));
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        let _counted_as_a_failure = attempt;
        tracing::info!("sign-in failed");
        let message = "Wrong username or password.";
        let page = login_page(&state, &session, &request, &query, Some(message));
        return (StatusCode::UNAUTHORIZED, page).into_response();
    };
    limits.not_a_failure(attempt);
    let session = new_session(&state, Some(&user.sub), Some(&user.username), now);
    let jar = state.web.sessions.write(jar, &session);
    tracing::info!(sub = %user.sub, "user signed in");
    proceed(
        &state,
        jar,
        &session,
        &request,
        &query,
        StatusCode::SEE_OTHER,
    )
    .await
}

/// `page` as a `429 Too Many Requests` with `Retry-After: retry_after` (seconds).
fn too_many_requests(page: Response, retry_after: u64) -> Response {
    let mut res = (StatusCode::TOO_MANY_REQUESTS, page).into_response();
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after),
    );
    res
}

/// `POST /authorize/consent`: the user's decision.
pub(super) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let step = match form_step(&state, &headers, &body).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if step.session.sub.is_none() {
        return error_page(
            &state,
            OAuthError::invalid_request("you are not signed in; start again from the application"),
        );
    }
    match step.form.get("decision") {
        Some("approve") => issue(&state, &step.session, &step.request, StatusCode::SEE_OTHER).await,
        Some("deny") => redirect(StatusCode::SEE_OTHER, &state.server.deny(&step.request)),
        _ => error_page(
            &state,
            OAuthError::invalid_request("decision must be approve or deny"),
        ),
    }
}

/// A signed-in user: skip consent when every scope was approved before, else ask.
async fn proceed(
    state: &AppState,
    jar: SignedCookieJar,
    session: &Session,
    request: &AuthorizationRequest,
    query: &str,
    status: StatusCode,
) -> Response {
    let sub = session.sub.as_deref().unwrap_or_default();
    let needed = match state.server.scopes_needing_consent(sub, request).await {
        Ok(n) => n,
        Err(e) => return error_page(state, e),
    };
    let auto_approve = state.server.settings().dangerous_dev_mode
        || state.server.is_trusted_client(&request.client.client_id);
    let response = match needed {
        Some(new_scopes) if !auto_approve => {
            consent_page(state, session, request, query, &new_scopes)
        }
        _ => issue(state, session, request, status).await,
    };
    (jar, response).into_response()
}

async fn issue(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    status: StatusCode,
) -> Response {
    let sub = session.sub.as_deref().unwrap_or_default();
    let auth_time = session.auth_time.unwrap_or(session.issued_at);
    match state.server.approve(request, sub, auth_time).await {
        Ok(location) => redirect(status, &location),
        Err(e) => {
            let location =
                state
                    .server
                    .error_location(&request.redirect_uri, request.state.as_deref(), &e);
            tracing::error!(error = %e, source = ?e.internal_source(), "issuing an authorization code failed");
            redirect(status, &location)
        }
    }
}

async fn dev_sign_in(
    state: &AppState,
    jar: SignedCookieJar,
    request: &AuthorizationRequest,
    query: &str,
) -> Response {
    let user = match state
        .server
        .stores()
        .users
        .get_by_username(crate::DEV_USERNAME)
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => {
            return error_page(
                state,
                OAuthError::invalid_request("the development user does not exist"),
            );
        }
        Err(e) => return error_page(state, e.into()),
    };
    let now = state.server.clock().now();
    let session = new_session(state, Some(&user.sub), Some(&user.username), now);
    let jar = state.web.sessions.write(jar, &session);
    tracing::warn!("development profile: signed in the development user without a password");
    proceed(state, jar, &session, request, query, StatusCode::FOUND).await
}

/// The signed-in user of `session`, if any: decides whether errors of a self-registered client
/// may be redirected (RFC 9700 §4.11.2).
fn signed_in(session: Option<&Session>) -> Option<&str> {
    session.and_then(|s| s.sub.as_deref())
}

fn new_session(state: &AppState, sub: Option<&str>, username: Option<&str>, now: i64) -> Session {
    Session {
        sid: state.server.secrets().token("", 16),
        sub: sub.map(str::to_owned),
        username: username.map(str::to_owned),
        auth_time: sub.map(|_| now),
        issued_at: now,
    }
}

fn client_host(request: &AuthorizationRequest) -> String {
    let id = request.client.client_id.as_str();
    url::Url::parse(id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| id.to_owned())
}

fn login_page(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    query: &str,
    error: Option<&str>,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let body = state.web.templates.render(
        "login.html",
        context! {
            action => issuer.endpoint("/authorize/login"),
            csrf_token => state.web.sessions.csrf_token(session),
            request => query,
            client_name => request.client.display_name(),
            client_host => client_host(request),
            resource => request.resource.resource.as_str(),
            error => error,
        },
    );
    render_form(state, body, &request.redirect_uri)
}

fn consent_page(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    query: &str,
    new_scopes: &mcp_auth_core::ScopeSet,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let scopes: Vec<_> = request
        .scope
        .iter()
        .map(|s| context! { name => s.as_str(), new => new_scopes.contains(s.as_str()) })
        .collect();
    let loopback_only = request.client.redirect_uris.iter().all(|r| r.is_loopback());
    let body = state.web.templates.render(
        "consent.html",
        context! {
            action => issuer.endpoint("/authorize/consent"),
            csrf_token => state.web.sessions.csrf_token(session),
            request => query,
            client_name => request.client.display_name(),
            client_host => client_host(request),
            redirect_host => request.redirect_uri.host(),
            loopback_only => loopback_only,
            metadata_document => request.client.client_id.is_metadata_document_url(),
            self_registered => request.client.source == mcp_auth_core::ClientSource::Dynamic,
            resource => request.resource.resource.as_str(),
            scopes => scopes,
            username => session.username.clone().unwrap_or_default(),
        },
    );
    render_form(state, body, &request.redirect_uri)
}

/// A page whose form POST may be answered by a redirect to `redirect_uri` (sign-in, consent):
/// `form-action` allows that origin too (issue #8 item 6).
fn render_form(
    state: &AppState,
    body: Result<String, minijinja::Error>,
    redirect_uri: &mcp_auth_core::RedirectUri,
) -> Response {
    match body {
        Ok(b) => html_with_form_redirect(StatusCode::OK, b, redirect_uri),
        Err(e) => render(state, Err(e), StatusCode::OK),
    }
}

fn render(
    state: &AppState,
    body: Result<String, minijinja::Error>,
    status: StatusCode,
) -> Response {
    match body {
        Ok(b) => html(status, b),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            let _ = state;
            html(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
    }
}

fn authorize_error(state: &AppState, error: AuthorizeError, status: StatusCode) -> Response {
    match error {
        AuthorizeError::Page(e) => error_page(state, e),
        AuthorizeError::Redirect { location, error } => {
            tracing::info!(error = %error, "authorization request refused");
            redirect(status, &location)
        }
    }
}

/// The error page of an untrusted request: 400 (500 for server errors), never a redirect.
fn error_page(state: &AppState, error: OAuthError) -> Response {
    let status = if error.code() == mcp_auth_core::ErrorCode::ServerError {
        tracing::error!(error = %error, source = ?error.internal_source(), "authorization page failed");
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        tracing::info!(error = %error, "authorization request shown as an error page");
        StatusCode::BAD_REQUEST
    };
    let body = state.web.templates.render(
        "error.html",
        context! { error => error.code().as_str(), description => error.description() },
    );
    render(state, body, status)
}
