//! The connection broker (issue 11, spec §7.4): the [`TokenExchanger`] of `/connect/token`.
//! The MCP server presents its user's access token and names a connection with `audience`;
//! the answer is the user's stored third-party credential (refreshed first when it expired),
//! or `400 connection_required` with a URL-mode elicitation to send the user to.

use async_trait::async_trait;
use mcp_auth_core::ext::{
    ACCESS_TOKEN_TYPE, ExchangeOutcome, ExchangeResponse, ExchangeStatus, GrantContext,
    TokenExchangeRequest, TokenExchanger,
};
use mcp_auth_core::store::{ElicitationBinding, PendingElicitation};
use mcp_auth_core::{OAuthError, UnixTime};

use super::connect_token::{
    API_KEY_TOKEN_TYPE, ConnectionCredential, ConnectionRequired, ElicitationOffer,
};
use super::subject_token::{UserAccessToken, check_user_access_token};
use crate::connections::{Connection, ConnectionKind};
use crate::server::AuthorizationServer;

/// The connection broker over one server's connections; made for each `/connect/token`
/// request (it holds a handle to the server, never the other way round).
pub(crate) struct ConnectionBroker {
    server: AuthorizationServer,
}

impl ConnectionBroker {
    /// The broker of `server`.
    pub(crate) fn new(server: AuthorizationServer) -> Self {
        Self { server }
    }

    /// The connection `name` among the configured ones.
    fn connection(&self, name: &str) -> Option<&Connection> {
        self.server.connections().and_then(|c| c.get(name))
    }
}

#[async_trait]
impl TokenExchanger for ConnectionBroker {
    fn name(&self) -> &str {
        "connections"
    }

    fn issued_token_types(&self) -> &[&str] {
        &[ACCESS_TOKEN_TYPE, API_KEY_TOKEN_TYPE]
    }

    /// A request whose `audience` is the name of a configured connection.
    fn claims(&self, _ctx: &GrantContext<'_>, request: &TokenExchangeRequest) -> bool {
        request
            .audience
            .as_deref()
            .is_some_and(|name| self.connection(name).is_some())
    }

    /// Checks, in order: no `resource`, `scope` or `actor_token` (`invalid_request`: the
    /// connection is named by `audience`); `subject_token_type` is [`ACCESS_TOKEN_TYPE`]
    /// (`invalid_request`); the subject token ([`check_user_access_token`]: `invalid_grant`;
    /// its `sub_id`, when present, a well-formed RFC 9493 `iss_sub` identifier); the
    /// connection serves the token's resource (`invalid_target`); `requested_token_type`, when
    /// given, is the connection's kind (`invalid_request`). Too many open elicitations: `429`.
    ///
    /// The user is the token's issuer-qualified subject
    /// ([`mcp_auth_core::ext::AccessTokenClaims::qualified_subject`]): vault entries and
    /// elicitations are keyed by it, so a subject an IdP asserted never reads a local user's
    /// credential, even when the two `sub` values are equal.
    async fn exchange(
        &self,
        ctx: &GrantContext<'_>,
        request: &TokenExchangeRequest,
    ) -> Result<ExchangeOutcome, OAuthError> {
        check_broker_request(ctx, request)?;
        let name = request.audience.as_deref().unwrap_or_default();
        let connection = self
            .connection(name)
            .ok_or_else(|| unknown_connection(name))?;
        let server = &self.server.inner;
        let caller = &ctx.client.client_id;
        let subject = check_user_access_token(
            self.server.token_issuer().as_ref(),
            server.stores.denylist.as_ref(),
            &server.settings.server_clients,
            (&request.subject_token, caller),
            ctx.now,
        )
        .await?;
        qualified(&subject)?;
        if !connection.resources.contains(&subject.resource) {
            return Err(OAuthError::invalid_target(format!(
                "connection {name} is not available to this resource"
            )));
        }
        let (issued_token_type, token_type) = token_types(connection);
        if let Some(requested) = request.requested_token_type.as_deref()
            && requested != issued_token_type
        {
            return Err(OAuthError::invalid_request(format!(
                "connection {name} issues {issued_token_type}"
            )));
        }
        let answer = match self
            .credential(connection, &subject, (issued_token_type, token_type), ctx)
            .await?
        {
            Some(credential) => ExchangeResponse::json(ExchangeStatus::Ok, &credential)?,
            None => {
                let required = self.elicitation(connection, &subject, ctx).await?;
                ExchangeResponse::json(ExchangeStatus::BadRequest, &required)?
            }
        };
        Ok(ExchangeOutcome::Respond(answer))
    }
}

