//! The browser pages of third-party connections (issue 11, spec §7.4, §7.5): the connect page
//! of a URL-mode elicitation (`/connect/{id}`), the callback from the third party
//! (`/connect/callback`), the user's connections (`/connections`) and a stand-alone sign-in
//! page (`/login?return_to=…`). Thin glue: the decisions are in the engine ([`crate::engine::connect_link`] and its siblings) and
//! [`crate::connections`].
//!
//! Every page carries the security headers of the sign-in and consent pages. No token, code,
//! state, verifier or API key is ever written into a page, a URL of ours, or a log line
//! (ELIC-14, ELIC-CB-08).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use mcp_auth_core::store::PendingElicitation;
use mcp_auth_core::{FormParams, Secret};
use minijinja::context;

use super::AppState;
use super::source::SourceAddress;
use crate::connections::{Connection, ConnectionError, ConnectionKind, Connections};
use crate::engine::connect_callback::{CallbackFailure, CallbackOutcome};
use crate::engine::connect_decision::{ConnectDecision, DecisionOutcome};
use crate::engine::connect_elicitation::RetryOutcome;
use crate::engine::connect_link::{
    LinkOutcome, LinkState, check_return_to, is_elicitation_id, link_state,
};
use crate::engine::sign_in::SignInError;
use crate::web::pages::{html, html_with_form_redirect, redirect};
use crate::web::session::Session;

/// A page saying `heading` and `message` with `status`.
pub(super) fn message(
    state: &AppState,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    let body = state.web.templates.render(
        "connect_message.html",
        context! {
            heading => heading,
            message => message,
            request_id => crate::web::pages::current_request_id(),
        },
    );
    render(body, status)
}

pub(super) fn render(body: Result<String, minijinja::Error>, status: StatusCode) -> Response {
    match body {
        Ok(b) => html(status, b),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            html(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
    }
}

fn not_found(state: &AppState) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        "Link not found",
        "This link is not valid. Go back to your app and try again.",
    )
}

fn gone(state: &AppState, link: LinkState) -> Response {
    let text = if link == LinkState::Expired {
        "This link has expired. Go back to your app and try again."
    } else {
        "This link was already used. Go back to your app."
    };
    message(state, StatusCode::GONE, "Link no longer valid", text)
}

fn other_account(state: &AppState) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        "Wrong account",
        "This link was created for a different account. Sign in with the account you use in your app, or go back to your app.",
    )
}

/// The callback came back without the sign-in session that started it (it expired, or the
/// browser dropped it): refused like another account, with a message that says so.
fn signed_out(state: &AppState) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        "Signed out",
        "Your sign-in ended before the account was connected. Go back to your app and try again.",
    )
}

/// The page of a request that failed inside: `503` with `Retry-After` when the store failed
/// ([`super::error::store_failure`], the one decision shared with the JSON endpoints), else
/// `500`. Either way the page says to try again in a moment and shows no detail.
pub(super) fn server_error(
    state: &AppState,
    error: &(dyn std::error::Error + 'static),
) -> Response {
    if super::error::store_failure(error, "connect page").is_some() {
        return super::error::store_unavailable(message(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot complete the request right now; try again in a moment.",
        ));
    }
    tracing::error!(error = %error, "connect page failed");
    message(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The request could not be completed; try again in a moment.",
    )
}

fn third_party_unreachable(
    state: &AppState,
    name: &str,
    display_name: &str,
    e: &ConnectionError,
) -> Response {
    tracing::warn!(connection = %name, error = %e, "third party unusable");
    message(
        state,
        StatusCode::BAD_GATEWAY,
        "Cannot reach the service",
        &format!("{display_name} cannot be reached right now. Try again in a moment."),
    )
}

pub(super) fn bad_request(state: &AppState, text: &str) -> Response {
    message(
        state,
        StatusCode::BAD_REQUEST,
        "This request cannot be completed",
        text,
    )
}

/// Count this hit of a connect page from `source` (spec §7.3 ELIC-18, before anything is looked
/// up); past [`crate::limits::ConnectPageLimits`] a `429` page with `Retry-After` (seconds).
async fn count_hit(state: &AppState, source: &SourceAddress) -> Result<(), Response> {
    let Err(retry_after) = state.server.connect_page_hit(&source.rate_key()).await else {
        return Ok(());
    };
    tracing::info!("too many connect page hits from one source; refused");
    let mut res = message(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        "Too many requests from your network. Wait a minute and try again.",
    );
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after),
    );
    Err(res)
}

