//! The `[extensions.xaa]` configuration section and its validation into [`TrustedIdp`]s.

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
/// subject_prefix = "acme|"              # token sub = prefix + ID-JAG sub (default "xaa:acme.idp.example|")
/// subjects_are_local_users = false      # the IdP's subjects are this server's own user ids
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
    /// Prepended to the ID-JAG `sub` to form the token's `sub`. Unset: the IdP's own prefix
    /// [`default_subject_prefix`] (`xaa:` + the issuer without its scheme + `|`, e.g.
    /// `xaa:acme.idp.example|`), so an IdP's subjects never equal this server's users'
    /// (`usr_…`) or another IdP's. `""` means no prefix: only for an IdP that is the sole
    /// source of users (logs a warning). Two IdPs whose prefixes could produce the same
    /// subject (equal, or one the start of the other; `""` next to any other IdP) are refused
    /// at start-up, and so is a prefix that could produce a local user id (the start of
    /// `usr_`, or starting with it).
    #[serde(default)]
    pub subject_prefix: Option<String>,
    /// The IdP's subjects, after `subject_prefix`, are this server's own user ids: a token
    /// redeemed from its ID-JAG is the same user as the one signed in here with that `sub`, and
    /// shares their connections in the token vault. Off by default: a subject taken from an
    /// ID-JAG is qualified by the IdP's issuer (the token's `sub_id` claim, RFC 9493) and never
    /// shares vault entries with a local user. Needs an explicit `subject_prefix` (usually
    /// `""`); logs a warning.
    #[serde(default)]
    pub subjects_are_local_users: bool,
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
    pub(crate) subject_prefix: String,
    pub(crate) subjects_are_local_users: bool,
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

    /// What is prepended to an ID-JAG `sub` to form the token's `sub`: the configured
    /// `subject_prefix`, else [`default_subject_prefix`].
    pub fn subject_prefix(&self) -> &str {
        &self.subject_prefix
    }

    /// Whether the IdP's subjects are this server's own users (`subjects_are_local_users`).
    pub fn subjects_are_local_users(&self) -> bool {
        self.subjects_are_local_users
    }
}

/// The prefix of the user ids this server gives its own users (`auth-server user add`).
pub const LOCAL_USER_PREFIX: &str = "usr_";

/// The `subject_prefix` of an IdP that sets none: `xaa:`, the issuer without its `https://`
/// (or `http://`) scheme, and `|`.
///
/// It never produces a local user id (`usr_…`), and two distinct issuers get distinct
/// prefixes; [`XaaConfig::trusted`] still refuses two prefixes one of which starts the other
/// (possible when an issuer contains `|`).
///
/// ```
/// use mcp_auth_ext_xaa::redeem::default_subject_prefix;
///
/// assert_eq!(default_subject_prefix("https://acme.idp.example"), "xaa:acme.idp.example|");
/// assert_eq!(
///     default_subject_prefix("https://login.example.com/tenant-1/v2.0"),
///     "xaa:login.example.com/tenant-1/v2.0|"
/// );
/// ```
pub fn default_subject_prefix(issuer: &str) -> String {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer);
    format!("xaa:{rest}|")
}

/// Whether a token `sub` made with `prefix` could be a local user id: `prefix` is a start of
/// [`LOCAL_USER_PREFIX`] or starts with it. The empty prefix is the operator's explicit choice
/// and is not counted here.
fn could_be_local_user(prefix: &str) -> bool {
    !prefix.is_empty()
        && (prefix.starts_with(LOCAL_USER_PREFIX) || LOCAL_USER_PREFIX.starts_with(prefix))
}

/// What the subjects of workload identity federation start with (`wif:<prefix>:<sub>`,
/// SEP-1933); no IdP's subjects may.
pub const WORKLOAD_SUBJECT_PREFIX: &str = mcp_auth_core::ext::WORKLOAD_SUBJECT_NAMESPACE;

/// Whether a token `sub` made with `prefix` could be a workload subject: `prefix` is a
/// non-empty start of [`WORKLOAD_SUBJECT_PREFIX`] or starts with it. The empty prefix is the
/// operator's explicit choice; the `sub_id` claim still tells such subjects apart.
fn could_be_workload(prefix: &str) -> bool {
    !prefix.is_empty()
        && (prefix.starts_with(WORKLOAD_SUBJECT_PREFIX)
            || WORKLOAD_SUBJECT_PREFIX.starts_with(prefix))
}

