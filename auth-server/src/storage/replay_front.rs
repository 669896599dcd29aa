//! The fast path of the `jti` replay check (issue 13, "The replay path"): an in-memory front
//! that refuses what this node has already seen, and group commit of the durable inserts.
//!
//! Every `private_key_jwt` request (and every ID-JAG) claims its `jti` once. Writing each claim
//! in its own statement and transaction costs one round trip and one commit (a WAL flush) per
//! request, which capped that path at a fraction of the `client_secret_basic` path.
//! [`FrontedReplayCache`] keeps the guarantee — a key is accepted once across all nodes and
//! restarts, until it expires — and makes it cheap:
//!
//! - **front**: a map of the keys this node has claimed or seen refused, with their expiry. A
//!   key found there unexpired is refused at once, without the database. The front only ever
//!   refuses (a refusal of a key that was claimed is always right); acceptance comes only from
//!   the durable store. A key is entered in the front *before* its claim is written, so two
//!   concurrent requests with one `jti` on one node never both reach the database; if the write
//!   fails the entry is removed again and the caller gets the error.
//! - **group commit**: claims that miss the front are queued; [`WORKERS`] tasks each take
//!   whatever is queued (up to [`MAX_BATCH`]) and write it with one statement in one
//!   transaction ([`ReplayBatchWriter::insert_batch`]), then answer every waiting request. Under
//!   load many claims share one round trip and one commit; alone, a claim is written at once
//!   (nothing waits for a timer or for a batch to fill). A store that takes one writer at a time
//!   (SQLite) gets one worker ([`ReplayBatchWriter::max_concurrent_batches`]): several would only
//!   queue inside the database, where SQLite's busy handler polls with sleeps growing to 100 ms
//!   and a waiting batch can lose the lock again and again to the worker that just committed (up
//!   to the busy timeout: the `private_key_jwt` p99 of most of a second in issue 26).
//! - **purge**: every `PURGE_EVERY` (4096) claims expired rows are deleted by a task of its own, never
//!   on a request's path.
//!
//! The front is a [`moka`] cache bounded to [`MAX_FRONT`] keys: each key leaves it when it
//! expires, and beyond the bound the least recently used go first (it is a cache; the store stays
//! authoritative). Claiming a key in it is one atomic step per key (`and_compute_with`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{StoreError, UnixTime};
use moka::ops::compute::{CompResult, Op};
use tokio::sync::{mpsc, oneshot};

/// Most claims written by one statement.
pub const MAX_BATCH: usize = 256;

/// Batches in flight at once (one connection each).
pub const WORKERS: usize = 4;

/// Most keys the front remembers.
pub const MAX_FRONT: u64 = 1 << 17;

/// Every this many claims, expired rows are purged from the store.
const PURGE_EVERY: u64 = 4096;

/// Writes claims durably, many at a time.
#[async_trait]
pub trait ReplayBatchWriter: Send + Sync + 'static {
    /// For each `(key, expires_at)` (keys distinct, sorted), store it unless the key is stored
    /// and unexpired at `now` (`expires_at > now`), atomically per key; return, in the same
    /// order, whether each was stored (the "first use").
    ///
    /// # Errors
    /// A [`StoreError`] when the batch could not be written; then none of it counts as first.
    async fn insert_batch(
        &self,
        entries: &[(String, UnixTime)],
        now: UnixTime,
    ) -> Result<Vec<bool>, StoreError>;

    /// Delete entries that expired at or before `now`; returns how many.
    ///
    /// # Errors
    /// A [`StoreError`] when the store fails.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;

    /// How many [`Self::insert_batch`] calls may usefully run at once (1 to [`WORKERS`]): the
    /// number of worker tasks. A store that serializes writers says 1, so that claims wait in
    /// the queue (and join the next batch) rather than inside the store.
    fn max_concurrent_batches(&self) -> usize {
        WORKERS
    }
}

/// One queued claim and where its answer goes.
struct Pending {
    key: String,
    expires_at: UnixTime,
    now: UnixTime,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// A key claimed in the front: when it expires (caller's clock) and how long it had then,
/// seconds (how long the front keeps it on the system clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claimed {
    expires_at: UnixTime,
    lifetime: u64,
}

/// Keeps each front entry for its claim's lifetime.
struct ClaimExpiry;

impl moka::Expiry<String, Claimed> for ClaimExpiry {
    fn expire_after_create(&self, _: &String, claim: &Claimed, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(claim.lifetime))
    }

    fn expire_after_update(
        &self,
        _: &String,
        claim: &Claimed,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(Duration::from_secs(claim.lifetime))
    }
}

/// A [`ReplayCache`] over a [`ReplayBatchWriter`] with an in-memory front and group commit
/// (see the module documentation). The worker tasks start on the first claim, on the runtime
/// that makes it.
pub struct FrontedReplayCache {
    front: moka::sync::Cache<String, Claimed>,
    writer: Arc<dyn ReplayBatchWriter>,
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
    claims: AtomicU64,
}

