//! The example third-party API: a calendar behind [`BearerAuthLayer`], trusting the *third
//! party's* authorization server, not the MCP server's (no token passthrough, spec ELIC-15).

use axum::routing::get;
use axum::{Json, Router};
use mcp_auth_resource_server::{
    BearerAuthLayer, JwtValidator, Principal, ResourceServerConfig, ScopeRequirements,
    metadata_router,
};
use serde_json::{Value, json};

use crate::AppError;

/// The scope the calendar API needs on every request.
pub const CALENDAR_SCOPE: &str = "calendar:read";

/// What [`calendar_api`] needs to know.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CalendarApiOptions {
    /// The third party's authorization server issuer, exactly as in its metadata (e.g.
    /// `http://127.0.0.1:9100`); its keys come from its RFC 8414 metadata.
    pub issuer: String,
    /// The API's public base URL (e.g. `http://127.0.0.1:9200/api`): the token audience and
    /// PRM `resource`. Events are at `{public_url}/events`.
    pub public_url: String,
    /// The scope every request needs (default [`CALENDAR_SCOPE`]).
    pub scope: String,
}

impl CalendarApiOptions {
    /// Options for the API at `public_url` trusting tokens from `issuer`.
    pub fn new(issuer: impl Into<String>, public_url: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            public_url: public_url.into(),
            scope: CALENDAR_SCOPE.to_owned(),
        }
    }
}

/// The calendar API: `GET {path}/events` → `{"owner":"<sub>","events":[{"title","start"}]}`
/// for the token's `sub`, behind the bearer layer (401/403 with RFC 6750 challenges), and its
/// protected resource metadata.
///
/// # Errors
/// [`AppError`] for a bad issuer or public URL.
pub fn calendar_api(options: CalendarApiOptions) -> Result<Router, AppError> {
    let public = url::Url::parse(&options.public_url)
        .map_err(|_| AppError::PublicUrl(options.public_url.clone()))?;
    let path = public.path().trim_end_matches('/').to_owned();
    let policy = ScopeRequirements::builder()
        .baseline(&options.scope)
        .build()?;
    let config = ResourceServerConfig::builder(&options.public_url)
        .authorization_server(&options.issuer)
        .policy(policy)
        .resource_name("Example Calendar API")
        .build()?;
    let validator = JwtValidator::builder(&config).build()?;
    Ok(Router::new()
        .route(&format!("{path}/events"), get(events))
        .layer(BearerAuthLayer::new(config.clone(), validator))
        .merge(metadata_router(&config)))
}

async fn events(principal: Principal) -> Json<Value> {
    Json(json!({
        "owner": principal.subject,
        "events": [
            {"title": "Standup", "start": "2026-01-05T09:00:00Z"},
            {"title": "Planning", "start": "2026-01-05T14:00:00Z"},
        ],
    }))
}