/// The form of a POST from a page of `session`: parsed (no repeated field), its `csrf_token`
/// the session's; else a `400` page.
#[allow(clippy::result_large_err)] // the page to answer with, returned at once by the caller
pub(super) fn checked_form(
    state: &AppState,
    session: &Session,
    body: &[u8],
) -> Result<FormParams, Response> {
    let Ok(form) = FormParams::parse(body) else {
        return Err(bad_request(state, "Malformed form."));
    };
    if !state
        .web
        .sessions
        .check_csrf(session, form.get("csrf_token").unwrap_or_default())
    {
        return Err(bad_request(state, "Invalid CSRF token."));
    }
    Ok(form)
}

/// The connections, when configured (else the pages answer `404`).
fn connections(state: &AppState) -> Option<std::sync::Arc<Connections>> {
    state.server.connections().cloned()
}

fn new_session(state: &AppState, now: i64) -> Session {
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

/// The signed-in session of the request, if any (its user checked in the store:
/// [`AppState::signed_in_session`]); a failing store is an error page.
pub(super) async fn signed_in(
    state: &AppState,
    jar: &SignedCookieJar,
) -> Result<Option<Session>, Response> {
    state
        .signed_in_session(jar)
        .await
        .map_err(|e| server_error(state, &e))
}

/// `303`/`302` to the sign-in page, which comes back to `return_to`.
pub(super) fn to_login(state: &AppState, return_to: &str) -> Response {
    let issuer = &state.server.settings().issuer;
    let q: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    redirect(
        StatusCode::FOUND,
        &issuer.endpoint(&format!("/login?return_to={q}")),
    )
}

/// The path of a connect page under the issuer, for `return_to`.
fn connect_path(state: &AppState, id: &str) -> String {
    format!("{}/connect/{id}", state.server.settings().issuer.path())
}

/// Why the stand-alone sign-in page asks the user to sign in: to connect an account (the open
/// link's connection and MCP server) or to see their connections.
enum SignInPurpose {
    /// `return_to` is an open connect link.
    Connect {
        /// The third party's display name.
        display_name: String,
        /// The MCP server that asked.
        resource: String,
    },
    /// `return_to` is `/connections`.
    Connections,
    /// `return_to` is `/account`.
    Account,
    /// Anything else (a link no longer open).
    Unknown,
}

/// The purpose of a sign-in that returns to `return_to` (already checked). A store failure
/// reads as [`SignInPurpose::Unknown`]: the page still works, it only says less.
async fn sign_in_purpose(state: &AppState, return_to: &str) -> SignInPurpose {
    let issuer = &state.server.settings().issuer;
    if return_to == format!("{}/connections", issuer.path()) {
        return SignInPurpose::Connections;
    }
    if return_to == format!("{}/account", issuer.path()) {
        return SignInPurpose::Account;
    }
    let Some(id) = return_to.strip_prefix(&format!("{}/connect/", issuer.path())) else {
        return SignInPurpose::Unknown;
    };
    let now = state.server.clock().now();
    let Ok(found) = state.server.stores().elicitations.get(id).await else {
        return SignInPurpose::Unknown;
    };
    if link_state(found.as_ref(), now) != LinkState::Open {
        return SignInPurpose::Unknown;
    }
    let Some(elicitation) = found else {
        return SignInPurpose::Unknown;
    };
    let display_name = connections(state).and_then(|c| {
        c.get(&elicitation.connection)
            .map(|connection| connection.display_name.clone())
    });
    match display_name {
        Some(display_name) => SignInPurpose::Connect {
            display_name,
            resource: elicitation.resource.as_str().to_owned(),
        },
        None => SignInPurpose::Unknown,
    }
}

async fn login_page(
    state: &AppState,
    session: &Session,
    return_to: &str,
    error: Option<&str>,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let purpose = sign_in_purpose(state, return_to).await;
    let account_page = matches!(purpose, SignInPurpose::Account);
    let (connection, resource, connections_page) = match purpose {
        SignInPurpose::Connect {
            display_name,
            resource,
        } => (Some(display_name), Some(resource), false),
        SignInPurpose::Connections => (None, None, true),
        SignInPurpose::Account | SignInPurpose::Unknown => (None, None, false),
    };
    let body = state.web.templates.render(
        "connect_login.html",
        context! {
            action => issuer.endpoint("/login"),
            csrf_token => state.web.sessions.csrf_token(session),
            return_to => return_to,
            error => error,
            connection => connection,
            resource => resource,
            connections_page => connections_page,
            account_page => account_page,
        },
    );
    render(body, StatusCode::OK)
}

/// `GET /login?return_to=…`: the sign-in page of the connect and connections pages. The
/// return path must be a connect or connections page of this server ([`check_return_to`]);
/// anything else is a `400` page.
pub(super) async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let Ok(params) = FormParams::parse(query.unwrap_or_default().as_bytes()) else {
        return bad_request(&state, "Malformed request.");
    };
    let Some(return_to) = params
        .get("return_to")
        .and_then(|r| check_return_to(issuer, r))
    else {
        return bad_request(&state, "This sign-in link is not valid.");
    };
    let jar = state.web.sessions.jar(&headers);
    let current = match signed_in(&state, &jar).await {
        Ok(current) => current,
        Err(res) => return res,
    };
    if current.is_some() {
        return redirect(
            StatusCode::FOUND,
            &format!("{}{return_to}", issuer.origin()),
        );
    }
    let now = state.server.clock().now();
    let session = state
        .web
        .sessions
        .read(&jar, now)
        .map(Session::signed_out)
        .unwrap_or_else(|| new_session(&state, now));
    let jar = state.web.sessions.write(jar, &session);
    (jar, login_page(&state, &session, &return_to, None).await).into_response()
}

