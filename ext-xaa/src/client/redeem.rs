//! Leg 2: find the MCP authorization server (RFC 9728, then RFC 8414) and redeem the ID-JAG
//! with the JWT bearer grant (RFC 7523 §2.1; spec §6.5).

use mcp_auth_core::{Secret, UnixTime};
use mcp_auth_outbound::client::{ClientAuth, Discovery, discover_for_grant};

use super::XaaClientError;
use super::auth::authenticate;
use super::exchange::IdJag;
use super::http::{checked_url, post_token_form};

/// `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What discovery found about the MCP server's authorization server: the MCP server's
/// `resource`, the authorization server's `issuer` (the `audience` of the token exchange, leg
/// 1), its `token_endpoint`, `auth_methods` and `grant_profiles`.
pub type McpAuthServer = Discovery;

/// Discover the authorization server of the MCP server at `resource_url`:
///
/// 1. its protected resource metadata at the RFC 9728 §3.1 well-known URL; `resource` must
///    equal `resource_url` (§3.3); the first of `authorization_servers` is used;
/// 2. that server's RFC 8414 metadata; `issuer` must equal the URL it came from (§3.3), it must
///    list the jwt-bearer grant in `grant_types_supported` (EMA-M1) and have a
///    `token_endpoint`.
///
/// Every URL must be `https`, or `http` on a loopback host.
///
/// # Errors
/// [`XaaClientError::InvalidUrl`], [`XaaClientError::Fetch`], [`XaaClientError::Metadata`],
/// [`XaaClientError::Unsupported`].
pub async fn discover(
    http: &reqwest::Client,
    resource_url: &str,
) -> Result<McpAuthServer, XaaClientError> {
    Ok(discover_for_grant(http, resource_url, JWT_BEARER).await?)
}

/// An access token of the MCP authorization server.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token, a bearer credential.
    pub access_token: Secret,
    /// `expires_in`, seconds, when given.
    pub expires_in: Option<u64>,
    /// The granted `scope`, when given.
    pub scope: Option<String>,
}

/// Leg 2: redeem `id_jag` at `server`'s token endpoint with the JWT bearer grant,
/// authenticating as `auth` (the client's registration *at the MCP authorization server*,
/// whose `client_id` the ID-JAG names). `scope` may narrow the ID-JAG's scope; `resource`
/// is sent as discovered. The response must be a `Bearer` token.
///
/// An ID-JAG is single-use (spec V11): get a new one for the next access token.
///
/// # Errors
/// [`XaaClientError::Unsupported`] when the server lists its auth methods and the client's is
/// not among them; [`XaaClientError::Refused`] with the server's OAuth error;
/// [`XaaClientError::Request`]; [`XaaClientError::Key`].
pub async fn redeem_id_jag(
    http: &reqwest::Client,
    auth: &ClientAuth,
    server: &McpAuthServer,
    id_jag: &IdJag,
    scope: Option<&str>,
    now: UnixTime,
) -> Result<AccessToken, XaaClientError> {
    let method = auth.method();
    if !server.auth_methods.is_empty() && !server.auth_methods.iter().any(|m| m == method) {
        return Err(XaaClientError::unsupported(format!(
            "token endpoint authentication {method}"
        )));
    }
    checked_url(&server.token_endpoint)?;
    let mut form: Vec<(&'static str, String)> = vec![
        ("grant_type", JWT_BEARER.to_owned()),
        ("assertion", id_jag.assertion.expose().to_owned()),
        ("resource", server.resource.clone()),
    ];
    if let Some(s) = scope {
        form.push(("scope", s.to_owned()));
    }
    let authorization = authenticate(auth, &server.issuer, now, &mut form)?;
    let json = post_token_form(
        http,
        &server.token_endpoint,
        "the authorization server token endpoint",
        &form,
        authorization,
    )
    .await?;
    let token_type = json.get("token_type").and_then(|v| v.as_str());
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Err(XaaClientError::request(format!(
            "unexpected token_type {}",
            token_type.unwrap_or("(none)")
        )));
    }
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .ok_or_else(|| XaaClientError::request("the response has no access_token"))?;
    Ok(AccessToken {
        access_token: Secret::new(token),
        expires_in: json.get("expires_in").and_then(|v| v.as_u64()),
        scope: json
            .get("scope")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    })
}
