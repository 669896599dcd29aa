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
        // Held through the line too, so the JSON lines come in chain order.
        let _turn = self.append_lock.lock().await;
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
