//! The `subject_token` an MCP server presents in an RFC 8693 exchange on its user's behalf
//! (the connection broker at `/connect/token`, on-behalf-of at `/token`): one of this server's
//! access tokens, for a resource the caller is the MCP server of, with a user.

use std::collections::BTreeMap;

use mcp_auth_core::ext::{AccessTokenClaims, TokenIssuer, WORKLOAD_SUBJECT_NAMESPACE};
use mcp_auth_core::store::AccessTokenDenylist;
use mcp_auth_core::{ClientId, OAuthError, ResourceUri, UnixTime};

/// A user's access token checked by [`check_user_access_token`]: its claims and its `aud`,
/// the resource the caller serves.
#[derive(Debug)]
pub(crate) struct UserAccessToken {
    /// The verified claims.
    pub(crate) claims: AccessTokenClaims,
    /// `aud`, parsed: a resource `caller` is a `server_clients` entry of.
    pub(crate) resource: ResourceUri,
}

/// Check `token` as the `subject_token` of `caller` at `now`: an access token `issuer` minted
/// (signature, `typ`, `iss`), unexpired, not in `denylist`, whose `aud` is a resource whose
/// `server_clients` list `caller`, and which has a user: not a client-credentials token
/// (`sub` = `client_id` without `auth_time`), not a workload's token (`sub` in
/// [`WORKLOAD_SUBJECT_NAMESPACE`], SEP-1933).
///
/// # Errors
/// `invalid_grant` naming which rule failed (never echoing the token), or the denylist's store
/// failure.
pub(crate) async fn check_user_access_token(
    issuer: &dyn TokenIssuer,
    denylist: &dyn AccessTokenDenylist,
    server_clients: &BTreeMap<ResourceUri, Vec<ClientId>>,
    (token, caller): (&str, &ClientId),
    now: UnixTime,
) -> Result<UserAccessToken, OAuthError> {
    let claims = issuer
        .verify(token)
        .filter(|c| c.exp > now)
        .ok_or_else(|| {
            OAuthError::invalid_grant("the subject token is not a valid access token")
        })?;
    if denylist.is_denied(&claims.jti, now).await? {
        return Err(OAuthError::invalid_grant("the subject token was revoked"));
    }
    let resource: ResourceUri = claims
        .aud
        .parse()
        .map_err(|_| OAuthError::invalid_grant("the subject token has no usable audience"))?;
    let serves = server_clients
        .get(&resource)
        .is_some_and(|clients| clients.contains(caller));
    if !serves {
        return Err(OAuthError::invalid_grant(
            "the subject token was not issued for a resource this client serves",
        ));
    }
    if claims.sub == claims.client_id && claims.auth_time.is_none() {
        return Err(OAuthError::invalid_grant(
            "the subject token has no user (client credentials): these exchanges act for a user",
        ));
    }
    if claims.sub.starts_with(WORKLOAD_SUBJECT_NAMESPACE) {
        return Err(OAuthError::invalid_grant(
            "the subject token has no user (a workload): these exchanges act for a user",
        ));
    }
    Ok(UserAccessToken { claims, resource })
}
