//! `GET /healthz` (liveness) and `GET /readyz` (readiness) at the origin root, outside the
//! forwarding and https checks so that load balancers and Kubernetes probes reach them on the
//! node's own address ([`crate::engine::health`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AppState, no_store_json};

/// `200 {"status":"ok"}` whenever the process answers.
pub(super) async fn healthz() -> Response {
    no_store_json(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

/// `200 {"status":"ready","checks":{…}}` when the store answers and a signing key is loaded,
/// else `503 {"status":"not_ready","checks":{…}}` naming the failed check.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.server.readiness().await;
    let (status, word) = if readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    no_store_json(
        status,
        serde_json::json!({ "status": word, "checks": readiness }),
    )
}
