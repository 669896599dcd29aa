//! The client record: what the authorization server knows about one OAuth client.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::secret::TokenHash;
use crate::types::{
    ClientId, GrantType, RedirectUri, ResourceUri, ScopeSet, TokenEndpointAuthMethod,
};

/// Where a client record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientSource {
    /// Registered by an operator (`auth-server client add`, configuration).
    Admin,
    /// Registered through RFC 7591 dynamic client registration: self-asserted, untrusted.
    Dynamic,
    /// Resolved from a Client ID Metadata Document (SEP-991): self-asserted, untrusted.
    MetadataDocument,
}

/// One stored client secret, as a SHA-256 hash, with an optional expiry so a rotated secret keeps
/// working for an overlap window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecretHash {
    /// SHA-256 of the secret (64 hex characters).
    pub hash: String,
    /// When this secret stops working, seconds since the epoch; `None` = never.
    pub expires_at: Option<UnixTime>,
}

impl ClientSecretHash {
    /// Is `secret` this secret, and still valid at `now`? Constant-time on the hash.
    pub fn verify(&self, secret: &str, now: UnixTime) -> bool {
        let fresh = self.expires_at.is_none_or(|exp| now < exp);
        let matches = TokenHash::from_stored(&self.hash).is_some_and(|h| h.verify(secret));
        fresh & matches
    }
}

/// A registered client: the RFC 7591 §2 metadata the server acts on, plus bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The `client_id`.
    pub client_id: ClientId,
    /// `client_name`, shown on the consent page; `None` shows the client_id host or id instead.
    pub client_name: Option<String>,
    /// Registered `redirect_uris`, matched exactly (RFC 6749 §3.1.2.3).
    pub redirect_uris: Vec<RedirectUri>,
    /// `grant_types` the client may use.
    pub grant_types: Vec<GrantType>,
    /// `token_endpoint_auth_method`: the method this client authenticates with. For a client
    /// that may use several ([`Self::token_endpoint_auth_methods`]), the weakest of them until
    /// it authenticates, then the one it used for this request
    /// ([`Client::authenticated_with`]).
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Every method this client may authenticate with, when it may use more than one (a Client
    /// ID Metadata Document's `token_endpoint_auth_methods_supported`, SEP-3149); empty means
    /// [`Self::token_endpoint_auth_method`] alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods: Vec<TokenEndpointAuthMethod>,
    /// Current and overlapping secrets (hashes) for `client_secret_basic` / `client_secret_post`.
    #[serde(default)]
    pub secrets: Vec<ClientSecretHash>,
    /// Inline JWK Set (RFC 7517) for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// URL of the client's JWK Set for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// Scopes the client may be granted; `None` = any scope of the target resource.
    pub scope: Option<ScopeSet>,
    /// Protected resources the client may get tokens for (RFC 8707); `None` = any configured
    /// resource.
    #[serde(default)]
    pub resources: Option<Vec<ResourceUri>>,
    /// `client_id_issued_at`, seconds since the epoch.
    pub client_id_issued_at: UnixTime,
    /// Where the record came from.
    pub source: ClientSource,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): every token request of this client must
    /// carry a DPoP proof.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
}

impl Client {
    /// True when the client authenticates with `none` (RFC 6749 §2.1 public client).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    }

    /// True when the client may authenticate at the token endpoint with `method`.
    pub fn accepts_auth_method(&self, method: TokenEndpointAuthMethod) -> bool {
        if self.token_endpoint_auth_methods.is_empty() {
            self.token_endpoint_auth_method == method
        } else {
            self.token_endpoint_auth_methods.contains(&method)
        }
    }

    /// The client as it authenticated on one request: [`Self::token_endpoint_auth_method`] is
    /// `method`, so every later rule (which grants a public client may use, which
    /// authenticator ran) sees the method actually used. The caller has checked
    /// [`Client::accepts_auth_method`].
    pub fn authenticated_with(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.token_endpoint_auth_method = method;
        self
    }

    /// True when the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g.as_str() == grant_type)
    }

    /// True when the client may get tokens for `resource`.
    pub fn allows_resource(&self, resource: &ResourceUri) -> bool {
        self.resources
            .as_ref()
            .is_none_or(|list| list.iter().any(|r| r == resource))
    }

    /// The registered redirect URI that `requested` matches, if any (exact, loopback port rule).
    pub fn find_redirect_uri(&self, requested: &RedirectUri) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| requested.matches(r))
    }

    /// The name to display: `client_name`, else the host of a URL-shaped id, else the id.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.client_name {
            return name.clone();
        }
        if self.client_id.is_metadata_document_url()
            && let Ok(url) = url::Url::parse(self.client_id.as_str())
            && let Some(host) = url.host_str()
        {
            return host.to_owned();
        }
        self.client_id.to_string()
    }
}

/// A confidential `client_secret_basic` client `svc` for `grant`, for unit tests.
#[cfg(test)]
pub(crate) fn test_client(grant: &str) -> Client {
    Client {
        client_id: "svc".parse().unwrap(),
        client_name: None,
        redirect_uris: vec![],
        grant_types: vec![GrantType::new(grant)],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        token_endpoint_auth_methods: Vec::new(),
        secrets: vec![],
        jwks: None,
        jwks_uri: None,
        scope: None,
        resources: None,
        client_id_issued_at: 0,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: false,
    }
}
