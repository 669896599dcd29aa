//! The MCP server's side of third-party connections (issue 11, spec §7.4 "Tool-side
//! integration"):
//!
//! - `POST /connect/token`: an RFC 8693 token exchange. The MCP server authenticates as its own
//!   confidential client and presents the user's MCP access token as `subject_token`; the
//!   answer is the user's stored third-party credential for the connection named by
//!   `audience`, refreshed first when it expired, or, when the user has not connected yet, a
//!   pending URL-mode elicitation to send the user to ([`ConnectTokenOutcome`]).
//! - `POST /connect/status`: a long-poll that answers when an elicitation finishes, so the MCP
//!   server can send `notifications/elicitation/complete` (ELIC-06, ELIC-CB-05).
//!
//! The MCP client's access token is only read here, never passed on: the third party never
//! sees it (ELIC-15), and the third-party credential goes only to the MCP server (ELIC-14).

use std::time::Duration;

use mcp_auth_core::store::{ElicitationBinding, PendingElicitation};
use mcp_auth_core::types::ResourceUri;
use mcp_auth_core::{Client, ErrorCode, FormParams, OAuthError};
use serde::Serialize;

use super::client_authentication::Callers;
use super::token::ClientRequest;
use crate::connections::{Connection, ConnectionKind};
use crate::server::AuthorizationServer;

/// The RFC 8693 §2.1 grant type of `/connect/token`.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The RFC 8693 §3 token type of the subject token (the user's MCP access token), and of the
/// credential issued for an OAuth connection.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

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

