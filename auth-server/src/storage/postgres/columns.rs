//! Protocol values read back from their stored columns (the same text forms as the SQLite
//! backend writes).

use mcp_auth_core::{ResourceUri, Scope, ScopeSet, StoreError};

/// A stored scope column (space-separated, empty for none) read back as a [`ScopeSet`]; every
/// token is parsed again.
///
/// # Errors
/// A [`StoreError`] when a token is not a valid scope (the row was not written by this crate).
pub(crate) fn stored_scope(column: &str) -> Result<ScopeSet, StoreError> {
    column
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<Scope>()
                .map_err(|e| StoreError::backend(format!("stored scope: {}", e.0)))
        })
        .collect()
}

/// A stored resource column read back as a [`ResourceUri`].
///
/// # Errors
/// A [`StoreError`] when it is not a valid resource URI.
pub(crate) fn stored_resource(column: &str) -> Result<ResourceUri, StoreError> {
    column.parse().map_err(|e: mcp_auth_core::ParseError| {
        StoreError::backend(format!("stored resource: {}", e.0))
    })
}
