//! `POST /connect/token` and `POST /connect/status`: the MCP server's side of third-party
//! connections (issue 11; logic in [`crate::engine::connect_token`]).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;

use super::endpoints::FormPost;
use super::{ApiError, AppState, exchange_response, no_store_json};
use crate::engine::connect_token::StatusOutcome;

/// The routes of this module, under the issuer.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/connect/token", post(token))
        .route("/connect/status", post(status))
}

/// `POST /connect/token`: `200` with the credential, `400 connection_required` with an
/// elicitation, or an RFC 6749 §5.2 error.
async fn token(State(state): State<AppState>, form: FormPost) -> Result<Response, ApiError> {
    let answer = state
        .server
        .connect_token(form.request())
        .await
        .map_err(|e| state.api_error(e))?;
    Ok(exchange_response(answer))
}

/// `POST /connect/status`: `200 {"elicitation_id","status"}` or `404 {"error":"not_found"}`.
async fn status(State(state): State<AppState>, form: FormPost) -> Result<Response, ApiError> {
    match state
        .server
        .connect_status(form.request())
        .await
        .map_err(|e| state.api_error(e))?
    {
        StatusOutcome::Found(report) => Ok(no_store_json(StatusCode::OK, report)),
        StatusOutcome::NotFound => Ok(no_store_json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not_found"}),
        )),
    }
}
