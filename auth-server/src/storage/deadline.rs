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

use super::write_turn::WriteTurn;

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

/// A store whose every call runs under [`bounded`]; with a [`Writer`], each call that writes
/// (a `write fn` below) takes the writer's turn first, the wait included in its deadline, and
/// goes to the writer's store, while reads go to `inner`.
pub struct Bounded<T: ?Sized> {
    inner: Arc<T>,
    writer: Option<Writer<T>>,
}

/// Where a [`Bounded`] store's writes go: `store` (on SQLite, the same store over the
/// database's one writing connection, whose page cache no other connection's write then
/// invalidates), one at a time by `turn`.
pub struct Writer<T: ?Sized> {
    store: Arc<T>,
    turn: WriteTurn,
}

impl<T: ?Sized> Writer<T> {
    /// Writes through `store`, taking `turn` (shared by every store of one SQLite database).
    pub fn new(store: Arc<T>, turn: WriteTurn) -> Self {
        Self { store, turn }
    }

    /// Wait for the turn, then the store to write with.
    async fn take(&self) -> (tokio::sync::MutexGuard<'_, ()>, &T) {
        (self.turn.take().await, &*self.store)
    }
}

impl<T: ?Sized> Bounded<T> {
    /// Bound every call of `inner`.
    pub fn new(inner: Arc<T>) -> Self {
        Self {
            inner,
            writer: None,
        }
    }

    /// Bound every call of `inner` (which then only reads), and send the writes to `writer`.
    pub fn with_writer(inner: Arc<T>, writer: Writer<T>) -> Self {
        Self {
            inner,
            writer: Some(writer),
        }
    }
}

impl<T: ?Sized> std::fmt::Debug for Bounded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bounded(..)")
    }
}

/// The stores `stores` with every call bounded (see the module documentation). With
/// `writers` (SQLite: the same stores over the database's writing connection, and its
/// [`WriteTurn`]), every write goes to the writers' store after taking the turn, and `stores`
/// only read.
pub fn bound(stores: Stores, writers: Option<(Stores, WriteTurn)>) -> Stores {
    let Some((w, turn)) = writers else {
        return Stores {
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
        };
    };
    fn split<T: ?Sized>(reader: Arc<T>, writer: Arc<T>, turn: &WriteTurn) -> Arc<Bounded<T>> {
        Arc::new(Bounded::with_writer(
            reader,
            Writer::new(writer, turn.clone()),
        ))
    }
    Stores {
        clients: split(stores.clients, w.clients, &turn),
        codes: split(stores.codes, w.codes, &turn),
        refresh_tokens: split(stores.refresh_tokens, w.refresh_tokens, &turn),
        replay: split(stores.replay, w.replay, &turn),
        denylist: split(stores.denylist, w.denylist, &turn),
        keys: split(stores.keys, w.keys, &turn),
        users: split(stores.users, w.users, &turn),
        consent: split(stores.consent, w.consent, &turn),
        elicitations: split(stores.elicitations, w.elicitations, &turn),
        vault: split(stores.vault, w.vault, &turn),
        grant_usage: split(stores.grant_usage, w.grant_usage, &turn),
        audit: split(stores.audit, w.audit, &turn),
    }
}

/// `impl Trait for Bounded<dyn Trait>`: each listed method calls a store's under [`bounded`],
/// named `Trait::method`. A `write fn` goes to the [`Writer`] when there is one, after taking
/// its [`WriteTurn`]; a `read fn` always goes to the inner store and takes no turn.
macro_rules! bounded_store {
    ($trait:ident { $( $kind:ident fn $name:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty ; )* }) => {
        #[async_trait]
        impl $trait for Bounded<dyn $trait> {
            $(
                async fn $name(&self, $( $arg: $ty ),*) -> Result<$ret, StoreError> {
                    bounded(concat!(stringify!($trait), "::", stringify!($name)), async {
                        bounded_store!(@call $kind self $name ($( $arg ),*))
                    })
                    .await
                }
            )*
        }
    };
    (@call write $self:ident $name:ident ($( $arg:ident ),*)) => {
        match &$self.writer {
            Some(writer) => {
                let (_turn, store) = writer.take().await;
                store.$name($( $arg ),*).await
            }
            None => $self.inner.$name($( $arg ),*).await,
        }
    };
    (@call read $self:ident $name:ident ($( $arg:ident ),*)) => { $self.inner.$name($( $arg ),*).await };
}

