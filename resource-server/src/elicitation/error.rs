//! [`CredentialError`]: why a tool got no credential, and the one mapping of each reason to
//! the answer the MCP client gets for its protocol revision.

use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, ErrorCode, InputRequiredResult};
use serde_json::json;

/// JSON-RPC error code `URL_ELICITATION_REQUIRED` (MCP 2025-11-25 `schema.ts`; spec §7.2).
/// Reserved, never reused, in 2026-07-28.
pub const URL_ELICITATION_REQUIRED: ErrorCode = ErrorCode(-32042);

/// The `message` of the `-32042` error (MCP 2025-11-25 `URLElicitationRequiredError`).
pub const URL_ELICITATION_REQUIRED_MESSAGE: &str = "This request requires more information.";

/// Why [`super::ConnectionVault::credential`] returned no credential. Turn it into the tool's
/// answer with [`CredentialError::into_response`]; no variant carries a token or a secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CredentialError {
    /// The access token has no user (`sub` = `client_id`: client credentials): never an
    /// elicitation (spec ELIC-R2-09). → tool result `isError: true`.
    NoUser,
    /// The authorization server answered `invalid_grant`: the subject token cannot be
    /// exchanged (no user, expired, revoked, or not issued for this server). → `isError`.
    SubjectRefused,
    /// A 2025-11-25 client that declared `elicitation.url`: → JSON-RPC error `-32042` with
    /// `data.elicitations = [{mode:"url", elicitationId, url, message}]` (ELIC-02, ELIC-04,
    /// ELIC-R2-11). A completion watcher was started for the originating session.
    UrlElicitationRequired {
        /// The authorization server's elicitation id.
        elicitation_id: String,
        /// `{issuer}/connect/{id}`.
        url: String,
        /// Why the user is asked.
        message: String,
    },
    /// A 2026-07-28 request declaring `elicitation.url` in its own `_meta`: → the MRTR
    /// [`InputRequiredResult`] with a URL-mode `elicitation/create` and a sealed `requestState`
    /// (ELIC-R2-01, ELIC-R2-05/06).
    InputRequired(Box<InputRequiredResult>),
    /// A 2025-11-25 client without URL mode: → tool result `isError: true` telling the user
    /// where to connect (never a form-mode elicitation, ELIC-01/03).
    ConnectElsewhere {
        /// `{issuer}/connect/{id}`.
        url: String,
        /// Why the user is asked.
        message: String,
    },
    /// A 2026-07-28 request without `elicitation.url` in its `_meta`: → JSON-RPC `-32021`
    /// `data.requiredCapabilities = {"elicitation":{"url":{}}}`, which rmcp's streamable HTTP
    /// server answers with HTTP 400 (ELIC-R2-04).
    MissingUrlCapability,
    /// The echoed `requestState` does not open with this server's key, is expired, or belongs
    /// to another principal, request or connection: → JSON-RPC `-32602` (ELIC-R2-05/06).
    InvalidRequestState,
    /// The user has too many open elicitations (authorization server 429). → `isError`.
    TooManyRequests,
    /// The authorization server refused this server's request (`invalid_client`,
    /// `invalid_target`: a configuration mistake). → `isError`.
    Refused,
    /// The authorization server did not answer, answered 5xx, or not in the contract's shape.
    /// → `isError` "the connection service is unavailable".
    Unavailable,
    /// The request carries no principal, subject token or request facts: the
    /// [`crate::BearerAuthLayer`] (built with feature `elicitation`) is not in front of this
    /// MCP service. → JSON-RPC internal error.
    NotAuthenticated,
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoUser => "the access token has no user",
            Self::SubjectRefused => "the authorization server refused the subject token",
            Self::UrlElicitationRequired { .. } => "URL elicitation required",
            Self::InputRequired(_) => "input required",
            Self::ConnectElsewhere { .. } => "the user must connect the account",
            Self::MissingUrlCapability => "the client lacks URL-mode elicitation",
            Self::InvalidRequestState => "invalid requestState",
            Self::TooManyRequests => "too many open elicitations",
            Self::Refused => "the authorization server refused the exchange",
            Self::Unavailable => "the connection service is unavailable",
            Self::NotAuthenticated => "no authenticated request",
        })
    }
}

impl std::error::Error for CredentialError {}

fn tool_error(text: impl Into<String>) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(text.into())]).into())
}

impl CredentialError {
    /// The answer for the MCP client, to return from a tool handler whose return type is
    /// `Result<CallToolResponse, ErrorData>`:
    ///
    /// ```
    /// # use mcp_auth_resource_server::elicitation::ConnectionVault;
    /// # use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
    /// # use rmcp::{ErrorData, RoleServer, service::RequestContext};
    /// # async fn tool(vault: &ConnectionVault, ctx: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
    /// let token = match vault.credential(&ctx, "calendar").await {
    ///     Ok(t) => t,
    ///     Err(e) => return e.into_response(),
    /// };
    /// # let _ = token;
    /// # Ok(CallToolResult::success(vec![ContentBlock::text("ok")]).into())
    /// # }
    /// ```
    ///
    /// | variant | answer |
    /// |---|---|
    /// | [`Self::UrlElicitationRequired`] | `Err` JSON-RPC `-32042`, `data.elicitations` |
    /// | [`Self::InputRequired`] | `Ok` `InputRequiredResult` |
    /// | [`Self::MissingUrlCapability`] | `Err` `-32021` (HTTP 400 on the 2026-07-28 transport) |
    /// | [`Self::InvalidRequestState`] | `Err` `-32602` "invalid requestState" |
    /// | [`Self::NotAuthenticated`] | `Err` `-32603` |
    /// | the others | `Ok` tool result with `isError: true` and a sentence for the user |
    ///
    /// # Errors
    /// The JSON-RPC errors of the table.
    pub fn into_response(self) -> Result<CallToolResponse, ErrorData> {
        match self {
            Self::UrlElicitationRequired {
                elicitation_id,
                url,
                message,
            } => Err(ErrorData::new(
                URL_ELICITATION_REQUIRED,
                URL_ELICITATION_REQUIRED_MESSAGE,
                Some(json!({"elicitations": [{
                    "mode": "url",
                    "elicitationId": elicitation_id,
                    "url": url,
                    "message": message,
                }]})),
            )),
            Self::InputRequired(result) => Ok(CallToolResponse::InputRequired(*result)),
            Self::MissingUrlCapability => Err(ErrorData::new(
                ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "Missing required client capability",
                Some(json!({"requiredCapabilities": {"elicitation": {"url": {}}}})),
            )),
            Self::InvalidRequestState => Err(ErrorData::invalid_params(
                "invalid requestState: it is not this server's, has expired, or belongs to another user or request",
                None,
            )),
            Self::NotAuthenticated => Err(ErrorData::internal_error(
                "the request was not authenticated by the bearer layer",
                None,
            )),
            Self::ConnectElsewhere { url, message } => tool_error(format!(
                "{message} Open {url} in your browser, then try again."
            )),
            Self::NoUser => tool_error(
                "This tool needs a user's connected account; an access token without a user (client credentials) cannot have one.",
            ),
            Self::SubjectRefused => tool_error(
                "The connection service refused this access token; sign in again and retry.",
            ),
            Self::TooManyRequests => tool_error(
                "Too many account connections are waiting; finish the open ones or try again later.",
            ),
            Self::Refused => tool_error("This server is not allowed to use that connection."),
            Self::Unavailable => {
                tool_error("The connection service is unavailable; try again later.")
            }
        }
    }
}