/// `POST /login`: CSRF, sign in (the engine's limits apply), a fresh session, `303` back to
/// `return_to` (checked again).
pub(super) async fn login(
    State(state): State<AppState>,
    axum::Extension(source): axum::Extension<SourceAddress>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let Ok(form) = FormParams::parse(&body) else {
        return bad_request(&state, "Malformed form.");
    };
    let Some(return_to) = form
        .get("return_to")
        .and_then(|r| check_return_to(issuer, r))
    else {
        return bad_request(&state, "This sign-in link is not valid.");
    };
    let jar = state.web.sessions.jar(&headers);
    let now = state.server.clock().now();
    let Some(session) = state.web.sessions.read(&jar, now) else {
        return bad_request(&state, "The sign-in session expired; open the link again.");
    };
    if !state
        .web
        .sessions
        .check_csrf(&session, form.get("csrf_token").unwrap_or_default())
    {
        return bad_request(&state, "Invalid CSRF token.");
    }
    let username = form.get("username").unwrap_or_default();
    let password = Secret::new(form.get("password").unwrap_or_default());
    match state
        .server
        .sign_in(username, password, &source.rate_key())
        .await
    {
        Ok(user) => {
            let fresh = Session {
                sid: state.server.secrets().secret("", 16),
                sub: Some(user.sub.clone()),
                username: Some(user.username.clone()),
                auth_time: Some(user.auth_time),
                issued_at: user.auth_time,
                generation: user.session_generation,
                token_claims: user.token_claims.clone(),
            };
            let jar = state.web.sessions.write(jar, &fresh);
            let to = format!("{}{return_to}", issuer.origin());
            (jar, redirect(StatusCode::SEE_OTHER, &to)).into_response()
        }
        Err(e) => sign_in_refused(&state, &session, &return_to, e).await,
    }
}

/// The sign-in page again after a refused sign-in: `401` for wrong credentials, `429` with
/// `Retry-After` for too many failures or a busy server; a store failure is an error page.
async fn sign_in_refused(
    state: &AppState,
    session: &Session,
    return_to: &str,
    error: SignInError,
) -> Response {
    let (status, text, retry_after) = match error {
        SignInError::WrongCredentials => (
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
            None,
        ),
        SignInError::TooManyFailures { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins. Wait a few minutes and try again.",
            Some(retry_after),
        ),
        SignInError::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            "The server is busy. Try again.",
            Some(1),
        ),
        SignInError::Internal(e) => return server_error(state, &e),
    };
    let page = login_page(state, session, return_to, Some(text)).await;
    let mut res = (status, page).into_response();
    if let Some(seconds) = retry_after {
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    res
}

