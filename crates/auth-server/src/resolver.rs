//! The client resolver for registered clients (admin and dynamic registration).

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::ext::ClientResolver;
use auth_core::store::ClientStore;
use auth_core::{Client, ClientId, OAuthError};

/// Resolves any `client_id` from the client store. URL-shaped ids (SEP-991) are left to a
/// metadata-document resolver: this one never answers for them, so a registered record can never
/// impersonate a metadata document.
pub struct StoreClientResolver {
    clients: Arc<dyn ClientStore>,
}

impl StoreClientResolver {
    /// A resolver over `clients`.
    pub fn new(clients: Arc<dyn ClientStore>) -> Self {
        Self { clients }
    }
}

#[async_trait]
impl ClientResolver for StoreClientResolver {
    fn handles(&self, client_id: &ClientId) -> bool {
        !client_id.is_metadata_document_url()
    }

    async fn resolve(&self, client_id: &ClientId) -> Result<Option<Client>, OAuthError> {
        Ok(self.clients.get(client_id).await?)
    }
}
