//! `[[upstream_idps]]`: identity providers users sign in through (OpenID Connect Core §3.1),
//! and the rules their settings are checked against at start. Read by `crate::upstream`.
//!
//! ```toml
//! [[upstream_idps]]
//! name = "acme"
//! display_name = "Acme SSO"
//! kind = "oidc"
//! issuer = "https://idp.acme.example"
//! client_id = "mcp-auth"
//! client_secret = "…"          # or MCP_AUTH_UPSTREAM_IDPS_ACME_CLIENT_SECRET
//! # client_auth = "private_key_jwt"   # instead of a secret: a client assertion signed with
//! #                                   # this server's key, checked against its JWKS
//! allowed_email_domains = ["acme.example"]
//! required_claims = { groups = "mcp-users" }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use mcp_auth_core::Secret;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// One `[[upstream_idps]]` entry. Checked at start by [`Config::settings`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamIdpConfig {
    /// `[a-z0-9_-]{1,32}`, unique: names the upstream in forms, logs and metrics.
    pub name: String,
    /// Shown on the sign-in button ("Sign in with …").
    pub display_name: String,
    /// `oidc` (default): OpenID Connect with discovery from `issuer`; `github`: GitHub's OAuth
    /// endpoints and user API.
    #[serde(default)]
    pub kind: UpstreamKind,
    /// The upstream's issuer identifier; its metadata is read from
    /// `{issuer}/.well-known/openid-configuration` and must name the same issuer. For
    /// `kind = "github"`: GitHub's web address (default `https://github.com`; a GitHub
    /// Enterprise Server's address), whose `/login/oauth/authorize` and
    /// `/login/oauth/access_token` are used; users are keyed by it.
    #[serde(default)]
    pub issuer: String,
    /// `kind = "github"` only: the REST API's base URL, whose `/user` and `/user/emails` are
    /// read (default `https://api.github.com`; GitHub Enterprise Server: `https://HOST/api/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_api_url: Option<String>,
    /// This server's client id at the upstream.
    pub client_id: String,
    /// This server's client secret at the upstream (sent with HTTP Basic). Overridden by
    /// `MCP_AUTH_UPSTREAM_IDPS_<NAME>_CLIENT_SECRET` (name upper-cased, `-` as `_`). Required
    /// with `client_auth = "client_secret"`, refused with `"private_key_jwt"`.
    #[serde(skip_serializing, default)]
    pub client_secret: Option<Secret>,
    /// How this server authenticates at the upstream's token endpoint: `client_secret` (the
    /// default) or `private_key_jwt` (`kind = "oidc"` only).
    #[serde(default)]
    pub client_auth: UpstreamClientAuth,
    /// Scopes asked of the upstream (default `openid email profile`, which must include
    /// `openid`; for `kind = "github"`, default `read:user user:email`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When set, only users whose verified email (`email_verified = true`) is in one of these
    /// domains may sign in.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Claims every sign-in must carry: a string claim equal to the value, or an array claim
    /// containing it.
    #[serde(default)]
    pub required_claims: BTreeMap<String, String>,
    /// Upstream claims copied into access tokens as extra claims (never a registered claim).
    #[serde(default)]
    pub claims_to_tokens: Vec<String>,
    /// Tests only: allow plain `http` and loopback addresses for this upstream. Logs a
    /// warning.
    #[serde(default)]
    pub insecure_allow_http_loopback: bool,
}

/// How an upstream signs users in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamKind {
    /// OpenID Connect: discovery, authorization code + PKCE, a verified ID token.
    #[default]
    #[serde(rename = "oidc")]
    Oidc,
    /// GitHub: OAuth 2 (authorization code with PKCE) and GitHub's REST API (`/user`,
    /// `/user/emails` for the verified primary address).
    #[serde(rename = "github")]
    Github,
}