/// The elicitation of `id` with its connection, when the link may be acted on by the signed-in
/// owner; otherwise the page to answer with (`404`, `410`, sign-in redirect, `403`).
struct Link<'a> {
    elicitation: PendingElicitation,
    connection: &'a Connection,
    session: Session,
    jar: SignedCookieJar,
}

async fn open_link<'a>(
    state: &AppState,
    connections: &'a Connections,
    headers: &HeaderMap,
    id: &str,
    is_get: bool,
) -> Result<Link<'a>, Response> {
    let now = state.server.clock().now();
    let jar = state.web.sessions.jar(headers);
    let session = signed_in(state, &jar).await?;
    let sub = session.as_ref().and_then(|s| s.sub.as_deref());
    let outcome = state.server.connect_link(id, sub, now).await;
    let elicitation = match outcome.map_err(|e| server_error(state, &e))? {
        LinkOutcome::Open(e) => *e,
        LinkOutcome::Unknown => return Err(not_found(state)),
        LinkOutcome::Gone(link) => return Err(gone(state, link)),
        LinkOutcome::NotSignedIn if is_get => {
            return Err(to_login(state, &connect_path(state, id)));
        }
        LinkOutcome::NotSignedIn => {
            return Err(bad_request(
                state,
                "You are not signed in; open the link again.",
            ));
        }
        LinkOutcome::OtherAccount => return Err(other_account(state)),
    };
    let (Some(connection), Some(session)) = (connections.get(&elicitation.connection), session)
    else {
        return Err(gone(state, LinkState::Finished));
    };
    Ok(Link {
        elicitation,
        connection,
        session,
        jar,
    })
}

fn consent_page(
    state: &AppState,
    link: &Link<'_>,
    form_redirect: Option<&mcp_auth_core::RedirectUri>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let body = state.web.templates.render(
        "connect_consent.html",
        context! {
            action => issuer.endpoint(&format!("/connect/{}", link.elicitation.id)),
            csrf_token => state.web.sessions.csrf_token(&link.session),
            display_name => link.connection.display_name.as_str(),
            domain => link.connection.domain(),
            kind => link.connection.kind.as_str(),
            scopes => link
                .connection
                .scopes
                .iter()
                .map(|name| context! {
                    name => name,
                    description => link.connection.scope_descriptions.get(name),
                })
                .collect::<Vec<_>>(),
            resource => link.elicitation.resource.as_str(),
            username => link.session.username.clone().unwrap_or_default(),
            error => error,
            logout_action => issuer.endpoint("/logout"),
            account_url => issuer.endpoint("/account"),
        },
    );
    match (body, form_redirect) {
        (Ok(b), Some(to)) => html_with_form_redirect(status, b, to),
        (body, _) => render(body, status),
    }
}

/// `GET /connect/{id}`: the connect page of an elicitation (consent for oauth connections, a
/// secret form for api_key ones). Unknown → `404`; expired or finished → `410`; not signed in
/// → sign-in, then back; another user → `403`, no redirect. Nothing changes. Over the
/// per-source limit → `429` with `Retry-After` (ELIC-18).
pub(super) async fn connect_page(
    State(state): State<AppState>,
    axum::Extension(source): axum::Extension<SourceAddress>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(connections) = connections(&state) else {
        return not_found(&state);
    };
    if let Err(res) = count_hit(&state, &source).await {
        return res;
    }
    let link = match open_link(&state, &connections, &headers, &id, true).await {
        Ok(l) => l,
        Err(res) => return res,
    };
    // The approve POST answers with a redirect to the third party: its origin must be
    // allowed by `form-action` (browsers enforce it on redirects after a form submission).
    let target = if link.connection.kind == ConnectionKind::OAuth {
        match connections.endpoints(link.connection).await {
            Ok(e) => e.authorization_endpoint.as_str().parse().ok(),
            Err(e) => {
                return third_party_unreachable(
                    &state,
                    &link.connection.name,
                    &link.connection.display_name,
                    &e,
                );
            }
        }
    } else {
        None
    };
    let res = consent_page(&state, &link, target.as_ref(), None, StatusCode::OK);
    (link.jar, res).into_response()
}

