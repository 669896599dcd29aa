//! The black-box checker behind the `mcp-auth-conformance` binary (cargo feature `cli`): checks
//! any MCP authorization server and protected MCP server from the outside, over HTTP, with
//! positive and negative cases, and reports each check under its own ID, unique across the
//! suites ([`all_checks`]): the ID of our spec notes (`AS-05`, `RS-12`, `CC-07`, `EMA-05`, …),
//! with a `-WORD` suffix where one rule has several checks, and the official conformance
//! suite's scenario ID where it checks the same rule (`authorization-server-metadata-endpoint`,
//! `authorization-code-grant`, `auth-token-audience-validation`,
//! `sep-2350-server-scope-challenge`, `resource-as-*`).
//!
//! | module | what |
//! |---|---|
//! | [`report`] | [`Outcome`] (pass, fail, skip, warn), [`Report`]: table, JSON, JUnit, setup errors, exit code (0, 1, 2) |
//! | [`http`] | the recording client: every [`http::Exchange`] is kept for the report, secrets redacted |
//! | [`browser`] | the headless code flow: redirects, cookie jar, sign-in and consent forms |
//! | [`as_checks`] | RFC 8414 metadata, authorization code + PKCE, redirect URI, `resource`, `iss`, code replay, refresh rotation, `Cache-Control`, DCR, CIMD |
//! | [`rs_checks`] | 401 challenge, RFC 9728 metadata, `invalid_token` per defect, audience validation, the SEP-2350 403 `insufficient_scope` challenge and its upgraded retry |
//! | [`cc_checks`] | the `client_credentials` grant with each client authentication method |
//! | [`xaa_checks`] | Enterprise-Managed Authorization: ID-JAG redemption with the [`crate::MockIdp`] |
//! | [`dpop_checks`] | DPoP (RFC 9449, SEP-1932): metadata, a bound token, each proof defect refused, the nonce flow, the MCP server's acceptance and refusals |
//! | [`wif_checks`] | workload identity federation (SEP-1933, `auth/wif-jwt-bearer`): workload assertions from the [`crate::MockIdp`] without client authentication, each defect refused |
//! | [`obo_checks`] | on-behalf-of token exchange (RFC 8693 with `act`): the exchange, its target, scope, subject token and client authentication |
//! | [`cimd_host`] | serves Client ID Metadata Documents over https on loopback ([`crate::CimdHost`]) |

pub mod as_checks;
pub mod browser;
pub mod cc_checks;
pub mod cimd_host;
pub mod dpop_checks;
mod errors;
pub mod http;
pub mod obo_checks;
pub mod report;
pub mod rs_checks;
pub mod wif_checks;
pub mod xaa_checks;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub use errors::{ArgumentError, HttpSetupError, ObtainTokenError};
pub use report::{CheckId, CheckResult, Outcome, Report};

use http::{Exchange, Http};

/// Every check of every suite (`as`, `rs`, `client-credentials`, `xaa`, `dpop`, `wif`, `obo`),
/// in `list` order.
pub fn all_checks() -> impl Iterator<Item = &'static CheckId> {
    as_checks::ALL
        .iter()
        .chain(rs_checks::ALL)
        .chain(cc_checks::ALL)
        .chain(xaa_checks::ALL)
        .chain(dpop_checks::ALL)
        .chain(wif_checks::ALL)
        .chain(obo_checks::ALL)
}

/// The MCP authorization revision whose expectations apply where 2025-11-25 and 2026-07-28
/// differ (the delta notes §1-§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpecVersion {
    /// 2025-11-25: RFC 9207 `iss` is a SHOULD.
    V2025_11_25,
    /// 2026-07-28 (default): `iss` on every authorization response is a SHOULD, and a MUST once
    /// the metadata advertises `authorization_response_iss_parameter_supported` (AS-R2-01/02);
    /// the OpenID discovery document, if served, must carry the same `issuer` (AS-R2-05).
    #[default]
    V2026_07_28,
}

