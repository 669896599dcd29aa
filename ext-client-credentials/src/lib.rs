//! # mcp-auth-ext-client-credentials
//!
//! The OAuth 2.0 `client_credentials` grant for MCP: the *OAuth Client Credentials* extension
//! (SEP-1046, extension identifier `io.modelcontextprotocol/oauth-client-credentials`), for
//! machine-to-machine access with no user.
//!
//! | part | what |
//! |---|---|
//! | [`ClientCredentialsGrant`] | the grant handler: states its rules (confidential clients with [`AUTH_METHODS`], operator-registered only; `resource` from the request; scopes within the client's allowance) for the engine to apply; `sub` = `client_id`; no refresh token |
//! | [`ClientCredentialsExtension`] | the [`mcp_auth_core::ext::ServerExtension`] that installs the grant and the extension identifier |
//! | [`ClientCredentialsFactory`], [`ClientCredentialsConfig`] | the `[extensions.client_credentials]` configuration section and the factory the `auth-server` binary lists |
//! | `provider` (feature `client`) | a token provider for Rust programs: discovery from protected resource metadata, a token cache, `client_secret_basic` / `client_secret_post` / `private_key_jwt` |
//!
//! Client authentication itself (secrets, `private_key_jwt` assertions with their replay cache)
//! is done by the server's authenticators before the grant decides; this crate only decides.
//!
//! ## Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `client` | no | the `provider` module (reqwest, oauth2, and the client side of `mcp-auth-outbound`) |
//!
//! ## Standards
//!
//! [RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4),
//! [RFC 7523](https://www.rfc-editor.org/rfc/rfc7523) (JWT client authentication),
//! [RFC 8707](https://www.rfc-editor.org/rfc/rfc8707) (resource indicators),
//! [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068) (JWT access tokens),
//! [RFC 9728](https://www.rfc-editor.org/rfc/rfc9728) (protected resource metadata),
//! [RFC 8414](https://www.rfc-editor.org/rfc/rfc8414) (AS metadata).
//!
//! ## Example
//!
//! ```
//! use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
//! use mcp_auth_core::store::Stores;
//! use mcp_auth_server::{AuthorizationServer, ServerSettings};
//! use mcp_auth_ext_client_credentials::{ClientCredentialsExtension, EXTENSION_ID};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let resources = ResourceRegistry::new(
//!     vec![ProtectedResource {
//!         resource: "https://mcp.example.com/mcp".parse().unwrap(),
//!         scopes_supported: "mcp:basic reports:read".parse().unwrap(),
//!         default_scopes: "mcp:basic".parse().unwrap(),
//!         access_token_ttl: None,
//!     }],
//!     None,
//! )
//! .unwrap();
//! let settings = ServerSettings::new("https://auth.example.com".parse().unwrap(), resources);
//! let server = AuthorizationServer::builder(settings, Stores::in_memory())
//!     .extension(Box::new(ClientCredentialsExtension::new()))
//!     .build()
//!     .await
//!     .unwrap();
//! let metadata = server.metadata();
//! assert!(metadata.grant_types_supported.contains(&"client_credentials".to_owned()));
//! assert_eq!(metadata.extra["extensions_supported"], serde_json::json!([EXTENSION_ID]));
//! # });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod extension;
mod grant;
#[cfg(feature = "client")]
pub mod provider;

pub use error::GrantError;
pub use extension::{
    ClientCredentialsConfig, ClientCredentialsExtension, ClientCredentialsFactory, EXTENSION_ID,
    NAME,
};
pub use grant::{AUTH_METHODS, ClientCredentialsGrant, ResourcePolicy};