/// `POST /connect/{id}`: the user's decision, after the CSRF and identity checks again.
/// `cancel` → cancelled; `approve` on an oauth connection → a fresh single-use `state` and
/// PKCE verifier bound to the elicitation, `303` to the third party (ELIC-CB-07); on an
/// api_key connection → the key (1 to 4096 visible characters) sealed into the vault,
/// completed, done page. Over the per-source limit → `429` with `Retry-After`, nothing changes
/// (ELIC-18).
pub(super) async fn connect_decision(
    State(state): State<AppState>,
    axum::Extension(source): axum::Extension<SourceAddress>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(connections) = connections(&state) else {
        return not_found(&state);
    };
    if let Err(res) = count_hit(&state, &source).await {
        return res;
    }
    let link = match open_link(&state, &connections, &headers, &id, false).await {
        Ok(l) => l,
        Err(res) => return res,
    };
    let form = match checked_form(&state, &link.session, &body) {
        Ok(form) => form,
        Err(res) => return res,
    };
    let decision = match form.get("decision") {
        Some("cancel") => ConnectDecision::Cancel,
        Some("approve") => ConnectDecision::Approve {
            api_key: form.get("api_key"),
        },
        _ => return bad_request(&state, "Choose Approve or Cancel."),
    };
    let now = state.server.clock().now();
    let outcome = state
        .server
        .connect_decision(&link.elicitation, decision, now)
        .await;
    let display_name = &link.connection.display_name;
    match outcome {
        Ok(DecisionOutcome::Cancelled) => message(
            &state,
            StatusCode::OK,
            "Cancelled",
            &format!(
                "{display_name} was not connected. You can close this page and return to your app."
            ),
        ),
        Ok(DecisionOutcome::SendTo(url)) => redirect(StatusCode::SEE_OTHER, url.as_str()),
        Ok(DecisionOutcome::Connected) => done(&state, display_name),
        Ok(DecisionOutcome::InvalidApiKey) => consent_page(
            &state,
            &link,
            None,
            Some("Enter the key: 1 to 4096 characters, without spaces."),
            StatusCode::BAD_REQUEST,
        ),
        Ok(DecisionOutcome::AlreadyFinished) => gone(&state, LinkState::Finished),
        Ok(DecisionOutcome::Unreachable(e)) => {
            third_party_unreachable(&state, &link.connection.name, display_name, &e)
        }
        Err(e) => server_error(&state, &e),
    }
}

fn done(state: &AppState, display_name: &str) -> Response {
    message(
        state,
        StatusCode::OK,
        "Done — return to your app",
        &format!(
            "Your {display_name} account is connected. You can close this page and return to your app."
        ),
    )
}

