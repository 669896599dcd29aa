//! Extension seams: the traits an extension implements and the [`Registry`] it installs into.
//!
//! A grant handler *decides* ([`GrantDecision`]); only the [`TokenIssuer`] *mints*, so every grant
//! yields the same token shape. Advertised metadata lists are generated from the registry, so
//! metadata cannot drift from behaviour.

mod client_auth;
mod client_resolver;
mod grant;
mod registry;
mod scope_policy;
mod token_issuer;

pub use client_auth::{AuthContext, ClientAuthenticator, ClientCredentials};
pub use client_resolver::ClientResolver;
pub use grant::{GrantContext, GrantDecision, GrantHandler, IssuedTokens, RefreshPolicy};
pub use registry::{Registry, RegistryError, ServerExtension};
pub use scope_policy::{ScopePolicy, StrictScopePolicy};
pub use token_issuer::{AccessTokenClaims, TokenIssuer};
