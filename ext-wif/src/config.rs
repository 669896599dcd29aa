//! The `[extensions.workload_identity]` section and its validation into [`TrustedIssuer`]s.

use mcp_auth_core::jose::KeySource;
use mcp_auth_core::{ClientId, Issuer, ResourceUri, ScopeSet};
use serde::Deserialize;
use url::Url;

use crate::pattern::SubjectPattern;

/// The extension's name and the `<name>` of its section, `[extensions.workload_identity]`.
pub const NAME: &str = "workload_identity";

/// What every workload subject starts with: `wif:<subject_prefix>:<sub>`. This server's own
/// users are `usr_…`, Cross App Access subjects `xaa:…|…` by default, clients acting for
/// themselves their `client_id`; none of these start with `wif:` unless an operator chooses so
/// for an ID-JAG issuer, which the `xaa` extension refuses.
pub const SUBJECT_NAMESPACE: &str = mcp_auth_core::ext::WORKLOAD_SUBJECT_NAMESPACE;

/// The `[extensions.workload_identity]` section (SEP-1933).
///
/// ```toml
/// [extensions.workload_identity]
/// enabled = true
///
/// [[extensions.workload_identity.trusted_issuers]]
/// issuer = "https://kubernetes.default.svc"     # the assertion's `iss`, byte for byte
/// jwks_uri = "https://k8s.example.com/openid/v1/jwks"  # optional: else OIDC discovery, then RFC 8414
/// allowed_subjects = ["system:serviceaccount:payments:*"]
/// audience = "https://auth.example.com"         # optional: default this server (issuer, issuer/, token endpoint)
/// client_id = "payments-workloads"              # a registered client, or a CIMD URL
/// scopes = ["mcp:tools"]                        # the most a token may carry
/// resources = ["https://mcp.example.com/mcp"]   # the resources a token may be for
/// subject_prefix = "k8s-prod"                   # optional: token sub = wif:<prefix>:<sub>; default the issuer's host
/// insecure_allow_http_loopback = false          # tests only
/// ```
///
/// Unknown keys are refused, in the section and in each entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadIdentityConfig {
    /// Install the extension.
    #[serde(default)]
    pub enabled: bool,
    /// The workload platforms whose identity tokens this server accepts. Never published.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
}

/// One `[[extensions.workload_identity.trusted_issuers]]` entry, as written;
/// [`TrustedIssuerConfig::validate`] checks it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// The platform's issuer identifier; an assertion's `iss` must equal it byte for byte.
    pub issuer: String,
    /// The platform's JWK Set URL. Without it, OpenID Connect Discovery on the issuer (what
    /// Kubernetes and GitHub Actions publish), then RFC 8414 metadata.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Patterns the assertion's `sub` must match ([`SubjectPattern`]); at least one.
    pub allowed_subjects: Vec<String>,
    /// The `aud` the assertion must contain. Unset: this server, named by its issuer, its
    /// issuer with a trailing `/`, or its token endpoint URL (EXT-R2-10).
    #[serde(default)]
    pub audience: Option<String>,
    /// The client the issued token is for (its `client_id` claim): a registered client id or a
    /// Client ID Metadata Document URL. The client must list the jwt-bearer grant.
    pub client_id: String,
    /// The scopes a token may carry; at least one.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) a token may be for; at least one.
    pub resources: Vec<String>,
    /// The token `sub` is `wif:<subject_prefix>:<sub>`. Letters, digits, `.`, `-`, `_` only
    /// (no `:`, so the prefix ends where the first `:` after `wif:` is). Unset: the issuer's
    /// host. Two issuers may not share a prefix.
    #[serde(default)]
    pub subject_prefix: Option<String>,
    /// Tests only: allow plain `http` issuer and key URLs on `127.0.0.1`, `[::1]` or
    /// `localhost`. Logs a warning.
    #[serde(default)]
    pub insecure_allow_http_loopback: bool,
}

