//! The token vault as a service: a user's third-party credential sealed with the
//! [`VaultKeyring`] (AES-256-GCM, bound to (`iss`, `sub`, connection)) and kept in the
//! [`VaultStore`]; opened on demand, refreshed when expired, sealed again under the current key
//! after a rotation.
//!
//! Every write that follows a read (refresh, reseal, forgetting a dead entry, removal) is a
//! compare-and-swap against the entry read ([`VaultStore::replace`], [`VaultStore::delete_if`]),
//! so concurrent writers on any node never undo each other; only a connect overwrites
//! unconditionally. An entry that does not open counts as not connected.
//!
//! The plaintext is JSON: `{"kind":"oauth","access_token":…,"refresh_token":…,"expires_at":…,
//! "scope":…}` or `{"kind":"api_key","api_key":…}`. It never leaves this module except as a
//! [`Credential`] (redacted `Debug`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mcp_auth_core::store::{SealedEntry, VaultStore};
use mcp_auth_core::vault::{VaultKeyring, VaultSlot};
use mcp_auth_core::{Secret, UnixTime};
use serde::{Deserialize, Serialize};

use super::ConnectionError;
use super::audit::VaultAudit;
use super::registry::{Connection, ConnectionKind, Registry};
use super::third_party::{self, ThirdPartyHttp, Tokens};

/// An access token counts as expired this many seconds before its `expires_at`.
pub const EXPIRY_SKEW: i64 = 30;

/// A usable credential for one user and connection. `Debug` never prints `value`.
#[derive(Clone)]
pub struct Credential {
    /// The third party's access token (oauth) or the API key (api_key).
    pub value: Secret,
    /// What it is.
    pub kind: ConnectionKind,
    /// When the access token expires, seconds since the epoch (oauth, when known).
    pub expires_at: Option<i64>,
    /// The scope the third party granted (oauth, when it said).
    pub scope: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("value", &"[redacted]")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The sealed plaintext.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Plain {
    pub(crate) kind: ConnectionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) api_key: Option<String>,
}

impl Plain {
    pub(crate) fn from_tokens(tokens: &Tokens, now: UnixTime) -> Self {
        Self {
            kind: ConnectionKind::OAuth,
            access_token: Some(tokens.access_token.expose().to_owned()),
            refresh_token: tokens.refresh_token.as_ref().map(|t| t.expose().to_owned()),
            expires_at: tokens
                .expires_in
                .map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))),
            scope: tokens.scope.clone(),
            api_key: None,
        }
    }

    fn credential(&self) -> Option<Credential> {
        match self.kind {
            ConnectionKind::OAuth => Some(Credential {
                value: Secret::new(self.access_token.clone()?),
                kind: ConnectionKind::OAuth,
                expires_at: self.expires_at,
                scope: self.scope.clone(),
            }),
            ConnectionKind::ApiKey => Some(Credential {
                value: Secret::new(self.api_key.clone()?),
                kind: ConnectionKind::ApiKey,
                expires_at: None,
                scope: None,
            }),
        }
    }

    fn is_expired(&self, now: UnixTime) -> bool {
        self.expires_at
            .is_some_and(|e| e <= now.saturating_add(EXPIRY_SKEW))
    }
}

type SlotKey = (String, String, String);

/// How many times [`VaultService::remove`] revokes and conditionally deletes an entry that
/// other nodes keep replacing before it deletes the slot unconditionally.
pub const REMOVE_ROUNDS: usize = 3;

/// The credential of `plain` when it is of `kind` and has not expired at `now`.
fn usable(plain: &Plain, kind: ConnectionKind, now: UnixTime) -> Option<Credential> {
    (plain.kind == kind && !plain.is_expired(now))
        .then(|| plain.credential())
        .flatten()
}

/// Seals, stores, opens and refreshes vault entries.
pub struct VaultService {
    keyring: VaultKeyring,
    store: Arc<dyn VaultStore>,
    registry: Arc<Registry>,
    http: ThirdPartyHttp,
    redirect_uri: String,
    /// One refresh at a time per slot on this node, so two concurrent calls do not spend a
    /// rotating refresh token twice.
    refreshing: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Where connections added, removed and refreshed are recorded (issue 25 §2).
    pub(super) audit: VaultAudit,
}

impl std::fmt::Debug for VaultService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultService")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

impl VaultService {
    pub(crate) fn new(
        keyring: VaultKeyring,
        store: Arc<dyn VaultStore>,
        registry: Arc<Registry>,
        http: ThirdPartyHttp,
        redirect_uri: String,
    ) -> Self {
        Self {
            keyring,
            store,
            registry,
            http,
            redirect_uri,
            refreshing: Mutex::new(HashMap::new()),
            audit: VaultAudit::default(),
        }
    }