/// `GET /connect/callback?code&state[&iss]` or `?error&state`: the third party's answer
/// (RFC 6749 §4.1.2, RFC 9207). The `state` must be outstanding (missing, unknown, reused or
/// expired → `400`, nothing stored, ELIC-CB-03); the signed-in user must be the elicitation's
/// (else `403`, nothing stored); `iss` must equal the connection's issuer when present, and be
/// present when the third party says it sends it (else `400`). Only a callback that passed these
/// checks spends the `state` (single-use: a second one → `400`); a refused one leaves it for the
/// owner's genuine callback. Then `error` → failed; else the code is redeemed and the
/// tokens sealed into the vault (ELIC-CB-04), completed, done page. The token response never
/// reaches the page, a URL or a log (ELIC-CB-08). Over the per-source limit → `429` with
/// `Retry-After` before the state is looked at (ELIC-18); a repeated parameter → `400` before
/// the state is looked at (RFC 6749 §4.1.2: each at most once).
pub(super) async fn callback(
    State(state): State<AppState>,
    axum::Extension(source): axum::Extension<SourceAddress>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if connections(&state).is_none() {
        return not_found(&state);
    }
    if let Err(res) = count_hit(&state, &source).await {
        return res;
    }
    let Ok(params) = FormParams::parse(query.unwrap_or_default().as_bytes()) else {
        return bad_request(&state, "Malformed answer from the service.");
    };
    let no_state = "The answer from the service has no state. Start again from your app.";
    if params.get("state").is_none() {
        return bad_request(&state, no_state);
    }
    let jar = state.web.sessions.jar(&headers);
    let session = match signed_in(&state, &jar).await {
        Ok(Some(session)) => session,
        Ok(None) => return signed_out(&state),
        Err(res) => return res,
    };
    let now = state.server.clock().now();
    let sub = session.sub.as_deref().unwrap_or_default();
    let outcome = match state.server.connect_callback(&params, sub, now).await {
        Ok(outcome) => outcome,
        Err(e) => return server_error(&state, &e),
    };
    let unusable =
        "This answer is not valid, was already used, or has expired. Start again from your app.";
    match outcome {
        CallbackOutcome::NoState => bad_request(&state, no_state),
        CallbackOutcome::UnknownState => bad_request(&state, unusable),
        CallbackOutcome::OtherAccount => other_account(&state),
        CallbackOutcome::ConnectionGone => gone(&state, LinkState::Finished),
        CallbackOutcome::Unreachable {
            name,
            display_name,
            error,
        } => third_party_unreachable(&state, &name, &display_name, &error),
        CallbackOutcome::WrongIssuer => {
            bad_request(&state, "The answer came from an unexpected service.")
        }
        CallbackOutcome::MissingIssuer => {
            bad_request(&state, "The answer from the service is incomplete.")
        }
        CallbackOutcome::Failed {
            id,
            display_name,
            reason,
        } => failed(&state, &session, &id, &failure_text(&display_name, reason)),
        CallbackOutcome::Connected { display_name } => done(&state, &display_name),
    }
}

/// The failure page's words for `reason`.
fn failure_text(display_name: &str, reason: CallbackFailure) -> String {
    match reason {
        CallbackFailure::AccessDenied => {
            format!("Access to {display_name} was not granted. Return to your app.")
        }
        CallbackFailure::Refused => {
            format!("{display_name} did not grant access. Return to your app and try again.")
        }
        CallbackFailure::NoCode => {
            format!("{display_name} answered without a code. Return to your app and try again.")
        }
        CallbackFailure::RedemptionFailed => {
            format!("Connecting {display_name} failed. Return to your app and try again.")
        }
    }
}

/// The failure page of the elicitation `id` (`502`): `text` and a "Try again" button
/// (`POST /connect/{id}/retry`, CSRF-protected for `session`).
fn failed(state: &AppState, session: &Session, id: &str, text: &str) -> Response {
    let body = state.web.templates.render(
        "connect_message.html",
        context! {
            heading => "Not connected",
            message => text,
            request_id => crate::web::pages::current_request_id(),
            retry_action => state.server.settings().issuer.endpoint(&format!("/connect/{id}/retry")),
            csrf_token => state.web.sessions.csrf_token(session),
        },
    );
    render(body, StatusCode::BAD_GATEWAY)
}

/// `POST /connect/{id}/retry`: the "Try again" button of the failure page. The signed-in
/// owner of the failed (or cancelled, or expired) elicitation `id`, after the CSRF check, gets
/// an open elicitation for the same MCP client, connection and MCP server
/// ([`crate::AuthorizationServer::retry_connection`]) and a `303` to its connect page.
/// Another account → `403`; not signed in → `403`; unknown → `404`; already connected → the
/// done page; too many open requests → `429`. Over the per-source limit → `429` first.
pub(super) async fn retry(
    State(state): State<AppState>,
    axum::Extension(source): axum::Extension<SourceAddress>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if connections(&state).is_none() {
        return not_found(&state);
    }
    if let Err(res) = count_hit(&state, &source).await {
        return res;
    }
    if !is_elicitation_id(&id) {
        return not_found(&state);
    }
    let jar = state.web.sessions.jar(&headers);
    let session = match signed_in(&state, &jar).await {
        Ok(Some(session)) => session,
        Ok(None) => return signed_out(&state),
        Err(res) => return res,
    };
    if let Err(res) = checked_form(&state, &session, &body) {
        return res;
    }
    let issuer = &state.server.settings().issuer;
    let now = state.server.clock().now();
    let sub = session.sub.as_deref().unwrap_or_default();
    let outcome = state
        .server
        .retry_connection(&id, issuer.as_str(), sub, now)
        .await;
    match outcome {
        Ok(RetryOutcome::Opened(next)) => redirect(
            StatusCode::SEE_OTHER,
            &issuer.endpoint(&format!("/connect/{next}")),
        ),
        Ok(RetryOutcome::AlreadyConnected) => gone(&state, LinkState::Finished),
        Ok(RetryOutcome::NotFound) => not_found(&state),
        Ok(RetryOutcome::OtherAccount) => other_account(&state),
        Err(e) if e.code() == mcp_auth_core::ErrorCode::RateLimited => message(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "You have too many unfinished connection requests. Finish one in your app, or wait a few minutes.",
        ),
        Err(e) => server_error(&state, &e),
    }
}