/// How this server authenticates as a client at an upstream's token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamClientAuth {
    /// `client_secret`: HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1), or form
    /// parameters for GitHub, which documents only those.
    #[default]
    #[serde(rename = "client_secret")]
    ClientSecret,
    /// `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2): a client assertion signed with this
    /// server's signing key (`iss` = `sub` = `client_id`, `aud` = the upstream's token
    /// endpoint, a unique `jti`, 60 s lifetime); the upstream checks it against this server's
    /// JWK Set (`{issuer}/jwks`), registered there as the client's `jwks_uri`.
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

/// GitHub's web address, the default `issuer` of `kind = "github"`.
pub const GITHUB_URL: &str = "https://github.com";
/// GitHub's REST API, the default `github_api_url`.
pub const GITHUB_API_URL: &str = "https://api.github.com";

fn default_github_scopes() -> Vec<String> {
    ["read:user", "user:email"].map(String::from).to_vec()
}

/// Claims an access token already has, or that describe the token itself: never copied from
/// an upstream (RFC 9068 §2.2, RFC 7519 §4.1, RFC 8693 §4).
pub const RESERVED_TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "acr",
    "amr",
    "azp",
    "cnf",
    "act",
    "may_act",
    "nonce",
    "typ",
    "sid",
    "at_hash",
    "c_hash",
];

impl UpstreamIdpConfig {
    /// This entry with the defaults of its kind filled in: the scopes, and for GitHub the
    /// `issuer` and `github_api_url`. Idempotent.
    pub fn with_defaults(mut self) -> Self {
        match self.kind {
            UpstreamKind::Oidc if self.scopes.is_empty() => self.scopes = default_scopes(),
            UpstreamKind::Oidc => {}
            UpstreamKind::Github => {
                if self.scopes.is_empty() {
                    self.scopes = default_github_scopes();
                }
                if self.issuer.is_empty() {
                    self.issuer = GITHUB_URL.to_owned();
                }
                if self.github_api_url.is_none() {
                    self.github_api_url = Some(GITHUB_API_URL.to_owned());
                }
            }
        }
        self
    }

    /// The environment variable that overrides this upstream's `client_secret`.
    pub fn secret_variable(&self) -> String {
        format!(
            "MCP_AUTH_UPSTREAM_IDPS_{}_CLIENT_SECRET",
            self.name.to_ascii_uppercase().replace('-', "_")
        )
    }

    fn error(&self, index: usize, key: &str, origin: &str, what: &str) -> ConfigError {
        ConfigError(format!(
            "upstream_idps[{index}].{key} (upstream {}){origin}: {what}",
            self.name
        ))
    }

    /// Every rule of one entry; `origin` is where `upstream_idps` was set.
    fn check(&self, index: usize, origin: &str) -> Result<(), ConfigError> {
        let err = |key: &str, what: &str| self.error(index, key, origin, what);
        let this = self.clone().with_defaults();
        this.check_kind(index, origin)?;
        if !super::connections::is_valid_name(&self.name) {
            return Err(err("name", "must be 1 to 32 of a-z, 0-9, _ and -"));
        }
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 100 {
            return Err(err("display_name", "must be 1 to 100 characters"));
        }
        crate::upstream::checked_url(&this.issuer, self.insecure_allow_http_loopback)
            .map_err(|e| err("issuer", &e.to_string()))?;
        if self.client_id.is_empty() {
            return Err(err("client_id", "must not be empty"));
        }
        self.check_client_auth(index, origin)?;
        if let Some(bad) = this.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(err("scopes", &format!("{bad:?} is not a scope")));
        }
        if let Some(bad) = self.allowed_email_domains.iter().find(|d| !is_domain(d)) {
            return Err(err(
                "allowed_email_domains",
                &format!("{bad:?} is not a lower-case domain name"),
            ));
        }
        if self.required_claims.keys().any(String::is_empty) {
            return Err(err("required_claims", "a claim name is empty"));
        }
        if let Some(bad) = self
            .claims_to_tokens
            .iter()
            .find(|c| c.is_empty() || is_registered_claim(c))
        {
            return Err(err(
                "claims_to_tokens",
                &format!("{bad:?} is a registered claim and cannot be copied"),
            ));
        }
        Ok(())
    }
}

