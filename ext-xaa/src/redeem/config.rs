//! The `[extensions.xaa]` configuration section and its validation into [`TrustedIdp`]s.

use std::net::IpAddr;

use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::{AllowedAlgorithms, KeySource};
use mcp_auth_core::{Issuer, ResourceUri};
use serde::Deserialize;
use url::Url;

/// The extension's name and the `<name>` of its configuration section, `[extensions.xaa]`.
pub const NAME: &str = "xaa";

/// Default `max_lifetime` of an ID-JAG (`exp - iat`), seconds (spec §6.5 V10).
pub const DEFAULT_MAX_LIFETIME: u64 = 600;

/// Largest accepted `max_lifetime`, seconds: ID-JAGs are short-lived by design.
pub const MAX_MAX_LIFETIME: u64 = 3600;

/// Default signing algorithm allow-list of a trusted IdP (spec §6.5 V6): asymmetric only.
pub const DEFAULT_ALGORITHMS: [&str; 4] = ["ES256", "RS256", "PS256", "EdDSA"];

/// The `[extensions.xaa]` section: the redeeming side of Cross App Access (SEP-990).
///
/// ```toml
/// [extensions.xaa]
/// enabled = true
/// allow_public_clients = false          # EMA-13: confidential clients only by default
///
/// [[extensions.xaa.trusted_idps]]
/// issuer = "https://acme.idp.example"   # the ID-JAG `iss`, byte for byte
/// jwks_uri = "https://acme.idp.example/jwks"  # optional: else RFC 8414, then OIDC discovery
/// allowed_client_ids = ["mcp-client-1"] # optional: clients that may redeem this IdP's ID-JAGs
/// allowed_resources = ["https://mcp.example.com/mcp"]  # optional
/// max_lifetime = 600                    # seconds, exp - iat (1…3600)
/// subject_prefix = "acme|"              # optional; token sub = prefix + ID-JAG sub
/// algorithms = ["ES256", "RS256", "PS256", "EdDSA"]  # never none or HS*
/// insecure_allow_http_loopback = false  # tests only: http://127.0.0.1, [::1], localhost
/// ```
///
/// Unknown keys are refused, in the section and in each `trusted_idps` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XaaConfig {
    /// Install the extension.
    #[serde(default)]
    pub enabled: bool,
    /// Let public clients (`token_endpoint_auth_method: none`) redeem ID-JAGs. Off by default
    /// (spec EMA-13, V3: the profile SHOULD be confidential-only).
    #[serde(default)]
    pub allow_public_clients: bool,
    /// The identity providers whose ID-JAGs this server redeems (spec V7). Never published in
    /// metadata (EMA-M3).
    #[serde(default)]
    pub trusted_idps: Vec<TrustedIdpConfig>,
}

/// One `[[extensions.xaa.trusted_idps]]` entry, as written. [`TrustedIdpConfig::validate`]
/// turns it into a [`TrustedIdp`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIdpConfig {
    /// The IdP's issuer identifier; an ID-JAG's `iss` must equal it byte for byte.
    pub issuer: String,
    /// Where the IdP's JWK Set is. Without it, the keys are discovered from the issuer's
    /// RFC 8414 metadata, falling back to OpenID Connect Discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// When set, only these clients (`client_id` at this server) may redeem this IdP's ID-JAGs.
    #[serde(default)]
    pub allowed_client_ids: Option<Vec<String>>,
    /// When set, this IdP's ID-JAGs may only obtain tokens for these resources.
    #[serde(default)]
    pub allowed_resources: Option<Vec<String>>,
    /// Largest accepted `exp - iat`, seconds (default [`DEFAULT_MAX_LIFETIME`]).
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: u64,
    /// Prepended to the ID-JAG `sub` to form the token's `sub`. Without a prefix, two IdPs (or
    /// an IdP and this server's own users) that use the same subject value name the same local
    /// subject: set a distinct prefix per IdP (e.g. `"acme|"`) unless the IdP is the only source
    /// of users.
    #[serde(default)]
    pub subject_prefix: Option<String>,
    /// Accepted JWS `alg`s (default [`DEFAULT_ALGORITHMS`]); `none` and `HS*` are refused.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Tests only: allow plain `http` issuer and key URLs on `127.0.0.1`, `[::1]` or
    /// `localhost`. Logs a warning. Every other key fetch is `https` (EMA-12).
    #[serde(default)]
    pub insecure_allow_http_loopback: bool,
}

fn default_max_lifetime() -> u64 {
    DEFAULT_MAX_LIFETIME
}

fn default_algorithms() -> Vec<String> {
    DEFAULT_ALGORITHMS.iter().map(|s| (*s).to_owned()).collect()
}

/// A configuration mistake; the server refuses to start. The text names the entry and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XaaConfigError(pub String);

