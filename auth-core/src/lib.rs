//! # mcp-auth-core
//!
//! The protocol core of mcp-auth, an OAuth 2.1 authorization server for the Model Context
//! Protocol: protocol values as types, wire types, the one error type, the extension traits, and
//! the store traits with in-memory implementations. No HTTP framework, database or HTTP client
//! lives here; `auth-server` and the extension crates build on it.
//!
//! | module | what |
//! |---|---|
//! | [`types`] | `ClientId`, `Scope`/`ScopeSet`, `RedirectUri`, `ResourceUri`, `Issuer`, `GrantType`, `TokenEndpointAuthMethod` |
//! | [`error`] | [`OAuthError`] and [`ErrorCode`] with their one mapping to HTTP status |
//! | [`wire`] | RFC 8414 metadata, RFC 6749 §5.1 token response, RFC 7662 introspection, RFC 7591 registration |
//! | [`ext`] | `GrantHandler`, `ClientResolver`, `ClientAuthenticator`, `ScopePolicy`, `TokenIssuer`, `ServerExtension` and the `Registry` |
//! | [`store`] | one trait per stored artifact, plus in-memory implementations |
//! | [`ecdsa`] | low-S normalisation and checks for JWS ES256/ES384 signatures |
//! | [`clock`], [`secret`] | injected time and randomness; secrets that never print |
//! | [`rate_limit`] | the fixed-window counter behind every rate limit |
//! | [`vault`] | AES-256-GCM sealing of third-party tokens under a rotating keyring, bound to (`iss`, `sub`, connection) |
//! | `jose` (feature `jose`) | JWK Set parsing, key selection, the algorithm allow-list, a JWKS cache over an injected fetcher |
//!
//! | cargo feature | default | what |
//! |---|---|---|
//! | `jose` | off | the `jose` module, with jsonwebtoken and tokio's `sync` |
//!
//! Standards: [RFC 6749](https://www.rfc-editor.org/rfc/rfc6749),
//! [OAuth 2.1 draft 13](https://datatracker.ietf.org/doc/draft-ietf-oauth-v2-1/13/),
//! [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636),
//! [RFC 8414](https://www.rfc-editor.org/rfc/rfc8414),
//! [RFC 8707](https://www.rfc-editor.org/rfc/rfc8707),
//! [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068),
//! [RFC 9207](https://www.rfc-editor.org/rfc/rfc9207).
//!
//! ## Example
//!
//! ```
//! use mcp_auth_core::{ResourceUri, ScopeSet, ErrorCode};
//! use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
//!
//! let mcp = ProtectedResource {
//!     resource: "https://MCP.example.com/mcp".parse().unwrap(),
//!     scopes_supported: "mcp:basic files:read".parse().unwrap(),
//!     default_scopes: "mcp:basic".parse().unwrap(),
//!     access_token_ttl: None,
//! };
//! let registry = ResourceRegistry::new(vec![mcp], None).unwrap();
//!
//! // Canonicalised on parse: scheme and host lower-cased.
//! let chosen = registry.select(&["https://mcp.example.com/mcp".to_owned()]).unwrap();
//! assert_eq!(chosen.resource.as_str(), "https://mcp.example.com/mcp");
//!
//! // An unknown resource is `invalid_target` (RFC 8707 §2), HTTP 400.
//! let err = registry.select(&["https://other.example/mcp".to_owned()]).unwrap_err();
//! assert_eq!(err.code(), ErrorCode::InvalidTarget);
//! assert_eq!(err.http_status(), 400);
//!
//! let scopes: ScopeSet = "files:read mcp:basic".parse().unwrap();
//! assert_eq!(scopes.to_string(), "files:read mcp:basic");
//! # let _: ResourceUri = "https://x.example".parse().unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod ecdsa;
pub mod error;
pub mod ext;
#[cfg(feature = "jose")]
pub mod jose;
pub mod params;
pub mod pkce;
pub mod protected_resource;
pub mod rate_limit;
pub mod secret;
pub mod store;
pub mod types;
pub mod vault;
pub mod wire;

pub use client::{Client, ClientSecretHash, ClientSource};
pub use clock::{Clock, FixedClock, SystemClock, UnixTime};
pub use error::{
    ChallengeHint, ErrorCode, OAuthError, STORE_UNAVAILABLE, StoreError, store_error_in,
};
pub use params::FormParams;
pub use secret::{Secret, SecretGenerator, TokenHash};
pub use types::{
    ClientId, GrantType, Issuer, MAX_USERNAME_CHARS, OFFLINE_ACCESS, ParseError, RedirectUri,
    ResourceUri, Scope, ScopeSet, TokenEndpointAuthMethod, normalize_username,
};
