//! Optional third-party connections of the example server (issue 11): the `calendar`
//! connection used by the `list_events` tool.

use mcp_auth_core::Secret;
use mcp_auth_resource_server::elicitation::{ConnectionVault, RequestStateKey};

/// The connection name the `list_events` tool asks for: a `[[connections]] name` of the
/// authorization server.
pub const CALENDAR_CONNECTION: &str = "calendar";

/// How the example server reaches the authorization server's connection vault and the
/// calendar API. With these set, the `list_events` tool is offered; without, it is not.
///
/// The authorization server must list `client_id` in `server_clients` of this server's
/// `[[resources]]` entry, and allow this resource in the `calendar` connection's `resources`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// This MCP server's confidential client at the authorization server (e.g.
    /// `calendar-mcp`), used at `{issuer}/connect/token` and `{issuer}/connect/status` with
    /// `client_secret_basic`.
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
    /// The 32-byte AES-256-GCM key sealing 2026-07-28 `requestState` values.
    pub request_state_key: RequestStateKey,
    /// The calendar API's base URL (e.g. `http://127.0.0.1:9200/api`); `list_events` GETs
    /// `{calendar_api_url}/events`.
    pub calendar_api_url: String,
}

impl ConnectionOptions {
    /// The options, with the calendar API at `calendar_api_url`.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Secret,
        request_state_key: RequestStateKey,
        calendar_api_url: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            request_state_key,
            calendar_api_url: calendar_api_url.into(),
        }
    }
}

/// What the `list_events` tool uses: the vault client and the calendar API.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub(crate) vault: ConnectionVault,
    pub(crate) events_url: String,
    pub(crate) http: reqwest::Client,
}

impl Calendar {
    pub(crate) fn new(issuer: &str, options: ConnectionOptions) -> Self {
        let vault = ConnectionVault::new(
            issuer,
            options.client_id,
            options.client_secret,
            options.request_state_key,
        );
        let http = mcp_auth_outbound::OutboundClient::builder()
            .timeouts(
                std::time::Duration::from_secs(10),
                std::time::Duration::from_secs(10),
            )
            .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
            .allow_http()
            .env_proxy()
            .build()
            .map(|c| c.http().clone())
            .unwrap_or_default();
        Self {
            vault,
            events_url: format!("{}/events", options.calendar_api_url.trim_end_matches('/')),
            http,
        }
    }
}