/// A validated trusted identity provider (spec §6.5 V7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIdp {
    pub(crate) issuer: String,
    pub(crate) key_sources: Vec<KeySource>,
    pub(crate) allowed_client_ids: Option<Vec<String>>,
    pub(crate) allowed_resources: Option<Vec<ResourceUri>>,
    pub(crate) max_lifetime: u64,
    pub(crate) subject_prefix: Option<String>,
    pub(crate) algorithms: AllowedAlgorithms,
    pub(crate) allow_http_loopback: bool,
}

impl TrustedIdp {
    /// The issuer identifier, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the keys come from, in the order tried: the configured `jwks_uri`, or RFC 8414
    /// discovery then OpenID Connect discovery.
    pub fn key_sources(&self) -> &[KeySource] {
        &self.key_sources
    }

    /// The accepted algorithms.
    pub fn algorithms(&self) -> &AllowedAlgorithms {
        &self.algorithms
    }

    /// Largest accepted `exp - iat`, seconds.
    pub fn max_lifetime(&self) -> u64 {
        self.max_lifetime
    }

    /// Whether plain `http` loopback URLs are allowed for this IdP (tests only).
    pub fn allows_http_loopback(&self) -> bool {
        self.allow_http_loopback
    }
}

impl TrustedIdpConfig {
    /// An entry for `issuer` with every other key at its default.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri: None,
            allowed_client_ids: None,
            allowed_resources: None,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            subject_prefix: None,
            algorithms: default_algorithms(),
            insecure_allow_http_loopback: false,
        }
    }

    /// Check the entry.
    ///
    /// # Errors
    /// [`XaaConfigError`] naming the issuer and key: an issuer that is not an `https` URL (or
    /// `http` on loopback with the insecure switch), a `jwks_uri` that is not `https` (same
    /// exception) or names a special-use IP address, `max_lifetime` outside 1…3600, an unknown,
    /// `none` or `HS*` algorithm, an empty algorithm list, a malformed resource.
    pub fn validate(&self) -> Result<TrustedIdp, XaaConfigError> {
        let err = |key: &str, msg: String| {
            XaaConfigError(format!("trusted_idps[{}].{key}: {msg}", self.issuer))
        };
        let issuer: Issuer = self
            .issuer
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| err("issuer", e.0))?;
        check_url(&self.issuer, self.insecure_allow_http_loopback).map_err(|m| err("issuer", m))?;
        let key_sources = match &self.jwks_uri {
            Some(uri) => {
                check_url(uri, self.insecure_allow_http_loopback)
                    .map_err(|m| err("jwks_uri", m))?;
                vec![KeySource::JwksUri(uri.clone())]
            }
            None => vec![
                KeySource::Discover(issuer.clone()),
                KeySource::DiscoverOpenId(issuer),
            ],
        };
        if self.max_lifetime == 0 || self.max_lifetime > MAX_MAX_LIFETIME {
            return Err(err(
                "max_lifetime",
                format!("must be between 1 and {MAX_MAX_LIFETIME} seconds"),
            ));
        }
        let mut algs = Vec::with_capacity(self.algorithms.len());
        for name in &self.algorithms {
            let alg: Algorithm = name
                .parse()
                .map_err(|_| err("algorithms", format!("{name} is not a JWS algorithm")))?;
            algs.push(alg);
        }
        let algorithms =
            AllowedAlgorithms::new(&algs).map_err(|e| err("algorithms", e.to_string()))?;
        let allowed_resources = self
            .allowed_resources
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|r| {
                        r.parse::<ResourceUri>()
                            .map_err(|e| err("allowed_resources", format!("{r}: {}", e.0)))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if self.insecure_allow_http_loopback {
            tracing::warn!(
                issuer = %self.issuer,
                "INSECURE: ID-JAG issuer keys may be fetched over plain http from loopback; for tests only"
            );
        }
        Ok(TrustedIdp {
            issuer: self.issuer.clone(),
            key_sources,
            allowed_client_ids: self.allowed_client_ids.clone(),
            allowed_resources,
            max_lifetime: self.max_lifetime,
            subject_prefix: self.subject_prefix.clone(),
            algorithms,
            allow_http_loopback: self.insecure_allow_http_loopback,
        })
    }
}

impl XaaConfig {
    /// Check every trusted IdP entry; issuers must be distinct.
    ///
    /// # Errors
    /// The first [`XaaConfigError`].
    pub fn trusted(&self) -> Result<Vec<TrustedIdp>, XaaConfigError> {
        let mut out: Vec<TrustedIdp> = Vec::with_capacity(self.trusted_idps.len());
        for entry in &self.trusted_idps {
            let idp = entry.validate()?;
            if out.iter().any(|o| o.issuer == idp.issuer) {
                return Err(XaaConfigError(format!(
                    "trusted_idps: issuer {} is listed twice",
                    idp.issuer
                )));
            }
            out.push(idp);
        }
        for idp in out.iter().filter(|i| i.subject_prefix.is_none()) {
            tracing::warn!(
                issuer = %idp.issuer,
                "xaa: a trusted IdP without subject_prefix: its subjects share one namespace with this server's own users and with other IdPs' subjects; set a distinct prefix"
            );
        }
        Ok(out)
    }
}