/// The rows of the user `sub`'s connections on the connections and account pages: {name,
/// display_name, connected_at (RFC 3339), connected_ago, remove_action}.
///
/// # Errors
/// The vault store failed.
pub(super) async fn connection_rows(
    state: &AppState,
    connections: &Connections,
    sub: &str,
) -> Result<Vec<minijinja::Value>, mcp_auth_core::StoreError> {
    let issuer = &state.server.settings().issuer;
    let entries = connections
        .vault()
        .store()
        .list_for_subject(issuer.as_str(), sub)
        .await?;
    let now = state.server.clock().now();
    Ok(entries
        .iter()
        .map(|e| {
            let display = connections
                .get(&e.connection)
                .map_or(e.connection.as_str(), |c| c.display_name.as_str());
            context! {
                name => e.connection.as_str(),
                display_name => display,
                connected_at => crate::web::when::rfc3339(e.updated_at),
                connected_ago => crate::web::when::ago(e.updated_at, now),
                remove_action => issuer.endpoint(&format!("/connections/{}/remove", e.connection)),
            }
        })
        .collect())
}

/// `GET /connections`: the signed-in user's connections (sign-in first), each with a
/// CSRF-protected Remove button.
pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(connections) = connections(&state) else {
        return not_found(&state);
    };
    let issuer = &state.server.settings().issuer;
    let jar = state.web.sessions.jar(&headers);
    let session = match signed_in(&state, &jar).await {
        Ok(session) => session,
        Err(res) => return res,
    };
    let Some(session) = session else {
        return to_login(&state, &format!("{}/connections", issuer.path()));
    };
    let sub = session.sub.as_deref().unwrap_or_default();
    let rows = match connection_rows(&state, &connections, sub).await {
        Ok(rows) => rows,
        Err(e) => return server_error(&state, &e),
    };
    let body = state.web.templates.render(
        "connections.html",
        context! {
            username => session.username.clone().unwrap_or_default(),
            csrf_token => state.web.sessions.csrf_token(&session),
            connections => rows,
            logout_action => issuer.endpoint("/logout"),
            account_url => issuer.endpoint("/account"),
        },
    );
    render(body, StatusCode::OK)
}

/// `POST /connections/{name}/remove`: CSRF, then revoke at the third party (RFC 7009, best
/// effort, refresh token first) and delete from the vault; `303` back to `/connections`, or to
/// `/account` when the form says `return_to=account` (the account page's Remove buttons).
pub(super) async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(connections) = connections(&state) else {
        return not_found(&state);
    };
    let issuer = &state.server.settings().issuer;
    let jar = state.web.sessions.jar(&headers);
    let session = match signed_in(&state, &jar).await {
        Ok(session) => session,
        Err(res) => return res,
    };
    let Some(session) = session else {
        return bad_request(&state, "You are not signed in.");
    };
    let form = match checked_form(&state, &session, &body) {
        Ok(form) => form,
        Err(res) => return res,
    };
    let back = match form.get("return_to") {
        Some("account") => "/account",
        _ => "/connections",
    };
    if !crate::connections::is_valid_name(&name) {
        return not_found(&state);
    }
    let sub = session.sub.as_deref().unwrap_or_default();
    match connections.remove(issuer.as_str(), sub, &name).await {
        Ok(true) => tracing::info!(connection = %name, "connection removed by its user"),
        Ok(false) => {}
        Err(e) => return server_error(&state, &e),
    }
    redirect(StatusCode::SEE_OTHER, &issuer.endpoint(back))
}
