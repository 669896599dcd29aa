//! Protocol values read back from their stored columns.

use mcp_auth_core::{ResourceUri, Scope, ScopeSet, StoreError};

/// A stored scope column (space-separated, empty for none) read back as a [`ScopeSet`]. Every
/// token is checked again; the [`ScopeSet::MAX_TOKENS`] bound of a request parameter does not
/// apply to what was stored.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_scope_reads_back_what_display_wrote() {
        let set: ScopeSet = "mcp:tools files:read".parse().unwrap();
        assert_eq!(stored_scope(&set.to_string()).unwrap(), set);
        assert_eq!(stored_scope("").unwrap(), ScopeSet::new());
        assert!(stored_scope("bad\"scope").is_err());
    }

    #[test]
    fn stored_resource_is_parsed_again() {
        assert_eq!(
            stored_resource("https://mcp.example.com/mcp")
                .unwrap()
                .as_str(),
            "https://mcp.example.com/mcp"
        );
        assert!(stored_resource("not a uri").is_err());
    }
}
