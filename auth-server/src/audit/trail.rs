//! [`AuditTrail`]: the server's [`AuditSink`]: the durable chain, then the JSON lines.
//!
//! Appends are chained, so they are serial: each one reads the chain's head and writes the next
//! row in a write transaction (under an advisory lock on PostgreSQL; SQLite takes one writer at
//! a time). One transaction and one commit per event capped every request that records one (a
//! `client_credentials` token, a code redemption, a refresh) at the database's commit rate,
//! whatever the rest of the request cost. So events are written by **group commit**, like the
//! replay claims (`storage::replay_front`): [`AuditTrail::record`] queues the event and waits;
//! one writer task takes everything queued (at most [`MAX_BATCH`] events) and appends it with
//! [`AuditLog::append_batch`], one transaction for the lot, then writes their JSON lines in
//! chain order and answers each waiting request. Alone, an event is written at once (nothing
//! waits for a timer or for a batch to fill); under load, many events share one commit.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use mcp_auth_core::StoreError;
use mcp_auth_core::UnixTime;
use mcp_auth_core::ext::{AuditEvent, AuditSink};
use mcp_auth_core::store::{AuditLog, NewAuditEvent};
use tokio::sync::{mpsc, oneshot};

use super::JsonLines;

/// Most events appended by one transaction.
pub const MAX_BATCH: usize = 256;

/// Most events waiting for the writer. Beyond it (a database that stopped answering while
/// requests still record events) an event is refused at once, logged as not recorded, rather
/// than held in memory.
pub const MAX_QUEUED: usize = 16_384;

/// Records each event into the chain ([`AuditLog::append_batch`], by group commit: see the
/// module documentation) and, when configured, writes the stored row as a JSON line. A failure
/// is logged (the event's kind only) and never fails the operation that caused the event.
///
/// The writer task starts with the first event, on the runtime that records it, and ends when
/// the trail is dropped (after writing what is queued).
pub struct AuditTrail {
    writer: Arc<Writer>,
    queue: OnceLock<mpsc::Sender<Queued>>,
}

/// What the writer task needs: the chain and the JSON lines.
struct Writer {
    log: Arc<dyn AuditLog>,
    lines: Option<JsonLines>,
}

/// One event waiting for the writer, and where its outcome goes.
struct Queued {
    at: UnixTime,
    kind: &'static str,
    sub: Option<String>,
    client_id: Option<String>,
    data: String,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

impl Queued {
    fn as_new(&self) -> NewAuditEvent<'_> {
        NewAuditEvent {
            at: self.at,
            kind: self.kind,
            sub: self.sub.as_deref(),
            client_id: self.client_id.as_deref(),
            data: &self.data,
        }
    }
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("lines", &self.writer.lines)
            .finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// A trail over `log`, also writing JSON `lines` when given.
    pub fn new(log: Arc<dyn AuditLog>, lines: Option<JsonLines>) -> Self {
        Self {
            writer: Arc::new(Writer { log, lines }),
            queue: OnceLock::new(),
        }
    }

    /// The queue to the writer task, starting it on first use.
    fn queue(&self) -> &mpsc::Sender<Queued> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_QUEUED);
            tokio::spawn(write_queued(rx, Arc::clone(&self.writer)));
            tx
        })
    }
}

