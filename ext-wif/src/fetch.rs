//! [`IssuerKeyFetcher`]: fetching workload issuers' discovery documents and JWK Sets for the
//! [`mcp_auth_core::jose::JwksCache`]: the shared [`mcp_auth_outbound::IssuerKeyFetcher`] (its
//! rules and tests live there).

pub use mcp_auth_outbound::IssuerKeyFetcher;

/// Connect timeout of key fetches.
pub const CONNECT_TIMEOUT: std::time::Duration = mcp_auth_outbound::KEY_FETCH_CONNECT_TIMEOUT;
/// Total timeout of one key fetch.
pub const TOTAL_TIMEOUT: std::time::Duration = mcp_auth_outbound::KEY_FETCH_TOTAL_TIMEOUT;
/// Largest accepted discovery document or JWK Set, bytes.
pub const MAX_BODY_BYTES: usize = mcp_auth_outbound::KEY_FETCH_MAX_BODY_BYTES;