/// Refuse two IdPs whose subject prefixes could produce the same token `sub`: equal, or one a
/// prefix of the other (the empty prefix is a prefix of every other).
///
/// # Errors
/// [`XaaConfigError`] naming both issuers and prefixes.
pub fn check_subject_prefixes(idps: &[TrustedIdp]) -> Result<(), XaaConfigError> {
    for (i, a) in idps.iter().enumerate() {
        for b in &idps[i + 1..] {
            if a.subject_prefix.starts_with(&b.subject_prefix)
                || b.subject_prefix.starts_with(&a.subject_prefix)
            {
                return Err(XaaConfigError(format!(
                    "trusted_idps[{}] and trusted_idps[{}]: subject_prefix {:?} and {:?} can produce the same subject; give each IdP a prefix that does not start another's",
                    a.issuer, b.issuer, a.subject_prefix, b.subject_prefix
                )));
            }
        }
    }
    Ok(())
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
            subjects_are_local_users: false,
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
    /// `none` or `HS*` algorithm, an empty algorithm list, a malformed resource, a
    /// `subject_prefix` that could produce a local user id (`usr_…`), `subjects_are_local_users`
    /// without an explicit `subject_prefix`.
    pub fn validate(&self) -> Result<TrustedIdp, XaaConfigError> {
        let err = |key: &str, msg: String| {
            XaaConfigError(format!("trusted_idps[{}].{key}: {msg}", self.issuer))
        };
        let issuer: Issuer = self
            .issuer
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| err("issuer", e.0))?;
        check_url(&self.issuer, self.insecure_allow_http_loopback).map_err(|e| err("issuer", e))?;
        let key_sources = match &self.jwks_uri {
            Some(uri) => {
                check_url(uri, self.insecure_allow_http_loopback)
                    .map_err(|e| err("jwks_uri", e))?;
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
        let algorithms = self.algorithms(&err)?;
        let allowed_resources = self.allowed_resources(&err)?;
        let subject_prefix = match &self.subject_prefix {
            Some(p) => p.clone(),
            None if self.subjects_are_local_users => {
                return Err(err(
                    "subjects_are_local_users",
                    "needs an explicit subject_prefix (usually \"\")".into(),
                ));
            }
            None => default_subject_prefix(&self.issuer),
        };
        if could_be_workload(&subject_prefix) {
            return Err(err(
                "subject_prefix",
                format!(
                    "{subject_prefix:?} could produce workload subjects ({WORKLOAD_SUBJECT_PREFIX}…)"
                ),
            ));
        }
        if !self.subjects_are_local_users && could_be_local_user(&subject_prefix) {
            return Err(err(
                "subject_prefix",
                format!(
                    "{subject_prefix:?} could produce this server's own user ids ({LOCAL_USER_PREFIX}…)"
                ),
            ));
        }
        self.warn_insecure_choices(&subject_prefix);
        Ok(TrustedIdp {
            issuer: self.issuer.clone(),
            key_sources,
            allowed_client_ids: self.allowed_client_ids.clone(),
            allowed_resources,
            max_lifetime: self.max_lifetime,
            subject_prefix,
            subjects_are_local_users: self.subjects_are_local_users,
            algorithms,
            allow_http_loopback: self.insecure_allow_http_loopback,
        })
    }

    /// `algorithms`: each a JWS algorithm name, the list allowed by the JOSE module.
    fn algorithms(
        &self,
        err: &dyn Fn(&str, String) -> XaaConfigError,
    ) -> Result<AllowedAlgorithms, XaaConfigError> {
        let mut algs = Vec::with_capacity(self.algorithms.len());
        for name in &self.algorithms {
            let alg: Algorithm = name
                .parse()
                .map_err(|_| err("algorithms", format!("{name} is not a JWS algorithm")))?;
            algs.push(alg);
        }
        AllowedAlgorithms::new(&algs).map_err(|e| err("algorithms", e.to_string()))
    }

    /// `allowed_resources`, each an absolute URI, when given.
    fn allowed_resources(
        &self,
        err: &dyn Fn(&str, String) -> XaaConfigError,
    ) -> Result<Option<Vec<ResourceUri>>, XaaConfigError> {
        self.allowed_resources
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|r| {
                        r.parse::<ResourceUri>()
                            .map_err(|e| err("allowed_resources", format!("{r}: {}", e.0)))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
    }

    /// The start-up warnings of the choices that weaken isolation (plain-http keys, an empty
    /// subject prefix, subjects taken as local users).
    fn warn_insecure_choices(&self, subject_prefix: &str) {
        if self.insecure_allow_http_loopback {
            tracing::warn!(
                issuer = %self.issuer,
                "INSECURE: ID-JAG issuer keys may be fetched over plain http from loopback; for tests only"
            );
        }
        if subject_prefix.is_empty() {
            tracing::warn!(
                issuer = %self.issuer,
                "xaa: subject_prefix is empty: this IdP's subjects are used as they are; only for an IdP that is the sole source of users"
            );
        }
        if self.subjects_are_local_users {
            tracing::warn!(
                issuer = %self.issuer,
                "xaa: subjects_are_local_users: a token redeemed from this IdP's ID-JAG is the local user with the same sub and shares their vault entries"
            );
        }
    }
}

impl XaaConfig {
    /// Check every trusted IdP entry; issuers must be distinct, and subject prefixes must not
    /// collide ([`check_subject_prefixes`]).
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
        check_subject_prefixes(&out)?;
        Ok(out)
    }
}

/// A trusted IdP's URL ([`mcp_auth_outbound::check_issuer_url`]).
///
/// # Errors
/// A message naming the URL and, for plain `http`, the switch.
pub(crate) fn check_url(raw: &str, allow_http_loopback: bool) -> Result<Url, String> {
    mcp_auth_outbound::check_issuer_url(raw, allow_http_loopback)
        .map_err(|e| e.with_switch("insecure_allow_http_loopback"))
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

    /// Issue 19 §4: an IdP without `subject_prefix` gets its own, which can never be a local
    /// user id, and differs between two IdPs on one host.
    #[test]
    fn default_subject_prefix_is_per_idp_and_never_a_local_user_id() {
        let a = entry("https://login.example.com/tenant-a")
            .validate()
            .unwrap();
        let b = entry("https://login.example.com/tenant-b")
            .validate()
            .unwrap();
        assert_eq!(a.subject_prefix(), "xaa:login.example.com/tenant-a|");
        assert_eq!(b.subject_prefix(), "xaa:login.example.com/tenant-b|");
        assert!(!a.subject_prefix().starts_with(LOCAL_USER_PREFIX));
        check_subject_prefixes(&[a, b]).unwrap();
    }

    #[test]
    fn a_subject_prefix_that_could_produce_local_user_ids_is_refused() {
        for prefix in ["usr_", "usr_x", "usr", "u"] {
            let mut e = entry("https://idp.example.com");
            e.subject_prefix = Some(prefix.into());
            assert_eq!(
                e.validate().unwrap_err().0,
                format!(
                    "trusted_idps[https://idp.example.com].subject_prefix: {prefix:?} could produce this server's own user ids (usr_…)"
                )
            );
        }
        for prefix in ["wif:", "wif:k8s:", "w", "wi"] {
            let mut e = entry("https://idp.example.com");
            e.subject_prefix = Some(prefix.into());
            assert!(
                e.validate().unwrap_err().0.contains("workload subjects"),
                "{prefix}"
            );
        }
        for prefix in ["", "user|", "acme|"] {
            let mut e = entry("https://idp.example.com");
            e.subject_prefix = Some(prefix.into());
            assert_eq!(e.validate().unwrap().subject_prefix(), prefix);
        }
    }

    #[test]
    fn subjects_are_local_users_needs_an_explicit_prefix() {
        let mut e = entry("https://idp.example.com");
        e.subjects_are_local_users = true;
        assert_eq!(
            e.validate().unwrap_err().0,
            "trusted_idps[https://idp.example.com].subjects_are_local_users: needs an explicit subject_prefix (usually \"\")"
        );
        e.subject_prefix = Some(String::new());
        assert!(e.validate().unwrap().subjects_are_local_users());
    }

    /// Issue 19 §4: two IdPs whose prefixes are equal, or one the start of the other (the
    /// empty prefix starts every other), are refused, naming both.
    #[test]
    fn colliding_subject_prefixes_are_refused_naming_both() {
        let config = |a: Option<&str>, b: Option<&str>| -> XaaConfig {
            serde_json::from_value(serde_json::json!({
                "enabled": true,
                "trusted_idps": [
                    {"issuer": "https://a.example.com", "subject_prefix": a},
                    {"issuer": "https://b.example.com", "subject_prefix": b},
                ]
            }))
            .unwrap()
        };
        for (a, b) in [
            (Some("acme|"), Some("acme|")),
            (Some("acme"), Some("acme|")),
            (Some("acme|x"), Some("acme|")),
            (Some(""), None),
            (None, Some("")),
            (Some("xaa:b.example.com|"), None),
        ] {
            let err = config(a, b).trusted().unwrap_err().0;
            assert!(
                err.starts_with(
                    "trusted_idps[https://a.example.com] and trusted_idps[https://b.example.com]: subject_prefix "
                ),
                "{a:?} {b:?}: {err}"
            );
            assert!(err.ends_with("can produce the same subject; give each IdP a prefix that does not start another's"), "{err}");
        }
        for (a, b) in [
            (None, None),
            (Some("acme|"), Some("beta|")),
            (Some("a|"), None),
        ] {
            config(a, b).trusted().unwrap();
        }
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
