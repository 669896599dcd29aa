//! Shared fixtures for the client authentication tests.

use mcp_auth_core::client::{Client, ClientSecretHash, ClientSource};
use mcp_auth_core::clock::UnixTime;
use mcp_auth_core::ext::AuthContext;
use mcp_auth_core::secret::TokenHash;
use mcp_auth_core::types::{GrantType, Issuer, TokenEndpointAuthMethod};

/// A fixed "now" for every test, seconds since the epoch.
pub const NOW: UnixTime = 1_767_225_600;

/// The issuer every test uses.
pub const ISSUER: &str = "https://auth.acme.test";

/// The token endpoint every test uses.
pub const TOKEN_ENDPOINT: &str = "https://auth.acme.test/token";

/// A client with `method`, no secrets and no keys.
pub fn client(client_id: &str, method: TokenEndpointAuthMethod) -> Client {
    Client {
        client_id: client_id.parse().unwrap(),
        client_name: None,
        redirect_uris: Vec::new(),
        grant_types: vec![GrantType::new(GrantType::CLIENT_CREDENTIALS)],
        token_endpoint_auth_method: method,
        token_endpoint_auth_methods: Vec::new(),
        secrets: Vec::new(),
        jwks: None,
        jwks_uri: None,
        scope: None,
        client_id_issued_at: NOW - 86_400,
        resources: None,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: false,
    }
}

/// A stored secret hash for `secret`, expiring at `expires_at`.
pub fn secret_hash(secret: &str, expires_at: Option<UnixTime>) -> ClientSecretHash {
    ClientSecretHash {
        hash: TokenHash::of(secret).as_str().to_owned(),
        expires_at,
    }
}

/// The issuer as a type.
pub fn issuer() -> Issuer {
    ISSUER.parse().unwrap()
}

/// An authentication context at `now`.
pub fn ctx(issuer: &Issuer, now: UnixTime) -> AuthContext<'_> {
    AuthContext {
        issuer,
        endpoint_url: TOKEN_ENDPOINT,
        now,
    }
}