    /// The keyring.
    pub fn keyring(&self) -> &VaultKeyring {
        &self.keyring
    }

    /// The store of sealed entries.
    pub fn store(&self) -> &Arc<dyn VaultStore> {
        &self.store
    }

    /// Seal `plain` for (`iss`, `sub`, `connection`) under the current key.
    fn seal(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
        plain: &Plain,
        now: UnixTime,
    ) -> Result<SealedEntry, ConnectionError> {
        let json = Secret::new(serde_json::to_string(plain).map_err(|_| ConnectionError::Corrupt)?);
        let slot = VaultSlot::new(iss, sub, connection);
        self.keyring
            .seal(&slot, json.expose().as_bytes(), now)
            .map_err(ConnectionError::Vault)
    }

    /// Seal `plain` for (`iss`, `sub`, `connection`) under the current key and store it,
    /// replacing any earlier entry of that slot (a connect: the user's latest grant wins).
    pub(crate) async fn put(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
        plain: &Plain,
        now: UnixTime,
    ) -> Result<(), ConnectionError> {
        let entry = self.seal(iss, sub, connection, plain, now)?;
        self.store
            .put(&entry)
            .await
            .map_err(ConnectionError::Store)?;
        self.audit.added(sub, connection, plain.kind.as_str()).await;
        Ok(())
    }

    /// Store an API key for (`iss`, `sub`, `connection`).
    ///
    /// # Errors
    /// [`ConnectionError::Vault`] or [`ConnectionError::Store`].
    pub async fn put_api_key(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
        key: &Secret,
        now: UnixTime,
    ) -> Result<(), ConnectionError> {
        let plain = Plain {
            kind: ConnectionKind::ApiKey,
            access_token: None,
            refresh_token: None,
            expires_at: None,
            scope: None,
            api_key: Some(key.expose().to_owned()),
        };
        self.put(iss, sub, connection, &plain, now).await
    }

    /// Open an entry.
    pub(crate) fn open(&self, entry: &SealedEntry) -> Result<Plain, ConnectionError> {
        let json = self.keyring.open(entry).map_err(ConnectionError::Vault)?;
        serde_json::from_str(json.expose()).map_err(|_| ConnectionError::Corrupt)
    }

