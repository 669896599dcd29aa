//! # protected-mcp-server
//!
//! An example MCP server built on [rmcp](https://docs.rs/rmcp)'s streamable HTTP transport and
//! protected by [`mcp_auth_resource_server`]: every request to `/mcp` needs a bearer token issued by the
//! configured authorization server (the mcp-auth `auth-server`), whose keys are discovered from
//! its RFC 8414 metadata. The RFC 9728 protected resource metadata is served at
//! `/.well-known/oauth-protected-resource/mcp`.
//!
//! Tools, with different scope requirements (spec §4, SEP-835):
//!
//! | tool | scopes needed |
//! |---|---|
//! | `echo` | [`BASELINE_SCOPE`] (`mcp:tools`), needed by every request |
//! | `delete_item` | [`BASELINE_SCOPE`] and [`DELETE_SCOPE`] (`files:write`) |
//! | `list_events` | [`BASELINE_SCOPE`]; offered only with [`ConnectionOptions`]: the user's `calendar` connection, from the authorization server's vault (issue 11) |
//!
//! `list_events` gets the caller's `calendar` credential with
//! [`mcp_auth_resource_server::elicitation::ConnectionVault`] and GETs
//! `{calendar_api_url}/events` with it; a user who has not connected the calendar gets a
//! URL-mode elicitation (2025-11-25 `-32042`, 2026-07-28 `InputRequiredResult`). The binary
//! `calendar-api` ([`calendar_api()`]) is that third-party API.
//!
//! A token holding only `mcp:tools` gets `403 insufficient_scope` with
//! `scope="files:write mcp:tools"` when it calls `delete_item`; the client re-authorizes with
//! that set and retries. A `tools/call` whose `params.name` cannot be read (missing, not a
//! string, given twice) gets `400 invalid_request`, and so does a JSON-RPC method the policy
//! does not know ([`OtherMethods::Refuse`], stated explicitly in [`scope_policy`]).
//!
//! Sessions are bounded, since users copy this example: an MCP session belongs to the
//! (`iss`, `sub`, `client_id`) whose `initialize` created it (another principal gets `404`);
//! one principal holds at most [`MAX_SESSIONS_PER_PRINCIPAL`] open sessions (then `429`), the
//! server [`MAX_SESSIONS`] (then `503`); a session with no request for
//! [`SESSION_IDLE_TIMEOUT`] is closed by rmcp and forgotten by the bearer layer. The authorization server must know both scopes for this server's URL:
//!
//! ```toml
//! [[resources]]
//! resource = "http://127.0.0.1:8080/mcp"
//! scopes = ["mcp:basic", "mcp:tools", "files:write"]
//! default_scopes = ["mcp:tools"]
//! ```
//!
//! ## Example
//!
//! ```
//! use protected_mcp_server::{AppOptions, app};
//!
//! # fn main() -> Result<(), protected_mcp_server::AppError> {
//! let router: axum::Router = app(AppOptions::new(
//!     "http://127.0.0.1:9000",
//!     "http://127.0.0.1:8080/mcp",
//! ))?;
//! # let _ = router;
//! # Ok(())
//! # }
//! ```
//!
//! No cargo features.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calendar_api;
pub mod connections;

pub use calendar_api::{CalendarApiOptions, calendar_api};
pub use connections::{CALENDAR_CONNECTION, ConnectionOptions};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mcp_auth_resource_server::config::DEFAULT_BODY_LIMIT;
use mcp_auth_resource_server::{
    BearerAuthLayer, ConfigError, DpopConfig, DpopMode, JwtValidator, OtherMethods, Principal,
    ResourceServerConfig, ScopeRequirements, SessionBinding, cors_layer, metadata_router,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::connections::Calendar;

/// The scope every request needs (published as PRM `scopes_supported`, named in 401 challenges).
pub const BASELINE_SCOPE: &str = "mcp:tools";

/// The extra scope the `delete_item` tool needs.
pub const DELETE_SCOPE: &str = "files:write";

/// A session with no request for this long is closed (rmcp's `keep_alive`) and forgotten by
/// the bearer layer: 300 s.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Most open MCP sessions of one (`iss`, `sub`, `client_id`): 8. One more `initialize` gets
/// `429 too_many_sessions`.
pub const MAX_SESSIONS_PER_PRINCIPAL: usize = 8;

/// Most open MCP sessions of the server: 1,000 (rmcp holds about 57 KB per session). One more
/// `initialize` gets `503`.
pub const MAX_SESSIONS: usize = 1_000;

/// What [`app`] needs to know.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AppOptions {
    /// The authorization server's issuer, exactly as in its metadata (e.g.
    /// `http://127.0.0.1:9000`). Its signing keys are discovered from its RFC 8414 metadata.
    pub issuer: String,
    /// The public URL of the MCP endpoint, what clients are configured with (e.g.
    /// `http://127.0.0.1:8080/mcp`): the token audience and the PRM `resource`. Its path must be
    /// `/mcp`.
    pub public_url: String,
    /// Idle sessions are closed after this long (default [`SESSION_IDLE_TIMEOUT`]).
    pub session_idle_timeout: Duration,
    /// Open sessions per principal (default [`MAX_SESSIONS_PER_PRINCIPAL`]).
    pub max_sessions_per_principal: usize,
    /// Open sessions in all (default [`MAX_SESSIONS`]).
    pub max_sessions: usize,
    /// Third-party connections (default none: no `list_events` tool).
    pub connections: Option<ConnectionOptions>,
    /// DPoP-bound tokens at the layer (RFC 9449 §7; default [`DpopMode::Allowed`]).
    pub dpop: DpopMode,
    /// Serve `/mcp` without [`BearerAuthLayer`]: anyone may call every tool. Off by default;
    /// only for measuring what the layer adds (`bench/grants.sh`). Never in a deployment.
    pub dangerous_without_auth_layer: bool,
}

