//! Store traits, one per artifact, each with its contract in its doc comment and an in-memory
//! implementation for tests and single-process use.
//!
//! ## The in-memory stores are the reference
//!
//! Each `Memory*` store is the reference implementation of its trait's contract: a mutex over
//! plain maps, with every rule (single use, rotation, first use, union of consent) written as
//! directly as it reads in the contract. The store contract suite,
//! `mcp_auth_conformance::store_contract`, states the same rules as executable checks; the
//! in-memory stores pass it by construction, and every other backend (the SQLite and PostgreSQL
//! stores of `mcp-auth-server`, or a store of your own) is checked against it. When a backend
//! and the in-memory store disagree, the contract in the trait's doc comment decides, and the
//! suite gains a check.
//!
//! Codes and refresh tokens are looked up by the SHA-256 hash of their value
//! ([`crate::secret::TokenHash`]); the values themselves are never stored.

mod audit;
mod clients;
mod codes;
mod consent;
mod elicitations;
mod grant_usage;
mod keys;
mod refresh;
mod replay;
mod revocation;
mod users;
mod vault;

pub use audit::{
    AuditFilter, AuditLog, AuditRow, GENESIS_HASH, MemoryAuditLog, NewAuditEvent, next_row,
    next_rows,
};
pub use clients::{ClientStore, MemoryClientStore};
pub use codes::{
    AuthorizationCode, AuthorizationCodeStore, CodeTake, MemoryAuthorizationCodeStore,
};
pub use consent::{Consent, ConsentStore, MemoryConsentStore};
pub use elicitations::{
    ELICITATION_RETENTION, ElicitationBinding, ElicitationStatus, ElicitationStore,
    MemoryElicitationStore, PendingElicitation,
};
pub use grant_usage::{GrantUsageStore, GrantUse, MemoryGrantUsageStore};
pub use keys::{MemorySigningKeyStore, SigningKeyStore, StoredSigningKey};
pub use refresh::{
    MemoryRefreshTokenStore, RefreshToken, RefreshTokenState, RefreshTokenStore, RevokedAccess,
};
pub use replay::{MemoryReplayCache, ReplayCache};
pub use revocation::{AccessTokenDenylist, MemoryAccessTokenDenylist};
pub use users::{FederatedUser, MemoryUserStore, User, UserStore};
pub use vault::{MemoryVaultStore, SealedEntry, VaultStore};

use std::sync::Arc;

/// Every store the authorization server needs, as trait objects.
#[derive(Clone)]
pub struct Stores {
    /// Registered clients.
    pub clients: Arc<dyn ClientStore>,
    /// Authorization codes.
    pub codes: Arc<dyn AuthorizationCodeStore>,
    /// Refresh token families.
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    /// `jti` replay cache.
    pub replay: Arc<dyn ReplayCache>,
    /// Revoked access token `jti`s.
    pub denylist: Arc<dyn AccessTokenDenylist>,
    /// Signing keys.
    pub keys: Arc<dyn SigningKeyStore>,
    /// Local users.
    pub users: Arc<dyn UserStore>,
    /// Remembered consent.
    pub consent: Arc<dyn ConsentStore>,
    /// Pending URL-mode elicitations (SEP-1036).
    pub elicitations: Arc<dyn ElicitationStore>,
    /// The token vault: users' sealed third-party credentials.
    pub vault: Arc<dyn VaultStore>,
    /// When clients used their grants, and when users removed a client's access.
    pub grant_usage: Arc<dyn GrantUsageStore>,
    /// The audit trail's hash chain.
    pub audit: Arc<dyn AuditLog>,
}

impl Stores {
    /// Fresh in-memory stores: for tests and throw-away servers. Nothing survives a restart.
    pub fn in_memory() -> Self {
        Self {
            clients: Arc::new(MemoryClientStore::default()),
            codes: Arc::new(MemoryAuthorizationCodeStore::default()),
            refresh_tokens: Arc::new(MemoryRefreshTokenStore::default()),
            replay: Arc::new(MemoryReplayCache::default()),
            denylist: Arc::new(MemoryAccessTokenDenylist::default()),
            keys: Arc::new(MemorySigningKeyStore::default()),
            users: Arc::new(MemoryUserStore::default()),
            consent: Arc::new(MemoryConsentStore::default()),
            elicitations: Arc::new(MemoryElicitationStore::default()),
            vault: Arc::new(MemoryVaultStore::default()),
            grant_usage: Arc::new(MemoryGrantUsageStore::default()),
            audit: Arc::new(MemoryAuditLog::default()),
        }
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores { .. }")
    }
}

/// Lock a mutex, recovering the data if another thread panicked while holding it: the stores'
/// invariants hold between statements, so the data is still consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
