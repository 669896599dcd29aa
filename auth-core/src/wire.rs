//! Wire types: RFC 8414 metadata, RFC 9728 protected resource metadata, token responses
//! (RFC 6749 §5.1), RFC 7662 introspection responses, RFC 7591 registration.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::Redacted;

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
    /// Further members contributed by extensions through the registry (e.g.
    /// `client_id_metadata_document_supported` from the CIMD extension, SEP-991) and
    /// `extensions_supported` (SEP-2133), generated from the declared extension identifiers.
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
    /// `dpop_signing_alg_values_supported` (RFC 9728 §2, RFC 9449): the DPoP proof algorithms
    /// accepted; absent when the resource does not accept DPoP.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// `dpop_bound_access_tokens_required` (RFC 9728 §2): only DPoP-bound tokens are
    /// accepted; written when true.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub dpop_bound_access_tokens_required: bool,
}

/// A successful access token response (RFC 6749 §5.1). `Debug` prints `[redacted]` for
/// `access_token` and `refresh_token`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: String,
    /// `token_type`: `Bearer`, or `N_A` for a token that is not an access token (RFC 8693
    /// §2.2.1).
    pub token_type: String,
    /// `expires_in`, seconds.
    pub expires_in: u64,
    /// `scope`: always present (spec SCOPE-AS-03), sorted, space-separated.
    pub scope: String,
    /// `refresh_token`, when one is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Members a grant added beyond RFC 6749 §5.1 (e.g. RFC 8693 `issued_token_type`); never
    /// one of the members above (see `ext::ResponseMembers`). Empty for the core grants.
    #[serde(flatten, default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
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
    /// `cnf` (RFC 7800 §3.1, RFC 9449 §6.2): `{"jkt": …}` for a DPoP-bound token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::ext::Confirmation>,
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
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): the client always sends DPoP proofs.
    pub dpop_bound_access_tokens: Option<bool>,
}

/// RFC 7591 §3.2.1 registration response. `Debug` prints `[redacted]` for `client_secret`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2), written when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &Redacted)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &Redacted::option(&self.refresh_token))
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Debug for ClientRegistrationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistrationResponse")
            .field("client_id", &self.client_id)
            .field("client_secret", &Redacted::option(&self.client_secret))
            .field("client_id_issued_at", &self.client_id_issued_at)
            .field("client_secret_expires_at", &self.client_secret_expires_at)
            .field("redirect_uris", &self.redirect_uris)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("grant_types", &self.grant_types)
            .field("response_types", &self.response_types)
            .field("client_name", &self.client_name)
            .field("scope", &self.scope)
            .field("jwks_uri", &self.jwks_uri)
            .field("jwks", &self.jwks)
            .finish()
    }
}
