//! The third party's answer to a connect authorization request (`GET /connect/callback`,
//! RFC 6749 §4.1.2, RFC 9207), free of HTTP types.

use mcp_auth_core::store::{ElicitationStatus, PendingElicitation};
use mcp_auth_core::{FormParams, TokenHash, UnixTime};

use super::connect_link::{Viewer, viewer};
use crate::connections::{Connection, ConnectionError, Connections};
use crate::server::AuthorizationServer;

/// Why a callback that passed the checks did not connect the account; the elicitation is
/// failed and its waiters woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackFailure {
    /// The third party answered `error=access_denied`: the user said no.
    AccessDenied,
    /// The third party answered another `error`.
    Refused,
    /// Neither `error` nor `code`.
    NoCode,
    /// The code redemption at the third party failed.
    RedemptionFailed,
}

/// What [`AuthorizationServer::connect_callback`] did. Only [`CallbackOutcome::Failed`] and
/// [`CallbackOutcome::Connected`] spent the `state`.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// No `state` parameter (`400`).
    NoState,
    /// The `state` is unknown, spent or expired (`400`, ELIC-CB-03).
    UnknownState,
    /// The `state` belongs to another user's elicitation (`403`; the state stays for its owner).
    OtherAccount,
    /// The elicitation's connection is no longer configured (`410`).
    ConnectionGone,
    /// The third party's metadata cannot be had (`502`; the state stays).
    Unreachable {
        /// The connection's configured name.
        name: String,
        /// The connection's display name.
        display_name: String,
        /// What failed (for the log).
        error: ConnectionError,
    },
    /// `iss` is not the connection's issuer (RFC 9207 mix-up; `400`, the state stays).
    WrongIssuer,
    /// No `iss` although the third party says it sends it (`400`, the state stays).
    MissingIssuer,
    /// The elicitation `id` failed for `reason`.
    Failed {
        /// The failed elicitation (for "Try again").
        id: String,
        /// The connection's display name.
        display_name: String,
        /// Why.
        reason: CallbackFailure,
    },
    /// The tokens are sealed in the vault, the elicitation completed (ELIC-CB-04).
    Connected {
        /// The connection's display name.
        display_name: String,
    },
}

impl AuthorizationServer {
    /// The callback with query `params` in the browser of the signed-in user `session_sub`
    /// at `now`. The `state` must be outstanding and the user the elicitation's; `iss` must
    /// equal the connection's issuer when present, and be present when the third party says
    /// it sends it. Only a callback that passed these checks spends the `state` (one guarded
    /// statement, so of racing callbacks exactly one gets past it); then `error` fails the
    /// elicitation, else the code is redeemed and the tokens sealed. The token response never
    /// leaves this function (ELIC-CB-08).
    ///
    /// # Errors
    /// A store failure ([`ConnectionError::Store`]).
    pub async fn connect_callback(
        &self,
        params: &FormParams,
        session_sub: &str,
        now: UnixTime,
    ) -> Result<CallbackOutcome, ConnectionError> {
        let Some(oauth_state) = params.get("state") else {
            return Ok(CallbackOutcome::NoState);
        };
        let Some(connections) = self.inner.connections.as_ref() else {
            return Ok(CallbackOutcome::ConnectionGone);
        };
        let state_hash = TokenHash::of(oauth_state);
        let (e, connection) = match self
            .accept_callback(connections, params, &state_hash, session_sub, now)
            .await?
        {
            Ok(accepted) => accepted,
            Err(refused) => return Ok(refused),
        };
        let elicitations = &self.inner.stores.elicitations;
        let display_name = connection.display_name.clone();
        // Accepted for its owner: only now is the state spent. A refused attempt above left it
        // to the owner.
        if !elicitations.spend_state(&e.id, &state_hash, now).await? {
            tracing::info!("connect callback with a state spent meanwhile");
            return Ok(CallbackOutcome::UnknownState);
        }
        let reason = if let Some(error) = params.get("error") {
            let error = if error
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                error
            } else {
                "invalid"
            };
            tracing::info!(connection = %connection.name, error = %error, "the third party refused the authorization");
            if error == "access_denied" {
                CallbackFailure::AccessDenied
            } else {
                CallbackFailure::Refused
            }
        } else if let (Some(code), Some(verifier)) = (params.get("code"), e.code_verifier.as_ref())
        {
            match connections
                .finish_authorization(&e.iss, &e.sub, connection, code, verifier, now)
                .await
            {
                Ok(()) => {
                    elicitations
                        .finish(&e.id, ElicitationStatus::Completed, now)
                        .await?;
                    connections.completion.finished();
                    tracing::info!(connection = %connection.name, "third-party account connected");
                    return Ok(CallbackOutcome::Connected { display_name });
                }
                Err(err) => {
                    tracing::warn!(connection = %connection.name, error = %err, "code redemption at the third party failed");
                    CallbackFailure::RedemptionFailed
                }
            }
        } else {
            CallbackFailure::NoCode
        };
        elicitations
            .finish(&e.id, ElicitationStatus::Failed, now)
            .await?;
        connections.completion.finished();
        Ok(CallbackOutcome::Failed {
            id: e.id,
            display_name,
            reason,
        })
    }

    /// The checks before a callback may spend its `state`: outstanding, for the signed-in
    /// owner, its connection configured and reachable, `iss` as RFC 9207 wants it. `Err` is
    /// the refusal to answer with (nothing changed).
    async fn accept_callback<'c>(
        &self,
        connections: &'c Connections,
        params: &FormParams,
        state_hash: &TokenHash,
        session_sub: &str,
        now: UnixTime,
    ) -> Result<Result<(PendingElicitation, &'c Connection), CallbackOutcome>, ConnectionError>
    {
        let Some(e) = self
            .inner
            .stores
            .elicitations
            .find_state(state_hash, now)
            .await?
        else {
            tracing::info!("connect callback with an unknown, used or expired state");
            return Ok(Err(CallbackOutcome::UnknownState));
        };
        if viewer(&self.inner.settings.issuer, Some(session_sub), &e) != Viewer::Owner {
            tracing::info!("connect callback for another account; refused");
            return Ok(Err(CallbackOutcome::OtherAccount));
        }
        let Some(connection) = connections.get(&e.connection) else {
            return Ok(Err(CallbackOutcome::ConnectionGone));
        };
        let endpoints = match connections.endpoints(connection).await {
            Ok(x) => x,
            Err(error) => {
                return Ok(Err(CallbackOutcome::Unreachable {
                    name: connection.name.clone(),
                    display_name: connection.display_name.clone(),
                    error,
                }));
            }
        };
        match (params.get("iss"), connection.issuer_str()) {
            (Some(got), Some(want)) if got == want => {}
            (Some(_), _) => {
                tracing::warn!(connection = %connection.name, "connect callback with a wrong iss (RFC 9207); refused");
                return Ok(Err(CallbackOutcome::WrongIssuer));
            }
            (None, _) if endpoints.iss_parameter_supported => {
                tracing::warn!(connection = %connection.name, "connect callback without iss (RFC 9207); refused");
                return Ok(Err(CallbackOutcome::MissingIssuer));
            }
            (None, _) => {}
        }
        Ok(Ok((e, connection)))
    }
}