impl ConnectionBroker {
    /// The user's stored credential for `connection`, with its (`issued_token_type`,
    /// `token_type`); `None` when the user has not connected (or it can no longer be
    /// refreshed).
    async fn credential(
        &self,
        connection: &Connection,
        subject: &UserAccessToken,
        types: (&'static str, &'static str),
        ctx: &GrantContext<'_>,
    ) -> Result<Option<ConnectionCredential>, OAuthError> {
        let user = qualified(subject)?;
        let connections = self
            .server
            .connections()
            .ok_or_else(|| unknown_connection(&connection.name))?;
        let credential = connections
            .credential(user.iss, user.sub, &connection.name, ctx.now)
            .await
            .map_err(OAuthError::server_error)?;
        if credential.is_some() {
            tracing::info!(
                connection = %connection.name,
                client_id = %ctx.client.client_id,
                "connection credential handed to its MCP server"
            );
            self.server
                .audit(mcp_auth_core::ext::AuditEvent::TokenExchanged {
                    client_id: ctx.client.client_id.as_str().to_owned(),
                    sub: subject.claims.sub.clone(),
                    actors: Vec::new(),
                    requested_token_type: ctx.params.get("requested_token_type").map(str::to_owned),
                    audience: vec![connection.name.clone()],
                    resource: subject.resource.as_str().to_owned(),
                    jti: None,
                })
                .await;
        }
        Ok(credential.map(|credential| ConnectionCredential {
            access_token: credential.value.expose().to_owned(),
            issued_token_type: types.0,
            token_type: types.1,
            expires_in: credential
                .expires_at
                .map(|at| u64::try_from(at - ctx.now).unwrap_or(0)),
            scope: credential.scope,
        }))
    }

    /// The `connection_required` answer: the open elicitation for the user, MCP client,
    /// connection and resource, or a new one asked for by the calling MCP server.
    async fn elicitation(
        &self,
        connection: &Connection,
        subject: &UserAccessToken,
        ctx: &GrantContext<'_>,
    ) -> Result<ConnectionRequired, OAuthError> {
        let user = qualified(subject)?;
        let binding = ElicitationBinding {
            iss: user.iss,
            sub: user.sub,
            client_id: &subject.claims.client_id,
            connection: &connection.name,
            resource: &subject.resource,
        };
        let elicitation = self
            .server
            .open_elicitation(&binding, ctx.client.client_id.as_str(), ctx.now)
            .await?;
        Ok(self.connection_required(connection, elicitation, ctx.now))
    }

    /// The `connection_required` answer offering `elicitation` for `connection`.
    fn connection_required(
        &self,
        connection: &Connection,
        elicitation: PendingElicitation,
        now: UnixTime,
    ) -> ConnectionRequired {
        ConnectionRequired {
            error: "connection_required",
            error_description: format!("the user has not connected {}", connection.display_name),
            elicitation: ElicitationOffer {
                url: self
                    .server
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
}

/// The vault and the elicitations are keyed by the issuer-qualified subject: a subject taken
/// from a trusted IdP's ID-JAG (`sub_id`) never reaches a local user's entries.
fn qualified(
    subject: &UserAccessToken,
) -> Result<mcp_auth_core::ext::QualifiedSubject<'_>, OAuthError> {
    subject
        .claims
        .qualified_subject()
        .map_err(|e| OAuthError::invalid_grant(e.to_string()))
}

/// The broker's parameter rules: no `resource`, `scope` or actor (`invalid_request`: the
/// connection is named by `audience`); `subject_token_type` is [`ACCESS_TOKEN_TYPE`].
fn check_broker_request(
    ctx: &GrantContext<'_>,
    request: &TokenExchangeRequest,
) -> Result<(), OAuthError> {
    let sent = [
        ("resource", !ctx.requested_resource.is_empty()),
        ("scope", ctx.params.contains("scope")),
        ("actor_token", request.actor.is_some()),
    ];
    if let Some((unsupported, _)) = sent.iter().find(|(_, sent)| *sent) {
        return Err(OAuthError::invalid_request(format!(
            "{unsupported} is not accepted here: name the connection with audience"
        )));
    }
    if request.subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
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
