use async_trait::async_trait;

use crate::client::Client;
use crate::error::OAuthError;
use crate::types::ClientId;

/// Finds the client record for a `client_id`: the client store for registered clients, a
/// metadata-document resolver for URL-shaped ids (SEP-991). Resolvers are asked in registration
/// order; the first whose [`ClientResolver::handles`] is true answers.
#[async_trait]
pub trait ClientResolver: Send + Sync {
    /// True when this resolver is responsible for `client_id`.
    fn handles(&self, client_id: &ClientId) -> bool;

    /// The client, `Ok(None)` when unknown. A failure to fetch or validate a metadata document is
    /// an `Err` (`invalid_client`), never a redirect.
    async fn resolve(&self, client_id: &ClientId) -> Result<Option<Client>, OAuthError>;

    /// True when operator policy trusts `client_id` enough that the user's consent may be
    /// approved without a prompt (e.g. metadata documents on an operator-listed host). No I/O.
    /// Default: `false`.
    fn is_trusted(&self, _client_id: &ClientId) -> bool {
        false
    }
}