/// Whether `name` is one of [`RESERVED_TOKEN_CLAIMS`] or of the claims no extension may set
/// ([`mcp_auth_core::ext::RESERVED_CLAIMS`]), compared ASCII case-insensitively as
/// [`mcp_auth_core::ext::ExtraClaims`] compares them.
fn is_registered_claim(name: &str) -> bool {
    RESERVED_TOKEN_CLAIMS
        .iter()
        .chain(mcp_auth_core::ext::RESERVED_CLAIMS)
        .any(|r| r.eq_ignore_ascii_case(name))
}

impl UpstreamIdpConfig {
    /// The client authentication rules: a secret with `client_secret`; with `private_key_jwt`,
    /// no secret (it would never be used) and an OpenID Connect upstream (GitHub takes only
    /// secrets).
    fn check_client_auth(&self, index: usize, origin: &str) -> Result<(), ConfigError> {
        let err = |key: &str, what: &str| self.error(index, key, origin, what);
        let has_secret = self
            .client_secret
            .as_ref()
            .is_some_and(|s| !s.expose().is_empty());
        match self.client_auth {
            UpstreamClientAuth::ClientSecret if !has_secret => Err(err(
                "client_secret",
                &format!("is required (or set {})", self.secret_variable()),
            )),
            UpstreamClientAuth::ClientSecret => Ok(()),
            UpstreamClientAuth::PrivateKeyJwt if self.kind == UpstreamKind::Github => Err(err(
                "client_auth",
                "private_key_jwt is for kind = \"oidc\" only",
            )),
            UpstreamClientAuth::PrivateKeyJwt if has_secret => Err(err(
                "client_secret",
                &format!(
                    "must not be set with client_auth = \"private_key_jwt\" (nor {})",
                    self.secret_variable()
                ),
            )),
            UpstreamClientAuth::PrivateKeyJwt => Ok(()),
        }
    }

    /// The rules of the kind (on the entry with its defaults): an OpenID Connect upstream asks
    /// for `openid` and has no `github_api_url`; GitHub's API URL is https (or loopback http
    /// with the test switch).
    fn check_kind(&self, index: usize, origin: &str) -> Result<(), ConfigError> {
        let err = |key: &str, what: &str| self.error(index, key, origin, what);
        match self.kind {
            UpstreamKind::Oidc => {
                if self.issuer.is_empty() {
                    return Err(err("issuer", "is required for kind = \"oidc\""));
                }
                if self.github_api_url.is_some() {
                    return Err(err("github_api_url", "is for kind = \"github\" only"));
                }
                if !self.scopes.iter().any(|s| s == "openid") {
                    return Err(err("scopes", "must include \"openid\""));
                }
            }
            UpstreamKind::Github => {
                let api = self.github_api_url.as_deref().unwrap_or_default();
                crate::upstream::checked_url(api, self.insecure_allow_http_loopback)
                    .map_err(|e| err("github_api_url", &e.to_string()))?;
            }
        }
        Ok(())
    }
}

fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b > 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl Config {
    /// Apply `MCP_AUTH_UPSTREAM_IDPS_<NAME>_CLIENT_SECRET` to each upstream, as every secret may
    /// come from the environment.
    pub(super) fn apply_upstream_secret_variables(&mut self) {
        for u in &mut self.upstream_idps {
            if let Ok(value) = std::env::var(u.secret_variable())
                && !value.is_empty()
            {
                u.client_secret = Some(Secret::new(value));
            }
        }
    }

    /// Check `[[upstream_idps]]` and `signin.passwords`: names unique, each entry's rules
    /// ([`UpstreamIdpConfig`]), and some way to sign in.
    ///
    /// # Errors
    /// A message naming the key, the upstream and where it was set.
    pub fn check_upstream_idps(&self) -> Result<(), ConfigError> {
        let origin = self.origins.of("upstream_idps");
        let mut seen = BTreeSet::new();
        for (index, u) in self.upstream_idps.iter().enumerate() {
            u.check(index, &origin)?;
            if !seen.insert(u.name.as_str()) {
                return Err(u.error(index, "name", &origin, "is configured twice"));
            }
            if u.insecure_allow_http_loopback {
                tracing::warn!(
                    upstream = %u.name,
                    "upstream_idps.insecure_allow_http_loopback is on: plain http and loopback \
                     addresses are allowed for this upstream (tests only)"
                );
            }
        }
        if !self.signin.passwords && self.upstream_idps.is_empty() && !self.dev {
            return Err(ConfigError(format!(
                "signin.passwords = false{}: no [[upstream_idps]] is configured, so nobody \
                 could sign in",
                self.origins.of("signin.passwords")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> UpstreamIdpConfig {
        UpstreamIdpConfig {
            name: "acme".into(),
            display_name: "Acme SSO".into(),
            kind: UpstreamKind::Oidc,
            issuer: "https://idp.acme.example".into(),
            github_api_url: None,
            client_id: "mcp-auth".into(),
            client_secret: Some(Secret::new("s3cret")),
            client_auth: UpstreamClientAuth::ClientSecret,
            scopes: default_scopes(),
            allowed_email_domains: vec!["acme.example".into()],
            required_claims: BTreeMap::new(),
            claims_to_tokens: vec!["email".into()],
            insecure_allow_http_loopback: false,
        }
    }

    fn check(list: Vec<UpstreamIdpConfig>) -> Result<(), ConfigError> {
        Config {
            upstream_idps: list,
            ..Config::default()
        }
        .check_upstream_idps()
    }

    #[test]
    fn a_complete_upstream_is_accepted() {
        check(vec![upstream()]).unwrap();
    }

    #[test]
    fn upstream_names_are_unique_and_well_formed() {
        let err = check(vec![upstream(), upstream()]).unwrap_err().0;
        assert!(
            err.contains("upstream_idps[1].name") && err.contains("twice"),
            "{err}"
        );
        let mut bad = upstream();
        bad.name = "Acme".into();
        assert!(check(vec![bad]).unwrap_err().0.contains(".name"));
    }

    #[test]
    fn plain_http_issuer_needs_the_loopback_switch() {
        let mut u = upstream();
        u.issuer = "http://127.0.0.1:9999".into();
        assert!(check(vec![u.clone()]).unwrap_err().0.contains(".issuer"));
        u.insecure_allow_http_loopback = true;
        check(vec![u.clone()]).unwrap();
        u.issuer = "http://idp.example".into();
        assert!(check(vec![u]).is_err());
    }

    #[test]
    fn github_kind_takes_github_com_and_its_api_by_default() {
        let u: UpstreamIdpConfig = toml::from_str(
            "name = \"gh\"\ndisplay_name = \"GitHub\"\nkind = \"github\"\n\
             client_id = \"Iv1.x\"\nclient_secret = \"s\"",
        )
        .unwrap();
        check(vec![u.clone()]).unwrap();
        let u = u.with_defaults();
        assert_eq!(u.issuer, "https://github.com");
        assert_eq!(u.github_api_url.as_deref(), Some("https://api.github.com"));
        assert_eq!(u.scopes, ["read:user", "user:email"]);
    }

    #[test]
    fn github_api_url_is_https_unless_loopback_is_allowed() {
        let mut u = upstream();
        u.kind = UpstreamKind::Github;
        u.scopes = vec![];
        u.github_api_url = Some("http://127.0.0.1:9/api".into());
        let err = check(vec![u.clone()]).unwrap_err().0;
        assert!(err.contains(".github_api_url"), "{err}");
        u.insecure_allow_http_loopback = true;
        u.issuer = "http://127.0.0.1:9".into();
        check(vec![u.clone()]).unwrap();
        u.github_api_url = Some("http://api.example:9".into());
        assert!(check(vec![u]).unwrap_err().0.contains(".github_api_url"));
    }

    #[test]
    fn an_openid_provider_needs_its_issuer() {
        let mut u = upstream();
        u.issuer = String::new();
        let err = check(vec![u]).unwrap_err().0;
        assert!(
            err.contains(".issuer") && err.contains("is required"),
            "{err}"
        );
    }

    #[test]
    fn github_api_url_is_refused_for_an_openid_provider() {
        let mut u = upstream();
        u.github_api_url = Some("https://api.github.com".into());
        let err = check(vec![u]).unwrap_err().0;
        assert!(err.contains(".github_api_url"), "{err}");
    }

    #[test]
    fn a_registered_claim_cannot_be_copied_into_tokens() {
        let mut u = upstream();
        u.claims_to_tokens = vec!["sub".into()];
        assert!(
            check(vec![u.clone()])
                .unwrap_err()
                .0
                .contains("claims_to_tokens")
        );
        for registered in ["SUB", "Aud", "resource", "kid", "cnf", "act"] {
            u.claims_to_tokens = vec!["email".into(), registered.into()];
            let e = check(vec![u.clone()]).unwrap_err().0;
            assert!(e.contains(&format!("{registered:?}")), "{registered}: {e}");
        }
    }

    #[test]
    fn missing_secret_names_its_variable() {
        let mut u = upstream();
        u.client_secret = None;
        let err = check(vec![u]).unwrap_err().0;
        assert!(
            err.contains("MCP_AUTH_UPSTREAM_IDPS_ACME_CLIENT_SECRET"),
            "{err}"
        );
    }

    /// Issue 23: `client_auth = "private_key_jwt"` replaces the secret; a secret beside it, or
    /// the method on a GitHub upstream, is refused, naming the key.
    #[test]
    fn private_key_jwt_takes_no_secret_and_only_openid_providers() {
        let u: UpstreamIdpConfig = toml::from_str(
            "name = \"acme\"\ndisplay_name = \"A\"\nissuer = \"https://i.example\"\n\
             client_id = \"c\"\nclient_auth = \"private_key_jwt\"",
        )
        .unwrap();
        assert_eq!(u.client_auth, UpstreamClientAuth::PrivateKeyJwt);
        check(vec![u.clone()]).unwrap();
        let mut with_secret = u.clone();
        with_secret.client_secret = Some(Secret::new("s3cret"));
        let err = check(vec![with_secret]).unwrap_err().0;
        assert!(
            err.contains(".client_secret") && err.contains("private_key_jwt"),
            "{err}"
        );
        let mut github = u;
        github.kind = UpstreamKind::Github;
        github.scopes = vec![];
        let err = check(vec![github]).unwrap_err().0;
        assert!(err.contains(".client_auth"), "{err}");
    }

    #[test]
    fn an_unknown_client_auth_is_refused() {
        let parsed: Result<UpstreamIdpConfig, _> = toml::from_str(
            "name = \"acme\"\ndisplay_name = \"A\"\nissuer = \"https://i.example\"\n\
             client_id = \"c\"\nclient_auth = \"client_secret_jwt\"",
        );
        assert!(parsed.is_err());
    }

    #[test]
    fn passwords_off_needs_an_upstream() {
        let mut c = Config::default();
        c.signin.passwords = false;
        assert!(
            c.check_upstream_idps()
                .unwrap_err()
                .0
                .contains("signin.passwords")
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_a_suggestion() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-upstream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[[upstream_idps]]\nname = \"acme\"\ndisplay_name = \"A\"\nissuer = \"https://i.example\"\nclient_id = \"c\"\nclient_secrt = \"x\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().0;
        assert!(err.contains("client_secret"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
