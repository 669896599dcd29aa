//! auth-server: the OAuth 2.1 authorization server for MCP (signing keys, JWT access tokens, token-endpoint client authentication).

pub mod client_auth;
pub mod keys;
