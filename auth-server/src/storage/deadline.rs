//! A deadline on every store call, and a budget of store time per HTTP request, so that a
//! database that is gone, or that accepts connections and never answers, is answered `503`
//! within a bound instead of holding requests.
//!
//! - Every call through the stores [`bound`] returns (and through the shared counters and the
//!   CIMD cache) runs under [`bounded`]: it fails with [`StoreError::Unavailable`] when it has
//!   not finished by its deadline. The deadline covers everything the call waits for: a pooled
//!   connection (or a new one), the statements, a lock.
//! - Inside an HTTP request ([`with_request_budget`], set by the router on every request)
//!   the deadline is what is left of the request's budget, [`REQUEST_STORE_BUDGET`]: the time
//!   all of the request's store calls together may wait. A request whose first call used the
//!   budget up gets an immediate failure from every later call, so a sign-in (which makes
//!   several calls, some of whose failures are tolerated, like the shared rate-limit counters)
//!   is answered within the budget plus its own work, not once per call.
//! - Outside a request (start-up, background purges and key reloads, admin commands) each
//!   call has [`CALL_DEADLINE`].
//!
//! A call cut off at its deadline has an unknown outcome, like any network failure: a write
//! may still commit. Every single-use rule is one statement on the database side, so a cut-off
//! call can never let a code, token or `state` be used twice; at worst it is spent unused.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_cimd_resolver::{CachedDocument, CimdCache};
use mcp_auth_core::ext::IssuedTokens;
use mcp_auth_core::store::{
    AccessTokenDenylist, AuditFilter, AuditLog, AuditRow, AuthorizationCode,
    AuthorizationCodeStore, ClientStore, CodeTake, Consent, ConsentStore, ElicitationBinding,
    ElicitationStatus, ElicitationStore, FederatedUser, GrantUsageStore, GrantUse, NewAuditEvent,
    PendingElicitation, RefreshToken, RefreshTokenStore, ReplayCache, RevokedAccess, SealedEntry,
    SigningKeyStore, StoredSigningKey, Stores, User, UserStore, VaultStore,
};
use mcp_auth_core::{
    Client, ClientId, ResourceUri, ScopeSet, Secret, StoreError, TokenHash, UnixTime,
};

use crate::limits_shared::SharedCounters;

/// The store time one HTTP request may spend, all its store calls together: 2.5 s. With the
/// request's own work this keeps the README's promise that a node which cannot reach its
/// database answers `503` within 3 s.
pub const REQUEST_STORE_BUDGET: Duration = Duration::from_millis(2_500);

/// The deadline of one store call made outside an HTTP request: 10 s.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);

tokio::task_local! {
    /// What is left of the current request's store budget.
    static BUDGET: Cell<Duration>;
}

/// Run `request` (an HTTP request's handling) with a store budget of `budget`: its store calls
/// together wait at most that long (see the module documentation).
pub async fn with_request_budget<F: Future>(budget: Duration, request: F) -> F::Output {
    BUDGET.scope(Cell::new(budget), request).await
}

/// Run the store call `call` (named `what` in its error) under its deadline: what is left of
/// the request's budget inside a request, [`CALL_DEADLINE`] outside one.
///
/// # Errors
/// The call's own error, or [`StoreError::Unavailable`] when the deadline passes first (or the
/// request's budget is already used up, without starting the call).
pub async fn bounded<T, F>(what: &'static str, call: F) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let deadline = deadline(BUDGET.try_with(Cell::get).ok());
    if deadline.is_zero() {
        return Err(StoreError::unavailable(format!(
            "{what}: the request's store deadline has passed"
        )));
    }
    let started = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(deadline, call).await;
    let spent = started.elapsed();
    let _ = BUDGET.try_with(|b| b.set(b.get().saturating_sub(spent)));
    outcome.unwrap_or_else(|_| {
        Err(StoreError::unavailable(format!(
            "{what}: no answer within {} ms",
            deadline.as_millis()
        )))
    })
}

/// The deadline of a call: `left` of the request's budget (inside a request) but at most
/// [`CALL_DEADLINE`].
fn deadline(left: Option<Duration>) -> Duration {
    left.map_or(CALL_DEADLINE, |left| left.min(CALL_DEADLINE))
}

/// A store whose every call runs under [`bounded`].
pub struct Bounded<T: ?Sized>(Arc<T>);

impl<T: ?Sized> Bounded<T> {
    /// Bound every call of `inner`.
    pub fn new(inner: Arc<T>) -> Self {
        Self(inner)
    }
}

impl<T: ?Sized> std::fmt::Debug for Bounded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bounded(..)")
    }
}

