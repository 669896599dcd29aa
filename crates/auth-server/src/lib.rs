//! The mcp-auth authorization server: storage backends and, later, the HTTP server.

pub mod storage;
