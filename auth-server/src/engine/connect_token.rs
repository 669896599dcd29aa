//! The MCP server's side of third-party connections (issue 11, spec §7.4 "Tool-side
//! integration"):
//!
//! - `POST /connect/token`: an RFC 8693 token exchange. The MCP server authenticates as its own
//!   confidential client and presents the user's MCP access token as `subject_token`; the
//!   answer is the user's stored third-party credential for the connection named by
//!   `audience`, refreshed first when it expired, or, when the user has not connected yet, a
//!   pending URL-mode elicitation to send the user to (the
//!   [`super::connection_broker`], through the one token-exchange path).
//! - `POST /connect/status`: a long-poll that answers when an elicitation finishes, so the MCP
//!   server can send `notifications/elicitation/complete` (ELIC-06, ELIC-CB-05).
//!
//! The MCP client's access token is only read here, never passed on: the third party never
//! sees it (ELIC-15), and the third-party credential goes only to the MCP server (ELIC-14).

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::ext::TokenExchangeGrant;
use mcp_auth_core::store::PendingElicitation;
use mcp_auth_core::{FormParams, OAuthError};
use serde::Serialize;

use super::client_authentication::Callers;
use super::connection_broker::ConnectionBroker;
use super::token::ClientRequest;
use super::token_exchange::ExchangeAnswer;
use crate::server::AuthorizationServer;

/// The RFC 8693 §2.1 grant type of `/connect/token`.
pub const TOKEN_EXCHANGE_GRANT: &str = mcp_auth_core::GrantType::TOKEN_EXCHANGE;

/// The RFC 8693 §3 token type of the subject token (the user's MCP access token), and of the
/// credential issued for an OAuth connection.
pub const ACCESS_TOKEN_TYPE: &str = mcp_auth_core::ext::ACCESS_TOKEN_TYPE;

/// The token type of the credential issued for an `api_key` connection (this server's own
/// URN: RFC 8693 §3 allows other token type identifiers).
pub const API_KEY_TOKEN_TYPE: &str = "urn:mcp-auth:token-type:api-key";

/// How long a new elicitation stays usable: 900 s (ELIC-17).
pub const ELICITATION_TTL: i64 = 900;

/// Most open elicitations one user may have at once: 10 (ELIC-18). One more answers 429.
pub const MAX_OPEN_ELICITATIONS_PER_USER: u64 = 10;

/// Longest `wait` of `/connect/status`, seconds.
pub const MAX_STATUS_WAIT: u64 = 30;

/// `wait` of `/connect/status` when the request names none, seconds.
pub const DEFAULT_STATUS_WAIT: u64 = 25;

/// The `200` body of `/connect/token` (RFC 8693 §2.2.1). `Debug` hides `access_token`.
#[derive(Serialize)]
pub struct ConnectionCredential {
    /// The third-party access token, or the API key.
    pub access_token: String,
    /// [`ACCESS_TOKEN_TYPE`] for OAuth connections, [`API_KEY_TOKEN_TYPE`] for API keys.
    pub issued_token_type: &'static str,
    /// `Bearer` for OAuth connections, `N_A` for API keys (RFC 8693 §2.2.1).
    pub token_type: &'static str,
    /// Seconds until the third-party access token expires, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// The scope the third party granted, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for ConnectionCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCredential")
            .field("access_token", &"[redacted]")
            .field("issued_token_type", &self.issued_token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The `400` body of `/connect/token` when the user must connect first:
/// `{"error":"connection_required","error_description":…,"elicitation":{…}}`.
#[derive(Debug, Serialize)]
pub struct ConnectionRequired {
    /// Always `connection_required`.
    pub error: &'static str,
    /// Human-readable, names the connection's display name.
    pub error_description: String,
    /// Where to send the user.
    pub elicitation: ElicitationOffer,
}

/// A URL-mode elicitation as the MCP server passes it on (spec §7.2): its `id` becomes the
/// `elicitationId` of 2025-11-25 clients.
#[derive(Debug, Clone, Serialize)]
pub struct ElicitationOffer {
    /// The opaque elicitation id (256 random bits, base64url).
    pub id: String,
    /// `{issuer}/connect/{id}`: nothing else in it (ELIC-09, ELIC-CB-06).
    pub url: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The connection's configured name.
    pub connection: String,
    /// Why the user is asked, for the MCP client to show.
    pub message: String,
}

/// The body of `/connect/status`: `{"elicitation_id":…,"status":…}`, where `status` is one of
/// `pending`, `in_progress`, `completed`, `failed`, `cancelled`, `expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElicitationStatusReport {
    /// The elicitation.
    pub elicitation_id: String,
    /// Where it stands.
    pub status: &'static str,
}

/// The answer of `/connect/status`.
#[derive(Debug)]
pub enum StatusOutcome {
    /// `200`.
    Found(ElicitationStatusReport),
    /// `404 {"error":"not_found"}`: unknown, or for a resource the caller is not a server of.
    NotFound,
}

impl AuthorizationServer {
    /// `POST /connect/token`: the user's credential for a connection, or an elicitation; an
    /// RFC 8693 token exchange through the one token-exchange path
    /// ([`AuthorizationServer::exchange_at`]) with the connection broker as its only
    /// exchanger (see [`super::connection_broker`] for its checks).
    ///
    /// Errors: as [`AuthorizationServer::exchange_at`] (`invalid_request`, `invalid_client`
    /// 401, `unsupported_grant_type`, `unauthorized_client`, `invalid_target` for an audience
    /// that names no configured connection), then the broker's (`invalid_request`,
    /// `invalid_grant`, `invalid_target`, `429`).
    pub async fn connect_token(
        &self,
        request: ClientRequest<'_>,
    ) -> Result<ExchangeAnswer, OAuthError> {
        let broker = ConnectionBroker::new(self.clone());
        let grant = TokenExchangeGrant::new(vec![Arc::new(broker)]);
        self.exchange_at(request, "/connect/token", &grant).await
    }

