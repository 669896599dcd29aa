//! Storage backends: durable implementations of the `mcp_auth_core::store` traits.
//!
//! | backend | module |
//! |---|---|
//! | SQLite (one file, WAL) | [`sqlite`] |

pub mod sqlite;
