//! # mcp-auth-ext-xaa
//!
//! Cross App Access, also called Enterprise-Managed Authorization (SEP-990, extension
//! identifier `io.modelcontextprotocol/enterprise-managed-authorization`): an enterprise IdP
//! issues an *Identity Assertion JWT Authorization Grant* (ID-JAG) to an MCP client, which
//! redeems it at the MCP authorization server for an access token, without sending the user
//! through the authorization endpoint.
//!
//! | module | role |
//! |---|---|
//! | [`redeem`] | the redeeming authorization server: the JWT bearer grant (RFC 7523 §2.1) that checks ID-JAGs from trusted IdPs (spec §6.5 V2…V18, EMA-01…EMA-14), the `[extensions.xaa]` section, JWKS fetching and caching |
//! | [`idp`] | the issuing IdP role: RFC 8693 token exchange issuing ID-JAGs |
//! | `client` (feature `client`) | client helpers for both legs: token exchange at the IdP, then the JWT bearer grant at the MCP authorization server found through RFC 9728 and RFC 8414 |
//!
//! ## Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `client` | no | the `client` module (reqwest; client authentication from `mcp-auth-ext-client-credentials`) |
//!
//! ## Standards
//!
//! [RFC 7523](https://www.rfc-editor.org/rfc/rfc7523) (JWT bearer grant),
//! [RFC 8693](https://www.rfc-editor.org/rfc/rfc8693) (token exchange),
//! [draft-ietf-oauth-identity-assertion-authz-grant](https://datatracker.ietf.org/doc/draft-ietf-oauth-identity-assertion-authz-grant/)
//! (ID-JAG),
//! [RFC 8707](https://www.rfc-editor.org/rfc/rfc8707) (resource indicators),
//! [RFC 9728](https://www.rfc-editor.org/rfc/rfc9728) (protected resource metadata),
//! [RFC 8414](https://www.rfc-editor.org/rfc/rfc8414) (AS metadata).
//!
//! ## Example
//!
//! ```
//! use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
//! use mcp_auth_core::store::Stores;
//! use mcp_auth_server::{AuthorizationServer, ServerSettings};
//! use mcp_auth_ext_xaa::redeem::{EXTENSION_ID, TrustedIdpConfig, XaaExtension};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let resources = ResourceRegistry::new(
//!     vec![ProtectedResource {
//!         resource: "https://mcp.example.com/mcp".parse().unwrap(),
//!         scopes_supported: "mcp:basic files:read".parse().unwrap(),
//!         default_scopes: "mcp:basic".parse().unwrap(),
//!         access_token_ttl: None,
//!     }],
//!     None,
//! )
//! .unwrap();
//! let mut idp = TrustedIdpConfig::new("https://acme.idp.example");
//! idp.subject_prefix = Some("acme|".into());
//! let settings = ServerSettings::new("https://auth.example.com".parse().unwrap(), resources);
//! let server = AuthorizationServer::builder(settings, Stores::in_memory())
//!     .extension(Box::new(XaaExtension::new(vec![idp.validate().unwrap()])))
//!     .build()
//!     .await
//!     .unwrap();
//! let metadata = server.metadata();
//! assert!(metadata
//!     .grant_types_supported
//!     .contains(&"urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()));
//! assert_eq!(
//!     metadata.extra["authorization_grant_profiles_supported"],
//!     serde_json::json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
//! );
//! assert!(metadata.extra["extensions_supported"]
//!     .as_array()
//!     .unwrap()
//!     .contains(&serde_json::json!(EXTENSION_ID)));
//! # });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod client;
pub mod idp;
pub mod redeem;
