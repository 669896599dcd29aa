//! # mcp-auth-conformance
//!
//! Test kit for MCP authorization (first piece): mint RFC 9068 access tokens that a resource
//! server should accept, mint deliberately broken ones it must refuse, and publish the test key
//! as a JWKS from a tiny authorization server on a loopback port, so an MCP server's own tests
//! can exercise its token checks in a few lines.
//!
//! | module | what |
//! |---|---|
//! | [`tokens`] | [`TestKey`] (ES256; `kid` chosen, or its RFC 7638 thumbprint), [`TokenMinter`], [`Defect`] (wrong or missing `aud`, expired, missing `exp`, `iat` or `jti`, wrong `iss`, wrong `typ`, `alg: none`, HS256 keyed with the public key, untrusted key) |
//! | [`dpop`] | [`dpop::DpopKey`]: DPoP proofs (RFC 9449), good and with one [`dpop::ProofDefect`] each (missing or wrong `typ`, `alg: none`, HS256, a private `jwk`, a bad signature), and their high-S twins |
//! | [`jwks_server`] | [`TestAuthServer`]: RFC 8414 metadata and a JWKS on `127.0.0.1:0` |
//! | `server` | `InProcessServer`: a real `mcp-auth-server` in the test's process (in-memory stores, fixed clock, deterministic secrets), driven through its router; feature `server` |
//! | [`guide`] | how-tos with examples: test that my MCP server rejects an expired token; run my MCP server's tests against a real AS in-process |
//! | [`store_contract`] | the store contract suite: every rule of the `mcp_auth_core::store` traits as a check, run against stores from your factory (`run`, `run_artifacts`); the in-memory, SQLite and PostgreSQL stores run it, and so can a store of your own |
//! | [`mock_idp`] | [`MockIdp`]: a mock enterprise IdP (metadata + JWKS on loopback) signing ID-JAGs and ID tokens with chosen claims and defects |
//! | `check` | the black-box checker behind the `mcp-auth-conformance` binary, and `CimdHost` (Client ID Metadata Documents over https on loopback, with an `rcgen` CA); feature `cli` |
//!
//! | cargo feature | default | what |
//! |---|---|---|
//! | `cli` | on | the `check` module, `CimdHost` and the `mcp-auth-conformance` binary; pulls in reqwest, clap, rcgen, rustls (turn default features off to keep only the token-minting kit) |
//! | `server` | off | the `server` module; pulls in `mcp-auth-server` (sqlx, axum), so the token-minting kit stays light without it |
//!
//! Standards: [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068),
//! [RFC 7515](https://www.rfc-editor.org/rfc/rfc7515),
//! [RFC 7517](https://www.rfc-editor.org/rfc/rfc7517),
//! [RFC 8414](https://www.rfc-editor.org/rfc/rfc8414),
//! [RFC 8725](https://www.rfc-editor.org/rfc/rfc8725).
//!
//! ## Example
//!
//! ```
//! use mcp_auth_conformance::{Defect, TestAuthServer, TestKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_auth_conformance::KitError> {
//! let key = TestKey::generate("test-key-1")?;
//! let auth = TestAuthServer::start(&[&key]).await?;
//! let minter = auth.minter(&key, "http://127.0.0.1:3000/mcp", 1_767_225_600);
//!
//! let good = minter.valid("mcp:basic")?;
//! let expired = minter.broken(Defect::Expired, "mcp:basic")?;
//! assert_eq!(good.split('.').count(), 3);
//! assert_ne!(good, expired);
//! assert!(auth.jwks_uri().starts_with("http://127.0.0.1:"));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod check;
pub mod dpop;
pub mod guide;
pub mod jwks_server;
pub mod mock_idp;
#[cfg(feature = "server")]
pub mod server;
pub mod store_contract;
pub mod tokens;

#[cfg(feature = "cli")]
pub use check::cimd_host::CimdHost;
pub use jwks_server::TestAuthServer;
pub use mock_idp::MockIdp;
pub use tokens::{Defect, TestKey, TokenMinter, jwks_of};

/// A failure of the test kit itself (not of the system under test).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KitError {
    /// Key generation or signing failed.
    #[error("crypto: {0}")]
    Crypto(&'static str),
    /// A socket could not be bound or read.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The in-process authorization server could not be built (feature `server`).
    #[error("server fixture: {0}")]
    Server(String),
}