    /// `POST /connect/status`: where an elicitation stands, for the client that asked for it
    /// or another `server_clients` entry of the same resource (an elicitation is shared by the
    /// servers of one resource, since `/connect/token` reuses the open one); answered as soon
    /// as it is finished (completed, failed, cancelled) or expired, or after `wait` seconds (0
    /// to [`MAX_STATUS_WAIT`], default [`DEFAULT_STATUS_WAIT`]) with the status then. A finish
    /// on this node is seen at once; one on another node within
    /// [`crate::connections::completion::STORE_POLL_INTERVAL`]. A client holding
    /// [`crate::connections::completion::MAX_WAITS_PER_CLIENT`] long-polls on this node gets
    /// the current status at once.
    ///
    /// Errors: `invalid_request` (malformed form, missing `elicitation_id`, bad `wait`),
    /// `invalid_client` (401).
    pub async fn connect_status(
        &self,
        request: ClientRequest<'_>,
    ) -> Result<StatusOutcome, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let caller = self
            .authenticate_client(
                request.authorization,
                &params,
                &self.inner.settings.issuer.endpoint("/connect/status"),
                Callers::ConfidentialOnly,
                request.source,
            )
            .await?;
        let id = params.require("elicitation_id")?;
        let wait = match params.get("wait") {
            None => DEFAULT_STATUS_WAIT,
            Some(w) => Some(w)
                .filter(|w| !w.is_empty() && w.len() <= 2 && w.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|w| w.parse::<u64>().ok())
                .filter(|w| *w <= MAX_STATUS_WAIT)
                .ok_or_else(|| {
                    OAuthError::invalid_request(format!(
                        "wait must be a whole number of seconds from 0 to {MAX_STATUS_WAIT}"
                    ))
                })?,
        };
        let Some(connections) = self.connections() else {
            return Ok(StatusOutcome::NotFound);
        };
        let slot = connections.completion.enter(caller.client_id.as_str());
        let wait = if slot.is_some() { wait } else { 0 };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            let Some(elicitation) = self.inner.stores.elicitations.get(id).await? else {
                return Ok(StatusOutcome::NotFound);
            };
            let asked_for_it = elicitation.requested_by == caller.client_id.as_str()
                || self
                    .inner
                    .settings
                    .is_server_client(&caller.client_id, &elicitation.resource);
            if !asked_for_it {
                return Ok(StatusOutcome::NotFound);
            }
            let now = self.inner.clock.now();
            let status = status_word(&elicitation, now);
            let settled = !matches!(status, "pending" | "in_progress");
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(StatusOutcome::Found(ElicitationStatusReport {
                    elicitation_id: elicitation.id,
                    status,
                }));
            }
            let _ = tokio::time::timeout_at(deadline, connections.completion.next_check()).await;
        }
    }
}

/// The status word of `/connect/status`: the stored status, or `expired` for an open one past
/// its expiry.
fn status_word(elicitation: &PendingElicitation, now: i64) -> &'static str {
    if elicitation.status.is_open() && elicitation.is_expired(now) {
        "expired"
    } else {
        elicitation.status.as_str()
    }
}
