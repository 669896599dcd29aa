//! Retention (`[audit] keep_days`): the background purge deletes older events and records that
//! it did.

use mcp_auth_core::StoreError;
use mcp_auth_core::ext::AuditEvent;

use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// Delete audit events older than [`crate::ServerSettings::audit_keep_days`] (the chain's
    /// head always stays) and, when some were deleted, record an
    /// [`AuditEvent::AuditPruned`]. Returns how many were deleted.
    ///
    /// # Errors
    /// The store failed.
    pub async fn prune_audit(&self) -> Result<u64, StoreError> {
        let keep = i64::from(self.settings().audit_keep_days) * 24 * 3600;
        let before = self.clock().now() - keep;
        let events = self.stores().audit.prune(before).await?;
        if events > 0 {
            self.audit(AuditEvent::AuditPruned { before, events }).await;
        }
        Ok(events)
    }
}