    /// The stored, opened entry of a slot.
    ///
    /// An entry that is stored but does not open (sealed under a key id no longer configured,
    /// tag failure, plaintext that is no credential) counts as no entry: a warning naming the
    /// connection and the key id (never any bytes) is logged and the answer is `None`, so the
    /// user is asked to connect again and that connect overwrites it. It is not deleted here:
    /// another node may still hold its key during a key rotation.
    pub(crate) async fn get(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<Option<(Plain, SealedEntry)>, ConnectionError> {
        let Some(entry) = self
            .store
            .get(iss, sub, connection)
            .await
            .map_err(ConnectionError::Store)?
        else {
            return Ok(None);
        };
        Ok(self.open_or_warn(&entry).map(|plain| (plain, entry)))
    }

    /// [`Self::open`], logging a failure (connection, key id, reason; never bytes) as `None`.
    fn open_or_warn(&self, entry: &SealedEntry) -> Option<Plain> {
        match self.open(entry) {
            Ok(plain) => Some(plain),
            Err(e) => {
                tracing::warn!(
                    connection = %entry.connection,
                    key_id = %entry.key_id,
                    error = %e,
                    "a vault entry does not open; treating it as not connected"
                );
                None
            }
        }
    }

    /// The usable credential of user (`iss`, `sub`) for `connection` at `now`, or `None` when
    /// the user has not connected it (then an elicitation is in order).
    ///
    /// An OAuth access token that has expired (or expires within [`EXPIRY_SKEW`] seconds) is
    /// first refreshed with the stored refresh token (one refresh per slot at a time on this
    /// node). Every write back is a compare-and-swap against the entry that was read
    /// ([`VaultStore::replace`] / [`VaultStore::delete_if`]), so a refresh never undoes a
    /// concurrent removal, reconnect or another node's refresh:
    /// - the refreshed tokens are stored with `replace(old, new)`; when that loses and the slot
    ///   is now empty (the user removed the connection meanwhile) the answer is `Ok(None)` and
    ///   the tokens just obtained are revoked at the third party (best effort; the refresh
    ///   token only when the third party issued a new one); when another writer stored
    ///   something else, that entry is used if it opens and has not expired, else `Ok(None)`
    ///   (the tokens just obtained are dropped);
    /// - when the third party refuses the refresh (`invalid_grant`), or there is no refresh
    ///   token, the entry is deleted only if it is still the one read (`delete_if`); if another
    ///   writer replaced it, that entry is used when usable; the answer is otherwise
    ///   `Ok(None)`;
    /// - an entry sealed under an old key is sealed again under the current one with
    ///   `replace` (a lost race leaves the winner's entry in place);
    /// - an entry that does not open is no credential (see [`Self::get`]): `Ok(None)`.
    ///
    /// # Errors
    /// [`ConnectionError::UnknownConnection`]; [`ConnectionError::Store`];
    /// [`ConnectionError::Vault`] when sealing the refreshed tokens fails;
    /// [`ConnectionError::ThirdParty`] / [`ConnectionError::Discovery`] when a needed refresh
    /// cannot be done now (the entry is kept).
    pub async fn credential(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
        now: UnixTime,
    ) -> Result<Option<Credential>, ConnectionError> {
        let Some(conn) = self.registry.get(connection) else {
            return Err(ConnectionError::UnknownConnection(connection.to_owned()));
        };
        let Some((plain, entry)) = self.get(iss, sub, connection).await? else {
            return Ok(None);
        };
        if plain.kind != conn.kind {
            // The connection's kind changed in the configuration: the entry is of no use.
            self.delete_if(&entry).await?;
            return Ok(None);
        }
        if !plain.is_expired(now) {
            if self.keyring.needs_reseal(&entry) {
                let resealed = self.seal(iss, sub, connection, &plain, now)?;
                // A lost race means another writer stored a newer entry: keep it.
                self.store
                    .replace(&entry, &resealed)
                    .await
                    .map_err(ConnectionError::Store)?;
            }
            return Ok(plain.credential());
        }
        self.refresh_locked(iss, sub, conn, now).await
    }

    /// [`Self::credential`] for an expired entry: under the slot's lock, read it again and
    /// refresh it at the third party unless another call already did.
    async fn refresh_locked(
        &self,
        iss: &str,
        sub: &str,
        conn: &Connection,
        now: UnixTime,
    ) -> Result<Option<Credential>, ConnectionError> {
        let connection = conn.name.as_str();
        let lock = self.slot_lock(iss, sub, connection);
        let _held = lock.lock().await;
        // Another call may have refreshed while this one waited.
        let Some((plain, entry)) = self.get(iss, sub, connection).await? else {
            return Ok(None);
        };
        if plain.kind != conn.kind {
            self.delete_if(&entry).await?;
            return Ok(None);
        }
        if !plain.is_expired(now) {
            return Ok(plain.credential());
        }
        let Some(refresh_token) = plain.refresh_token.clone().map(Secret::new) else {
            return self.drop_dead(&entry, now).await;
        };
        let endpoints = conn.endpoints(&self.http).await?;
        match third_party::refresh(
            &self.http,
            conn,
            &endpoints,
            &self.redirect_uri,
            &refresh_token,
        )
        .await
        {
            Ok(tokens) => {
                let mut fresh = Plain::from_tokens(&tokens, now);
                if fresh.refresh_token.is_none() {
                    // RFC 6749 §6: no new refresh token, the old one stays valid.
                    fresh.refresh_token = plain.refresh_token.clone();
                }
                if fresh.scope.is_none() {
                    fresh.scope = plain.scope.clone();
                }
                self.store_refreshed(iss, sub, conn, &entry, fresh, &tokens, now)
                    .await
            }
            Err(ConnectionError::GrantRefused) => {
                tracing::info!(connection = %connection, "third-party refresh refused; the user must connect again");
                self.drop_dead(&entry, now).await
            }
            Err(e) => Err(e),
        }
    }

    /// Seal `fresh` (from the refresh that answered `tokens`) in place of `entry`. When another
    /// writer replaced `entry` meanwhile, its entry is used when usable; when the connection was
    /// removed meanwhile, what this refresh obtained is revoked.
    #[allow(clippy::too_many_arguments)]
    async fn store_refreshed(
        &self,
        iss: &str,
        sub: &str,
        conn: &Connection,
        entry: &SealedEntry,
        fresh: Plain,
        tokens: &Tokens,
        now: UnixTime,
    ) -> Result<Option<Credential>, ConnectionError> {
        let connection = conn.name.as_str();
        let sealed = self.seal(iss, sub, connection, &fresh, now)?;
        if self
            .store
            .replace(entry, &sealed)
            .await
            .map_err(ConnectionError::Store)?
        {
            self.audit.refreshed(sub, connection).await;
            return Ok(fresh.credential());
        }
        // Another writer won while the third party answered.
        match self.get(iss, sub, connection).await? {
            None => {
                tracing::info!(connection = %connection, "the connection was removed during a refresh; revoking the new tokens");
                // Only what this refresh obtained: a refresh token the third party
                // did not rotate is the removed entry's own, revoked by the removal.
                let orphan = Plain {
                    refresh_token: tokens.refresh_token.as_ref().map(|t| t.expose().to_owned()),
                    ..fresh
                };
                self.revoke_best_effort(conn, &orphan).await;
                Ok(None)
            }
            Some((current, _)) => Ok(usable(&current, conn.kind, now)),
        }
    }

    /// Delete `entry`, which holds no usable credential, unless another writer replaced it
    /// meanwhile; then use the replacement when it is usable at `now`.
    async fn drop_dead(
        &self,
        entry: &SealedEntry,
        now: UnixTime,
    ) -> Result<Option<Credential>, ConnectionError> {
        if self.delete_if(entry).await? {
            self.audit
                .removed(&entry.sub, &entry.connection, "expired")
                .await;
            return Ok(None);
        }
        let kind = self.registry.get(&entry.connection).map(|c| c.kind);
        let current = self.get(&entry.iss, &entry.sub, &entry.connection).await?;
        Ok(match (current, kind) {
            (Some((plain, _)), Some(kind)) => usable(&plain, kind, now),
            _ => None,
        })
    }

    async fn delete_if(&self, entry: &SealedEntry) -> Result<bool, ConnectionError> {
        self.store
            .delete_if(entry)
            .await
            .map_err(ConnectionError::Store)
    }

    fn slot_lock(&self, iss: &str, sub: &str, connection: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .refreshing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, m| Arc::strong_count(m) > 1);
        }
        map.entry((iss.to_owned(), sub.to_owned(), connection.to_owned()))
            .or_default()
            .clone()
    }

    /// Delete a slot's entry; `true` when there was one.
    ///
    /// # Errors
    /// [`ConnectionError::Store`].
    pub async fn delete(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<bool, ConnectionError> {
        self.store
            .delete(iss, sub, connection)
            .await
            .map_err(ConnectionError::Store)
    }

    /// Revoke the stored tokens at the third party (RFC 7009; refresh token first, then the
    /// access token; best effort: failures are logged, never returned), then delete the
    /// entry. `true` when there was one.
    ///
    /// Holds this node's per-slot lock, so a refresh on this node finishes first (and its
    /// tokens are the ones revoked) or starts after (and finds nothing). The delete is
    /// [`VaultStore::delete_if`] of the entry whose tokens were revoked; when another node
    /// replaced it meanwhile, the new entry is revoked and deleted in turn (up to
    /// [`REMOVE_ROUNDS`] rounds, then the slot is deleted unconditionally: the removal always
    /// sticks). An entry that does not open is deleted without revocation.
    ///
    /// # Errors
    /// [`ConnectionError::Store`] when the entry cannot be read or deleted.
    pub async fn remove(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<bool, ConnectionError> {
        let removed = self.remove_entry(iss, sub, connection).await?;
        if removed {
            self.audit.removed(sub, connection, "removed").await;
        }
        Ok(removed)
    }

    /// [`Self::remove`] without its audit event.
    async fn remove_entry(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<bool, ConnectionError> {
        let lock = self.slot_lock(iss, sub, connection);
        let _held = lock.lock().await;
        let mut removed = false;
        for _ in 0..REMOVE_ROUNDS {
            let entry = self
                .store
                .get(iss, sub, connection)
                .await
                .map_err(ConnectionError::Store)?;
            let Some(entry) = entry else {
                return Ok(removed);
            };
            if let Some(conn) = self.registry.get(connection)
                && conn.kind == ConnectionKind::OAuth
                && let Some(plain) = self.open_or_warn(&entry)
                && plain.kind == ConnectionKind::OAuth
            {
                self.revoke_best_effort(conn, &plain).await;
            }
            if self.delete_if(&entry).await? {
                return Ok(true);
            }
            removed = true;
        }
        Ok(self.delete(iss, sub, connection).await? || removed)
    }

    async fn revoke_best_effort(&self, conn: &Connection, plain: &Plain) {
        let endpoints = match conn.endpoints(&self.http).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(connection = %conn.name, error = %e, "cannot revoke at the third party");
                return;
            }
        };
        let tokens = [
            (plain.refresh_token.as_ref(), true),
            (plain.access_token.as_ref(), false),
        ];
        for (token, is_refresh) in tokens {
            let Some(token) = token else { continue };
            let token = Secret::new(token.clone());
            match third_party::revoke(
                &self.http,
                conn,
                &endpoints,
                &self.redirect_uri,
                &token,
                is_refresh,
            )
            .await
            {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(connection = %conn.name, error = %e, "third-party revocation failed");
                }
            }
        }
    }
}
