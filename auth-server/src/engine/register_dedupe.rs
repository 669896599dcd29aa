//! Identical re-registrations of public clients (issue 25 §3): hosted connectors register from a
//! few shared egress addresses, again and again, with the same metadata. A public client (no
//! secret, `token_endpoint_auth_method` `none`) gets a `client_id` derived from its metadata, so
//! registering the same metadata again finds the existing client and returns it (RFC 7591 §3.2.1
//! lets a server return an existing registration), without counting against the per-source
//! limit. A confidential client always gets a fresh random `client_id` and secret: returning an
//! existing registration would mean handing out its secret again.
//!
//! The metadata that makes two registrations the same: `client_name`, `redirect_uris` (in
//! order), `grant_types`, `token_endpoint_auth_method`, `software_id` when given, and `jwks`.

use base64::Engine as _;
use mcp_auth_core::{Client, ClientId, ClientSource, OAuthError, TokenEndpointAuthMethod};

/// The `client_id` of a public registration of `client` (and `software_id`): `mcp_` and 22
/// base64url characters of the SHA-256 of the canonical metadata (the shape of a random one).
/// `None` for a confidential client.
///
/// # Errors
/// `server_error` if the id does not parse (it always does).
pub(crate) fn public_client_id(
    client: &Client,
    software_id: Option<&str>,
) -> Result<Option<ClientId>, OAuthError> {
    if client.token_endpoint_auth_method != TokenEndpointAuthMethod::None {
        return Ok(None);
    }
    let canonical = serde_json::json!([
        "mcp-auth public registration v1",
        client.client_name,
        client
            .redirect_uris
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        client
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>(),
        client.token_endpoint_auth_method.as_str(),
        software_id,
        client.jwks,
        client.dpop_bound_access_tokens,
    ]);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.to_string().as_bytes());
    let id = format!(
        "mcp_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
    );
    id.parse()
        .map(Some)
        .map_err(|e: mcp_auth_core::ParseError| OAuthError::server_error(e))
}

/// Whether the stored `existing` client is the registration `wanted` describes: a dynamically
/// registered public client with the same name, redirect URIs, grant types, method, keys and
/// DPoP binding (RFC 9449 §5.2 `dpop_bound_access_tokens`).
pub(crate) fn is_same_registration(existing: &Client, wanted: &Client) -> bool {
    existing.source == ClientSource::Dynamic
        && existing.token_endpoint_auth_method == TokenEndpointAuthMethod::None
        && existing.token_endpoint_auth_method == wanted.token_endpoint_auth_method
        && existing.client_name == wanted.client_name
        && existing.redirect_uris == wanted.redirect_uris
        && existing.grant_types == wanted.grant_types
        && existing.jwks == wanted.jwks
        && existing.dpop_bound_access_tokens == wanted.dpop_bound_access_tokens
        && existing.secrets.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::{GrantType, RedirectUri};

    fn public(name: &str, redirect: &str) -> Client {
        let redirect: RedirectUri = redirect.parse().unwrap();
        Client {
            client_id: "placeholder".parse().unwrap(),
            client_name: Some(name.to_owned()),
            redirect_uris: vec![redirect],
            grant_types: vec![GrantType::new("authorization_code")],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            token_endpoint_auth_methods: Vec::new(),
            secrets: vec![],
            jwks: None,
            jwks_uri: None,
            scope: None,
            client_id_issued_at: 0,
            resources: None,
            source: ClientSource::Dynamic,
            dpop_bound_access_tokens: false,
        }
    }

    /// The same metadata gives the same id; each listed field changes it.
    #[test]
    fn the_id_follows_every_listed_field() {
        let a = public("Connector", "https://c.example/cb");
        let id = public_client_id(&a, None).unwrap().unwrap();
        assert_eq!(
            public_client_id(&a.clone(), None).unwrap(),
            Some(id.clone())
        );
        assert!(
            id.as_str().starts_with("mcp_") && id.as_str().len() == 26,
            "{id}"
        );
        let mut others = vec![
            public("Connector 2", "https://c.example/cb"),
            public("Connector", "https://c.example/cb2"),
        ];
        let mut grants = a.clone();
        grants.grant_types.push(GrantType::new("refresh_token"));
        others.push(grants);
        let mut keys = a.clone();
        keys.jwks = Some(serde_json::json!({"keys": []}));
        others.push(keys);
        for other in &others {
            assert_ne!(public_client_id(other, None).unwrap(), Some(id.clone()));
        }
        assert_ne!(
            public_client_id(&a, Some("software-1")).unwrap(),
            Some(id.clone())
        );
    }

    /// A confidential client never gets a derived id.
    #[test]
    fn confidential_clients_are_never_deduplicated() {
        let mut c = public("Connector", "https://c.example/cb");
        c.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
        assert_eq!(public_client_id(&c, None).unwrap(), None);
        let stored = c.clone();
        assert!(!is_same_registration(&stored, &c));
    }

    /// An operator-provisioned client, or one with other metadata, is not the registration.
    #[test]
    fn only_the_same_dynamic_registration_matches() {
        let a = public("Connector", "https://c.example/cb");
        assert!(is_same_registration(&a, &a));
        let mut operator = a.clone();
        operator.source = ClientSource::Admin;
        assert!(!is_same_registration(&operator, &a));
        assert!(!is_same_registration(
            &public("Other", "https://c.example/cb"),
            &a
        ));
    }
}