impl std::fmt::Debug for FrontedReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontedReplayCache")
            .field("front_len", &self.front.entry_count())
            .finish_non_exhaustive()
    }
}

impl FrontedReplayCache {
    /// A cache writing through `writer`.
    pub fn new(writer: Arc<dyn ReplayBatchWriter>) -> Self {
        Self {
            front: moka::sync::Cache::builder()
                .max_capacity(MAX_FRONT)
                // Least recently used first: the newest keys are the ones that matter, and moka's
                // default (TinyLFU) may refuse a new key once full.
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(ClaimExpiry)
                .build(),
            writer,
            queue: OnceLock::new(),
            claims: AtomicU64::new(0),
        }
    }

    /// The queue to the workers, starting them on first use.
    fn queue(&self) -> &mpsc::UnboundedSender<Pending> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..self.writer.max_concurrent_batches().clamp(1, WORKERS) {
                tokio::spawn(worker(Arc::clone(&rx), Arc::clone(&self.writer)));
            }
            tx
        })
    }

    /// Refuse from the front, or claim the key there. Returns `false` when refused.
    fn claim_in_front(&self, key: &str, expires_at: UnixTime, now: UnixTime) -> bool {
        let claim = Claimed {
            expires_at,
            lifetime: u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0),
        };
        let outcome = self
            .front
            .entry_by_ref(key)
            .and_compute_with(|seen| match seen {
                Some(seen) if seen.value().expires_at > now => Op::Nop,
                _ => Op::Put(claim),
            });
        !matches!(outcome, CompResult::Unchanged(_))
    }

    /// Forget this node's claim of `key` (expiring at `expires_at`), unless another replaced it.
    fn forget_claim(&self, key: &str, expires_at: UnixTime) {
        self.front
            .entry_by_ref(key)
            .and_compute_with(|seen| match seen {
                Some(seen) if seen.value().expires_at == expires_at => Op::Remove,
                _ => Op::Nop,
            });
    }
}

