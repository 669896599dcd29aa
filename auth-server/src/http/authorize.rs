//! The authorization endpoint and its login and consent pages (spec §2.2, §2.10).
//!
//! The original authorization query travels through the login and consent forms as a hidden
//! field and is validated again on every step, so nothing the browser posts is trusted beyond
//! the user's decision.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use mcp_auth_core::{FormParams, OAuthError, Secret};
use minijinja::context;

use super::AppState;
use super::error::{store_failure, store_unavailable};
use super::source::SourceAddress;
use crate::engine::authorize::{AuthorizationRequest, AuthorizeError};
use crate::engine::consent::{ConsentAnswer, ConsentStep};
use crate::engine::sign_in::{SignInError, SignedInUser};
use crate::web::pages::{html, html_with_form_redirect, html_with_form_targets, redirect};
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
    let session = match state.session(&jar).await {
        Ok(s) => s,
        Err(e) => return error_page(&state, e),
    };
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
        _ if state.server.settings().dangerous_dev_mode => match state.server.dev_sign_in().await {
            Ok(user) => {
                start_session(&state, jar, &user, &request, &query, StatusCode::FOUND).await
            }
            Err(e) => error_page(&state, e),
        },
        _ if let Some(name) = only_upstream(&state) => {
            super::upstream::redirect_to_upstream(&state, jar, &name, &query, StatusCode::FOUND)
                .await
        }
        existing => {
            let session = existing.unwrap_or_else(|| anonymous_session(&state, now));
            let jar = state.web.sessions.write(jar, &session);
            // Warm the upstreams' metadata, so the page's form-action names their origins.
            state.server.upstream_form_origins().await;
            (jar, login_page(&state, &session, &request, &query, None)).into_response()
        }
    }
}

/// With `signin.passwords = false` and exactly one upstream: its name (`/authorize` without a
/// session goes straight there).
fn only_upstream(state: &AppState) -> Option<String> {
    if state.server.settings().signin.passwords {
        return None;
    }
    match state.server.upstreams().map(|u| u.all()) {
        Some([only]) => Some(only.name().to_owned()),
        _ => None,
    }
}

/// A sign-in or consent POST after the common checks: the form parsed, the authorization
/// request it carries validated again, the session read and its CSRF token matched.
pub(super) struct FormStep {
    pub(super) form: FormParams,
    pub(super) query: String,
    pub(super) request: AuthorizationRequest,
    pub(super) jar: SignedCookieJar,
    pub(super) session: Session,
}

pub(super) async fn form_step(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<FormStep, Response> {
    let form = FormParams::parse(body)
        .map_err(|_| error_page(state, OAuthError::invalid_request("malformed form")))?;
    let query = form.get("request").unwrap_or_default().to_owned();
    let jar = state.web.sessions.jar(headers);
    let session = state
        .session(&jar)
        .await
        .map_err(|e| error_page(state, e))?;
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
    })
}

/// `POST /authorize/login`: check the CSRF token, then sign in
/// ([`AuthorizationServer::sign_in`](crate::AuthorizationServer::sign_in): limits, user store,
/// password pool), start a new session (a fresh id, so a planted session cannot be promoted) and
/// continue the request. See [`sign_in_refused`] for the pages of a refusal.
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
    if !state.server.settings().signin.passwords {
        let e = OAuthError::invalid_request("password sign-in is turned off on this server");
        return error_page(&state, e);
    }
    let username = step.form.get("username").unwrap_or_default();
    let password = Secret::new(step.form.get("password").unwrap_or_default());
    match state
        .server
        .sign_in(username, password, &source.rate_key())
        .await
    {
        Ok(user) => {
            let (jar, request, query) = (step.jar, &step.request, &step.query);
            start_session(&state, jar, &user, request, query, StatusCode::SEE_OTHER).await
        }
        Err(e) => sign_in_refused(&state, &step, e),
    }
}

