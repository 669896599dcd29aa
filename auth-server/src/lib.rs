//! # mcp-auth-server
//!
//! The mcp-auth OAuth 2.1 authorization server for MCP servers: authorization code with PKCE
//! S256, refresh token rotation, RFC 9068 JWT access tokens bound to one resource (RFC 8707),
//! RFC 8414 metadata, RFC 9207 `iss`, RFC 7591 dynamic registration, RFC 7662 introspection and
//! RFC 7009 revocation, with server-rendered login and consent pages.
//!
//! Use the `auth-server` binary to run it, or embed the engine:
//!
//! ```
//! use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
//! use mcp_auth_core::store::Stores;
//! use mcp_auth_server::{AuthorizationServer, HttpOptions, ServerSettings, router};
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
//! let settings = ServerSettings::new("https://auth.example.com".parse().unwrap(), resources);
//! let server = AuthorizationServer::builder(settings, Stores::in_memory())
//!     .build()
//!     .await
//!     .unwrap();
//! assert_eq!(server.metadata().issuer, "https://auth.example.com");
//! let app: axum::Router = router(server, HttpOptions::random()).unwrap();
//! # let _ = app;
//! # });
//! ```
//!
//! ## Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `ext-client-credentials` | yes | the `client_credentials` extension (SEP-1046) in [`extensions::factories`] |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod cimd;
pub mod cli;
pub mod client_auth;
pub mod config;
pub mod connections;
pub mod engine;
pub mod extensions;
pub mod grants;
pub mod http;
pub mod keys;
pub mod limits;
/// The rate-limit counters under their former name; see [`rate_limit`].
pub use rate_limit as limits_shared;
pub mod metrics;
pub mod rate_limit;
pub mod resolver;
pub mod server;
pub mod settings;
pub mod storage;
pub mod upstream;
pub mod web;
pub mod wiring;

pub use http::{HttpOptions, router, serve};
pub use limits::{ClientAuthBackstop, HttpLimits, SignInSettings};
pub use server::{AuthorizationServer, AuthorizationServerBuilder, BuildError};
pub use settings::{DpopSettings, RegistrationSettings, ServerSettings};

/// Login name of the development user created by the development profile (`--dev`).
pub const DEV_USERNAME: &str = "dev";
