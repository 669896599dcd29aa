//! Wiring of Client ID Metadata Documents (SEP-991, the `cimd-resolver` crate) from
//! configuration.

use std::sync::Arc;

use mcp_auth_cimd_resolver::CimdResolver;
use mcp_auth_core::Clock;
use mcp_auth_core::ext::ServerExtension;

use crate::config::CimdConfig;

/// The CIMD extension to install, and the SSRF-guarded HTTP client that also fetches the
/// `jwks_uri` of metadata-document clients (spec CIMD-20).
pub struct CimdWiring {
    /// The extension: resolver plus the `client_id_metadata_document_supported` member.
    pub extension: Box<dyn ServerExtension>,
    /// The guarded HTTP client (no redirects, no private addresses, bounded bodies).
    pub http_client: reqwest::Client,
}

impl std::fmt::Debug for CimdWiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CimdWiring { .. }")
    }
}

/// Build the resolver from `config`. `None` when CIMD is turned off.
///
/// # Errors
/// A message naming the setting: `insecure_allow_loopback` on a server not bound to loopback
/// (spec §10 A6), an unreadable CA file, or a resolver setting out of range.
pub fn from_config(
    config: &CimdConfig,
    bound_to_loopback: bool,
    clock: Arc<dyn Clock>,
) -> Result<Option<CimdWiring>, String> {
    from_config_with_cache(config, bound_to_loopback, clock, None)
}

/// [`from_config`], keeping validated documents in `shared_cache` when given (PostgreSQL:
/// [`crate::storage::postgres::PgCimdCache`], so one node's fetch serves every node) instead of
/// this node's memory.
///
/// # Errors
/// As [`from_config`].
pub fn from_config_with_cache(
    config: &CimdConfig,
    bound_to_loopback: bool,
    clock: Arc<dyn Clock>,
    shared_cache: Option<Arc<dyn mcp_auth_cimd_resolver::CimdCache>>,
) -> Result<Option<CimdWiring>, String> {
    if !config.enabled {
        return Ok(None);
    }
    if config.insecure_allow_loopback && !bound_to_loopback {
        return Err(
            "cimd.insecure_allow_loopback is only allowed when the server is bound to loopback"
                .into(),
        );
    }
    let mut builder = CimdResolver::builder()
        .clock(clock)
        .cache(Arc::new(crate::metrics::cimd::CountingCimdCache::new(
            shared_cache
                .unwrap_or_else(|| Arc::new(mcp_auth_cimd_resolver::InMemoryCimdCache::new())),
        )))
        .cache_ttl_bounds(config.min_cache_ttl, config.max_cache_ttl)
        .fetch_rate_limit(config.fetches_per_host_per_minute, 60)
        .lenient_client_name(config.lenient_client_name)
        .insecure_allow_loopback(config.insecure_allow_loopback);
    for host in &config.allow_hosts {
        builder = builder.allow_host(host);
    }
    for host in &config.deny_hosts {
        builder = builder.deny_host(host);
    }
    for host in &config.trusted_hosts {
        builder = builder.trusted_host(host);
    }
    if let Some(path) = &config.insecure_ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cimd.insecure_ca_file {}: {e}", path.display()))?;
        builder = builder.insecure_add_root_certificate_pem(&pem);
    }
    let resolver = builder.build().map_err(|e| format!("cimd: {e}"))?;
    let http_client = resolver.http_client();
    Ok(Some(CimdWiring {
        extension: Box::new(crate::metrics::cimd::CountingCimdExtension::new(resolver)),
        http_client,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::SystemClock;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    /// Spec §10 A6: loopback documents only for a server bound to loopback.
    #[test]
    fn insecure_loopback_is_refused_off_loopback() {
        let config = CimdConfig {
            insecure_allow_loopback: true,
            ..CimdConfig::default()
        };
        let err = from_config(&config, false, clock()).unwrap_err();
        assert!(err.contains("insecure_allow_loopback"), "{err}");
        assert!(from_config(&config, true, clock()).unwrap().is_some());
    }

    #[test]
    fn disabled_cimd_installs_nothing() {
        let config = CimdConfig {
            enabled: false,
            ..CimdConfig::default()
        };
        assert!(from_config(&config, true, clock()).unwrap().is_none());
    }

    /// AS-04: the installed extension advertises `client_id_metadata_document_supported`.
    #[test]
    fn extension_advertises_support() {
        let wiring = from_config(&CimdConfig::default(), true, clock())
            .unwrap()
            .unwrap();
        let mut registry = mcp_auth_core::ext::Registry::new();
        wiring
            .extension
            .install(
                &mut registry,
                &mcp_auth_core::ext::ExtensionServices::in_memory(
                    "https://as.example.com".parse().unwrap(),
                ),
            )
            .unwrap();
        assert_eq!(
            registry.metadata()["client_id_metadata_document_supported"],
            serde_json::Value::Bool(true)
        );
    }
}