/// Take what is queued (at least one event, at most [`MAX_BATCH`]), append it, write its lines,
/// answer; repeat until the trail is gone.
async fn write_queued(mut rx: mpsc::Receiver<Queued>, writer: Arc<Writer>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(queued) => batch.push(queued),
                Err(_) => break,
            }
        }
        let events: Vec<NewAuditEvent<'_>> = batch.iter().map(Queued::as_new).collect();
        // Each batch gets the store time of one request, as each append had when requests
        // wrote their own.
        let appended = crate::storage::deadline::with_request_budget(
            crate::storage::deadline::REQUEST_STORE_BUDGET,
            writer.log.append_batch(&events),
        )
        .await;
        drop(events);
        match appended {
            Ok(rows) => {
                if let Some(lines) = &writer.lines {
                    for row in &rows {
                        if let Err(e) = lines.write(row) {
                            tracing::error!(kind = row.kind, error = %e, "audit line not written");
                        }
                    }
                }
                for queued in batch {
                    let _ = queued.reply.send(Ok(()));
                }
            }
            Err(e) => {
                for queued in batch {
                    let _ = queued.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[async_trait]
impl AuditSink for AuditTrail {
    async fn record(&self, at: UnixTime, event: &AuditEvent) {
        let kind = event.kind();
        let data = match serde_json::to_string(event) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(kind, error = %e, "audit event not serializable");
                return;
            }
        };
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            at,
            kind,
            sub: event.sub().map(str::to_owned),
            client_id: event.client_id().map(str::to_owned),
            data,
            reply,
        };
        if let Err(e) = self.queue().try_send(queued) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the audit queue is full",
                mpsc::error::TrySendError::Closed(_) => "the audit writer stopped",
            };
            tracing::error!(kind, error = why, "audit event not recorded");
            return;
        }
        // Waiting for the writer counts against the request's store budget
        // (`storage::deadline`), like an append of its own would: when the database is gone a
        // batch takes its whole deadline, and the events queued behind it must not hold their
        // requests past the budget (a 10 s database cut once left token requests unanswered for
        // more than 5 s; bench/soak.sh). An event given up on here may still be written.
        let outcome = crate::storage::deadline::bounded("AuditTrail::record", async {
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError::backend("the audit writer stopped")))
        })
        .await;
        if let Err(e) = outcome {
            tracing::error!(kind, error = %e, "audit event not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::store::{AuditFilter, AuditRow, MemoryAuditLog};
    use std::time::Duration;

    /// An audit log whose appends never finish (a database that accepts and never answers).
    struct Hanging;

    #[async_trait]
    impl AuditLog for Hanging {
        async fn append_batch(&self, _: &[NewAuditEvent<'_>]) -> Result<Vec<AuditRow>, StoreError> {
            std::future::pending().await
        }
        async fn list(&self, _: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn chain(&self) -> Result<Vec<AuditRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn prune(&self, _: UnixTime) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn event() -> AuditEvent {
        AuditEvent::SignIn {
            sub: Some("u".into()),
            outcome: "success".into(),
            reason: None,
            upstream: None,
            development: false,
        }
    }

    /// A request waiting for the writer behind an append that does not finish gives up when its
    /// store budget is spent, instead of waiting for as long as the appends before it take.
    #[tokio::test]
    async fn waiting_for_the_writer_is_bounded_by_the_request_budget() {
        let trail = Arc::new(AuditTrail::new(Arc::new(Hanging), None));
        let holder = trail.clone();
        // Its batch never finishes within the writer's budget.
        tokio::spawn(async move { holder.record(0, &event()).await });
        tokio::task::yield_now().await;
        let budget = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            crate::storage::deadline::with_request_budget(budget, trail.record(0, &event())),
        )
        .await;
        assert!(waited.is_ok(), "still waiting for the writer after 5 s");
        assert!(started.elapsed() >= budget);
    }

    /// A memory log that counts its batches; the first waits until the gate opens.
    struct Gated {
        inner: MemoryAuditLog,
        batches: std::sync::Mutex<Vec<usize>>,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait]
    impl AuditLog for Gated {
        async fn append_batch(
            &self,
            events: &[NewAuditEvent<'_>],
        ) -> Result<Vec<AuditRow>, StoreError> {
            let first = {
                let mut batches = self.batches.lock().unwrap();
                batches.push(events.len());
                batches.len() == 1
            };
            if first {
                self.gate.acquire().await.unwrap().forget();
            }
            self.inner.append_batch(events).await
        }
        async fn list(&self, _: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn chain(&self) -> Result<Vec<AuditRow>, StoreError> {
            self.inner.chain().await
        }
        async fn prune(&self, _: UnixTime) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    /// Group commit: events recorded while a batch is being written are appended together by
    /// the next batch, in one chain, and every request gets its answer.
    #[tokio::test]
    async fn events_queued_behind_a_batch_share_the_next_one() {
        let log = Arc::new(Gated {
            inner: MemoryAuditLog::default(),
            batches: std::sync::Mutex::default(),
            gate: tokio::sync::Semaphore::new(0),
        });
        let trail = Arc::new(AuditTrail::new(log.clone(), None));
        let mut recorded = tokio::task::JoinSet::new();
        let first = trail.clone();
        recorded.spawn(async move { first.record(1, &event()).await });
        while log.batches.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        for at in 2..=50 {
            let trail = trail.clone();
            recorded.spawn(async move { trail.record(at, &event()).await });
        }
        // Every one of them queued behind the gated batch.
        while trail.queue().capacity() > MAX_QUEUED - 49 {
            tokio::task::yield_now().await;
        }
        log.gate.add_permits(1);
        while let Some(done) = recorded.join_next().await {
            done.unwrap();
        }
        assert_eq!(*log.batches.lock().unwrap(), [1, 49]);
        let chain = log.inner.chain().await.unwrap();
        assert_eq!(chain.len(), 50);
        assert_eq!(chain[0].seq, 1);
        assert_eq!(crate::audit::verify::verify(&chain), Ok(50));
    }
}
