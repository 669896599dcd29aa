//! The RFC 9728 protected resource metadata routes.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::{ResourceServerConfig, WELL_KNOWN_PRM};

/// A router serving the metadata document at the path-suffixed well-known URL (RFC 9728 §3.1)
/// and, per [`crate::RootMetadata`], at the root well-known URL.
///
/// Responses are `200`, `Content-Type: application/json`, `Cache-Control: public, max-age=3600`,
/// `Access-Control-Allow-Origin: *`; no authentication (spec §1.2.2). Merge it *outside* the
/// bearer layer.
pub fn metadata_router(config: &ResourceServerConfig) -> Router {
    let doc = render(&config.metadata());
    let mut router = Router::new();
    if let Some(root) = config.root_document() {
        let root = render(&root);
        router = router.route(WELL_KNOWN_PRM, get(move || serve(root.clone())));
    }
    if config.metadata_path() != WELL_KNOWN_PRM {
        router = router.route(config.metadata_path(), get(move || serve(doc.clone())));
    } else if config.root_document().is_none() {
        router = router.route(WELL_KNOWN_PRM, get(move || serve(doc.clone())));
    }
    router
}

fn render(doc: &mcp_auth_core::wire::ProtectedResourceMetadata) -> Arc<[u8]> {
    serde_json::to_vec(doc).unwrap_or_default().into()
}

async fn serve(body: Arc<[u8]>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body.to_vec(),
    )
        .into_response()
}