/// A configuration mistake; the server refuses to start. The text names the entry and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WifConfigError(pub String);

/// The audience a trusted issuer's assertions must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedAudience {
    /// This server: its issuer, with or without a trailing `/`, or its token endpoint URL.
    ThisServer,
    /// Exactly this value (configured `audience`).
    Exactly(String),
}

/// A validated trusted workload issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub(crate) issuer: String,
    pub(crate) key_sources: Vec<KeySource>,
    pub(crate) allowed_subjects: Vec<SubjectPattern>,
    pub(crate) audience: ExpectedAudience,
    pub(crate) client_id: ClientId,
    pub(crate) scopes: ScopeSet,
    pub(crate) resources: Vec<ResourceUri>,
    pub(crate) subject_prefix: String,
    pub(crate) allow_http_loopback: bool,
}

impl TrustedIssuer {
    /// The issuer identifier, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the keys come from, in the order tried.
    pub fn key_sources(&self) -> &[KeySource] {
        &self.key_sources
    }

    /// The client the issued tokens are for.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The expected audience.
    pub fn audience(&self) -> &ExpectedAudience {
        &self.audience
    }

    /// The token `sub` of workload `sub`: `wif:<subject_prefix>:<sub>`.
    pub fn token_subject(&self, sub: &str) -> String {
        format!("{SUBJECT_NAMESPACE}{}:{sub}", self.subject_prefix)
    }

    /// Whether plain `http` loopback URLs are allowed (tests only).
    pub fn allows_http_loopback(&self) -> bool {
        self.allow_http_loopback
    }
}

impl TrustedIssuerConfig {
    /// An entry for `issuer` mapping subjects matching `allowed_subjects` to `client_id`,
    /// allowed `scopes` at `resources`; every other key at its default.
    pub fn new(
        issuer: impl Into<String>,
        allowed_subjects: &[&str],
        client_id: impl Into<String>,
        scopes: &[&str],
        resources: &[&str],
    ) -> Self {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            issuer: issuer.into(),
            jwks_uri: None,
            allowed_subjects: owned(allowed_subjects),
            audience: None,
            client_id: client_id.into(),
            scopes: owned(scopes),
            resources: owned(resources),
            subject_prefix: None,
            insecure_allow_http_loopback: false,
        }
    }

    /// Check the entry.
    ///
    /// # Errors
    /// [`WifConfigError`] naming the issuer and key: an issuer or `jwks_uri` that is not
    /// `https` (or loopback `http` with the insecure switch), a special-use IP address, no or
    /// a malformed subject pattern, scope, resource or `client_id`, an empty `audience`, a
    /// `subject_prefix` with characters outside `[A-Za-z0-9._-]`.
    pub fn validate(&self) -> Result<TrustedIssuer, WifConfigError> {
        let err = |key: &str, msg: String| {
            WifConfigError(format!("trusted_issuers[{}].{key}: {msg}", self.issuer))
        };
        let issuer: Issuer = self
            .issuer
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| err("issuer", e.0))?;
        let issuer_url = check_url(&self.issuer, self.insecure_allow_http_loopback)
            .map_err(|m| err("issuer", m))?;
        let key_sources = match &self.jwks_uri {
            Some(uri) => {
                check_url(uri, self.insecure_allow_http_loopback)
                    .map_err(|m| err("jwks_uri", m))?;
                vec![KeySource::JwksUri(uri.clone())]
            }
            None => vec![
                KeySource::DiscoverOpenId(issuer.clone()),
                KeySource::Discover(issuer),
            ],
        };
        let allowed_subjects = non_empty(&self.allowed_subjects, "allowed_subjects", &err)?
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e: crate::PatternError| err("allowed_subjects", e.to_string()))
            })
            .collect::<Result<Vec<SubjectPattern>, _>>()?;
        let audience = match &self.audience {
            None => ExpectedAudience::ThisServer,
            Some(a) if a.trim().is_empty() => return Err(err("audience", "is empty".into())),
            Some(a) => ExpectedAudience::Exactly(a.clone()),
        };
        let client_id: ClientId = self
            .client_id
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| err("client_id", e.0))?;
        let scopes: ScopeSet = non_empty(&self.scopes, "scopes", &err)?
            .join(" ")
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| err("scopes", e.0))?;
        let resources = non_empty(&self.resources, "resources", &err)?
            .iter()
            .map(|r| {
                r.parse::<ResourceUri>()
                    .map_err(|e| err("resources", format!("{r}: {}", e.0)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let subject_prefix = match &self.subject_prefix {
            Some(p) => p.clone(),
            None => issuer_url.host_str().unwrap_or_default().to_owned(),
        };
        if subject_prefix.is_empty()
            || !subject_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(err(
                "subject_prefix",
                format!("{subject_prefix:?}: use letters, digits, '.', '-' and '_' only"),
            ));
        }
        if self.insecure_allow_http_loopback {
            tracing::warn!(
                issuer = %self.issuer,
                "INSECURE: workload issuer keys may be fetched over plain http from loopback; for tests only"
            );
        }
        Ok(TrustedIssuer {
            issuer: self.issuer.clone(),
            key_sources,
            allowed_subjects,
            audience,
            client_id,
            scopes,
            resources,
            subject_prefix,
            allow_http_loopback: self.insecure_allow_http_loopback,
        })
    }
}

fn non_empty<'l>(
    list: &'l [String],
    key: &str,
    err: &dyn Fn(&str, String) -> WifConfigError,
) -> Result<&'l [String], WifConfigError> {
    if list.is_empty() {
        Err(err(key, "must list at least one value".into()))
    } else {
        Ok(list)
    }
}

