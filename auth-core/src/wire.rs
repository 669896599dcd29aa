//! Wire types: RFC 8414 metadata, RFC 9728 protected resource metadata, token responses
//! (RFC 6749 §5.1), RFC 7662 introspection responses, RFC 7591 registration.

use serde::{Deserialize, Serialize};

/// Authorization server metadata (RFC 8414 §2), as served at
/// `/.well-known/oauth-authorization-server`. Optional fields are omitted when `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AuthorizationServerMetadata {
    /// `issuer`, byte-identical to the configured issuer.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `registration_endpoint` (RFC 7591), when DCR is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// `scopes_supported`: the union of the scopes of every protected resource.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scopes_supported: Vec<String>,
    /// `response_types_supported`: `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `response_modes_supported`: `["query"]`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub response_modes_supported: Vec<String>,
    /// `grant_types_supported`, generated from the grant registry.
    pub grant_types_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported`, generated from the authenticator registry.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `token_endpoint_auth_signing_alg_values_supported`; never `none` or `HS*`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// `introspection_endpoint` (RFC 7662).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// `introspection_endpoint_auth_methods_supported`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// `revocation_endpoint` (RFC 7009).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// `revocation_endpoint_auth_methods_supported`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `code_challenge_methods_supported`: `["S256"]` (RFC 7636, required by MCP).
    pub code_challenge_methods_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3).
    pub authorization_response_iss_parameter_supported: bool,
    /// `client_id_metadata_document_supported` (SEP-991), when a CIMD resolver is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// Further members contributed by extensions through the registry.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Protected resource metadata (RFC 9728 §2), as served at
/// `/.well-known/oauth-protected-resource` followed by the resource path (RFC 9728 §3.1).
/// Optional fields are omitted when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProtectedResourceMetadata {
    /// `resource`: the canonical resource URI, identical to the URI the document is found from
    /// (RFC 9728 §3.3).
    pub resource: String,
    /// `authorization_servers`: issuer identifiers, each byte-identical to that AS's metadata
    /// `issuer` (MCP requires at least one).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`: the baseline scopes (SEP-835), never `offline_access`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scopes_supported: Vec<String>,
    /// `bearer_methods_supported`: `["header"]` (RFC 6750 §2.1 only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub bearer_methods_supported: Vec<String>,
    /// `resource_name`: human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// `resource_documentation`: URL of human-readable documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// A successful access token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: String,
    /// `token_type`: always `Bearer`.
    pub token_type: String,
    /// `expires_in`, seconds.
    pub expires_in: u64,
    /// `scope`: always present (spec SCOPE-AS-03), sorted, space-separated.
    pub scope: String,
    /// `refresh_token`, when one is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// An RFC 7662 §2.2 introspection response. An inactive token is exactly `{"active":false}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IntrospectionResponse {
    /// `active`.
    pub active: bool,
    /// `scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `client_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `token_type`: `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// `exp`, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// `iat`, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `aud`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// `iss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `jti`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl IntrospectionResponse {
    /// `{"active":false}`: unknown, expired, revoked, or not the caller's to see (RFC 7662 §2.2).
    pub fn inactive() -> Self {
        Self::default()
    }
}

/// RFC 7591 §2 client metadata as sent to `/register`. Unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClientRegistrationRequest {
    /// `redirect_uris`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method`; absent means `client_secret_basic` (RFC 7591 §2).
    pub token_endpoint_auth_method: Option<String>,
    /// `grant_types`; absent means `["authorization_code"]`.
    pub grant_types: Option<Vec<String>>,
    /// `response_types`; absent means `["code"]`.
    pub response_types: Option<Vec<String>>,
    /// `client_name`.
    pub client_name: Option<String>,
    /// `client_uri`.
    pub client_uri: Option<String>,
    /// `logo_uri`.
    pub logo_uri: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `jwks`.
    pub jwks: Option<serde_json::Value>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `software_id`.
    pub software_id: Option<String>,
    /// `software_version`.
    pub software_version: Option<String>,
    /// `application_type` (OIDC Registration §2): `native` or `web`.
    pub application_type: Option<String>,
}

/// RFC 7591 §3.2.1 registration response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistrationResponse {
    /// `client_id`: random, never starting with `https://`.
    pub client_id: String,
    /// `client_secret`, shown once, for confidential clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `client_id_issued_at`, seconds since the epoch.
    pub client_id_issued_at: i64,
    /// `client_secret_expires_at`: 0 = never; present when a secret is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// `redirect_uris` as registered.
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: String,
    /// `grant_types`.
    pub grant_types: Vec<String>,
    /// `response_types`.
    pub response_types: Vec<String>,
    /// `client_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `jwks_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `jwks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
}
