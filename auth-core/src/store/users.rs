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
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user with this login name.
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Insert or replace by `username`.
    async fn put(&self, user: &User) -> Result<(), StoreError>;
    /// Every user, sorted by username.
    async fn list(&self) -> Result<Vec<User>, StoreError>;
    /// Remove the user with this login name; returns the removed record, or `None` when there
    /// was none. The caller revokes what the user's `sub` holds (refresh tokens, consents).
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError>;
}

/// In-memory [`UserStore`].
#[derive(Debug, Default)]
pub struct MemoryUserStore(Mutex<BTreeMap<String, User>>);

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).get(username).cloned())
    }
    async fn put(&self, user: &User) -> Result<(), StoreError> {
        let mut map = lock(&self.0);
        let mut user = user.clone();
        if let Some(existing) = map.get(&user.username) {
            user.sub = existing.sub.clone();
        }
        map.insert(user.username.clone(), user);
        Ok(())
    }
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        Ok(lock(&self.0).values().cloned().collect())
    }
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).remove(username))
    }
}
