use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::StoreError;
use crate::ext::ExtraClaims;
use crate::types::{ResourceUri, ScopeSet};

use super::lock;

/// The state of a stored refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenState {
    /// Usable once.
    Active,
    /// Rotated out: presenting it again is reuse and revokes the family (OAuth 2.1 §4.3.1).
    Spent,
    /// Revoked with its family.
    Revoked,
}

/// One refresh token of a family (OAuth 2.1 §4.3.1). Stored under the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// SHA-256 hex of the token value.
    pub token_hash: String,
    /// The family: every token rotated from one authorization shares it.
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub sub: String,
    /// Granted scopes (stored space-separated; empty when none); a refresh may only narrow
    /// them.
    pub scope: ScopeSet,
    /// The canonical resource (RFC 8707); a refresh may not change it.
    pub resource: ResourceUri,
    /// When the user authenticated.
    pub auth_time: Option<UnixTime>,
    /// When this token was issued.
    pub issued_at: UnixTime,
    /// Idle expiry of this token, seconds since the epoch.
    pub expires_at: UnixTime,
    /// Absolute expiry of the family, never extended by rotation.
    pub family_expires_at: UnixTime,
    /// `jti` of the access token issued alongside, so revoking the family revokes it.
    pub access_jti: String,
    /// `exp` of that access token.
    pub access_exp: UnixTime,
    /// The token's state.
    pub state: RefreshTokenState,
    /// Claims the access tokens of this family carry beside the registered ones (from the
    /// authorization code it started with); empty for most families.
    #[serde(default)]
    pub extra_claims: ExtraClaims,
    /// The DPoP key (RFC 7638 thumbprint) the token is bound to (RFC 9449 §5): set for a public
    /// client that proved possession when it was issued; a refresh must then carry a proof by
    /// this key.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// An access token to deny because its family was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedAccess {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`; the denial may be forgotten after it.
    pub exp: UnixTime,
}

/// Refresh token families.
///
/// Contract:
/// - `insert` adds an `Active` token and returns `false` (storing nothing) when its family was
///   revoked, so a rotation racing a revocation cannot revive the family.
/// - `spend` moves one token from `Active` to `Spent` atomically and returns `true` only for the
///   call that did so.
/// - `revoke_family` marks every token of the family `Revoked` and returns the access tokens
///   issued with them; later `insert`s into the family fail.
/// - `revoke_client` does the same for every family of one client.
/// - `revoke_subject` does the same for every family of one user (`sub`), or of one user with
///   one client.
/// - `held_by_subject` lists, once each and sorted, the (client id, resource) pairs for which
///   the user `sub` holds an `Active` token that is usable at `now` (`now < expires_at` and
///   `now < family_expires_at`).
/// - `held_by_client` is whether any user holds such a token of `client_id` at `now`.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Store a new active token.
    async fn insert(&self, token: &RefreshToken) -> Result<bool, StoreError>;
    /// The token with this hash, in whatever state.
    async fn get(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError>;
    /// Atomically spend an active token.
    async fn spend(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Revoke a family.
    async fn revoke_family(&self, family_id: &str) -> Result<Vec<RevokedAccess>, StoreError>;
    /// Revoke every family of a client (client removal).
    async fn revoke_client(&self, client_id: &str) -> Result<Vec<RevokedAccess>, StoreError>;
    /// Revoke every family of the user `sub` (user removal, consent revocation); only those
    /// issued to `client_id` when it is given.
    async fn revoke_subject(
        &self,
        sub: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<RevokedAccess>, StoreError>;
    /// The (client id, resource) pairs for which `sub` holds a usable refresh token at `now`,
    /// sorted, without repetition.
    async fn held_by_subject(
        &self,
        sub: &str,
        now: UnixTime,
    ) -> Result<Vec<(String, ResourceUri)>, StoreError>;
    /// Whether some user holds a usable refresh token of `client_id` at `now`.
    async fn held_by_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// Drop tokens whose family expired before `now`; returns how many.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, RefreshToken>,
    revoked_families: HashSet<String>,
}

/// In-memory [`RefreshTokenStore`].
///
/// The reference implementation of the [`RefreshTokenStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryRefreshTokenStore(Mutex<Inner>);

fn revoke_where(inner: &mut Inner, pred: impl Fn(&RefreshToken) -> bool) -> Vec<RevokedAccess> {
    let mut out = Vec::new();
    let mut families = Vec::new();
    for t in inner.tokens.values_mut().filter(|t| pred(t)) {
        if t.state != RefreshTokenState::Revoked {
            t.state = RefreshTokenState::Revoked;
        }
        families.push(t.family_id.clone());
        out.push(RevokedAccess {
            jti: t.access_jti.clone(),
            exp: t.access_exp,
        });
    }
    inner.revoked_families.extend(families);
    out
}

#[async_trait]
impl RefreshTokenStore for MemoryRefreshTokenStore {
    async fn insert(&self, token: &RefreshToken) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        if inner.revoked_families.contains(&token.family_id) {
            return Ok(false);
        }
        let mut t = token.clone();
        t.state = RefreshTokenState::Active;
        inner.tokens.insert(t.token_hash.clone(), t);
        Ok(true)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        Ok(lock(&self.0).tokens.get(token_hash).cloned())
    }

    async fn spend(&self, token_hash: &str) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        match inner.tokens.get_mut(token_hash) {
            Some(t) if t.state == RefreshTokenState::Active => {
                t.state = RefreshTokenState::Spent;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_family(&self, family_id: &str) -> Result<Vec<RevokedAccess>, StoreError> {
        let mut inner = lock(&self.0);
        inner.revoked_families.insert(family_id.to_owned());
        Ok(revoke_where(&mut inner, |t| t.family_id == family_id))
    }

    async fn revoke_client(&self, client_id: &str) -> Result<Vec<RevokedAccess>, StoreError> {
        let mut inner = lock(&self.0);
        Ok(revoke_where(&mut inner, |t| t.client_id == client_id))
    }

    async fn revoke_subject(
        &self,
        sub: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<RevokedAccess>, StoreError> {
        let mut inner = lock(&self.0);
        Ok(revoke_where(&mut inner, |t| {
            t.sub == sub && client_id.is_none_or(|c| t.client_id == c)
        }))
    }

    async fn held_by_subject(
        &self,
        sub: &str,
        now: UnixTime,
    ) -> Result<Vec<(String, ResourceUri)>, StoreError> {
        let inner = lock(&self.0);
        let mut out: Vec<(String, ResourceUri)> = inner
            .tokens
            .values()
            .filter(|t| {
                t.sub == sub
                    && t.state == RefreshTokenState::Active
                    && now < t.expires_at
                    && now < t.family_expires_at
            })
            .map(|t| (t.client_id.clone(), t.resource.clone()))
            .collect();
        out.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
        out.dedup();
        Ok(out)
    }

    async fn held_by_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(lock(&self.0).tokens.values().any(|t| {
            t.client_id == client_id
                && t.state == RefreshTokenState::Active
                && now < t.expires_at
                && now < t.family_expires_at
        }))
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut inner = lock(&self.0);
        let before = inner.tokens.len();
        inner.tokens.retain(|_, t| t.family_expires_at >= now);
        Ok((before - inner.tokens.len()) as u64)
    }
}