/// `https`, or `http` on exactly `127.0.0.1`, `[::1]` or `localhost` when `allow_http_loopback`;
/// an `https` URL may not name a special-use IP address (the guarded client screens names, not
/// IP literals).
pub(crate) fn check_url(raw: &str, allow_http_loopback: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw} is not a URL: {e}"))?;
    let host = url.host_str().ok_or_else(|| format!("{raw} has no host"))?;
    match url.scheme() {
        "https" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>()
                && mcp_auth_cimd_resolver::special_use_range(ip).is_some()
            {
                return Err(format!("{raw} names a special-use address"));
            }
            Ok(url)
        }
        "http" if allow_http_loopback && is_strict_loopback(host) => Ok(url),
        "http" if is_strict_loopback(host) => Err(format!(
            "{raw}: plain http needs insecure_allow_http_loopback (tests only)"
        )),
        _ => Err(format!("{raw} must be an https URL")),
    }
}

/// `127.0.0.1`, `[::1]` or `localhost` only.
fn is_strict_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "::1") || host.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(issuer: &str) -> TrustedIdpConfig {
        TrustedIdpConfig::new(issuer)
    }

    #[test]
    fn defaults_discover_keys_with_the_default_algorithms() {
        let idp = entry("https://idp.example.com").validate().unwrap();
        assert_eq!(idp.max_lifetime(), 600);
        assert_eq!(
            idp.algorithms().names(),
            ["ES256", "RS256", "PS256", "EdDSA"]
        );
        assert_eq!(idp.key_sources().len(), 2);
        assert!(matches!(idp.key_sources()[0], KeySource::Discover(_)));
        assert!(matches!(idp.key_sources()[1], KeySource::DiscoverOpenId(_)));
    }

    /// EMA-07: `none` and `HS*` cannot be configured.
    #[test]
    fn none_and_hmac_algorithms_are_refused() {
        for alg in ["none", "HS256"] {
            let mut e = entry("https://idp.example.com");
            e.algorithms = vec![alg.into()];
            let err = e.validate().unwrap_err();
            assert!(err.0.contains("algorithms"), "{err}");
        }
        let mut e = entry("https://idp.example.com");
        e.algorithms = vec![];
        assert!(e.validate().is_err());
    }

    /// EMA-12: plain http keys only on loopback with the insecure switch.
    #[test]
    fn http_jwks_needs_the_insecure_switch_and_loopback() {
        let mut e = entry("https://idp.example.com");
        e.jwks_uri = Some("http://127.0.0.1:9/jwks".into());
        assert_eq!(
            e.validate().unwrap_err().0,
            "trusted_idps[https://idp.example.com].jwks_uri: http://127.0.0.1:9/jwks: plain http needs insecure_allow_http_loopback (tests only)"
        );
        e.insecure_allow_http_loopback = true;
        assert!(e.validate().is_ok());
        e.jwks_uri = Some("http://idp.example.com/jwks".into());
        assert!(e.validate().is_err());
        e.jwks_uri = Some("http://127.0.0.2/jwks".into());
        assert!(e.validate().is_err());
        e.jwks_uri = Some("https://10.0.0.1/jwks".into());
        assert!(e.validate().is_err());
    }

    #[test]
    fn http_issuer_needs_the_insecure_switch() {
        assert!(entry("http://127.0.0.1:8080").validate().is_err());
        let mut e = entry("http://127.0.0.1:8080");
        e.insecure_allow_http_loopback = true;
        assert!(e.validate().is_ok());
    }

    #[test]
    fn lifetime_bounds_are_checked() {
        let mut e = entry("https://idp.example.com");
        e.max_lifetime = 0;
        assert!(e.validate().is_err());
        e.max_lifetime = 3601;
        assert!(e.validate().is_err());
    }

    #[test]
    fn unknown_keys_and_duplicate_issuers_are_refused() {
        let typo: Result<XaaConfig, _> = serde_json::from_value(serde_json::json!({
            "enabled": true,
            "trusted_idps": [{"issuer": "https://idp.example.com", "jwks_url": "x"}]
        }));
        assert!(typo.is_err());
        let twice: XaaConfig = serde_json::from_value(serde_json::json!({
            "enabled": true,
            "trusted_idps": [{"issuer": "https://idp.example.com"}, {"issuer": "https://idp.example.com"}]
        }))
        .unwrap();
        assert!(twice.trusted().unwrap_err().0.contains("listed twice"));
    }
}
