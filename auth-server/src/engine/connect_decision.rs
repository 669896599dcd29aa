//! The user's decision on an open connect link (`POST /connect/{id}`, spec §7.4), free of
//! HTTP types: cancel, approve an oauth connection (a fresh single-use `state` and PKCE
//! verifier, ELIC-CB-07), or store an api_key connection's key.

use mcp_auth_core::store::{ElicitationStatus, PendingElicitation};
use mcp_auth_core::{Secret, TokenHash, UnixTime};

use crate::connections::{ConnectionError, ConnectionKind};
use crate::server::AuthorizationServer;

/// What the user chose on the connect page.
#[derive(Debug, Clone, Copy)]
pub enum ConnectDecision<'a> {
    /// "Cancel".
    Cancel,
    /// "Approve"; for an api_key connection with the key the user typed (`None` when the form
    /// had none).
    Approve {
        /// The `api_key` form field.
        api_key: Option<&'a str>,
    },
}

/// What [`AuthorizationServer::connect_decision`] did.
#[derive(Debug)]
pub enum DecisionOutcome {
    /// Finished as cancelled, waiters woken.
    Cancelled,
    /// An oauth connection: send the browser to the third party's authorization URL (the
    /// state's hash and the verifier are stored with the elicitation).
    SendTo(url::Url),
    /// An api_key connection: the key is sealed in the vault, the elicitation completed.
    Connected,
    /// The key is not 1 to 4096 visible characters; nothing changed.
    InvalidApiKey,
    /// The elicitation finished meanwhile, or its connection is gone; nothing changed.
    AlreadyFinished,
    /// The third party's metadata cannot be had; nothing changed.
    Unreachable(ConnectionError),
}

impl AuthorizationServer {
    /// Apply the owner's `decision` on the open elicitation `e` (from [`Self::connect_link`])
    /// at `now`.
    ///
    /// # Errors
    /// A store or vault failure ([`ConnectionError::Store`] for the store: the pages answer
    /// `503`); nothing half-done is visible: the vault write comes before the elicitation is
    /// completed.
    pub async fn connect_decision(
        &self,
        e: &PendingElicitation,
        decision: ConnectDecision<'_>,
        now: UnixTime,
    ) -> Result<DecisionOutcome, ConnectionError> {
        let Some(connections) = self.inner.connections.as_ref() else {
            return Ok(DecisionOutcome::AlreadyFinished);
        };
        let Some(connection) = connections.get(&e.connection) else {
            return Ok(DecisionOutcome::AlreadyFinished);
        };
        let elicitations = &self.inner.stores.elicitations;
        let api_key = match decision {
            ConnectDecision::Cancel => {
                elicitations
                    .finish(&e.id, ElicitationStatus::Cancelled, now)
                    .await?;
                connections.completion.finished();
                return Ok(DecisionOutcome::Cancelled);
            }
            ConnectDecision::Approve { api_key } => api_key,
        };
        if connection.kind == ConnectionKind::OAuth {
            // 256 bits from the server's generator; only its hash is stored.
            let oauth_state = self.inner.secrets.secret("", 32);
            let start = match connections
                .start_authorization(connection, &oauth_state)
                .await
            {
                Ok(s) => s,
                Err(err) => return Ok(DecisionOutcome::Unreachable(err)),
            };
            let hash = TokenHash::of(oauth_state.expose());
            if !elicitations
                .begin(&e.id, &hash, &start.code_verifier, now)
                .await?
            {
                return Ok(DecisionOutcome::AlreadyFinished);
            }
            tracing::info!(connection = %connection.name, "sending the user to the third party");
            return Ok(DecisionOutcome::SendTo(start.url));
        }
        let key = api_key.unwrap_or_default();
        if !crate::connections::is_valid_api_key(key) {
            return Ok(DecisionOutcome::InvalidApiKey);
        }
        connections
            .store_api_key(&e.iss, &e.sub, &e.connection, &Secret::new(key), now)
            .await?;
        elicitations
            .finish(&e.id, ElicitationStatus::Completed, now)
            .await?;
        connections.completion.finished();
        tracing::info!(connection = %e.connection, "api key connected");
        Ok(DecisionOutcome::Connected)
    }
}
