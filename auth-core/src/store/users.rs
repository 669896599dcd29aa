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
}

/// In-memory [`UserStore`]: users by username, each with its session generation.
///
/// The reference implementation of the [`UserStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryUserStore(Mutex<BTreeMap<String, (User, u64)>>);

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).get(username).map(|(u, _)| u.clone()))
    }
    async fn session_generation(&self, sub: &str) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.0)
            .values()
            .find(|(u, _)| u.sub == sub)
            .map(|(_, generation)| *generation))
    }
    async fn end_sessions(&self, sub: &str) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        match map.values_mut().find(|(u, _)| u.sub == sub) {
            Some((_, generation)) => {
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
        if let Some((existing, g)) = map.get(&user.username) {
            user.sub = existing.sub.clone();
            generation = *g;
        }
        map.insert(user.username.clone(), (user, generation));
        Ok(())
    }
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        Ok(lock(&self.0).values().map(|(u, _)| u.clone()).collect())
    }
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).remove(username).map(|(u, _)| u))
    }
}
