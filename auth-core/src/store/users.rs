use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::StoreError;

use super::lock;

/// A local user: a stable subject id, a login name, and an argon2 PHC password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The `sub` claim: stable, opaque.
    pub sub: String,
    /// Login name, unique.
    pub username: String,
    /// Argon2id PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("sub", &self.sub)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// A user established by an upstream identity provider (OpenID Connect Core §2: `iss` and
/// `sub` together identify an end-user), created just in time at the first sign-in.
///
/// It is also a row of [`UserStore::list`] (with an empty `password_hash`, so no password
/// signs it in) under `username`, which the caller chooses unique (e.g.
/// `"<upstream name>:<local sub>"`) and `user remove` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedUser {
    /// Our stable, opaque `sub` for this user; never the upstream's.
    pub sub: String,
    /// The unique login-name slot the user occupies (never used to sign in).
    pub username: String,
    /// The upstream's issuer identifier, exactly as configured.
    pub upstream_issuer: String,
    /// The upstream's `sub` for this user.
    pub upstream_sub: String,
    /// The name the upstream gave (`name`, else `preferred_username`), for display.
    pub display_name: Option<String>,
    /// The email address the upstream gave, for display (never used to link accounts).
    pub email: Option<String>,
}

/// Local users.
///
/// Contract: usernames are unique; `put` inserts or replaces by `username`, keeping `sub`
/// stable; lookups are exact; `delete` removes the user and returns the removed record (`None`
/// when there was no such user), after which the username may be created again (with a new
/// `sub` chosen by the caller).
///
/// Each user has a **session generation**, a counter that starts at `0` when the user is
/// created. A sign-in session records the generation it was started under and is valid only
/// while the user exists and the counter is unchanged: [`UserStore::end_sessions`] increments
/// it (a password change, an operator ending a user's sessions), which ends every session of
/// that user on every node that reads the same store. `put` of an existing username leaves
/// the counter as it is; `delete` removes it with the user (a user created again under the same
/// name has a new `sub`, so no old session names it).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user with this login name.
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The current session generation of the user whose `sub` this is, or `None` when no user
    /// has that `sub` (removed, or never existed).
    async fn session_generation(&self, sub: &str) -> Result<Option<u64>, StoreError>;
    /// End every session of the user whose `sub` this is: increment its session generation in
    /// one atomic statement. Returns `false` when no user has that `sub`.
    async fn end_sessions(&self, sub: &str) -> Result<bool, StoreError>;
    /// Insert or replace by `username`.
    async fn put(&self, user: &User) -> Result<(), StoreError>;
    /// Every user, sorted by username.
    async fn list(&self) -> Result<Vec<User>, StoreError>;
    /// Remove the user with this login name; returns the removed record, or `None` when there
    /// was none. The caller revokes what the user's `sub` holds (refresh tokens, consents).
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The user established by (`upstream_issuer`, `upstream_sub`), exact match.
    async fn get_federated(
        &self,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError>;
    /// Just-in-time provisioning in one atomic step: when no user has `user`'s
    /// (`upstream_issuer`, `upstream_sub`), create it with `user.sub` and `user.username`
    /// (session generation `0`, empty password hash); otherwise keep the stored `sub` and
    /// `username` and replace `display_name` and `email`. Returns the stored user. Never
    /// matches by email. Concurrent calls for one pair create one user.
    async fn upsert_federated(&self, user: &FederatedUser) -> Result<FederatedUser, StoreError>;
    /// Every federated user, sorted by username.
    async fn list_federated(&self) -> Result<Vec<FederatedUser>, StoreError>;
    /// An operator's link: the existing user `username` (a local user, say) becomes the user of
    /// the upstream identity (`upstream_issuer`, `upstream_sub`), so that a sign-in through that
    /// upstream with that `sub` signs this user in; the user keeps its `sub`, password and
    /// session generation. Returns the linked user, or `None` when no user has that name.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the user already has an upstream identity, or another user
    /// has this one (remove that user first); nothing changes then.
    async fn link_federated(
        &self,
        username: &str,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError>;
}

/// In-memory [`UserStore`]: users by username, each with its session generation.
///
/// The reference implementation of the [`UserStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryUserStore(Mutex<BTreeMap<String, MemoryEntry>>);

/// A user, its session generation, and its upstream identity when federated.
type MemoryEntry = (User, u64, Option<FederatedUser>);

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).get(username).map(|(u, _, _)| u.clone()))
    }
    async fn session_generation(&self, sub: &str) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .find(|(u, _, _)| u.sub == sub)
            .map(|(_, generation, _)| *generation))
    }
    async fn end_sessions(&self, sub: &str) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        match map.values_mut().find(|(u, _, _)| u.sub == sub) {
            Some((_, generation, _)) => {
                *generation += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn put(&self, user: &User) -> Result<(), StoreError> {
        let mut map = lock(&self.0);
        let mut user = user.clone();
        let mut generation = 0;
        let mut federated = None;
        if let Some((existing, g, f)) = map.get(&user.username) {
            user.sub = existing.sub.clone();
            generation = *g;
            federated = f.clone();
        }
        map.insert(user.username.clone(), (user, generation, federated));
        Ok(())
    }
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        Ok(lock(&self.0).values().map(|(u, _, _)| u.clone()).collect())
    }
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).remove(username).map(|(u, _, _)| u))
    }
    async fn get_federated(
        &self,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .filter_map(|(_, _, f)| f.as_ref())
            .find(|f| f.upstream_issuer == upstream_issuer && f.upstream_sub == upstream_sub)
            .cloned())
    }
    async fn upsert_federated(&self, user: &FederatedUser) -> Result<FederatedUser, StoreError> {
        let mut map = lock(&self.0);
        let existing = map
            .values_mut()
            .filter_map(|(_, _, f)| f.as_mut())
            .find(|f| {
                f.upstream_issuer == user.upstream_issuer && f.upstream_sub == user.upstream_sub
            });
        if let Some(stored) = existing {
            stored.display_name.clone_from(&user.display_name);
            stored.email.clone_from(&user.email);
            return Ok(stored.clone());
        }
        if map.contains_key(&user.username) || map.values().any(|(u, _, _)| u.sub == user.sub) {
            return Err(StoreError::Conflict("username or sub already taken".into()));
        }
        let local = User {
            sub: user.sub.clone(),
            username: user.username.clone(),
            password_hash: String::new(),
        };
        map.insert(user.username.clone(), (local, 0, Some(user.clone())));
        Ok(user.clone())
    }
    async fn list_federated(&self) -> Result<Vec<FederatedUser>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .filter_map(|(_, _, f)| f.clone())
            .collect())
    }
    async fn link_federated(
        &self,
        username: &str,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError> {
        let mut map = lock(&self.0);
        let taken = map
            .values()
            .filter_map(|(_, _, f)| f.as_ref())
            .any(|f| f.upstream_issuer == upstream_issuer && f.upstream_sub == upstream_sub);
        let Some((user, _, identity)) = map.get_mut(username) else {
            return Ok(None);
        };
        if identity.is_some() || taken {
            return Err(StoreError::Conflict(
                "the user or the upstream identity is already linked".into(),
            ));
        }
        let linked = FederatedUser {
            sub: user.sub.clone(),
            username: user.username.clone(),
            upstream_issuer: upstream_issuer.to_owned(),
            upstream_sub: upstream_sub.to_owned(),
            display_name: None,
            email: None,
        };
        *identity = Some(linked.clone());
        Ok(Some(linked))
    }
}