bounded_store!(ClientStore {
    read fn get(client_id: &ClientId) -> Option<Client>;
    write fn put(client: &Client) -> ();
    write fn delete(client_id: &ClientId) -> bool;
    read fn list() -> Vec<Client>;
});

bounded_store!(AuthorizationCodeStore {
    write fn insert(code: &AuthorizationCode) -> ();
    write fn take(code_hash: &str, now: UnixTime) -> CodeTake;
    write fn record_issued(code_hash: &str, issued: &IssuedTokens) -> ();
    write fn purge(now: UnixTime) -> u64;
});

bounded_store!(RefreshTokenStore {
    write fn insert(token: &RefreshToken) -> bool;
    read fn get(token_hash: &str) -> Option<RefreshToken>;
    write fn spend(token_hash: &str) -> bool;
    write fn revoke_family(family_id: &str) -> Vec<RevokedAccess>;
    write fn revoke_client(client_id: &str) -> Vec<RevokedAccess>;
    write fn revoke_subject(sub: &str, client_id: Option<&str>) -> Vec<RevokedAccess>;
    read fn held_by_subject(sub: &str, now: UnixTime) -> Vec<(String, ResourceUri)>;
    read fn held_by_client(client_id: &str, now: UnixTime) -> bool;
    write fn purge(now: UnixTime) -> u64;
});

