//! [`AuditTrail`]: the server's [`AuditSink`]: the durable chain, then the JSON lines.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_core::UnixTime;
use mcp_auth_core::ext::{AuditEvent, AuditSink};
use mcp_auth_core::store::{AuditLog, NewAuditEvent};

use super::JsonLines;

/// Records each event into the chain ([`AuditLog::append`]) and, when configured, writes the
/// stored row as a JSON line. A failure is logged (the event's kind only) and never fails the
/// operation that caused the event.
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    lines: Option<JsonLines>,
    /// One append at a time in this process. Appends are chained, so they are serial anyway
    /// (a write transaction, under an advisory lock on PostgreSQL); waiting here, in arrival
    /// order, keeps concurrent token requests out of SQLite's busy handler, whose sleeps
    /// (1 to 100 ms, no queue) gave the replay claims a latency tail of hundreds of
    /// milliseconds (bench/README.md, "The private_key_jwt tail").
    append_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// A trail over `log`, also writing JSON `lines` when given.
    pub fn new(log: Arc<dyn AuditLog>, lines: Option<JsonLines>) -> Self {
        Self {
            log,
            lines,
            append_lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait]
impl AuditSink for AuditTrail {
    async fn record(&self, at: UnixTime, event: &AuditEvent) {
        let data = match serde_json::to_string(event) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(kind = event.kind(), error = %e, "audit event not serializable");
                return;
            }
        };
        let new = NewAuditEvent {
            at,
            kind: event.kind(),
            sub: event.sub(),
            client_id: event.client_id(),
            data: &data,
        };
        // Held through the line too, so the JSON lines come in chain order. Waiting for the
        // turn counts against the request's store budget (`storage::deadline`), like the
        // append itself: when the database is gone each append takes its whole deadline, and
        // an unbounded wait here queued requests behind one another far past the budget (a
        // 10 s database cut left token requests unanswered for more than 5 s; bench/soak.sh).
        let turn = crate::storage::deadline::bounded("AuditTrail::turn", async {
            Ok(self.append_lock.lock().await)
        })
        .await;
        let _turn = match turn {
            Ok(turn) => turn,
            Err(e) => {
                tracing::error!(kind = event.kind(), error = %e, "audit event not recorded");
                return;
            }
        };
        match self.log.append(&new).await {
            Ok(row) => {
                if let Some(lines) = &self.lines
                    && let Err(e) = lines.write(&row)
                {
                    tracing::error!(kind = event.kind(), error = %e, "audit line not written");
                }
            }
            Err(e) => {
                tracing::error!(kind = event.kind(), error = %e, "audit event not recorded");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::StoreError;
    use mcp_auth_core::store::{AuditFilter, AuditRow};
    use std::time::Duration;

    /// An audit log whose appends never finish (a database that accepts and never answers).
    struct Hanging;

    #[async_trait]
    impl AuditLog for Hanging {
        async fn append(&self, _: &NewAuditEvent<'_>) -> Result<AuditRow, StoreError> {
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

    /// A request waiting for its turn behind an append that does not finish gives up when its
    /// store budget is spent, instead of queueing for as long as the appends before it take.
    #[tokio::test]
    async fn waiting_for_the_turn_is_bounded_by_the_request_budget() {
        let trail = Arc::new(AuditTrail::new(Arc::new(Hanging), None));
        let holder = trail.clone();
        // Holds the turn for ever: its append is not bounded here (the server's stores are).
        tokio::spawn(async move { holder.record(0, &event()).await });
        tokio::task::yield_now().await;
        let budget = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            crate::storage::deadline::with_request_budget(budget, trail.record(0, &event())),
        )
        .await;
        assert!(waited.is_ok(), "still waiting for the turn after 5 s");
        assert!(started.elapsed() >= budget);
    }
}
