use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;
use crate::secret::{Secret, TokenHash};
use crate::types::ResourceUri;

use super::lock;

/// Where a pending elicitation stands (spec §7.4 "Data model").
///
/// `Pending` → `InProgress` (the user approved and was sent to the third party, or opened the
/// secret form) → `Completed` or `Failed`; `Cancelled` when the user declined. Expiry is not a
/// stored status: an entry whose `expires_at` has passed reads as expired whatever its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElicitationStatus {
    /// Created; nobody has acted on the link yet.
    Pending,
    /// The user approved; the third-party authorization (or the secret form) is under way.
    InProgress,
    /// The credential is in the vault.
    Completed,
    /// The third party refused, or the code could not be redeemed.
    Failed,
    /// The user declined on the consent page.
    Cancelled,
}

impl ElicitationStatus {
    /// The stored and wire spelling: `pending`, `in_progress`, `completed`, `failed`,
    /// `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parse [`Self::as_str`]'s spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "in_progress" => Self::InProgress,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the elicitation can still move (pending or in progress).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }
}

/// A URL-mode elicitation created for one user, MCP client, connection and MCP server
/// (spec §7.4, ELIC-07, ELIC-08, ELIC-R2-08). Its `id` is the only thing in its URL
/// (`{issuer}/connect/{id}`, ELIC-09, ELIC-CB-06).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingElicitation {
    /// The public handle: at least 128 bits from a CSPRNG, URL-safe characters only.
    pub id: String,
    /// Issuer of the user's identity (the MCP access token's `iss`).
    pub iss: String,
    /// The user (the MCP access token's `sub`).
    pub sub: String,
    /// The MCP client's `client_id` (the access token's `client_id`).
    pub client_id: String,
    /// The connection's configured name, e.g. `calendar`.
    pub connection: String,
    /// The MCP server the access token was issued for (its `aud`).
    pub resource: ResourceUri,
    /// The `client_id` the MCP server authenticated as when it asked (only it may wait for
    /// the elicitation's completion).
    pub requested_by: String,
    /// Where it stands.
    pub status: ElicitationStatus,
    /// Created, seconds since the epoch.
    pub created_at: UnixTime,
    /// Expires, seconds since the epoch (default 15 minutes after creation, ELIC-17).
    pub expires_at: UnixTime,
    /// SHA-256 of the single-use `state` sent to the third party, while one is outstanding.
    pub state_hash: Option<TokenHash>,
    /// The PKCE `code_verifier` that goes with `state_hash`.
    pub code_verifier: Option<Secret>,
    /// When it reached `Completed`, `Failed` or `Cancelled`.
    pub finished_at: Option<UnixTime>,
}

impl PendingElicitation {
    /// Whether it has expired at `now` (`expires_at <= now`).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires_at <= now
    }

    /// Whether a user can still act on it at `now`: open and not expired.
    pub fn is_actionable(&self, now: UnixTime) -> bool {
        self.status.is_open() && !self.is_expired(now)
    }
}

impl std::fmt::Debug for PendingElicitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingElicitation")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("client_id", &self.client_id)
            .field("connection", &self.connection)
            .field("resource", &self.resource)
            .field("status", &self.status)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Pending URL-mode elicitations.