/// The stores `stores` with every call bounded (see the module documentation).
pub fn bound(stores: Stores) -> Stores {
    Stores {
        clients: Arc::new(Bounded::new(stores.clients)),
        codes: Arc::new(Bounded::new(stores.codes)),
        refresh_tokens: Arc::new(Bounded::new(stores.refresh_tokens)),
        replay: Arc::new(Bounded::new(stores.replay)),
        denylist: Arc::new(Bounded::new(stores.denylist)),
        keys: Arc::new(Bounded::new(stores.keys)),
        users: Arc::new(Bounded::new(stores.users)),
        consent: Arc::new(Bounded::new(stores.consent)),
        elicitations: Arc::new(Bounded::new(stores.elicitations)),
        vault: Arc::new(Bounded::new(stores.vault)),
        grant_usage: Arc::new(Bounded::new(stores.grant_usage)),
        audit: Arc::new(Bounded::new(stores.audit)),
    }
}

/// `impl Trait for Bounded<dyn Trait>`: each listed method calls the inner store's under
/// [`bounded`], named `Trait::method`.
macro_rules! bounded_store {
    ($trait:ident { $( fn $name:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty ; )* }) => {
        #[async_trait]
        impl $trait for Bounded<dyn $trait> {
            $(
                async fn $name(&self, $( $arg: $ty ),*) -> Result<$ret, StoreError> {
                    bounded(
                        concat!(stringify!($trait), "::", stringify!($name)),
                        self.0.$name($( $arg ),*),
                    )
                    .await
                }
            )*
        }
    };
}

bounded_store!(ClientStore {
    fn get(client_id: &ClientId) -> Option<Client>;
    fn put(client: &Client) -> ();
    fn delete(client_id: &ClientId) -> bool;
    fn list() -> Vec<Client>;
});

bounded_store!(AuthorizationCodeStore {
    fn insert(code: &AuthorizationCode) -> ();
    fn take(code_hash: &str, now: UnixTime) -> CodeTake;
    fn record_issued(code_hash: &str, issued: &IssuedTokens) -> ();
    fn purge(now: UnixTime) -> u64;
});

bounded_store!(RefreshTokenStore {
    fn insert(token: &RefreshToken) -> bool;
    fn get(token_hash: &str) -> Option<RefreshToken>;
    fn spend(token_hash: &str) -> bool;
    fn revoke_family(family_id: &str) -> Vec<RevokedAccess>;
    fn revoke_client(client_id: &str) -> Vec<RevokedAccess>;
    fn revoke_subject(sub: &str, client_id: Option<&str>) -> Vec<RevokedAccess>;
    fn held_by_subject(sub: &str, now: UnixTime) -> Vec<(String, ResourceUri)>;
    fn held_by_client(client_id: &str, now: UnixTime) -> bool;
    fn purge(now: UnixTime) -> u64;
});

