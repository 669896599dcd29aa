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
//!   (nothing waits for a batch to fill).
//!
//! The front is bounded ([`MAX_FRONT`] keys): beyond it, expired entries are dropped, and if
//! that is not enough the front is cleared (it is a cache; the store stays authoritative).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::{StoreError, UnixTime};
use tokio::sync::{mpsc, oneshot};

/// Most claims written by one statement.
pub const MAX_BATCH: usize = 256;

/// Batches in flight at once (one connection each).
pub const WORKERS: usize = 4;

/// Most keys the front remembers.
pub const MAX_FRONT: usize = 1 << 17;

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
}

/// One queued claim and where its answer goes.
struct Pending {
    key: String,
    expires_at: UnixTime,
    now: UnixTime,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// A [`ReplayCache`] over a [`ReplayBatchWriter`] with an in-memory front and group commit
/// (see the module documentation). The worker tasks start on the first claim, on the runtime
/// that makes it.
pub struct FrontedReplayCache {
    front: Mutex<HashMap<String, UnixTime>>,
    writer: Arc<dyn ReplayBatchWriter>,
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
    claims: AtomicU64,
}

impl std::fmt::Debug for FrontedReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontedReplayCache")
            .field("front_len", &lock(&self.front).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FrontedReplayCache {
    /// A cache writing through `writer`.
    pub fn new(writer: Arc<dyn ReplayBatchWriter>) -> Self {
        Self {
            front: Mutex::new(HashMap::new()),
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
            for _ in 0..WORKERS {
                tokio::spawn(worker(Arc::clone(&rx), Arc::clone(&self.writer)));
            }
            tx
        })
    }

    /// Refuse from the front, or claim the key there. Returns `false` when refused.
    fn claim_in_front(&self, key: &str, expires_at: UnixTime, now: UnixTime) -> bool {
        let mut front = lock(&self.front);
        if front.get(key).is_some_and(|&exp| exp > now) {
            return false;
        }
        if front.len() >= MAX_FRONT {
            front.retain(|_, exp| *exp > now);
            if front.len() >= MAX_FRONT {
                front.clear();
            }
        }
        front.insert(key.to_owned(), expires_at);
        true
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
            // Best effort: a failed purge only leaves expired rows for the periodic purge.
            let _ = self.writer.purge(now).await;
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
            let mut front = lock(&self.front);
            if front.get(key) == Some(&expires_at) {
                front.remove(key);
            }
        }
        result
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        lock(&self.front).retain(|_, exp| *exp > now);
        self.writer.purge(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

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

    #[tokio::test]
    async fn a_key_seen_by_this_node_is_refused_without_the_store() {
        let writer = Arc::new(Counting::default());
        let cache = FrontedReplayCache::new(writer.clone());
        assert!(cache.insert_once("jti-1", 200, 100).await.unwrap());
        assert!(!cache.insert_once("jti-1", 200, 150).await.unwrap());
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