impl WorkloadIdentityConfig {
    /// Check every entry; issuers and subject prefixes must be distinct.
    ///
    /// # Errors
    /// The first [`WifConfigError`].
    pub fn trusted(&self) -> Result<Vec<TrustedIssuer>, WifConfigError> {
        let mut out: Vec<TrustedIssuer> = Vec::with_capacity(self.trusted_issuers.len());
        for entry in &self.trusted_issuers {
            let issuer = entry.validate()?;
            if let Some(other) = out.iter().find(|o| o.issuer == issuer.issuer) {
                return Err(WifConfigError(format!(
                    "trusted_issuers: issuer {} is listed twice",
                    other.issuer
                )));
            }
            if let Some(other) = out
                .iter()
                .find(|o| o.subject_prefix == issuer.subject_prefix)
            {
                return Err(WifConfigError(format!(
                    "trusted_issuers[{}] and trusted_issuers[{}]: both use subject_prefix {:?}; set a distinct subject_prefix on one",
                    other.issuer, issuer.issuer, issuer.subject_prefix
                )));
            }
            out.push(issuer);
        }
        Ok(out)
    }
}

/// `https`, or `http` on exactly `127.0.0.1`, `[::1]` or `localhost` when `allow_http_loopback`;
/// an `https` URL may not name a special-use IP address (the guarded client screens names, not
/// IP literals).
pub(crate) fn check_url(raw: &str, allow_http_loopback: bool) -> Result<Url, String> {
    mcp_auth_outbound::check_issuer_url(raw, allow_http_loopback)
        .map_err(|e| e.with_switch("insecure_allow_http_loopback"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn entry(issuer: &str) -> TrustedIssuerConfig {
        TrustedIssuerConfig::new(
            issuer,
            &["system:serviceaccount:ns:*"],
            "workloads",
            &["mcp:tools"],
            &[RESOURCE],
        )
    }

    #[test]
    fn defaults_discover_keys_and_prefix_with_the_host() {
        let i = entry("https://k8s.example.com").validate().unwrap();
        assert!(matches!(i.key_sources()[0], KeySource::DiscoverOpenId(_)));
        assert!(matches!(i.key_sources()[1], KeySource::Discover(_)));
        assert_eq!(i.audience(), &ExpectedAudience::ThisServer);
        assert_eq!(
            i.token_subject("system:serviceaccount:ns:a"),
            "wif:k8s.example.com:system:serviceaccount:ns:a"
        );
    }

    #[test]
    fn http_needs_the_insecure_switch_and_loopback() {
        assert!(entry("http://127.0.0.1:9").validate().is_err());
        let mut e = entry("http://127.0.0.1:9");
        e.insecure_allow_http_loopback = true;
        assert_eq!(e.validate().unwrap().subject_prefix, "127.0.0.1");
        let mut e = entry("http://k8s.example.com");
        e.insecure_allow_http_loopback = true;
        assert!(e.validate().is_err());
        let mut e = entry("https://k8s.example.com");
        e.jwks_uri = Some("https://10.0.0.1/jwks".into());
        assert!(e.validate().unwrap_err().0.contains("special-use"));
    }

    #[test]
    fn empty_lists_and_bad_values_are_refused_naming_the_key() {
        for (key, change) in [
            (
                "allowed_subjects",
                Box::new(|e: &mut TrustedIssuerConfig| e.allowed_subjects.clear())
                    as Box<dyn Fn(&mut TrustedIssuerConfig)>,
            ),
            (
                "allowed_subjects",
                Box::new(|e| e.allowed_subjects = vec!["*".into()]),
            ),
            ("scopes", Box::new(|e| e.scopes.clear())),
            ("scopes", Box::new(|e| e.scopes = vec!["a\"b".into()])),
            ("resources", Box::new(|e| e.resources.clear())),
            (
                "resources",
                Box::new(|e| e.resources = vec!["relative".into()]),
            ),
            ("client_id", Box::new(|e| e.client_id = String::new())),
            ("audience", Box::new(|e| e.audience = Some(" ".into()))),
            (
                "subject_prefix",
                Box::new(|e| e.subject_prefix = Some("a:b".into())),
            ),
            (
                "subject_prefix",
                Box::new(|e| e.subject_prefix = Some(String::new())),
            ),
        ] {
            let mut e = entry("https://k8s.example.com");
            change(&mut e);
            let err = e.validate().unwrap_err().0;
            assert!(
                err.starts_with(&format!("trusted_issuers[https://k8s.example.com].{key}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn issuers_and_prefixes_must_be_distinct() {
        let twice = WorkloadIdentityConfig {
            enabled: true,
            trusted_issuers: vec![
                entry("https://a.example.com"),
                entry("https://a.example.com"),
            ],
        };
        assert!(twice.trusted().unwrap_err().0.contains("listed twice"));
        let same_host = WorkloadIdentityConfig {
            enabled: true,
            trusted_issuers: vec![
                entry("https://oidc.example.com/cluster-a"),
                entry("https://oidc.example.com/cluster-b"),
            ],
        };
        assert!(
            same_host
                .trusted()
                .unwrap_err()
                .0
                .contains("subject_prefix")
        );
        let mut b = entry("https://oidc.example.com/cluster-b");
        b.subject_prefix = Some("cluster-b".into());
        let fixed = WorkloadIdentityConfig {
            enabled: true,
            trusted_issuers: vec![entry("https://oidc.example.com/cluster-a"), b],
        };
        assert_eq!(fixed.trusted().unwrap().len(), 2);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let typo: Result<WorkloadIdentityConfig, _> = serde_json::from_value(serde_json::json!({
            "enabled": true,
            "trusted_issuers": [{"issuer": "https://k8s.example.com", "allowed_subject": ["x"],
                "client_id": "c", "scopes": ["a"], "resources": [RESOURCE]}]
        }));
        assert!(typo.is_err());
    }
}
