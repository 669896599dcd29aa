//! Opening a URL-mode elicitation (spec §7.4): the one place that creates one, for
//! `/connect/token` ([`super::connect_token`]) and for the "Try again" button of the connect
//! failure page ([`AuthorizationServer::retry_connection`]).

use mcp_auth_core::store::{ElicitationBinding, ElicitationStatus, PendingElicitation};
use mcp_auth_core::{ErrorCode, OAuthError};

use super::connect_token::{ELICITATION_TTL, MAX_OPEN_ELICITATIONS_PER_USER};
use crate::server::AuthorizationServer;

/// Random bytes in an elicitation id: 32 (256 bits), unpadded base64url.
const ELICITATION_ID_BYTES: usize = 32;

/// What [`AuthorizationServer::retry_connection`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// An open elicitation for the same user, MCP client, connection and MCP server: the
    /// failed one's successor, or one already open. Its id goes into `/connect/{id}`.
    Opened(String),
    /// The account is already connected through this elicitation: nothing to try again.
    AlreadyConnected,
    /// No such elicitation, or its connection is no longer configured.
    NotFound,
    /// The elicitation belongs to another user.
    OtherAccount,
}

impl AuthorizationServer {
    /// The open elicitation for `binding`, or a new one (expiring [`ELICITATION_TTL`] seconds
    /// after `now`, its id 256 random bits) asked for by the MCP server `requested_by`.
    ///
    /// # Errors
    /// `429 rate_limited` when the user already has [`MAX_OPEN_ELICITATIONS_PER_USER`] open
    /// elicitations (ELIC-18); a store failure.
    pub(crate) async fn open_elicitation(
        &self,
        binding: &ElicitationBinding<'_>,
        requested_by: &str,
        now: i64,
    ) -> Result<PendingElicitation, OAuthError> {
        let store = &self.inner.stores.elicitations;
        if let Some(open) = store.find_open(binding, now).await? {
            return Ok(open);
        }
        let open = store
            .count_open_for_subject(binding.iss, binding.sub, now)
            .await?;
        if open >= MAX_OPEN_ELICITATIONS_PER_USER {
            return Err(OAuthError::new(
                ErrorCode::RateLimited,
                "this user has too many unfinished connection requests",
            )
            .with_retry_after(60));
        }
        let elicitation = PendingElicitation {
            id: self.inner.secrets.identifier("", ELICITATION_ID_BYTES),
            iss: binding.iss.to_owned(),
            sub: binding.sub.to_owned(),
            client_id: binding.client_id.to_owned(),
            connection: binding.connection.to_owned(),
            resource: binding.resource.clone(),
            requested_by: requested_by.to_owned(),
            status: ElicitationStatus::Pending,
            created_at: now,
            expires_at: now + ELICITATION_TTL,
            state_hash: None,
            code_verifier: None,
            finished_at: None,
        };
        store.insert(&elicitation).await?;
        tracing::info!(
            connection = %binding.connection,
            client_id = %requested_by,
            "connection elicitation created"
        );
        Ok(elicitation)
    }

    /// The "Try again" of a connect failure page: for the user (`iss`, `sub`, from the
    /// session only) who owns the elicitation `id` that failed, was cancelled or expired, an
    /// open elicitation for the same MCP client, connection and MCP server (the one already
    /// open, or a new one asked for by the same MCP server). An elicitation still open is its
    /// own answer. The MCP server learns of the outcome as of any elicitation: the vault holds
    /// the credential its next `/connect/token` hands out.
    ///
    /// # Errors
    /// As [`Self::open_elicitation`].
    pub async fn retry_connection(
        &self,
        id: &str,
        iss: &str,
        sub: &str,
        now: i64,
    ) -> Result<RetryOutcome, OAuthError> {
        let Some(previous) = self.inner.stores.elicitations.get(id).await? else {
            return Ok(RetryOutcome::NotFound);
        };
        if previous.iss != iss || previous.sub != sub {
            return Ok(RetryOutcome::OtherAccount);
        }
        if previous.status == ElicitationStatus::Completed {
            return Ok(RetryOutcome::AlreadyConnected);
        }
        if previous.is_actionable(now) {
            return Ok(RetryOutcome::Opened(previous.id));
        }
        let configured = self
            .inner
            .connections
            .as_ref()
            .is_some_and(|c| c.get(&previous.connection).is_some());
        if !configured {
            return Ok(RetryOutcome::NotFound);
        }
        let binding = ElicitationBinding {
            iss,
            sub,
            client_id: &previous.client_id,
            connection: &previous.connection,
            resource: &previous.resource,
        };
        let opened = self
            .open_elicitation(&binding, &previous.requested_by, now)
            .await?;
        tracing::info!(connection = %previous.connection, "connection tried again by its user");
        Ok(RetryOutcome::Opened(opened.id))
    }
}
