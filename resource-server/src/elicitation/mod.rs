//! URL-mode elicitation for MCP tool handlers (feature `elicitation`, issue 11): get a user's
//! third-party credential from this MCP server's authorization server, or answer the client
//! with the elicitation that lets the user connect the account.
//!
//! | item | what |
//! |---|---|
//! | [`ConnectionVault`] | `vault.credential(&ctx, "calendar").await`: RFC 8693 token exchange at `{issuer}/connect/token` |
//! | [`Credential`] | the third-party token or API key (redacted `Debug`) |
//! | [`CredentialError`] | why not, and [`CredentialError::into_response`]: `-32042`, `InputRequiredResult`, `-32021`, `-32602` or an `isError` result |
//! | [`SubjectToken`] | the validated bearer token, kept in request extensions by the layer for the exchange only |
//! | [`RequestStateKey`] | AES-256-GCM key sealing 2026-07-28 `requestState` |
//!
//! A tool handler:
//!
//! ```
//! use mcp_auth_resource_server::elicitation::ConnectionVault;
//! use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
//! use rmcp::service::RequestContext;
//! use rmcp::{ErrorData, RoleServer};
//!
//! /// The body of a `#[tool]` method: `vault` is the server's `ConnectionVault`.
//! async fn list_events(
//!     vault: &ConnectionVault,
//!     ctx: RequestContext<RoleServer>,
//! ) -> Result<CallToolResponse, ErrorData> {
//!     let token = match vault.credential(&ctx, "calendar").await {
//!         Ok(t) => t,
//!         Err(e) => return e.into_response(),
//!     };
//!     // Call the third party with `token.expose()`; never return it to the client.
//!     let _ = token.expose();
//!     Ok(CallToolResult::success(vec![ContentBlock::text("3 events")]).into())
//! }
//! ```
//!
//! Spec: mcp-auth-2025-11-25 §7 (ELIC-01..06, 09, 14, 15), delta 2026-07-28 §9 (ELIC-R2-*).

mod client;
mod credential;
mod error;
mod state;
mod subject;
mod vault;
mod watch;
pub(crate) mod wire;

pub use credential::{ACCESS_TOKEN_TYPE, API_KEY_TYPE, Credential, CredentialKind};
pub use error::{CredentialError, URL_ELICITATION_REQUIRED, URL_ELICITATION_REQUIRED_MESSAGE};
pub use state::{REQUEST_STATE_TTL_SECS, RequestStateKey};
pub use subject::{RequestFacts, SubjectToken};
pub use vault::ConnectionVault;
pub use watch::{DEFAULT_MAX_WATCHERS, ELICITATION_COMPLETE};
