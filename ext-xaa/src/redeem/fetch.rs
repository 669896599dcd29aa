//! [`IdpKeyFetcher`]: the one piece of I/O of the redeeming side, fetching trusted IdPs'
//! metadata and JWK Sets for the [`mcp_auth_core::jose::JwksCache`] (spec §6.5 V8, EMA-12):
//! the shared [`mcp_auth_outbound::IssuerKeyFetcher`] (its rules and tests live there).

/// A [`mcp_auth_core::jose::JwksFetcher`] for trusted IdPs' keys: `https` through the guarded
/// client, plain `http` only to `127.0.0.1`, `[::1]` or `localhost` when allowed (EMA-12).
pub type IdpKeyFetcher = mcp_auth_outbound::IssuerKeyFetcher;

/// Connect timeout of key fetches.
pub const CONNECT_TIMEOUT: std::time::Duration = mcp_auth_outbound::KEY_FETCH_CONNECT_TIMEOUT;
/// Total timeout of one key fetch.
pub const TOTAL_TIMEOUT: std::time::Duration = mcp_auth_outbound::KEY_FETCH_TOTAL_TIMEOUT;
/// Largest accepted metadata or JWK Set body, bytes.
pub const MAX_BODY_BYTES: usize = mcp_auth_outbound::KEY_FETCH_MAX_BODY_BYTES;
