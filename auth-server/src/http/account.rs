//! The account page (issue 25 §1): `GET /account` lists the apps the signed-in user authorized
//! and their third-party connections; `POST /account/remove` takes an app's access back. Thin
//! glue over [`crate::engine::account`]; the pages' security headers and CSRF rules apply, and
//! the page has no script.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::AppState;
use super::connect_pages::{
    bad_request, checked_form, connection_rows, render, server_error, signed_in, to_login,
};
use crate::engine::account::AuthorizedApp;
use crate::web::pages::redirect;
use crate::web::session::Session;
use crate::web::when::{ago, rfc3339};

/// `GET /account`: the signed-in user's authorized apps (name, verified domain or not, the
/// resource, the scopes in words, first and last use, whether it holds a refresh token), each
/// with a CSRF-protected "Remove access" form, and their connections when connections are
/// configured. Not signed in → sign-in (`302`), then back here. A failing store → `503` page.
pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let issuer = &state.server.settings().issuer;
    let jar = state.web.sessions.jar(&headers);
    let session = match signed_in(&state, &jar).await {
        Ok(Some(session)) => session,
        Ok(None) => return to_login(&state, &format!("{}/account", issuer.path())),
        Err(res) => return res,
    };
    let sub = session.sub.as_deref().unwrap_or_default();
    let apps = match state.server.authorized_apps(sub).await {
        Ok(apps) => apps,
        Err(e) => return server_error(&state, &e),
    };
    let connections = state.server.connections().cloned();
    let connection_list = match &connections {
        Some(c) => match connection_rows(&state, c, sub).await {
            Ok(rows) => rows,
            Err(e) => return server_error(&state, &e),
        },
        None => Vec::new(),
    };
    render_page(
        &state,
        &session,
        &apps,
        connections.is_some(),
        connection_list,
    )
}

fn render_page(
    state: &AppState,
    session: &Session,
    apps: &[AuthorizedApp],
    connections_enabled: bool,
    connections: Vec<minijinja::Value>,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let now = state.server.clock().now();
    let descriptions = &state.server.settings().ui.scope_descriptions;
    let rows: Vec<_> = apps
        .iter()
        .map(|a| {
            let resource = a.resource.as_str();
            let scopes: Vec<_> = a
                .scopes
                .iter()
                .map(|s| {
                    context! {
                        name => s.as_str(),
                        description => descriptions.describe(resource, s.as_str()),
                    }
                })
                .collect();
            context! {
                client_id => a.client_id.as_str(),
                client_name => a.client_name.as_str(),
                verified_domain => a.verified_domain.as_deref(),
                resource => resource,
                scopes => scopes,
                first_used => a.first_used.map(rfc3339),
                first_used_ago => a.first_used.map(|t| ago(t, now)),
                last_used => a.last_used.map(rfc3339),
                last_used_ago => a.last_used.map(|t| ago(t, now)),
                refresh_token => a.refresh_token,
            }
        })
        .collect();
    let body = state.web.templates.render(
        "account.html",
        context! {
            username => session.username.clone().unwrap_or_default(),
            csrf_token => state.web.sessions.csrf_token(session),
            logout_action => issuer.endpoint("/logout"),
            account_url => issuer.endpoint("/account"),
            remove_action => issuer.endpoint("/account/remove"),
            apps => rows,
            connections_enabled => connections_enabled,
            connections => connections,
        },
    );
    render(body, StatusCode::OK)
}

/// `POST /account/remove` (form: `csrf_token`, `client_id`): the signed-in user removes an
/// app's access ([`crate::AuthorizationServer::remove_access`]), then `303` back to
/// `/account`. Not signed in, a malformed form (a repeated field), a wrong CSRF token or a
/// missing `client_id` → `400` page, nothing changes. A `client_id` the user has not
/// authorized changes nothing either (the page is shown again).
pub(super) async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let issuer = &state.server.settings().issuer;
    let jar = state.web.sessions.jar(&headers);
    let session = match signed_in(&state, &jar).await {
        Ok(Some(session)) => session,
        Ok(None) => return bad_request(&state, "You are not signed in."),
        Err(res) => return res,
    };
    let form = match checked_form(&state, &session, &body) {
        Ok(form) => form,
        Err(res) => return res,
    };
    let Some(client_id) = form.get("client_id").filter(|c| !c.is_empty()) else {
        return bad_request(&state, "Choose the app to remove.");
    };
    let sub = session.sub.as_deref().unwrap_or_default();
    let outcome = match state.server.authorized_apps(sub).await {
        Ok(apps) if apps.iter().any(|a| a.client_id == client_id) => {
            state.server.remove_access(sub, client_id).await.map(|_| ())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => redirect(StatusCode::SEE_OTHER, &issuer.endpoint("/account")),
        Err(e) => server_error(&state, &e),
    }
}
