//! Client side: finding the authorization server of an MCP server: RFC 9728 protected resource metadata,
//! then RFC 8414 authorization server metadata.

use serde::Deserialize;
use url::Url;

use super::ClientError;

/// What discovery found: where to ask for tokens, and for which resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The protected resource identifier to request tokens for (`resource`, RFC 8707), as the
    /// protected resource metadata states it.
    pub resource: String,
    /// The authorization server's issuer (RFC 8414 §2), the `aud` of client assertions.
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// `token_endpoint_auth_methods_supported`, empty when not advertised.
    pub auth_methods: Vec<String>,
    /// `authorization_grant_profiles_supported` (e.g. the ID-JAG profile of Cross App Access),
    /// empty when not advertised.
    pub grant_profiles: Vec<String>,
}

#[derive(Deserialize)]
struct ProtectedResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
}

#[derive(Deserialize)]
struct AuthorizationServerMetadata {
    issuer: String,
    token_endpoint: Option<String>,
    #[serde(default)]
    grant_types_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_grant_profiles_supported: Vec<String>,
}

/// `url` parsed, absolute, without fragment, and `https` — or `http` on a loopback host
/// ([`crate::secure_url`]).
///
/// # Errors
/// [`ClientError::InvalidUrl`].
pub fn checked_url(url: &str) -> Result<Url, ClientError> {
    crate::secure_url(url).ok_or_else(|| ClientError::InvalidUrl(url.to_owned()))
}

/// The well-known URL for `base` with path insertion (RFC 8414 §3.1, RFC 9728 §3.1):
/// `https://h/p` → `https://h/.well-known/{suffix}/p`; no path → `https://h/.well-known/{suffix}`.
pub fn well_known_url(base: &Url, suffix: &str) -> String {
    let path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/.well-known/{suffix}{path}"));
    url.to_string()
}

async fn fetch<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, ClientError> {
    let fail = |reason: String| ClientError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let res = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if res.status() != reqwest::StatusCode::OK {
        return Err(fail(format!("status {}", res.status())));
    }
    res.json::<T>().await.map_err(|e| fail(e.to_string()))
}

/// Discover the authorization server of the MCP server at `resource_url`:
///
/// 1. `GET` its protected resource metadata at the RFC 9728 §3.1 well-known URL; its `resource`
///    must equal `resource_url` (RFC 9728 §3.3); the first of `authorization_servers` is used.
/// 2. `GET` that server's metadata at `/.well-known/oauth-authorization-server` with path
///    insertion (RFC 8414 §3.1); its `issuer` must equal the URL it was derived from (RFC 8414
///    §3.3); it must list `client_credentials` in `grant_types_supported` and have a
///    `token_endpoint`.
///
/// Every URL must be `https`, or `http` on a loopback host.
///
/// # Errors
/// [`ClientError::InvalidUrl`], [`ClientError::Fetch`], [`ClientError::Metadata`],
/// [`ClientError::Unsupported`].
pub async fn discover(
    http: &reqwest::Client,
    resource_url: &str,
) -> Result<Discovery, ClientError> {
    discover_for_grant(http, resource_url, "client_credentials").await
}

/// [`discover`] for a client of another grant: the authorization server must list
/// `grant_type` (e.g. `urn:ietf:params:oauth:grant-type:jwt-bearer`) in
/// `grant_types_supported`.
///
/// # Errors
/// As [`discover`].
pub async fn discover_for_grant(
    http: &reqwest::Client,
    resource_url: &str,
    grant_type: &str,
) -> Result<Discovery, ClientError> {
    let resource = checked_url(resource_url)?;
    let prm: ProtectedResourceMetadata =
        fetch(http, &well_known_url(&resource, "oauth-protected-resource")).await?;
    if prm.resource != resource_url {
        return Err(ClientError::Metadata(format!(
            "protected resource metadata is for {}, not {resource_url}",
            prm.resource
        )));
    }
    let issuer = prm
        .authorization_servers
        .first()
        .ok_or_else(|| ClientError::Metadata("no authorization_servers".into()))?;
    let issuer_url = checked_url(issuer)?;
    let asm: AuthorizationServerMetadata = fetch(
        http,
        &well_known_url(&issuer_url, "oauth-authorization-server"),
    )
    .await?;
    if asm.issuer != *issuer {
        return Err(ClientError::Metadata(format!(
            "authorization server metadata names issuer {}, expected {issuer}",
            asm.issuer
        )));
    }
    if !asm.grant_types_supported.iter().any(|g| g == grant_type) {
        return Err(ClientError::Unsupported(format!("the {grant_type} grant")));
    }
    let token_endpoint = asm
        .token_endpoint
        .ok_or_else(|| ClientError::Metadata("no token_endpoint".into()))?;
    checked_url(&token_endpoint)?;
    Ok(Discovery {
        resource: prm.resource,
        issuer: asm.issuer,
        token_endpoint,
        auth_methods: asm.token_endpoint_auth_methods_supported,
        grant_profiles: asm.authorization_grant_profiles_supported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_url_inserts_the_path() {
        let u = Url::parse("https://mcp.example.com/mcp").unwrap();
        assert_eq!(
            well_known_url(&u, "oauth-protected-resource"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let u = Url::parse("https://auth.example.com").unwrap();
        assert_eq!(
            well_known_url(&u, "oauth-authorization-server"),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
        let u = Url::parse("https://auth.example.com/tenant/1/").unwrap();
        assert_eq!(
            well_known_url(&u, "oauth-authorization-server"),
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant/1"
        );
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert!(checked_url("http://127.0.0.1:8080/mcp").is_ok());
        assert!(checked_url("http://localhost/mcp").is_ok());
        assert!(matches!(
            checked_url("http://mcp.example.com/mcp"),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(checked_url("https://mcp.example.com/mcp#x").is_err());
    }
}
