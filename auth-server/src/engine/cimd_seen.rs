//! `cimd_client_seen` (issue 25 §2): the first time a Client ID Metadata Document client
//! (SEP-991) is fetched and admitted, recorded once per client, not once per fetch or per
//! request.
//!
//! "First" is kept in the shared single-use store ([`mcp_auth_core::store::ReplayCache`], so
//! one node's record holds for every node) under `cimd_seen:<SHA-256 of the client_id>` for the
//! audit retention (`[audit] keep_days`): a client still in use after its event was pruned is
//! recorded again, so the trail always names the clients it has events of. A per-node memory
//! ([`SeenClients`]) keeps the store out of the hot path after the first request.

use std::time::Duration;

use mcp_auth_core::{Client, ClientSource, TokenHash};

use crate::server::AuthorizationServer;

/// How many client ids a node remembers as recorded.
const REMEMBERED: u64 = 10_000;
/// How long a node trusts its memory before asking the store again.
const REMEMBER_FOR: Duration = Duration::from_secs(3600);

/// The CIMD clients this node knows are recorded (bounded, forgetting after an hour).
#[derive(Clone)]
pub(crate) struct SeenClients(moka::sync::Cache<String, ()>);

impl Default for SeenClients {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(REMEMBERED)
                .time_to_live(REMEMBER_FOR)
                .build(),
        )
    }
}

impl AuthorizationServer {
    /// Record `cimd_client_seen` for `client` when it came from a metadata document and no
    /// node recorded it within the retention. A store failure is logged and recorded nothing
    /// (the next request tries again); it never fails the request.
    pub(crate) async fn note_cimd_client(&self, client: &Client) {
        if client.source != ClientSource::MetadataDocument {
            return;
        }
        let id = client.client_id.as_str();
        let seen = &self.inner.cimd_seen.0;
        if seen.contains_key(id) {
            return;
        }
        let now = self.inner.clock.now();
        let keep = i64::from(self.inner.settings.audit_keep_days.max(1)) * 24 * 3600;
        let key = format!("cimd_seen:{}", TokenHash::of(id).as_str());
        match self
            .inner
            .stores
            .replay
            .insert_once(&key, now.saturating_add(keep), now)
            .await
        {
            Ok(first) => {
                seen.insert(id.to_owned(), ());
                if first {
                    self.audit(mcp_auth_core::ext::AuditEvent::CimdClientSeen {
                        client_id: id.to_owned(),
                        client_name: client.client_name.clone(),
                    })
                    .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not note a metadata document client"),
        }
    }
}
