//! The claims of a `private_key_jwt` assertion and their checks (RFC 7523 §3 items 2–7, spec
//! §2.3.1 items 2–5), against the injected clock.

use mcp_auth_core::client::Client;
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::AuthContext;
use mcp_auth_core::jose::{Audience, numeric_date};
use serde::Deserialize;

use super::AuthFailure;

/// Allowed clock skew, in seconds.
pub(super) const SKEW_SECS: i64 = 60;
/// Longest assertion lifetime (`exp - iat`), in seconds (spec §2.3.1 item 4).
const MAX_LIFETIME_SECS: i64 = 300;

/// The assertion claims this authenticator reads. NumericDates may be fractional (RFC 7519 §2).
#[derive(Deserialize)]
pub(super) struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<serde_json::Number>,
    iat: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
    jti: Option<String>,
}

/// Steps 4–6: the claims, against the client and the clock. Returns `(jti, exp)`.
pub(super) fn check_claims(
    claims: AssertionClaims,
    client: &Client,
    ctx: &AuthContext<'_>,
) -> Result<(String, UnixTime), OAuthError> {
    let fail = AuthFailure::invalid_client;
    let client_id = client.client_id.as_str();
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(fail("iss and sub must both be the client_id"));
    }

    let issuer = ctx.issuer.as_str();
    let issuer_slash = format!("{issuer}/");
    let accepted = [issuer, issuer_slash.as_str(), ctx.endpoint_url];
    if !claims.aud.is_some_and(|aud| aud.contains_any(&accepted)) {
        return Err(fail("aud does not name this server"));
    }

    let now = ctx.now;
    let exp = claims
        .exp
        .as_ref()
        .and_then(numeric_date)
        .ok_or_else(|| fail("exp missing"))?;
    if exp <= now - SKEW_SECS {
        return Err(fail("assertion expired"));
    }
    match claims.iat {
        Some(iat) => {
            let iat = numeric_date(&iat).ok_or_else(|| fail("iat malformed"))?;
            if iat > now + SKEW_SECS {
                return Err(fail("iat in the future"));
            }
            // No skew applies between two claims of the same assertion.
            if exp < iat {
                return Err(fail("exp is earlier than iat"));
            }
            if exp - iat > MAX_LIFETIME_SECS {
                return Err(fail("assertion lifetime exceeds 300 s"));
            }
        }
        None if exp - now > MAX_LIFETIME_SECS + SKEW_SECS => {
            return Err(fail("assertion lifetime exceeds 300 s"));
        }
        None => {}
    }
    if let Some(nbf) = claims.nbf {
        let nbf = numeric_date(&nbf).ok_or_else(|| fail("nbf malformed"))?;
        if nbf > now + SKEW_SECS {
            return Err(fail("assertion not yet valid"));
        }
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| fail("jti missing"))?;
    Ok((jti, exp))
}