/// The login page again after a refused sign-in: `401` for wrong credentials; `429` with
/// `Retry-After` for a limit ([`crate::limits::SignInSettings`]) or a busy hashing pool
/// (`Retry-After: 1`); an error page (`500`) for an internal failure, never "wrong password"
/// (issue #8 items 2, 3).
fn sign_in_refused(state: &AppState, step: &FormStep, error: SignInError) -> Response {
    let page = |message| {
        login_page(
            state,
            &step.session,
            &step.request,
            &step.query,
            Some(message),
        )
    };
    match error {
        SignInError::WrongCredentials => (
            StatusCode::UNAUTHORIZED,
            page("Wrong username or password."),
        )
            .into_response(),
        SignInError::TooManyFailures { retry_after } => too_many_requests(
            page("Too many failed sign-ins. Wait a few minutes and try again."),
            retry_after,
        ),
        SignInError::Busy => {
            too_many_requests(page("The server is busy. Try again in a moment."), 1)
        }
        SignInError::Internal(e) => error_page(state, e),
    }
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

/// `POST /authorize/consent`: the user's decision, carried out by
/// [`AuthorizationServer::consent_decision`](crate::AuthorizationServer::consent_decision).
pub(super) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let step = match form_step(&state, &headers, &body).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Some(sub) = step.session.sub.as_deref() else {
        let e =
            OAuthError::invalid_request("you are not signed in; start again from the application");
        return error_page(&state, e);
    };
    let answer = match ConsentAnswer::parse(step.form.get("decision")) {
        Ok(a) => a,
        Err(e) => return error_page(&state, e),
    };
    let auth_time = auth_time(&step.session);
    match state
        .server
        .consent_decision_with_claims(
            &step.request,
            sub,
            auth_time,
            &step.session.token_claims,
            Some(answer),
        )
        .await
    {
        Ok(next) => consent_step(
            &state,
            &step.session,
            &step.request,
            &step.query,
            next,
            StatusCode::SEE_OTHER,
        ),
        Err(e) => error_page(&state, e),
    }
}

/// A signed-in user: the engine's consent decision, as the consent page or a redirect, with the
/// session cookie in `jar`.
async fn proceed(
    state: &AppState,
    jar: SignedCookieJar,
    session: &Session,
    request: &AuthorizationRequest,
    query: &str,
    status: StatusCode,
) -> Response {
    let sub = session.sub.as_deref().unwrap_or_default();
    match state
        .server
        .consent_decision_with_claims(
            request,
            sub,
            auth_time(session),
            &session.token_claims,
            None,
        )
        .await
    {
        Ok(next) => (
            jar,
            consent_step(state, session, request, query, next, status),
        )
            .into_response(),
        Err(e) => error_page(state, e),
    }
}

/// Start a session for `user` (a fresh session id) and continue the request.
pub(super) async fn start_session(
    state: &AppState,
    jar: SignedCookieJar,
    user: &SignedInUser,
    request: &AuthorizationRequest,
    query: &str,
    status: StatusCode,
) -> Response {
    let session = Session {
        sid: state.server.secrets().secret("", 16),
        sub: Some(user.sub.clone()),
        username: Some(user.username.clone()),
        auth_time: Some(user.auth_time),
        issued_at: user.auth_time,
        generation: user.session_generation,
        token_claims: user.token_claims.clone(),
    };
    let jar = state.web.sessions.write(jar, &session);
    proceed(state, jar, &session, request, query, status).await
}

/// A session with nobody signed in yet, for the login form's CSRF token.
fn anonymous_session(state: &AppState, now: i64) -> Session {
    Session {
        sid: state.server.secrets().secret("", 16),
        sub: None,
        username: None,
        auth_time: None,
        issued_at: now,
        generation: 0,
        token_claims: Default::default(),
    }
}

/// When the session's user signed in (the cookie's issue time for older cookies).
fn auth_time(session: &Session) -> i64 {
    session.auth_time.unwrap_or(session.issued_at)
}

/// The page or redirect of a [`ConsentStep`].
fn consent_step(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    query: &str,
    next: ConsentStep,
    status: StatusCode,
) -> Response {
    match next {
        ConsentStep::Ask { new_scopes } => {
            consent_page(state, session, request, query, &new_scopes)
        }
        ConsentStep::Redirect(location) => redirect(status, &location),
    }
}