/// The answer of `/connect/token`.
#[derive(Debug)]
pub enum ConnectTokenOutcome {
    /// `200`: the user's credential for the connection.
    Credential(ConnectionCredential),
    /// `400 connection_required`: the user has not connected (or the connection can no longer
    /// be refreshed); send them to `elicitation.url`.
    ConnectionRequired(ConnectionRequired),
}

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
    /// `POST /connect/token`: the user's credential for a connection, or an elicitation.
    ///
    /// Checks, in order: the form (no repeats); client authentication (confidential clients
    /// only, as at `/token`); `grant_type` (`unsupported_grant_type`), and that the client is
    /// registered for it (`unauthorized_client`); `subject_token` and
    /// `subject_token_type` = [`ACCESS_TOKEN_TYPE`], `audience`, no `resource`, `scope`,
    /// `actor_token` (`invalid_request`); the subject token is one of this server's access
    /// tokens, unexpired and not revoked, whose `aud` is a resource the caller is a
    /// `server_clients` entry of, and which has a user (`invalid_grant`; client-credentials
    /// tokens never get an elicitation, ELIC-R2-09), and whose `sub_id`, when present, is a
    /// well-formed RFC 9493 `iss_sub` identifier; the connection exists and serves that
    /// resource (`invalid_target`); `requested_token_type`, when given, matches the
    /// connection's kind (`invalid_request`). Too many open elicitations: `429`.
    ///
    /// The user is the token's issuer-qualified subject
    /// ([`mcp_auth_core::ext::AccessTokenClaims::qualified_subject`]): (this issuer, `sub`) for
    /// a user who signed in here, (the IdP's issuer, its `sub`) for a subject taken from an
    /// ID-JAG. Vault entries and elicitations are keyed by it, so a subject an IdP asserted
    /// never reads a local user's credential, even when the two `sub` values are equal (only
    /// an IdP configured with `subjects_are_local_users` names local users).
    pub async fn connect_token(
        &self,
        request: ClientRequest<'_>,
    ) -> Result<ConnectTokenOutcome, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let caller = self
            .authenticate_client(
                request.authorization,
                &params,
                &self.inner.settings.issuer.endpoint("/connect/token"),
                Callers::ConfidentialOnly,
                request.source,
            )
            .await?;
        check_exchange_request(&params, &caller)?;
        let subject_token = params.require("subject_token")?;
        let name = params.require("audience")?;
        let now = self.inner.clock.now();
        let (claims, resource) = self
            .check_subject_token(subject_token, &caller.client_id, now)
            .await?;
        // The vault and the elicitations are keyed by the issuer-qualified subject: a subject
        // taken from a trusted IdP's ID-JAG (`sub_id`) never reaches a local user's entries.
        let subject = claims
            .qualified_subject()
            .map_err(|e| OAuthError::invalid_grant(e.to_string()))?;

        let connections = self.connections().ok_or_else(|| unknown_connection(name))?;
        let connection = connections
            .get(name)
            .ok_or_else(|| unknown_connection(name))?;
        if !connection.resources.contains(&resource) {
            return Err(OAuthError::invalid_target(format!(
                "connection {name} is not available to this resource"
            )));
        }
        let (issued_token_type, token_type) = token_types(connection);
        if let Some(requested) = params.get("requested_token_type")
            && requested != issued_token_type
        {
            return Err(OAuthError::invalid_request(format!(
                "connection {name} issues {issued_token_type}"
            )));
        }

        let credential = connections
            .credential(subject.iss, subject.sub, name, now)
            .await
            .map_err(OAuthError::server_error)?;
        if let Some(credential) = credential {
            tracing::info!(
                connection = %name,
                client_id = %caller.client_id,
                "connection credential handed to its MCP server"
            );
            return Ok(ConnectTokenOutcome::Credential(ConnectionCredential {
                access_token: credential.value.expose().to_owned(),
                issued_token_type,
                token_type,
                expires_in: credential
                    .expires_at
                    .map(|at| u64::try_from(at - now).unwrap_or(0)),
                scope: credential.scope,
            }));
        }

        let binding = ElicitationBinding {
            iss: subject.iss,
            sub: subject.sub,
            client_id: &claims.client_id,
            connection: name,
            resource: &resource,
        };
        let elicitation = self
            .open_elicitation(&binding, caller.client_id.as_str(), now)
            .await?;
        Ok(ConnectTokenOutcome::ConnectionRequired(
            self.connection_required(connection, elicitation, now),
        ))
    }

    /// The subject token of `/connect/token`: one of this server's access tokens, unexpired
    /// and not revoked, whose `aud` is a resource `caller` is a `server_clients` entry of, and
    /// which has a user. Its claims and that resource.
    ///
    /// # Errors
    /// `invalid_grant`, or a store failure.
    async fn check_subject_token(
        &self,
        subject_token: &str,
        caller: &mcp_auth_core::ClientId,
        now: i64,
    ) -> Result<(mcp_auth_core::ext::AccessTokenClaims, ResourceUri), OAuthError> {
        let claims = self
            .token_issuer()
            .verify(subject_token)
            .filter(|c| c.exp > now)
            .ok_or_else(|| {
                OAuthError::invalid_grant("the subject token is not a valid access token")
            })?;
        if self
            .inner
            .stores
            .denylist
            .is_denied(&claims.jti, now)
            .await?
        {
            return Err(OAuthError::invalid_grant("the subject token was revoked"));
        }
        let resource: ResourceUri = claims
            .aud
            .parse()
            .map_err(|_| OAuthError::invalid_grant("the subject token has no usable audience"))?;
        if !self.inner.settings.is_server_client(caller, &resource) {
            return Err(OAuthError::invalid_grant(
                "the subject token was not issued for a resource this client serves",
            ));
        }
        if claims.sub == claims.client_id && claims.auth_time.is_none() {
            return Err(OAuthError::invalid_grant(
                "the subject token has no user (client credentials): connections belong to users",
            ));
        }
        Ok((claims, resource))
    }

    /// The `connection_required` answer offering `elicitation` for `connection`.
    fn connection_required(
        &self,
        connection: &Connection,
        elicitation: PendingElicitation,
        now: i64,
    ) -> ConnectionRequired {
        ConnectionRequired {
            error: "connection_required",
            error_description: format!("the user has not connected {}", connection.display_name),
            elicitation: ElicitationOffer {
                url: self
                    .inner
                    .settings
                    .issuer
                    .endpoint(&format!("/connect/{}", elicitation.id)),
                id: elicitation.id,
                expires_in: elicitation.expires_at - now,
                connection: connection.name.clone(),
                message: format!(
                    "Connect your {} account to continue.",
                    connection.display_name
                ),
            },
        }
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

/// The form of a `/connect/token` request: `grant_type` is the token exchange
/// (`unsupported_grant_type`) and `caller` is registered for it (`unauthorized_client`); no
/// `resource`, `scope` or `actor_token` (`invalid_request`: the connection is named by
/// `audience`); `subject_token_type` is [`ACCESS_TOKEN_TYPE`] (`invalid_request`).
fn check_exchange_request(params: &FormParams, caller: &Client) -> Result<(), OAuthError> {
    let grant_type = params.require("grant_type")?;
    if grant_type != TOKEN_EXCHANGE_GRANT {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("/connect/token accepts only grant_type {TOKEN_EXCHANGE_GRANT}"),
        ));
    }
    if !caller
        .grant_types
        .iter()
        .any(|g| g.as_str() == TOKEN_EXCHANGE_GRANT)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client is not registered for the {TOKEN_EXCHANGE_GRANT} grant"),
        ));
    }
    for unsupported in ["resource", "scope", "actor_token", "actor_token_type"] {
        if params.contains(unsupported) {
            return Err(OAuthError::invalid_request(format!(
                "{unsupported} is not accepted here: name the connection with audience"
            )));
        }
    }
    params.require("subject_token")?;
    if params.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    params.require("audience")?;
    Ok(())
}

/// (`issued_token_type`, `token_type`) of a connection's credential.
fn token_types(connection: &Connection) -> (&'static str, &'static str) {
    match connection.kind {
        ConnectionKind::ApiKey => (API_KEY_TOKEN_TYPE, "N_A"),
        _ => (ACCESS_TOKEN_TYPE, "Bearer"),
    }
}

fn unknown_connection(name: &str) -> OAuthError {
    OAuthError::invalid_target(format!("no connection named {name:?} is configured"))
}
