//! The core grant handlers and token exchangers, one per file.

mod authorization_code;
mod on_behalf_of;
mod refresh_token;

pub use authorization_code::AuthorizationCodeGrant;
pub use on_behalf_of::MAX_ACTOR_DEPTH;
pub(crate) use on_behalf_of::OnBehalfOf;
pub use refresh_token::RefreshTokenGrant;

use mcp_auth_core::store::{RevokedAccess, Stores};
use mcp_auth_core::{OAuthError, UnixTime};

/// Deny every access token of a revoked family or code redemption until it expires.
pub(crate) async fn deny_all(
    stores: &Stores,
    revoked: &[RevokedAccess],
    now: UnixTime,
) -> Result<(), OAuthError> {
    for r in revoked.iter().filter(|r| r.exp > now) {
        stores.denylist.deny(&r.jti, r.exp).await?;
    }
    Ok(())
}
