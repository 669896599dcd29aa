//! The sign-in rules of an upstream, checked on every sign-in: `allowed_email_domains` (which
//! needs `email_verified = true`) and `required_claims` (a string claim equal to the value, or
//! an array claim containing it). A refusal names the rule, never the claim values.

use serde_json::{Map, Value};

use crate::config::UpstreamIdpConfig;

/// Which rule refused a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleRefusal {
    /// `allowed_email_domains` is set and `email_verified` is not `true`.
    #[error("allowed_email_domains needs a verified email address")]
    EmailNotVerified,
    /// The verified email's domain is not in `allowed_email_domains`.
    #[error("the email address is not in an allowed domain (allowed_email_domains)")]
    DomainNotAllowed,
    /// `required_claims.<claim>` is not met.
    #[error("required_claims.{0} is not met")]
    ClaimMissing(String),
}

impl RuleRefusal {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::EmailNotVerified => "email_not_verified",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::ClaimMissing(_) => "required_claim",
        }
    }
}

/// The claims the rules, the display and `claims_to_tokens` read: when one is missing from the
/// ID token, userinfo is asked (OIDC Core §5.3).
pub fn wanted_claims(config: &UpstreamIdpConfig) -> Vec<&str> {
    let mut wanted = Vec::new();
    if !config.allowed_email_domains.is_empty() {
        wanted.extend(["email", "email_verified"]);
    }
    wanted.extend(config.required_claims.keys().map(String::as_str));
    wanted.extend(config.claims_to_tokens.iter().map(String::as_str));
    wanted
}

/// Check `claims` against the rules of `config`.
///
/// # Errors
/// The first rule not met.
pub fn check(config: &UpstreamIdpConfig, claims: &Map<String, Value>) -> Result<(), RuleRefusal> {
    if !config.allowed_email_domains.is_empty() {
        if claims.get("email_verified") != Some(&Value::Bool(true)) {
            return Err(RuleRefusal::EmailNotVerified);
        }
        let domain = claims
            .get("email")
            .and_then(Value::as_str)
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase());
        if !domain.is_some_and(|d| config.allowed_email_domains.contains(&d)) {
            return Err(RuleRefusal::DomainNotAllowed);
        }
    }
    for (name, want) in &config.required_claims {
        let met = match claims.get(name) {
            Some(Value::String(s)) => s == want,
            Some(Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(want.as_str())),
            _ => false,
        };
        if !met {
            return Err(RuleRefusal::ClaimMissing(name.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(domains: &[&str], required: &[(&str, &str)]) -> UpstreamIdpConfig {
        let mut c: UpstreamIdpConfig = serde_json::from_value(json!({
            "name": "acme", "display_name": "Acme", "issuer": "https://i.example",
            "client_id": "c"
        }))
        .unwrap();
        c.allowed_email_domains = domains.iter().map(|d| d.to_string()).collect();
        c.required_claims = required
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn email_domain_needs_a_verified_address_in_the_list() {
        let c = config(&["acme.example"], &[]);
        let ok = claims(json!({"email": "a@Acme.Example", "email_verified": true}));
        assert_eq!(check(&c, &ok), Ok(()));
        let unverified = claims(json!({"email": "a@acme.example", "email_verified": "true"}));
        assert_eq!(check(&c, &unverified), Err(RuleRefusal::EmailNotVerified));
        let other = claims(json!({"email": "a@evil.example", "email_verified": true}));
        assert_eq!(check(&c, &other), Err(RuleRefusal::DomainNotAllowed));
        let sub = claims(json!({"email": "a@x.acme.example", "email_verified": true}));
        assert_eq!(check(&c, &sub), Err(RuleRefusal::DomainNotAllowed));
    }

    #[test]
    fn required_claim_is_string_equal_or_array_contains() {
        let c = config(&[], &[("groups", "mcp-users")]);
        assert_eq!(check(&c, &claims(json!({"groups": "mcp-users"}))), Ok(()));
        assert_eq!(
            check(&c, &claims(json!({"groups": ["x", "mcp-users"]}))),
            Ok(())
        );
        let refused = check(&c, &claims(json!({"groups": ["x"]}))).unwrap_err();
        assert_eq!(refused, RuleRefusal::ClaimMissing("groups".into()));
        assert!(!refused.to_string().contains('x'));
        assert!(check(&c, &claims(json!({}))).is_err());
    }
}