impl AppOptions {
    /// Options for an MCP endpoint at `public_url` trusting tokens from `issuer`.
    pub fn new(issuer: impl Into<String>, public_url: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            public_url: public_url.into(),
            session_idle_timeout: SESSION_IDLE_TIMEOUT,
            max_sessions_per_principal: MAX_SESSIONS_PER_PRINCIPAL,
            max_sessions: MAX_SESSIONS,
            connections: None,
            dpop: DpopMode::default(),
            dangerous_without_auth_layer: false,
        }
    }

    /// With the layer's DPoP mode `mode` (RFC 9449 §7): [`DpopMode::Required`] accepts only
    /// DPoP-bound tokens with their proofs.
    pub fn with_dpop(mut self, mode: DpopMode) -> Self {
        self.dpop = mode;
        self
    }

    /// With the `calendar` connection and the `list_events` tool.
    pub fn with_connections(mut self, connections: ConnectionOptions) -> Self {
        self.connections = Some(connections);
        self
    }
}

/// A wiring mistake found when building the app.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The resource server configuration was refused.
    #[error("resource server configuration: {0}")]
    Config(#[from] ConfigError),
    /// The public URL does not parse, or its path is not `/mcp`.
    #[error("public URL {0:?} must be an absolute URL whose path is /mcp")]
    PublicUrl(String),
}

/// The scope policy of this server: [`BASELINE_SCOPE`] for every request, and
/// [`DELETE_SCOPE`] in addition for `tools/call` of `delete_item`. JSON-RPC methods outside
/// the MCP standard set are refused ([`OtherMethods::Refuse`], the default, written out).
///
/// # Errors
/// Never with these constants; the builder checks scope syntax.
pub fn scope_policy() -> Result<ScopeRequirements, ConfigError> {
    ScopeRequirements::builder()
        .baseline(BASELINE_SCOPE)
        .tool("delete_item", DELETE_SCOPE)
        .other_methods(OtherMethods::Refuse)
        .build()
}

/// The whole HTTP application: the MCP endpoint at `/mcp` behind [`BearerAuthLayer`], the
/// protected resource metadata route outside it, and CORS outside both.
///
/// # Errors
/// [`AppError`] for a bad issuer or public URL.
pub fn app(options: AppOptions) -> Result<Router, AppError> {
    app_with_session_manager(options).map(|(router, _)| router)
}

/// As [`app`], also returning rmcp's session manager (to watch the open sessions).
///
/// # Errors
/// [`AppError`] for a bad issuer or public URL.
pub fn app_with_session_manager(
    options: AppOptions,
) -> Result<(Router, Arc<LocalSessionManager>), AppError> {
    let public = url::Url::parse(&options.public_url)
        .map_err(|_| AppError::PublicUrl(options.public_url.clone()))?;
    if public.path() != "/mcp" {
        return Err(AppError::PublicUrl(options.public_url));
    }
    let config = ResourceServerConfig::builder(&options.public_url)
        .authorization_server(&options.issuer)
        .policy(scope_policy()?)
        .resource_name("mcp-auth example server")
        .dpop(DpopConfig::default().with_mode(options.dpop))
        .build()?;
    // Keys come from the issuer's RFC 8414 metadata (`JwksSource::Discover`, the default).
    // The mcp-auth authorization server signs with low `S`: refuse malleated signatures.
    let validator = JwtValidator::builder(&config).require_low_s(true).build()?;
    let mut allowed_hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = public.host_str() {
        allowed_hosts.push(host.trim_matches(['[', ']']).to_owned());
    }
    // rmcp closes a session after `keep_alive` without activity; the bearer layer forgets it
    // after the same time, caps sessions per principal and in all, and refuses a session id
    // to any principal but its creator.
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(options.session_idle_timeout);
    let sessions = Arc::new(sessions);
    let binding = SessionBinding::default()
        .idle_timeout(options.session_idle_timeout)
        .max_sessions_per_principal(options.max_sessions_per_principal)
        .max_sessions(options.max_sessions);
    let calendar = options
        .connections
        .map(|c| Calendar::new(&options.issuer, c));
    let mcp = StreamableHttpService::new(
        move || Ok(ExampleServer::with_calendar(calendar.clone())),
        sessions.clone(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(allowed_hosts)
            .with_max_request_body_bytes(DEFAULT_BODY_LIMIT),
    );
    let mcp = Router::new().nest_service("/mcp", mcp);
    let mcp = if options.dangerous_without_auth_layer {
        tracing::warn!("dangerous_without_auth_layer: /mcp is served without BearerAuthLayer");
        mcp
    } else {
        mcp.layer(
            BearerAuthLayer::new(config.clone(), validator)
                .session_binding(binding)
                // Every decision (who, which tool, allowed or not, scopes) to the log.
                .decision_hook(std::sync::Arc::new(
                    mcp_auth_resource_server::TracingDecisions,
                )),
        )
    };
    let router = mcp.merge(metadata_router(&config)).layer(cors_layer());
    Ok((router, sessions))
}

/// Arguments of the `echo` tool.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoRequest {
    /// The text to send back.
    pub text: String,
}