///
/// Contract (every method is one atomic step; across nodes on a shared database too):
/// - `insert` adds a new entry; an existing `id` is an error.
/// - `get` returns the entry whatever its status or expiry.
/// - `find_open` returns the newest open, unexpired entry for exactly (`iss`, `sub`,
///   `client_id`, `connection`, `resource`), so repeated asks reuse one link.
/// - `count_open_for_subject` counts a user's open, unexpired entries (for a creation limit).
/// - `begin` moves an open, unexpired entry to `InProgress` with a fresh `state_hash` and
///   `code_verifier`, replacing any earlier ones (an earlier `state` stops working); `false`
///   when the entry is unknown, finished or expired.
/// - `find_state` returns the `InProgress`, unexpired entry holding `state_hash`, changing
///   nothing: a callback is checked (its user, its `iss`) before its `state` is spent, so a
///   refused attempt leaves the `state` to its owner.
/// - `spend_state` clears the state and verifier of entry `id` if it is still `InProgress`,
///   unexpired and holding `state_hash`, in one guarded step; `true` for the one caller that
///   cleared it, `false` for every other (spent already, replaced by a later `begin`, finished,
///   expired, unknown): a `state` is good once, however many callers race.
/// - `finish` moves an open entry to `Completed`, `Failed` or `Cancelled` and stamps
///   `finished_at`; `false` when it was unknown or already finished (an open-status argument
///   is refused with `false`). It does not look at expiry: a completed callback just after
///   expiry still records what happened.
/// - `purge_expired` deletes entries that expired more than a day before `now`.
#[async_trait]
pub trait ElicitationStore: Send + Sync {
    /// Store a new elicitation.
    async fn insert(&self, elicitation: &PendingElicitation) -> Result<(), StoreError>;
    /// The elicitation with this id.
    async fn get(&self, id: &str) -> Result<Option<PendingElicitation>, StoreError>;
    /// The newest open, unexpired elicitation for this exact binding.
    async fn find_open(
        &self,
        binding: &ElicitationBinding<'_>,
        now: UnixTime,
    ) -> Result<Option<PendingElicitation>, StoreError>;
    /// How many open, unexpired elicitations the user has.
    async fn count_open_for_subject(
        &self,
        iss: &str,
        sub: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// Move to `InProgress` with this state and verifier.
    async fn begin(
        &self,
        id: &str,
        state_hash: &TokenHash,
        code_verifier: &Secret,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// The entry whose outstanding `state` this is, unchanged; `None` when there is none.
    async fn find_state(
        &self,
        state_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PendingElicitation>, StoreError>;
    /// Spend the `state` of entry `id`: `true` when this call spent it.
    async fn spend_state(
        &self,
        id: &str,
        state_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Record the outcome.
    async fn finish(
        &self,
        id: &str,
        status: ElicitationStatus,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Delete entries that expired more than a day ago; returns how many.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// What an elicitation is bound to, for [`ElicitationStore::find_open`].
#[derive(Debug, Clone, Copy)]
pub struct ElicitationBinding<'a> {
    /// Issuer of the user's identity.
    pub iss: &'a str,
    /// The user.
    pub sub: &'a str,
    /// The MCP client.
    pub client_id: &'a str,
    /// The connection.
    pub connection: &'a str,
    /// The MCP server.
    pub resource: &'a ResourceUri,
}

/// A day, the time an expired elicitation is kept before [`ElicitationStore::purge_expired`]
/// deletes it, seconds.
pub const ELICITATION_RETENTION: i64 = 86_400;

/// Whether `e` is `InProgress`, unexpired at `now` and holds `state_hash`.
fn holds_state(e: &PendingElicitation, state_hash: &TokenHash, now: UnixTime) -> bool {
    e.status == ElicitationStatus::InProgress
        && !e.is_expired(now)
        && e.state_hash.as_ref() == Some(state_hash)
}

/// In-memory [`ElicitationStore`].
///
/// The reference implementation of the [`ElicitationStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryElicitationStore(Mutex<HashMap<String, PendingElicitation>>);

#[async_trait]
impl ElicitationStore for MemoryElicitationStore {
    async fn insert(&self, elicitation: &PendingElicitation) -> Result<(), StoreError> {
        let mut map = lock(&self.0);
        if map.contains_key(&elicitation.id) {
            return Err(StoreError::conflict("elicitation id exists"));
        }
        map.insert(elicitation.id.clone(), elicitation.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<PendingElicitation>, StoreError> {
        Ok(lock(&self.0).get(id).cloned())
    }

    async fn find_open(
        &self,
        b: &ElicitationBinding<'_>,
        now: UnixTime,
    ) -> Result<Option<PendingElicitation>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .filter(|e| {
                e.is_actionable(now)
                    && e.iss == b.iss
                    && e.sub == b.sub
                    && e.client_id == b.client_id
                    && e.connection == b.connection
                    && &e.resource == b.resource
            })
            .max_by(|a, b| {
                a.created_at
                    .cmp(&b.created_at)
                    .then_with(|| a.id.cmp(&b.id))
            })
            .cloned())
    }

    async fn count_open_for_subject(
        &self,
        iss: &str,
        sub: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        Ok(lock(&self.0)
            .values()
            .filter(|e| e.is_actionable(now) && e.iss == iss && e.sub == sub)
            .count() as u64)
    }

    async fn begin(
        &self,
        id: &str,
        state_hash: &TokenHash,
        code_verifier: &Secret,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        match map.get_mut(id) {
            Some(e) if e.is_actionable(now) => {
                e.status = ElicitationStatus::InProgress;
                e.state_hash = Some(state_hash.clone());
                e.code_verifier = Some(code_verifier.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn find_state(
        &self,
        state_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PendingElicitation>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .find(|e| holds_state(e, state_hash, now))
            .cloned())
    }

    async fn spend_state(
        &self,
        id: &str,
        state_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        match map.get_mut(id) {
            Some(e) if holds_state(e, state_hash, now) => {
                e.state_hash = None;
                e.code_verifier = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn finish(
        &self,
        id: &str,
        status: ElicitationStatus,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if status.is_open() {
            return Ok(false);
        }
        let mut map = lock(&self.0);
        match map.get_mut(id) {
            Some(e) if e.status.is_open() => {
                e.status = status;
                e.finished_at = Some(now);
                e.state_hash = None;
                e.code_verifier = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|_, e| e.expires_at + ELICITATION_RETENTION > now);
        Ok((before - map.len()) as u64)
    }
}
