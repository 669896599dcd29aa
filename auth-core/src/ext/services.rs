//! [`ExtensionServices`]: what the server lends an extension while it installs.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Clock;
use crate::store::{RefreshTokenStore, ReplayCache};
use crate::types::Issuer;

/// The public keys of this server's own signing keys, as published at its `jwks_uri`
/// (RFC 7517 §5 JWK Set: the current key first, then retired keys still published).
///
/// An extension uses it to check a JWT this server issued (an OpenID Connect ID token presented
/// back as an RFC 8693 `subject_token`). The set changes when keys rotate, so ask for it at each
/// use rather than keeping it.
pub trait LocalKeys: Send + Sync {
    /// The JWK Set document `{"keys":[…]}`.
    fn jwks(&self) -> serde_json::Value;
}

/// Services of the running server an extension may keep and use from its handlers, given to
/// [`super::ServerExtension::install`].
///
/// Every store here is the server's configured store: durable (SQLite, or PostgreSQL) in the
/// `auth-server` binary, in-memory only in tests that build the server that way. An extension
/// that needs a single-use rule (an ID-JAG `jti`, SEP-990 V11) uses [`Self::replay`], never a
/// cache of its own.
#[derive(Clone)]
pub struct ExtensionServices {
    /// This server's issuer identifier (RFC 8414 §2).
    pub issuer: Issuer,
    /// The server's clock.
    pub clock: Arc<dyn Clock>,
    /// The single-use store (`insert_once` per key until expiry). Keys are namespaced by the
    /// caller, e.g. `id-jag:<iss>:<jti>`, so they never collide with client-assertion `jti`s.
    pub replay: Arc<dyn ReplayCache>,
    /// The refresh tokens this server issued (looked up by SHA-256 hex of the value).
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    /// This server's published verification keys.
    pub local_keys: Arc<dyn LocalKeys>,
    /// Whether the server runs the development profile (loopback only). Extensions may allow
    /// their `insecure_*` switches only then, or when they log loudly.
    pub development: bool,
    /// Whether the server listens on a loopback address only. Extensions refuse their
    /// loopback-only `insecure_*` switches otherwise (e.g. CIMD documents on loopback hosts).
    pub bound_to_loopback: bool,
    /// Services of types `auth-core` does not know (a shared PostgreSQL-backed cache, a metrics
    /// hook), looked up by type by the extension that knows the type.
    pub shared: SharedServices,
}

/// A map from a type to one value of it: what the server lends extensions beyond the
/// services `auth-core` names. The extension crate that defines a type looks it up; a missing
/// entry means the server offers none (use the extension's own default).
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::ext::SharedServices;
///
/// #[derive(Debug, PartialEq)]
/// struct CacheHandle(u32);
///
/// let mut shared = SharedServices::default();
/// shared.insert(Arc::new(CacheHandle(7)));
/// assert_eq!(shared.get::<Arc<CacheHandle>>(), Some(&Arc::new(CacheHandle(7))));
/// assert!(shared.get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct SharedServices {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for SharedServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedServices")
            .field("entries", &self.values.len())
            .finish()
    }
}

impl SharedServices {
    /// Lend `value`, replacing any earlier value of type `T`.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if the server lends one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }
}

impl std::fmt::Debug for ExtensionServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionServices")
            .field("issuer", &self.issuer)
            .field("development", &self.development)
            .field("bound_to_loopback", &self.bound_to_loopback)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// A [`LocalKeys`] with no keys: nothing verifies against it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLocalKeys;

impl LocalKeys for NoLocalKeys {
    fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [] })
    }
}

impl ExtensionServices {
    /// Services over fresh in-memory stores, the system clock and no local keys: for
    /// extensions' unit tests and for servers assembled in memory.
    pub fn in_memory(issuer: Issuer) -> Self {
        Self {
            issuer,
            clock: Arc::new(crate::clock::SystemClock),
            replay: Arc::new(crate::store::MemoryReplayCache::default()),
            refresh_tokens: Arc::new(crate::store::MemoryRefreshTokenStore::default()),
            local_keys: Arc::new(NoLocalKeys),
            development: false,
            bound_to_loopback: false,
            shared: SharedServices::default(),
        }
    }
}
