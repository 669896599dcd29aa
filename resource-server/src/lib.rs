//! # mcp-auth-resource-server
//!
//! What an MCP server embeds to accept OAuth 2.1 access tokens: a tower [`BearerAuthLayer`]
//! that takes the bearer token from the `Authorization` header only, validates it (RFC 9068
//! JWTs against cached JWKS, or RFC 7662 introspection), checks the scopes the route and the
//! MCP operation need, answers failures with exact RFC 6750 / RFC 9728 challenges, and puts the
//! [`Principal`] into request extensions for the [`Principal`] extractor. It also serves the
//! RFC 9728 protected resource metadata ([`metadata_router`]).
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`ResourceServerConfig`]: public MCP URL, trusted issuers, policy, metadata options |
//! | [`layer`] | [`BearerAuthLayer`], [`cors_layer`] |
//! | [`listen`] | [`listen::serve_with_timeouts`]: HTTP/1.1 only, header and body read timeouts, a connection cap ([`listen::ListenerLimits`]) |
//! | [`validator`] | [`TokenValidator`], [`JwtValidator`], [`IntrospectionValidator`] |
//! | [`policy`] | [`ScopeRequirements`]: baseline, per-route, per-tool/resource/prompt scopes, hierarchies, [`OtherMethods`] |
//! | [`rpc`] | [`McpOperation`]: the one field of a JSON-RPC body that decides its scopes, read fail-closed |
//! | [`session`] | [`SessionBinding`]: MCP sessions bound to the principal that created them |
//! | [`challenge`] | [`Challenge`]: the one `WWW-Authenticate` formatter (`Bearer` and `DPoP`) |
//! | [`dpop`] | [`dpop::DpopConfig`], [`dpop::DpopMode`]: DPoP-bound tokens and their proofs (RFC 9449 §7), optional nonces |
//! | [`metadata`] | [`metadata_router`] |
//! | [`error`] | [`AuthError`], [`TokenError`], [`ValidationError`] and their one mapping to HTTP |
//! | `elicitation` | (feature `elicitation`) `ConnectionVault`: third-party credentials for tool handlers via the authorization server, URL-mode elicitation answers |
//!
//! Cargo feature `elicitation` (off by default): the layer also keeps the validated token for
//! the token exchange of [`elicitation::ConnectionVault`], built on rmcp's server types.
//!
//! Standards: [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750),
//! [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068),
//! [RFC 7662](https://www.rfc-editor.org/rfc/rfc7662),
//! [RFC 9728](https://www.rfc-editor.org/rfc/rfc9728),
//! [RFC 8707](https://www.rfc-editor.org/rfc/rfc8707),
//! [RFC 8725](https://www.rfc-editor.org/rfc/rfc8725).
//!
//! ## Example
//!
//! ```
//! use axum::{Router, routing::post};
//! use mcp_auth_resource_server::{
//!     BearerAuthLayer, JwtValidator, OtherMethods, Principal, ResourceServerConfig, ScopeRequirements,
//!     cors_layer, metadata_router,
//! };
//!
//! # fn main() -> Result<(), mcp_auth_resource_server::config::ConfigError> {
//! let policy = ScopeRequirements::builder()
//!     .baseline("mcp:basic")
//!     .tool("delete_repo", "repo:write")
//!     .implies("repo:write", "repo:read")
//!     .other_methods(OtherMethods::Refuse) // the default: unknown JSON-RPC methods get 400
//!     .build()?;
//! let config = ResourceServerConfig::builder("https://mcp.example.com/mcp")
//!     .authorization_server("https://auth.example.com")
//!     .policy(policy)
//!     .build()?;
//! let validator = JwtValidator::builder(&config).build()?;
//! let layer = BearerAuthLayer::new(config.clone(), validator);
//!
//! async fn mcp(principal: Principal) -> String {
//!     format!("hello {}", principal.subject)
//! }
//! let app: Router = Router::new()
//!     .route("/mcp", post(mcp).get(mcp).delete(mcp))
//!     .layer(layer)
//!     .merge(metadata_router(&config))
//!     .layer(cors_layer());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! Serve the application with [`listen::serve_with_timeouts`] rather than `axum::serve`: it
//! speaks HTTP/1.1 only, with header and body read timeouts and an optional connection cap
//! ([`listen::ListenerLimits`]), so slow or idle clients cannot hold the server's connections.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod challenge;
pub mod config;
pub mod decision;
pub mod dpop;
#[cfg(feature = "elicitation")]
pub mod elicitation;
pub mod error;
pub mod layer;
pub mod listen;
pub mod metadata;
pub mod policy;
pub mod principal;
pub mod rpc;
pub mod session;
pub mod validator;

pub use challenge::{BearerError, Challenge};
pub use config::{ConfigError, ResourceServerConfig, RootMetadata};
pub use decision::{AccessDecision, DecisionHook, TracingDecisions};
pub use dpop::{DpopConfig, DpopMode};
pub use error::{AuthError, TokenError, ValidationError};
pub use layer::{BearerAuth, BearerAuthLayer, cors_layer};
pub use metadata::metadata_router;
pub use policy::{McpOperation, OtherMethods, ScopeRequirements};
pub use principal::Principal;
pub use rpc::OperationError;
pub use session::SessionBinding;
pub use validator::{
    IntrospectionValidator, JwksSource, JwtValidator, TokenValidator, TrustedIssuer,
};
