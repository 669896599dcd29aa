//! `[cimd]`: Client ID Metadata Documents (SEP-991), URL-shaped `client_id`s whose metadata the
//! server fetches. The section's keys are those of `[extensions.cimd]`, which the CIMD
//! extension reads ([`mcp_auth_cimd_resolver::CimdSettings`]); the top-level `[cimd]` section is
//! its documented alias (giving both is an error, see [`super::Config::extension_sections`]).

/// The `[cimd]` section: [`mcp_auth_cimd_resolver::CimdSettings`], one definition for the alias
/// and for `[extensions.cimd]`.
pub use mcp_auth_cimd_resolver::CimdSettings as CimdConfig;