/// Arguments of the `delete_item` tool.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct DeleteItemRequest {
    /// The identifier of the item to delete.
    pub id: String,
}

/// The MCP server: its tools and their handlers.
#[derive(Debug, Clone)]
pub struct ExampleServer {
    tool_router: ToolRouter<Self>,
    calendar: Option<Calendar>,
}

impl Default for ExampleServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ExampleServer {
    /// A server with the `echo` and `delete_item` tools.
    pub fn new() -> Self {
        Self::with_calendar(None)
    }

    /// With `Some`, also the `list_events` tool.
    fn with_calendar(calendar: Option<Calendar>) -> Self {
        let mut tool_router = Self::tool_router();
        if calendar.is_none() {
            tool_router.remove_route("list_events");
        }
        Self {
            tool_router,
            calendar,
        }
    }
}

/// A tool result holding one text; `is_error` sets `isError`.
fn tool_text(is_error: bool, text: impl Into<String>) -> Result<CallToolResponse, ErrorData> {
    let content = vec![ContentBlock::text(text.into())];
    let result = if is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    Ok(result.into())
}

/// The caller the bearer layer authenticated, from the HTTP request the tool call came in.
fn caller(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .map_or_else(|| "unknown".to_owned(), |p| p.subject.clone())
}

#[tool_router]
impl ExampleServer {
    /// Send the text back. Needs `mcp:tools`.
    #[tool(description = "Send the text back, prefixed with the caller's subject")]
    fn echo(
        &self,
        Parameters(EchoRequest { text }): Parameters<EchoRequest>,
        context: RequestContext<RoleServer>,
    ) -> String {
        format!("{}: {text}", caller(&context))
    }

    /// Pretend to delete an item. Needs `mcp:tools` and `files:write`.
    #[tool(description = "Delete an item (needs the files:write scope)")]
    fn delete_item(
        &self,
        Parameters(DeleteItemRequest { id }): Parameters<DeleteItemRequest>,
        context: RequestContext<RoleServer>,
    ) -> String {
        let sub = caller(&context);
        tracing::info!(%sub, %id, "item deleted");
        format!("deleted {id} for {sub}")
    }

    /// The caller's calendar events, with their `calendar` connection. Needs `mcp:tools`.
    #[tool(description = "List my calendar events (connects my calendar account first)")]
    async fn list_events(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(cal) = &self.calendar else {
            return Err(ErrorData::internal_error("no calendar", None));
        };
        let token = match cal.vault.credential(&ctx, CALENDAR_CONNECTION).await {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        };
        let req = cal.http.get(&cal.events_url).bearer_auth(token.expose());
        match req.send().await.and_then(|r| r.error_for_status()) {
            Ok(events) => tool_text(false, events.text().await.unwrap_or_default()),
            Err(_) => tool_text(true, "The calendar API did not answer."),
        }
    }
}

/// The MCP extension identifier of OAuth client credentials (SEP-1046), advertised in the
/// server's capabilities.
pub const CLIENT_CREDENTIALS_EXTENSION: &str = "io.modelcontextprotocol/oauth-client-credentials";

/// The MCP extension identifier of Enterprise-Managed Authorization (Cross App Access,
/// SEP-990 EMA-M4), advertised in the server's capabilities: clients may get tokens for this
/// server with an ID-JAG from their enterprise IdP.
pub const ENTERPRISE_MANAGED_AUTHORIZATION_EXTENSION: &str =
    "io.modelcontextprotocol/enterprise-managed-authorization";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ExampleServer {
    fn get_info(&self) -> ServerConfig {
        // Spec CC-15: machine clients (SEP-1046) may authenticate to this server.
        let mut extensions = rmcp::model::ExtensionCapabilities::new();
        extensions.insert(CLIENT_CREDENTIALS_EXTENSION.to_owned(), Default::default());
        extensions.insert(
            ENTERPRISE_MANAGED_AUTHORIZATION_EXTENSION.to_owned(),
            Default::default(),
        );
        let mut capabilities = ServerCapabilities::builder().enable_tools().build();
        capabilities.extensions = Some(extensions);
        ServerConfig::new(capabilities)
            .with_instructions("An example MCP server protected by mcp-auth's resource-server")
    }
}
