//! The vault's audit events (issue 25 §2): a connection added, removed or refreshed, for the
//! user of the slot. Recorded through the server's sink once it is lent
//! ([`VaultAudit::lend`], at server build); before that (or in a command that lends none)
//! nothing is recorded here. Never a credential: the connection's name and the user only.

use std::sync::{Arc, OnceLock};

use mcp_auth_core::Clock;
use mcp_auth_core::ext::{AuditEvent, AuditSink};

/// Where the vault records its events, once lent.
#[derive(Default)]
pub(crate) struct VaultAudit(OnceLock<(Arc<dyn AuditSink>, Arc<dyn Clock>)>);

impl VaultAudit {
    /// Record with `sink`, at `clock`'s time, from now on (the first call wins).
    pub(crate) fn lend(&self, sink: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) {
        let _ = self.0.set((sink, clock));
    }

    /// `connection_added`: a credential of kind `credential` (`oauth`, `api_key`) sealed for
    /// user `sub`.
    pub(crate) async fn added(&self, sub: &str, connection: &str, credential: &str) {
        self.record(AuditEvent::ConnectionAdded {
            sub: sub.to_owned(),
            connection: connection.to_owned(),
            credential: credential.to_owned(),
        })
        .await;
    }

    /// `connection_removed` for `reason` (`removed` or `expired`).
    pub(crate) async fn removed(&self, sub: &str, connection: &str, reason: &str) {
        self.record(AuditEvent::ConnectionRemoved {
            sub: sub.to_owned(),
            connection: connection.to_owned(),
            reason: reason.to_owned(),
        })
        .await;
    }

    /// `connection_refreshed`.
    pub(crate) async fn refreshed(&self, sub: &str, connection: &str) {
        self.record(AuditEvent::ConnectionRefreshed {
            sub: sub.to_owned(),
            connection: connection.to_owned(),
        })
        .await;
    }

    async fn record(&self, event: AuditEvent) {
        if let Some((sink, clock)) = self.0.get() {
            sink.record(clock.now(), &event).await;
        }
    }
}
