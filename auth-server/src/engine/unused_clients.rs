//! Unused registrations expire (issue 25 §3): a dynamically registered client (RFC 7591) that
//! never received a token within `registration.unused_ttl` of its registration is deleted by the
//! background purge, with any consent given to it. A client is kept while some user's use of it
//! is recorded ([`mcp_auth_core::store::GrantUsageStore::has_use`]) or some user holds a usable
//! refresh token of it (tokens issued before use was recorded count too); operator-provisioned
//! and metadata-document clients are never touched.

use mcp_auth_core::store::Stores;
use mcp_auth_core::{ClientSource, StoreError, UnixTime};

use crate::server::AuthorizationServer;

/// Delete the dynamically registered clients of `stores` registered at or before
/// `now - unused_ttl` that were never used and hold no refresh token; returns how many. An
/// `unused_ttl` of 0 deletes nothing.
///
/// # Errors
/// A store failed; the clients deleted before it stay deleted.
pub async fn purge_unused_clients(
    stores: &Stores,
    unused_ttl: u64,
    now: UnixTime,
) -> Result<u64, StoreError> {
    if unused_ttl == 0 {
        return Ok(0);
    }
    let registered_before = now.saturating_sub_unsigned(unused_ttl);
    let mut removed = 0;
    for client in stores.clients.list().await? {
        if client.source != ClientSource::Dynamic || client.client_id_issued_at > registered_before
        {
            continue;
        }
        let id = client.client_id.as_str();
        if stores.grant_usage.has_use(id).await?
            || stores.refresh_tokens.held_by_client(id, now).await?
        {
            continue;
        }
        if stores.clients.delete(&client.client_id).await? {
            stores.consent.revoke_client(id).await?;
            tracing::info!(client_id = %id, "unused registration expired; client deleted");
            removed += 1;
        }
    }
    Ok(removed)
}

impl AuthorizationServer {
    /// [`purge_unused_clients`] with `registration.unused_ttl`, now (the background purge).
    ///
    /// # Errors
    /// A store failed.
    pub async fn purge_unused_clients(&self) -> Result<u64, StoreError> {
        purge_unused_clients(
            self.stores(),
            self.settings().registration.unused_ttl,
            self.clock().now(),
        )
        .await
    }
}