bounded_store!(AuditLog {
    write fn append(event: &NewAuditEvent<'_>) -> AuditRow;
    write fn append_batch(events: &[NewAuditEvent<'_>]) -> Vec<AuditRow>;
    read fn list(filter: &AuditFilter) -> Vec<AuditRow>;
    read fn chain() -> Vec<AuditRow>;
    write fn prune(before: UnixTime) -> u64;
});

bounded_store!(GrantUsageStore {
    write fn record_use(sub: &str, client_id: &str, resource: &ResourceUri, at: UnixTime) -> ();
    read fn list_for_user(sub: &str) -> Vec<GrantUse>;
    write fn cut_off(sub: &str, client_id: &str, at: UnixTime) -> u64;
    read fn cut_off_at(sub: &str, client_id: &str) -> Option<UnixTime>;
    write fn purge_cut_offs(before: UnixTime) -> u64;
    read fn has_use(client_id: &str) -> bool;
});

bounded_store!(ReplayCache {
    write fn insert_once(key: &str, expires_at: UnixTime, now: UnixTime) -> bool;
    write fn purge(now: UnixTime) -> u64;
});

bounded_store!(AccessTokenDenylist {
    write fn deny(jti: &str, exp: UnixTime) -> ();
    read fn is_denied(jti: &str, now: UnixTime) -> bool;
    write fn purge(now: UnixTime) -> u64;
});

bounded_store!(SigningKeyStore {
    read fn list() -> Vec<StoredSigningKey>;
    write fn rotate(key: &StoredSigningKey, now: UnixTime) -> ();
    write fn purge_retired(retired_before: UnixTime) -> u64;
});

bounded_store!(UserStore {
    read fn get_by_username(username: &str) -> Option<User>;
    read fn session_generation(sub: &str) -> Option<u64>;
    write fn end_sessions(sub: &str) -> bool;
    write fn put(user: &User) -> ();
    read fn list() -> Vec<User>;
    write fn delete(username: &str) -> Option<User>;
    read fn get_federated(upstream_issuer: &str, upstream_sub: &str) -> Option<FederatedUser>;
    write fn upsert_federated(user: &FederatedUser) -> FederatedUser;
    read fn list_federated() -> Vec<FederatedUser>;
    write fn link_federated(username: &str, upstream_issuer: &str, upstream_sub: &str) -> Option<FederatedUser>;
    write fn unlink_federated(username: &str, upstream_issuer: &str, upstream_sub: &str) -> bool;
});

bounded_store!(ConsentStore {
    read fn granted(sub: &str, client_id: &str, resource: &ResourceUri) -> Option<ScopeSet>;
    write fn grant(sub: &str, client_id: &str, resource: &ResourceUri, scopes: &ScopeSet) -> ();
    write fn revoke_client(client_id: &str) -> ();
    read fn list_for_user(sub: &str) -> Vec<Consent>;
    write fn revoke_user(sub: &str, client_id: Option<&str>) -> u64;
});

bounded_store!(ElicitationStore {
    write fn insert(elicitation: &PendingElicitation) -> ();
    read fn get(id: &str) -> Option<PendingElicitation>;
    read fn find_open(binding: &ElicitationBinding<'_>, now: UnixTime) -> Option<PendingElicitation>;
    read fn count_open_for_subject(iss: &str, sub: &str, now: UnixTime) -> u64;
    write fn begin(id: &str, state_hash: &TokenHash, code_verifier: &Secret, now: UnixTime) -> bool;
    read fn find_state(state_hash: &TokenHash, now: UnixTime) -> Option<PendingElicitation>;
    write fn spend_state(id: &str, state_hash: &TokenHash, now: UnixTime) -> bool;
    write fn finish(id: &str, status: ElicitationStatus, now: UnixTime) -> bool;
    write fn purge_expired(now: UnixTime) -> u64;
});

bounded_store!(VaultStore {
    write fn put(entry: &SealedEntry) -> ();
    write fn replace(old: &SealedEntry, new: &SealedEntry) -> bool;
    write fn delete_if(old: &SealedEntry) -> bool;
    read fn get(iss: &str, sub: &str, connection: &str) -> Option<SealedEntry>;
    write fn delete(iss: &str, sub: &str, connection: &str) -> bool;
    read fn list_for_subject(iss: &str, sub: &str) -> Vec<SealedEntry>;
    read fn list() -> Vec<SealedEntry>;
});

bounded_store!(SharedCounters {
    read fn hit(key: &str, window_secs: u64, now: UnixTime) -> u64;
    read fn count(key: &str, window_secs: u64, now: UnixTime) -> u64;
    read fn refund(key: &str, window_secs: u64, now: UnixTime) -> ();
    read fn purge(now: UnixTime) -> u64;
});

#[async_trait]
impl CimdCache for Bounded<dyn CimdCache> {
    async fn get(&self, url: &str) -> Result<Option<CachedDocument>, StoreError> {
        bounded("CimdCache::get", self.inner.get(url)).await
    }

    async fn put(&self, url: &str, entry: CachedDocument) -> Result<(), StoreError> {
        bounded("CimdCache::put", self.inner.put(url, entry)).await
    }

    async fn remove(&self, url: &str) -> Result<(), StoreError> {
        bounded("CimdCache::remove", self.inner.remove(url)).await
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

    /// A public client to store and read back.
    fn public_client() -> Client {
        mcp_auth_conformance::server::client(
            "c1",
            mcp_auth_core::types::TokenEndpointAuthMethod::None,
            None,
            &["authorization_code"],
            &["https://app.example/cb"],
        )
    }

    /// With a write turn, a call that writes waits for the turn (the wait counted against its
    /// deadline), and a call that reads never does.
    #[tokio::test]
    async fn writes_take_the_turn_and_reads_do_not() {
        let turn = WriteTurn::new();
        let memory = Stores::in_memory();
        let stores = bound(memory.clone(), Some((memory, turn.clone())));
        let client = public_client();
        stores.clients.put(&client).await.unwrap();

        let held = turn.take().await;
        let budget = Duration::from_millis(100);
        let id = client.client_id.clone();
        let read = with_request_budget(budget, stores.clients.get(&id)).await;
        assert!(read.unwrap().is_some(), "a read does not wait for the turn");
        let write = with_request_budget(budget, stores.clients.put(&client)).await;
        assert!(
            matches!(write, Err(StoreError::Unavailable(_))),
            "a write waits for the turn, within its deadline: {write:?}"
        );
        drop(held);
        with_request_budget(budget, stores.clients.put(&client))
            .await
            .unwrap();
    }

    /// With a writer, writes reach the writer's store and reads the inner one (on SQLite: the
    /// writing connection and the reading ones of the same database).
    #[tokio::test]
    async fn writes_go_to_the_writer_and_reads_to_the_inner_store() {
        let (readers, writers) = (Stores::in_memory(), Stores::in_memory());
        let stores = bound(readers.clone(), Some((writers.clone(), WriteTurn::new())));
        let client = public_client();
        stores.clients.put(&client).await.unwrap();
        let id = client.client_id.clone();
        assert!(writers.clients.get(&id).await.unwrap().is_some());
        assert!(readers.clients.get(&id).await.unwrap().is_none());
        assert!(
            stores.clients.get(&id).await.unwrap().is_none(),
            "read from the readers"
        );
        readers.clients.put(&client).await.unwrap();
        assert!(stores.clients.get(&id).await.unwrap().is_some());
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
