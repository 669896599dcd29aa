//! `[cimd]`: Client ID Metadata Documents (SEP-991), URL-shaped `client_id`s whose metadata the
//! server fetches. Read by `crate::cimd`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Client ID Metadata Documents: URL-shaped `client_id`s whose metadata the server fetches.
/// The keys of [`mcp_auth_cimd_resolver::CimdSettings`], which reads them; the top-level
/// `[cimd]` section is the documented alias of `[extensions.cimd]` (giving both is an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CimdConfig {
    /// Accept URL-shaped client ids and advertise `client_id_metadata_document_supported`
    /// (default true).
    pub enabled: bool,
    /// When non-empty, only these hosts (or `*.domain` patterns) may serve documents.
    pub allow_hosts: Vec<String>,
    /// Hosts (or `*.domain` patterns) whose documents are never fetched.
    pub deny_hosts: Vec<String>,
    /// Hosts whose clients are trusted: after sign-in their requests are approved without a
    /// consent prompt.
    pub trusted_hosts: Vec<String>,
    /// Shortest time a fetched document is cached, seconds (default 60).
    pub min_cache_ttl: u64,
    /// Longest time a fetched document is cached, seconds (default 86400).
    pub max_cache_ttl: u64,
    /// Fetches allowed per host per minute (default 10).
    pub fetches_per_host_per_minute: u32,
    /// Show the client_id host when a document has no `client_name`, instead of refusing it.
    pub lenient_client_name: bool,
    /// Testing only: allow documents on loopback hosts. Refused unless the server itself is
    /// bound to a loopback address; logs a warning.
    pub insecure_allow_loopback: bool,
    /// Testing only: a PEM file of an extra root certificate to trust for document fetches.
    pub insecure_ca_file: Option<PathBuf>,
}

impl Default for CimdConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            trusted_hosts: Vec::new(),
            min_cache_ttl: 60,
            max_cache_ttl: 86_400,
            fetches_per_host_per_minute: 10,
            lenient_client_name: false,
            insecure_allow_loopback: false,
            insecure_ca_file: None,
        }
    }
}
