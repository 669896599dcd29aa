//! Storage backends: durable implementations of the `auth_core::store` traits.
//!
//! | backend | module |
//! |---|---|
//! | SQLite (one file, WAL) | [`sqlite`] |

pub mod sqlite;