bounded_store!(AuditLog {
    fn append(event: &NewAuditEvent<'_>) -> AuditRow;
    fn append_batch(events: &[NewAuditEvent<'_>]) -> Vec<AuditRow>;
    fn list(filter: &AuditFilter) -> Vec<AuditRow>;
    fn chain() -> Vec<AuditRow>;
    fn prune(before: UnixTime) -> u64;
});

bounded_store!(GrantUsageStore {
    fn record_use(sub: &str, client_id: &str, resource: &ResourceUri, at: UnixTime) -> ();
    fn list_for_user(sub: &str) -> Vec<GrantUse>;
    fn cut_off(sub: &str, client_id: &str, at: UnixTime) -> u64;
    fn cut_off_at(sub: &str, client_id: &str) -> Option<UnixTime>;
    fn purge_cut_offs(before: UnixTime) -> u64;
    fn has_use(client_id: &str) -> bool;
});

bounded_store!(ReplayCache {
    fn insert_once(key: &str, expires_at: UnixTime, now: UnixTime) -> bool;
    fn purge(now: UnixTime) -> u64;
});

bounded_store!(AccessTokenDenylist {
    fn deny(jti: &str, exp: UnixTime) -> ();
    fn is_denied(jti: &str, now: UnixTime) -> bool;
    fn purge(now: UnixTime) -> u64;
});

bounded_store!(SigningKeyStore {
    fn list() -> Vec<StoredSigningKey>;
    fn rotate(key: &StoredSigningKey, now: UnixTime) -> ();
    fn purge_retired(retired_before: UnixTime) -> u64;
});

bounded_store!(UserStore {
    fn get_by_username(username: &str) -> Option<User>;
    fn session_generation(sub: &str) -> Option<u64>;
    fn end_sessions(sub: &str) -> bool;
    fn put(user: &User) -> ();
    fn list() -> Vec<User>;
    fn delete(username: &str) -> Option<User>;
    fn get_federated(upstream_issuer: &str, upstream_sub: &str) -> Option<FederatedUser>;
    fn upsert_federated(user: &FederatedUser) -> FederatedUser;
    fn list_federated() -> Vec<FederatedUser>;
    fn link_federated(username: &str, upstream_issuer: &str, upstream_sub: &str) -> Option<FederatedUser>;
    fn unlink_federated(username: &str, upstream_issuer: &str, upstream_sub: &str) -> bool;
});

bounded_store!(ConsentStore {
    fn granted(sub: &str, client_id: &str, resource: &ResourceUri) -> Option<ScopeSet>;
    fn grant(sub: &str, client_id: &str, resource: &ResourceUri, scopes: &ScopeSet) -> ();
    fn revoke_client(client_id: &str) -> ();
    fn list_for_user(sub: &str) -> Vec<Consent>;
    fn revoke_user(sub: &str, client_id: Option<&str>) -> u64;
});

bounded_store!(ElicitationStore {
    fn insert(elicitation: &PendingElicitation) -> ();
    fn get(id: &str) -> Option<PendingElicitation>;
    fn find_open(binding: &ElicitationBinding<'_>, now: UnixTime) -> Option<PendingElicitation>;
    fn count_open_for_subject(iss: &str, sub: &str, now: UnixTime) -> u64;
    fn begin(id: &str, state_hash: &TokenHash, code_verifier: &Secret, now: UnixTime) -> bool;
    fn find_state(state_hash: &TokenHash, now: UnixTime) -> Option<PendingElicitation>;
    fn spend_state(id: &str, state_hash: &TokenHash, now: UnixTime) -> bool;
    fn finish(id: &str, status: ElicitationStatus, now: UnixTime) -> bool;
    fn purge_expired(now: UnixTime) -> u64;
});

bounded_store!(VaultStore {
    fn put(entry: &SealedEntry) -> ();
    fn replace(old: &SealedEntry, new: &SealedEntry) -> bool;
    fn delete_if(old: &SealedEntry) -> bool;
    fn get(iss: &str, sub: &str, connection: &str) -> Option<SealedEntry>;
    fn delete(iss: &str, sub: &str, connection: &str) -> bool;
    fn list_for_subject(iss: &str, sub: &str) -> Vec<SealedEntry>;
    fn list() -> Vec<SealedEntry>;
});

bounded_store!(SharedCounters {
    fn hit(key: &str, window_secs: u64, now: UnixTime) -> u64;
    fn count(key: &str, window_secs: u64, now: UnixTime) -> u64;
    fn refund(key: &str, window_secs: u64, now: UnixTime) -> ();
    fn purge(now: UnixTime) -> u64;
});

#[async_trait]
impl CimdCache for Bounded<dyn CimdCache> {
    async fn get(&self, url: &str) -> Result<Option<CachedDocument>, StoreError> {
        bounded("CimdCache::get", self.0.get(url)).await
    }

    async fn put(&self, url: &str, entry: CachedDocument) -> Result<(), StoreError> {
        bounded("CimdCache::put", self.0.put(url, entry)).await
    }

    async fn remove(&self, url: &str) -> Result<(), StoreError> {
        bounded("CimdCache::remove", self.0.remove(url)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that never finishes.
    async fn hang() -> Result<(), StoreError> {
        std::future::pending().await
    }

    #[test]
    fn a_call_outside_a_request_has_the_call_deadline() {
        assert_eq!(deadline(None), CALL_DEADLINE);
        assert_eq!(
            deadline(Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(deadline(Some(Duration::from_secs(60))), CALL_DEADLINE);
    }

    #[tokio::test]
    async fn a_request_spends_one_budget_over_all_its_store_calls() {
        let budget = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        let errors = with_request_budget(budget, async {
            let mut errors = Vec::new();
            for _ in 0..5 {
                errors.push(bounded("test", hang()).await.unwrap_err());
            }
            errors
        })
        .await;
        let elapsed = started.elapsed();
        // One budget for the five calls, not five (a bound on behaviour, generous for load).
        assert!(elapsed >= budget && elapsed < 4 * budget, "{elapsed:?}");
        assert!(errors.iter().all(StoreError::is_unavailable));
        assert_eq!(
            errors[0].to_string(),
            "store unavailable: test: no answer within 100 ms"
        );
        assert_eq!(
            errors[1].to_string(),
            "store unavailable: test: the request's store deadline has passed"
        );
    }

    #[tokio::test]
    async fn calls_that_answer_leave_the_rest_of_the_budget() {
        let budget = Duration::from_secs(5);
        let (slow, next, left) = with_request_budget(budget, async {
            let slow = bounded("test", async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(1)
            })
            .await;
            let next = bounded("test", async { Ok(2) }).await;
            (slow, next, BUDGET.with(Cell::get))
        })
        .await;
        assert_eq!((slow, next), (Ok(1), Ok(2)));
        assert!(
            left <= budget - Duration::from_millis(50) && left > Duration::from_secs(4),
            "{left:?}"
        );
    }
}
