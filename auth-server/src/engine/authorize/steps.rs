//! The named steps of authorization request validation that need no server state (spec
//! §2.2.2): each checks one rule and says which error it gives.

use mcp_auth_core::pkce::is_valid_pkce_value;
use mcp_auth_core::{Client, ErrorCode, FormParams, GrantType, OAuthError, RedirectUri};

use super::AuthorizeError;

/// Step 2: the redirect URI, matched against the client's registered ones (exact, RFC 8252 §7.3
/// loopback port rule; [`RedirectUri`] refuses strings a parser would read differently). Every
/// error is a page (spec AS-06). Returns the URI to respond to and whether the request sent it.
pub(super) fn matched_redirect_uri(
    client: &Client,
    params: &FormParams,
) -> Result<(RedirectUri, bool), AuthorizeError> {
    if params.is_repeated("redirect_uri") {
        return Err(AuthorizeError::Page(OAuthError::invalid_request(
            "redirect_uri is repeated",
        )));
    }
    match params.get("redirect_uri") {
        Some(raw) => {
            let requested: RedirectUri = raw.parse().map_err(|e: mcp_auth_core::ParseError| {
                AuthorizeError::Page(OAuthError::invalid_request(e.0))
            })?;
            if client.find_redirect_uri(&requested).is_none() {
                return Err(AuthorizeError::Page(OAuthError::invalid_request(
                    "redirect_uri is not registered for this client",
                )));
            }
            Ok((requested, true))
        }
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            _ => Err(AuthorizeError::Page(OAuthError::invalid_request(
                "redirect_uri is required when the client has several",
            ))),
        },
    }
}

/// `state`, unless it was repeated (then it is not echoed: the request is refused for the
/// repeat, RFC 6749 §3.1).
pub(super) fn single_state(params: &FormParams) -> Option<String> {
    if params.is_repeated("state") {
        None
    } else {
        params.get("state").map(str::to_owned)
    }
}

/// Step 3a: no parameter may repeat (RFC 6749 §3.1); `resource` may (RFC 8707 §2).
pub(super) fn no_repeated_parameters(params: &FormParams) -> Result<(), OAuthError> {
    match params.repeated().next() {
        Some(name) => Err(OAuthError::invalid_request(format!(
            "parameter {name} is repeated"
        ))),
        None => Ok(()),
    }
}

/// Step 3b: `response_type=code`, the only one (OAuth 2.1 §4.1.1): another is
/// `unsupported_response_type`, none is `invalid_request`.
pub(super) fn code_response_type(params: &FormParams) -> Result<(), OAuthError> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            format!("response_type {other} is not supported; use code"),
        )),
        None => Err(OAuthError::invalid_request("response_type is missing")),
    }
}

/// Step 3c: the client must be registered for `authorization_code` (`unauthorized_client`).
pub(super) fn client_may_use_authorization_code(client: &Client) -> Result<(), OAuthError> {
    if client.allows_grant(GrantType::AUTHORIZATION_CODE) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        ))
    }
}

/// Step 3d: PKCE (RFC 7636 §4.3, required by OAuth 2.1 and MCP): a well-formed
/// `code_challenge` with `code_challenge_method=S256`. Returns the challenge.
pub(super) fn pkce_challenge(params: &FormParams) -> Result<String, OAuthError> {
    let code_challenge = match params.get("code_challenge") {
        Some(c) if is_valid_pkce_value(c) => c.to_owned(),
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
            ));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge is required (PKCE)",
            ));
        }
    };
    if params.get("code_challenge_method") != Some("S256") {
        return Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    Ok(code_challenge)
}

/// `dpop_jkt` (RFC 9449 §10): when present, an RFC 7638 SHA-256 thumbprint, 43 characters of
/// base64url (32 bytes, no padding).
///
/// # Errors
/// `invalid_request` for any other value.
pub(super) fn dpop_jkt(params: &FormParams) -> Result<Option<String>, OAuthError> {
    let Some(jkt) = params.get("dpop_jkt") else {
        return Ok(None);
    };
    let well_formed = jkt.len() == 43
        && jkt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(OAuthError::invalid_request(
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }
    Ok(Some(jkt.to_owned()))
}