impl std::str::FromStr for SpecVersion {
    type Err = ArgumentError;
    fn from_str(s: &str) -> Result<Self, ArgumentError> {
        match s {
            "2025-11-25" => Ok(Self::V2025_11_25),
            "2026-07-28" => Ok(Self::V2026_07_28),
            other => Err(ArgumentError::UnknownSpecVersion(other.to_owned())),
        }
    }
}

/// An authorization server's metadata document, as fetched.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The document.
    pub doc: Value,
    /// The exchange that fetched it.
    pub exchange: Exchange,
    /// Whether it came from `/.well-known/openid-configuration` because the RFC 8414 URL had none.
    pub from_oidc: bool,
}

impl Metadata {
    /// String member `key`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.doc.get(key).and_then(Value::as_str)
    }

    /// Whether array member `key` contains `value`; `None` when the member is absent.
    pub fn lists(&self, key: &str, value: &str) -> Option<bool> {
        self.doc
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().any(|v| v.as_str() == Some(value)))
    }

    /// `grant_types_supported` contains `grant` (absent means `authorization_code` and
    /// `implicit`, RFC 8414 §2).
    pub fn supports_grant(&self, grant: &str) -> bool {
        self.lists("grant_types_supported", grant)
            .unwrap_or(matches!(grant, "authorization_code" | "implicit"))
    }
}

/// The RFC 8414 §3 metadata URL of `issuer` (path insertion) and the OpenID Connect Discovery
/// URL (path appended), or `None` when `issuer` is not an absolute URL.
pub fn metadata_urls(issuer: &str) -> Option<(String, String)> {
    let u = url::Url::parse(issuer).ok()?;
    let origin = u.origin().ascii_serialization();
    let path = u.path().trim_end_matches('/');
    Some((
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ))
}

/// Fetch the metadata of `issuer`: the RFC 8414 document, or, when that URL has none, the
/// OpenID Connect discovery document (MCP clients try both).
///
/// # Errors
/// The exchange of the RFC 8414 URL when neither document is a JSON object.
pub async fn fetch_metadata(http: &Http, issuer: &str) -> Result<Metadata, Box<Exchange>> {
    let Some((oauth, oidc)) = metadata_urls(issuer) else {
        let mut ex = http.get(issuer, &[]).await;
        ex.status = 0;
        ex.body = format!("the issuer {issuer:?} is not an absolute URL");
        return Err(Box::new(ex));
    };
    let ex = http.get(&oauth, &[("accept", "application/json")]).await;
    if let Some(doc) = ex.json().filter(|d| ex.status == 200 && d.is_object()) {
        return Ok(Metadata {
            doc,
            exchange: ex,
            from_oidc: false,
        });
    }
    let alt = http.get(&oidc, &[("accept", "application/json")]).await;
    if let Some(doc) = alt.json().filter(|d| alt.status == 200 && d.is_object()) {
        return Ok(Metadata {
            doc,
            exchange: alt,
            from_oidc: true,
        });
    }
    Err(Box::new(ex))
}

/// The `(header, claims)` of a compact JWS, unverified; `None` when `token` is not one (an
/// opaque token).
pub fn jwt_parts(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (h, c, _s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |p: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    };
    Some((decode(h)?, decode(c)?))
}

/// Whether the JWT claim `aud` (a string or an array) contains `resource`.
pub fn aud_contains(claims: &Value, resource: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(s)) => s == resource,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(resource)),
        _ => false,
    }
}

/// A resource URI that no authorization server has registered (for `invalid_target` checks).
pub const UNKNOWN_RESOURCE: &str = "https://unknown-resource.mcp-auth-conformance.invalid/mcp";