/// Take what is queued (at least one claim, at most [`MAX_BATCH`]), write it, answer; repeat.
async fn worker(
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
    writer: Arc<dyn ReplayBatchWriter>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(p) => batch.push(p),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
        }
        // Sorted keys: concurrent batches (other workers, other nodes) lock rows in one order.
        batch.sort_by(|a, b| a.key.cmp(&b.key));
        // The earliest `now` of the batch: an entry counts as expired only if it expired for
        // every claim in it (never more lenient than claiming one by one).
        let now = batch.iter().map(|p| p.now).min().unwrap_or_default();
        let entries: Vec<(String, UnixTime)> = batch
            .iter()
            .map(|p| (p.key.clone(), p.expires_at))
            .collect();
        match writer.insert_batch(&entries, now).await {
            Ok(firsts) if firsts.len() == batch.len() => {
                for (p, first) in batch.into_iter().zip(firsts) {
                    let _ = p.reply.send(Ok(first));
                }
            }
            Ok(_) => {
                for p in batch {
                    let _ = p
                        .reply
                        .send(Err(StoreError::backend("replay batch: wrong answer count")));
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[async_trait]
impl ReplayCache for FrontedReplayCache {
    async fn insert_once(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if !self.claim_in_front(key, expires_at, now) {
            return Ok(false);
        }
        if self.claims.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            // Off the request path; best effort: a failed purge only leaves expired rows for the
            // periodic purge.
            let writer = Arc::clone(&self.writer);
            tokio::spawn(async move {
                let _ = writer.purge(now).await;
            });
        }
        let (reply, answer) = oneshot::channel();
        let sent = self.queue().send(Pending {
            key: key.to_owned(),
            expires_at,
            now,
            reply,
        });
        let result = match sent {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(StoreError::backend("replay writer stopped"))),
            Err(_) => Err(StoreError::backend("replay writer stopped")),
        };
        if result.is_err() {
            // Not written: forget the local claim so that a retry reaches the store.
            self.forget_claim(key, expires_at);
        }
        result
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        for (key, claim) in &self.front {
            if claim.expires_at <= now {
                self.front.invalidate(key.as_str());
            }
        }
        self.writer.purge(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A writer over a map that counts the claims reaching it and can be made to fail.
    #[derive(Default)]
    struct Counting {
        stored: Mutex<HashMap<String, UnixTime>>,
        written: AtomicU64,
        fail: AtomicBool,
    }

    #[async_trait]
    impl ReplayBatchWriter for Counting {
        async fn insert_batch(
            &self,
            entries: &[(String, UnixTime)],
            now: UnixTime,
        ) -> Result<Vec<bool>, StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::backend("down"));
            }
            self.written
                .fetch_add(entries.len() as u64, Ordering::SeqCst);
            let mut stored = lock(&self.stored);
            Ok(entries
                .iter()
                .map(|(k, exp)| {
                    if stored.get(k).is_some_and(|&e| e > now) {
                        false
                    } else {
                        stored.insert(k.clone(), *exp);
                        true
                    }
                })
                .collect())
        }

        async fn purge(&self, _now: UnixTime) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    /// A writer that takes one batch at a time (as SQLite does), records the most batches it
    /// saw in flight at once, and whose purge never finishes.
    #[derive(Default)]
    struct OneAtATime {
        in_flight: AtomicU64,
        most_in_flight: AtomicU64,
        batches: AtomicU64,
    }

    #[async_trait]
    impl ReplayBatchWriter for OneAtATime {
        async fn insert_batch(
            &self,
            entries: &[(String, UnixTime)],
            _now: UnixTime,
        ) -> Result<Vec<bool>, StoreError> {
            let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight
                .fetch_max(now_in_flight, Ordering::SeqCst);
            self.batches.fetch_add(1, Ordering::SeqCst);
            // Give other workers, if any, every chance to start a batch meanwhile.
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(vec![true; entries.len()])
        }

        async fn purge(&self, _now: UnixTime) -> Result<u64, StoreError> {
            std::future::pending().await
        }

        fn max_concurrent_batches(&self) -> usize {
            1
        }
    }

    /// A claim alone is written at once: it waits neither for a timer nor for a batch to fill.
    #[tokio::test]
    async fn a_lone_claim_is_written_at_once() {
        let writer = Arc::new(OneAtATime::default());
        let cache = FrontedReplayCache::new(writer.clone());
        let claim = cache.insert_once("jti-1", 200, 100);
        let answer = tokio::time::timeout(Duration::from_secs(10), claim).await;
        assert!(matches!(answer, Ok(Ok(true))));
        assert_eq!(writer.batches.load(Ordering::SeqCst), 1);
    }

    /// A writer that takes one batch at a time gets one worker: concurrent claims queue in the
    /// front and join the next batch instead of waiting for each other inside the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_single_writer_store_gets_one_batch_at_a_time() {
        let writer = Arc::new(OneAtATime::default());
        let cache = Arc::new(FrontedReplayCache::new(writer.clone()));
        let claims: Vec<_> = (0..64)
            .map(|i| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.insert_once(&format!("jti-{i}"), 200, 100).await })
            })
            .collect();
        for claim in claims {
            assert!(matches!(claim.await, Ok(Ok(true))));
        }
        assert_eq!(writer.most_in_flight.load(Ordering::SeqCst), 1);
    }

    /// The purge every `PURGE_EVERY` claims runs beside the requests: a purge that never
    /// finishes holds up no claim.
    #[tokio::test]
    async fn the_purge_is_not_on_a_claims_path() {
        let writer = Arc::new(OneAtATime::default());
        let cache = FrontedReplayCache::new(writer.clone());
        let claims = async {
            for i in 0..=PURGE_EVERY {
                assert!(cache.insert_once(&format!("jti-{i}"), 200, 100).await?);
            }
            Ok::<(), StoreError>(())
        };
        let done = tokio::time::timeout(Duration::from_secs(30), claims).await;
        assert!(matches!(done, Ok(Ok(()))), "{done:?}");
    }

    #[tokio::test]
    async fn a_key_seen_by_this_node_is_refused_without_the_store() {
        let writer = Arc::new(Counting::default());
        let cache = FrontedReplayCache::new(writer.clone());
        assert!(cache.insert_once("jti-1", 200, 100).await.unwrap());
        assert!(!cache.insert_once("jti-1", 200, 150).await.unwrap());
        assert_eq!(writer.written.load(Ordering::SeqCst), 1);
    }

    /// Two concurrent claims of one key on one node: the front lets one through, the other is
    /// refused without reaching the store.
    #[tokio::test]
    async fn concurrent_claims_of_one_key_reach_the_store_once() {
        let writer = Arc::new(Counting::default());
        let cache = FrontedReplayCache::new(writer.clone());
        let (a, b) = tokio::join!(
            cache.insert_once("jti-1", 200, 100),
            cache.insert_once("jti-1", 200, 100)
        );
        assert_eq!(u8::from(a.unwrap()) + u8::from(b.unwrap()), 1);
        assert_eq!(writer.written.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_store_decides_for_keys_this_node_has_not_seen() {
        let writer = Arc::new(Counting::default());
        // Another node claimed the key.
        lock(&writer.stored).insert("jti-1".into(), 200);
        let cache = FrontedReplayCache::new(writer.clone());
        assert!(!cache.insert_once("jti-1", 200, 100).await.unwrap());
        // An expired key may be claimed again, through the store.
        assert!(cache.insert_once("jti-1", 400, 200).await.unwrap());
        assert_eq!(writer.written.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_write_is_an_error_and_is_not_remembered() {
        let writer = Arc::new(Counting::default());
        let cache = FrontedReplayCache::new(writer.clone());
        writer.fail.store(true, Ordering::SeqCst);
        assert!(cache.insert_once("jti-1", 200, 100).await.is_err());
        writer.fail.store(false, Ordering::SeqCst);
        assert!(cache.insert_once("jti-1", 200, 100).await.unwrap());
    }
}
