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

/// A user together with one of its upstream identities (OpenID Connect Core §2: `iss` and `sub`
/// together identify an end-user). The first sign-in with an identity creates the user just in
/// time; an operator may link more identities to one user (`auth-server user link`), so one user
/// may appear in several of these, one per identity.
///
/// The user is also a row of [`UserStore::list`] (with an empty `password_hash` when created by
/// a sign-in, so no password signs it in) under `username`, which the caller chooses unique
/// (e.g. `"<upstream name>:<local sub>"`) and `user remove` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedUser {
    /// Our stable, opaque `sub` for this user; never the upstream's.
    pub sub: String,
    /// The unique login-name slot the user occupies (never used to sign in when federated).
    pub username: String,
    /// The upstream's issuer identifier, exactly as configured.
    pub upstream_issuer: String,
    /// The upstream's `sub` for this user.
    pub upstream_sub: String,
    /// The name this upstream gave (`name`, else `preferred_username`), for display.
    pub display_name: Option<String>,
    /// The email address this upstream gave, for display (never used to link accounts).
    pub email: Option<String>,
}

/// Local users and their upstream identities.
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
///
/// **Upstream identities**: an identity (upstream issuer, upstream `sub`) belongs to at most one
/// user; a user has any number of them (zero for a local user). Matching is exact on both
/// strings and never by email. `delete` removes the user's identities with it, so the next
/// sign-in with one of them creates a new user.
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
    /// Remove the user with this login name and every upstream identity it has; returns the
    /// removed record, or `None` when there was none. The caller revokes what the user's `sub`
    /// holds (refresh tokens, consents).
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The user the identity (`upstream_issuer`, `upstream_sub`) belongs to, exact match.
    async fn get_federated(
        &self,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError>;
    /// Just-in-time provisioning in one atomic step: when no user has `user`'s identity
    /// (`upstream_issuer`, `upstream_sub`), create the user with `user.sub` and `user.username`
    /// (session generation `0`, empty password hash) and the identity, together; otherwise keep
    /// the owner's `sub` and `username` and replace the identity's `display_name` and `email`.
    /// Returns the stored user with this identity. Never matches by email. Concurrent calls for
    /// one identity (from any node sharing the store) create one user.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the identity is new but `user.username` or `user.sub` is
    /// another user's.
    async fn upsert_federated(&self, user: &FederatedUser) -> Result<FederatedUser, StoreError>;
    /// Every upstream identity with its user, sorted by username, then issuer, then upstream
    /// `sub`.
    async fn list_federated(&self) -> Result<Vec<FederatedUser>, StoreError>;
    /// An operator's link: the identity (`upstream_issuer`, `upstream_sub`) becomes one more
    /// identity of the existing user `username` (a local user, or one created by another
    /// upstream), so that a sign-in with it signs this user in; the user keeps its `sub`,
    /// password, other identities and session generation. Linking an identity the user already
    /// has changes nothing. Returns the user with this identity, or `None` when no user has that
    /// name.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another user has this identity (unlink it or remove that
    /// user first); nothing changes then.
    async fn link_federated(
        &self,
        username: &str,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError>;
    /// Undo a link: remove the identity (`upstream_issuer`, `upstream_sub`) from the user
    /// `username`, who stays (the next sign-in with that identity creates a new user). Returns
    /// `false` when that user does not have that identity (nothing changes).
    async fn unlink_federated(
        &self,
        username: &str,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<bool, StoreError>;
}

/// In-memory [`UserStore`]: users by username, each with its session generation, and upstream
/// identities by (issuer, upstream `sub`).
///
/// The reference implementation of the [`UserStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryUserStore(Mutex<MemoryUsers>);

/// The maps of [`MemoryUserStore`].
#[derive(Debug, Default)]
struct MemoryUsers {
    /// Users by username, with their session generation.
    users: BTreeMap<String, (User, u64)>,
    /// Identities by (issuer, upstream `sub`): the owner's username, display name and email.
    identities: BTreeMap<(String, String), MemoryIdentity>,
}

/// One upstream identity: its owner's username, and what the upstream gave for display.
#[derive(Debug, Clone)]
struct MemoryIdentity {
    username: String,
    display_name: Option<String>,
    email: Option<String>,
}

impl MemoryUsers {
    /// The identity `key` joined with its owner, when both exist.
    fn joined(&self, key: &(String, String)) -> Option<FederatedUser> {
        let identity = self.identities.get(key)?;
        let (user, _) = self.users.get(&identity.username)?;
        Some(FederatedUser {
            sub: user.sub.clone(),
            username: user.username.clone(),
            upstream_issuer: key.0.clone(),
            upstream_sub: key.1.clone(),
            display_name: identity.display_name.clone(),
            email: identity.email.clone(),
        })
    }
}

fn identity_key(upstream_issuer: &str, upstream_sub: &str) -> (String, String) {
    (upstream_issuer.to_owned(), upstream_sub.to_owned())
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).users.get(username).map(|(u, _)| u.clone()))
    }
    async fn session_generation(&self, sub: &str) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.0)
            .users
            .values()
            .find(|(u, _)| u.sub == sub)
            .map(|(_, generation)| *generation))
    }
    async fn end_sessions(&self, sub: &str) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        match map.users.values_mut().find(|(u, _)| u.sub == sub) {
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
        if let Some((existing, g)) = map.users.get(&user.username) {
            user.sub = existing.sub.clone();
            generation = *g;
        }
        map.users.insert(user.username.clone(), (user, generation));
        Ok(())
    }
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        Ok(lock(&self.0)
            .users
            .values()
            .map(|(u, _)| u.clone())
            .collect())
    }
    async fn delete(&self, username: &str) -> Result<Option<User>, StoreError> {
        let mut map = lock(&self.0);
        map.identities.retain(|_, i| i.username != username);
        Ok(map.users.remove(username).map(|(u, _)| u))
    }
    async fn get_federated(
        &self,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError> {
        Ok(lock(&self.0).joined(&identity_key(upstream_issuer, upstream_sub)))
    }
    async fn upsert_federated(&self, user: &FederatedUser) -> Result<FederatedUser, StoreError> {
        let mut map = lock(&self.0);
        let key = identity_key(&user.upstream_issuer, &user.upstream_sub);
        if let Some(stored) = map.identities.get_mut(&key) {
            stored.display_name.clone_from(&user.display_name);
            stored.email.clone_from(&user.email);
            return map
                .joined(&key)
                .ok_or_else(|| StoreError::Corrupt("an upstream identity names no user".into()));
        }
        if map.users.contains_key(&user.username)
            || map.users.values().any(|(u, _)| u.sub == user.sub)
        {
            return Err(StoreError::Conflict("username or sub already taken".into()));
        }
        let local = User {
            sub: user.sub.clone(),
            username: user.username.clone(),
            password_hash: String::new(),
        };
        map.users.insert(user.username.clone(), (local, 0));
        let identity = MemoryIdentity {
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
        };
        map.identities.insert(key, identity);
        Ok(user.clone())
    }
    async fn list_federated(&self) -> Result<Vec<FederatedUser>, StoreError> {
        let map = lock(&self.0);
        let mut all: Vec<_> = map
            .identities
            .keys()
            .filter_map(|k| map.joined(k))
            .collect();
        all.sort_by(|a, b| {
            (&a.username, &a.upstream_issuer, &a.upstream_sub).cmp(&(
                &b.username,
                &b.upstream_issuer,
                &b.upstream_sub,
            ))
        });
        Ok(all)
    }
    async fn link_federated(
        &self,
        username: &str,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<Option<FederatedUser>, StoreError> {
        let mut map = lock(&self.0);
        if !map.users.contains_key(username) {
            return Ok(None);
        }
        let key = identity_key(upstream_issuer, upstream_sub);
        match map.identities.get(&key) {
            Some(owner) if owner.username != username => {
                return Err(StoreError::Conflict(
                    "the upstream identity belongs to another user".into(),
                ));
            }
            Some(_) => {}
            None => {
                let identity = MemoryIdentity {
                    username: username.to_owned(),
                    display_name: None,
                    email: None,
                };
                map.identities.insert(key.clone(), identity);
            }
        }
        Ok(map.joined(&key))
    }
    async fn unlink_federated(
        &self,
        username: &str,
        upstream_issuer: &str,
        upstream_sub: &str,
    ) -> Result<bool, StoreError> {
        let mut map = lock(&self.0);
        let key = identity_key(upstream_issuer, upstream_sub);
        if map
            .identities
            .get(&key)
            .is_some_and(|i| i.username == username)
        {
            map.identities.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }
}