/// The verdict on a token request (or a code redemption) that named [`UNKNOWN_RESOURCE`]: a 400
/// with one of `errors` passes; a token whose `aud` is that resource (or an opaque token, whose
/// audience is not visible) shows an AS that accepts any `resource`, a policy choice of the
/// server (node-oidc-provider can be configured so), so it is a warning, never a failure; a
/// token for another audience than the one asked for fails, and so does any other answer.
pub fn judge_unknown_resource(ex: &Exchange, errors: &[&str]) -> (Outcome, String) {
    let body = ex.json().unwrap_or(Value::Null);
    let err = body["error"].as_str().unwrap_or_default();
    if ex.status == 400 && errors.contains(&err) {
        return (Outcome::Pass, format!("400 {err}"));
    }
    let Some(token) = body["access_token"].as_str().filter(|_| ex.status == 200) else {
        return (
            Outcome::Fail,
            format!("{} {err} (expected 400 {})", ex.status, errors.join(" or ")),
        );
    };
    match jwt_parts(token) {
        None => (
            Outcome::Warn,
            format!(
                "200: a token was issued for the unknown resource {UNKNOWN_RESOURCE} (opaque, audience not visible): the AS accepts any resource, a policy choice (our notes require invalid_target)"
            ),
        ),
        Some((_, claims)) if aud_contains(&claims, UNKNOWN_RESOURCE) => (
            Outcome::Warn,
            format!(
                "200: a token with aud {} was issued for the unknown resource: the AS accepts any resource, a policy choice (our notes require invalid_target)",
                claims["aud"]
            ),
        ),
        Some((_, claims)) => (
            Outcome::Fail,
            format!(
                "200: asked for {UNKNOWN_RESOURCE}, got a token for another audience ({}): the resource parameter was ignored",
                claims["aud"]
            ),
        ),
    }
}

/// A scope no authorization server defines (for `invalid_scope` checks).
pub const UNKNOWN_SCOPE: &str = "mcp-auth-conformance:not-a-scope";