/// The signed-in user of `session`, if any: decides whether errors of a self-registered client
/// may be redirected (RFC 9700 §4.11.2).
fn signed_in(session: Option<&Session>) -> Option<&str> {
    session.and_then(|s| s.sub.as_deref())
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
    let now = state.server.clock().now();
    let all = state
        .server
        .upstreams()
        .map(|u| u.all())
        .unwrap_or_default();
    let upstreams: Vec<_> = all
        .iter()
        .map(|u| context! { name => u.name(), display_name => u.display_name() })
        .collect();
    let origins: Vec<String> = all.iter().filter_map(|u| u.cached_origin(now)).collect();
    let body = state.web.templates.render(
        "login.html",
        context! {
            action => issuer.endpoint("/authorize/login"),
            csrf_token => state.web.sessions.csrf_token(session),
            request => query,
            client_name => request.client.display_name(),
            client_host => client_host(request),
            redirect_host => request.redirect_uri.host(),
            metadata_document => request.client.client_id.is_metadata_document_url(),
            self_registered => request.client.source == mcp_auth_core::ClientSource::Dynamic,
            resource => request.resource.resource.as_str(),
            error => error,
            passwords_off => !state.server.settings().signin.passwords,
            upstream_action => issuer.endpoint("/authorize/upstream"),
            upstreams => upstreams,
        },
    );
    match body {
        Ok(b) => html_with_form_targets(StatusCode::OK, b, &request.redirect_uri, &origins),
        Err(e) => render(state, Err(e), StatusCode::OK),
    }
}

fn consent_page(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    query: &str,
    new_scopes: &mcp_auth_core::ScopeSet,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let descriptions = &state.server.settings().ui.scope_descriptions;
    let resource = request.resource.resource.as_str();
    let scopes: Vec<_> = request
        .scope
        .iter()
        .map(|s| {
            context! {
                name => s.as_str(),
                description => descriptions.describe(resource, s.as_str()),
                new => new_scopes.contains(s.as_str()),
            }
        })
        .collect();
    // A public client whose every redirect URI is loopback runs on the user's device, so only
    // the user can have started it (spec CIMD-UI-3). A confidential client (a server-side
    // connector registered with a secret) is not such an app, even on a loopback demo.
    let loopback_only =
        request.client.is_public() && request.client.redirect_uris.iter().all(|r| r.is_loopback());
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
            offline_access => request.offline_access,
            offline_access_new => new_scopes.contains(mcp_auth_core::OFFLINE_ACCESS),
            username => session.username.clone().unwrap_or_default(),
            logout_action => issuer.endpoint("/logout"),
            account_url => issuer.endpoint("/account"),
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

pub(super) fn authorize_error(
    state: &AppState,
    error: AuthorizeError,
    status: StatusCode,
) -> Response {
    match error {
        AuthorizeError::Page(e) => error_page(state, e),
        // A failed store is this server's trouble, not the request's: the page, never a
        // redirect to the client.
        AuthorizeError::Redirect { error, .. }
            if mcp_auth_core::store_error_in(&error).is_some() =>
        {
            error_page(state, error)
        }
        AuthorizeError::Redirect { location, error } => {
            tracing::info!(error = %error, "authorization request refused");
            redirect(status, &location)
        }
    }
}

/// The error page of an untrusted request: 400 (500 for server errors), never a redirect.
///
/// When the store failed ([`store_failure`]), the page says `temporarily_unavailable` and to
/// try again in a moment, with status `503` and `Retry-After: 5` ([`store_unavailable`];
/// RFC 9110 §15.6.4), as the JSON endpoints answer: the user may retry, possibly on another
/// node. The cause is logged, never shown.
pub(super) fn error_page(state: &AppState, error: OAuthError) -> Response {
    if store_failure(&error, "authorization page").is_some() {
        let unavailable = OAuthError::new(
            mcp_auth_core::ErrorCode::TemporarilyUnavailable,
            mcp_auth_core::STORE_UNAVAILABLE,
        );
        let res = render_error(state, &unavailable, StatusCode::SERVICE_UNAVAILABLE);
        return store_unavailable(res);
    }
    let status = if error.code() == mcp_auth_core::ErrorCode::ServerError {
        tracing::error!(error = %error, source = ?error.internal_source(), "authorization page failed");
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        tracing::info!(error = %error, "authorization request shown as an error page");
        StatusCode::BAD_REQUEST
    };
    render_error(state, &error, status)
}

/// The `error.html` page for `error`, with `status`.
pub(super) fn render_error(state: &AppState, error: &OAuthError, status: StatusCode) -> Response {
    let body = state.web.templates.render(
        "error.html",
        context! {
            error => error.code().as_str(),
            description => error.description(),
            request_id => crate::web::pages::current_request_id(),
        },
    );
    render(state, body, status)
}