/// The verdict on a token request that asked for [`UNKNOWN_SCOPE`]: `invalid_scope` passes; a
/// token whose granted scope (the response's `scope`, else the JWT's `scope` claim) leaves it
/// out is a warning (RFC 6749 §3.3 lets the AS narrow; our notes require `invalid_scope`; a
/// response that omits `scope` says, by RFC 6749 §5.1, that it granted what was asked); a
/// token that grants it fails.
pub fn judge_scope_refusal(ex: &Exchange) -> (Outcome, String) {
    let body = ex.json().unwrap_or(Value::Null);
    if ex.status == 400 && body["error"] == "invalid_scope" {
        return (Outcome::Pass, "400 invalid_scope".into());
    }
    if ex.status != 200 {
        return (
            Outcome::Fail,
            format!(
                "{} {} (expected 400 invalid_scope)",
                ex.status, body["error"]
            ),
        );
    }
    let in_response = body["scope"].as_str().map(str::to_owned);
    let in_token = body["access_token"]
        .as_str()
        .and_then(jwt_parts)
        .and_then(|(_, c)| c["scope"].as_str().map(str::to_owned));
    let granted = in_response.clone().or(in_token);
    let has = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == UNKNOWN_SCOPE))
    };
    if has(&granted) {
        return (
            Outcome::Fail,
            format!("200 and the unknown scope was granted ({granted:?})"),
        );
    }
    let note = if in_response.is_none() {
        "; the response omits `scope`, which RFC 6749 §5.1 reads as \"granted as requested\""
    } else {
        ""
    };
    (
        Outcome::Warn,
        format!(
            "200 with the unknown scope dropped (granted {granted:?}) instead of invalid_scope{note}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Check IDs are unique per check across all suites: a report, a JUnit file or a CI
    /// dashboard can name any check by its ID alone.
    #[test]
    fn check_ids_are_unique_across_all_suites() {
        let mut seen = std::collections::HashMap::new();
        for c in all_checks() {
            if let Some(other) = seen.insert(c.id, c.title) {
                panic!("{} is used twice: {:?} and {:?}", c.id, other, c.title);
            }
        }
        assert!(seen.len() > 60, "{}", seen.len());
    }

    /// Each ID is the spec-notes ID, or that ID with an upper-case `-WORD` suffix.
    #[test]
    fn check_ids_are_spec_ids_with_an_optional_suffix() {
        for c in all_checks() {
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '-'),
                "{}",
                c.id
            );
            assert!(c.id.contains('-'), "{}", c.id);
        }
    }

    fn token_response(status: u16, body: Value) -> Exchange {
        Exchange {
            method: "POST".into(),
            url: "http://127.0.0.1:1/token".into(),
            request_headers: Vec::new(),
            request_body: None,
            status,
            headers: reqwest::header::HeaderMap::new(),
            body: body.to_string(),
        }
    }

    fn jwt(claims: Value) -> String {
        let seg = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            seg(serde_json::json!({"alg":"ES256"})),
            seg(claims)
        )
    }

    /// Accepting any `resource` is a policy choice (WARN with the request), not a failure;
    /// ignoring the parameter (a token for another audience) fails.
    #[test]
    fn any_resource_is_a_warning_and_a_wrong_audience_fails() {
        let ok = token_response(400, serde_json::json!({"error": "invalid_target"}));
        assert_eq!(
            judge_unknown_resource(&ok, &["invalid_target"]).0,
            Outcome::Pass
        );
        let any = token_response(
            200,
            serde_json::json!({"access_token": jwt(serde_json::json!({"aud": UNKNOWN_RESOURCE}))}),
        );
        assert_eq!(
            judge_unknown_resource(&any, &["invalid_target"]).0,
            Outcome::Warn
        );
        let opaque = token_response(200, serde_json::json!({"access_token": "opaque"}));
        assert_eq!(
            judge_unknown_resource(&opaque, &["invalid_target"]).0,
            Outcome::Warn
        );
        let ignored = token_response(
            200,
            serde_json::json!({"access_token": jwt(serde_json::json!({"aud": "https://mcp.example.com/mcp"}))}),
        );
        assert_eq!(
            judge_unknown_resource(&ignored, &["invalid_target"]).0,
            Outcome::Fail
        );
        let other = token_response(400, serde_json::json!({"error": "invalid_request"}));
        assert_eq!(
            judge_unknown_resource(&other, &["invalid_target"]).0,
            Outcome::Fail
        );
    }

    /// The options of every suite print `[redacted]` for their secrets and tokens in `Debug`.
    #[test]
    fn options_debug_never_shows_secrets_or_tokens() {
        use mcp_auth_core::Secret;
        let mut as_opts = as_checks::AsOptions::new("https://as.example");
        as_opts.client_secret = Some(Secret::new("as-secret-value"));
        let cc = cc_checks::CcOptions {
            issuer: "https://as.example".into(),
            client_id: "machine".into(),
            client_secret: Some(Secret::new("cc-secret-value")),
            private_key_pem: Some(Secret::new("-----BEGIN PRIVATE KEY-----pem-value")),
            resource: None,
            scope: None,
            methods: Vec::new(),
        };
        let xaa = xaa_checks::XaaOptions {
            issuer: "https://as.example".into(),
            client_id: "agent".into(),
            client_secret: Secret::new("xaa-secret-value"),
            resource: None,
            scope: None,
            subject: "user".into(),
            refetch_wait: None,
        };
        let rs = rs_checks::RsOptions {
            mcp_url: "https://mcp.example/mcp".into(),
            token: Some(Secret::new("token-value")),
            foreign_token: Some(Secret::new("foreign-value")),
            kit_issuer_bind: None,
            kit: false,
            privileged_tool: None,
            refetch_wait: None,
        };
        let printed = format!("{as_opts:?} {cc:?} {xaa:?} {rs:?}");
        for secret in [
            "as-secret-value",
            "cc-secret-value",
            "pem-value",
            "xaa-secret-value",
            "token-value",
            "foreign-value",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert_eq!(printed.matches("[redacted]").count(), 6, "{printed}");
    }
}
