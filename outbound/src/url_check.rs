//! URL checks shared by every caller of the outbound client, done before any I/O.

use std::net::IpAddr;

use mcp_auth_core::types::is_loopback_host;
use url::{Host, Url};

use crate::address::{AddressPolicy, SpecialUseRange};

/// The IP address a URL names as its host, or `None` for a DNS name (or no host).
pub fn ip_literal_host(url: &Url) -> Option<IpAddr> {
    match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

/// Screen an IP-literal host against `policy`, as the screening resolver screens names (IP
/// literals never reach a resolver). A DNS-name host passes here; it is screened when resolved.
///
/// ```
/// use mcp_auth_outbound::{AddressPolicy, check_ip_literal};
///
/// let url = "https://10.0.0.1/jwks".parse().unwrap();
/// assert_eq!(check_ip_literal(&url, AddressPolicy::PublicOnly).unwrap_err().range, "10.0.0.0/8");
/// assert!(check_ip_literal(&"https://idp.example.com/jwks".parse().unwrap(), AddressPolicy::PublicOnly).is_ok());
/// ```
///
/// # Errors
/// The [`SpecialUseRange`] the literal is in.
pub fn check_ip_literal(url: &Url, policy: AddressPolicy) -> Result<(), SpecialUseRange> {
    match ip_literal_host(url) {
        Some(ip) => policy.check(ip),
        None => Ok(()),
    }
}

/// `raw` parsed, absolute, with a host, without fragment, and `https` — or `http` on a loopback
/// host (`localhost`, `127.0.0.0/8`, `[::1]`; RFC 8252 §7.3): the rule of client-side discovery
/// and token requests. `None` otherwise.
///
/// ```
/// use mcp_auth_outbound::secure_url;
///
/// assert!(secure_url("http://127.0.0.1:8080/mcp").is_some());
/// assert!(secure_url("http://mcp.example.com/mcp").is_none());
/// assert!(secure_url("https://mcp.example.com/mcp#x").is_none());
/// ```
pub fn secure_url(raw: &str) -> Option<Url> {
    let parsed = Url::parse(raw).ok()?;
    let secure = match parsed.scheme() {
        "https" => true,
        "http" => parsed.host_str().is_some_and(is_loopback_host),
        _ => false,
    };
    if !secure || parsed.fragment().is_some() || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed)
}

/// How [`check_configured_url`] judges a URL this server will call: one an operator configured
/// (an upstream identity provider, a trusted IdP, a third party) or one such a party's metadata
/// named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlRules {
    /// Plain `http` is accepted on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`): the
    /// callers' `insecure_*` test switches. `https` is always accepted.
    pub allow_http_loopback: bool,
    /// Which IP-literal hosts an `https` URL may name; use the policy of the client that will
    /// call it, since IP literals never reach that client's screening resolver.
    pub addresses: AddressPolicy,
}

/// Why [`check_configured_url`] refused a URL. The text names the URL, except for
/// [`UrlError::Userinfo`], whose URL may carry a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not an absolute URL (the parser's reason).
    #[error("{url:?} is not an absolute URL: {reason}")]
    NotAbsolute {
        /// The value given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// No host (e.g. `https:/x` parsed as a path).
    #[error("{0} has no host")]
    NoHost(String),
    /// `user@host` or `user:password@host` (RFC 3986 §3.2.1, deprecated and never needed here).
    #[error("must not carry userinfo (user@host)")]
    Userinfo,
    /// A `#fragment`.
    #[error("{0} must not have a fragment")]
    Fragment(String),
    /// Plain `http` where it is not allowed (another host than loopback, or the switch off).
    #[error(
        "{0} is plain http: use https (plain http only on a loopback host, with the insecure test switch)"
    )]
    PlainHttp(String),
    /// Another scheme than `https`/`http`.
    #[error("{url}: scheme {scheme} is not https")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// An IP-literal host in a special-use range the policy refuses.
    #[error("{url} names a special-use address ({range})")]
    SpecialUse {
        /// The URL.
        url: String,
        /// The range the literal is in.
        range: SpecialUseRange,
    },
}

/// `raw` parsed and checked before any I/O: absolute, with a host, no userinfo, no fragment,
/// `https` (its IP-literal host screened by `rules.addresses`) or, when
/// `rules.allow_http_loopback`, `http` on a loopback host. RFC 9700 §4.11 and §2.6.
///
/// ```
/// use mcp_auth_outbound::{AddressPolicy, UrlError, UrlRules, check_configured_url};
///
/// let rules = UrlRules { allow_http_loopback: false, addresses: AddressPolicy::PublicOnly };
/// assert!(check_configured_url("https://idp.example.com/token", rules).is_ok());
/// assert!(matches!(check_configured_url("https://10.0.0.1/token", rules), Err(UrlError::SpecialUse { .. })));
/// assert!(matches!(check_configured_url("http://127.0.0.1/token", rules), Err(UrlError::PlainHttp(_))));
/// ```
///
/// # Errors
/// The first [`UrlError`] found, in the order of the variants.
pub fn check_configured_url(raw: &str, rules: UrlRules) -> Result<Url, UrlError> {
    let url = Url::parse(raw).map_err(|e| UrlError::NotAbsolute {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    let Some(host) = url.host_str() else {
        return Err(UrlError::NoHost(raw.to_owned()));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo);
    }
    if url.fragment().is_some() {
        return Err(UrlError::Fragment(raw.to_owned()));
    }
    match url.scheme() {
        "https" => match check_ip_literal(&url, rules.addresses) {
            Ok(()) => Ok(url),
            Err(range) => Err(UrlError::SpecialUse {
                url: raw.to_owned(),
                range,
            }),
        },
        "http" if rules.allow_http_loopback && is_loopback_host(host) => Ok(url),
        "http" => Err(UrlError::PlainHttp(raw.to_owned())),
        scheme => Err(UrlError::Scheme {
            url: raw.to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

/// The URL of a party whose signed assertions this server accepts (a trusted IdP, a workload
/// issuer, their `jwks_uri`): [`check_configured_url`] with [`AddressPolicy::PublicOnly`] for
/// `https`, and, when `allow_http_loopback` (tests only), `http` on exactly `127.0.0.1`,
/// `[::1]` or `localhost`.
///
/// ```
/// use mcp_auth_outbound::check_issuer_url;
///
/// assert!(check_issuer_url("https://idp.example.com", false).is_ok());
/// assert!(check_issuer_url("http://127.0.0.1:9", true).is_ok());
/// assert!(check_issuer_url("http://127.0.0.2:9", true).is_err());
/// assert!(check_issuer_url("https://10.0.0.1", false).is_err());
/// ```
///
/// # Errors
/// As [`check_configured_url`]; [`UrlError::PlainHttp`] for `http` on another loopback spelling.
pub fn check_issuer_url(raw: &str, allow_http_loopback: bool) -> Result<Url, UrlError> {
    let rules = UrlRules {
        allow_http_loopback,
        addresses: AddressPolicy::PublicOnly,
    };
    let url = check_configured_url(raw, rules)?;
    let strict_loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]"))
        || url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"));
    if url.scheme() == "http" && !strict_loopback {
        return Err(UrlError::PlainHttp(raw.to_owned()));
    }
    Ok(url)
}

impl UrlError {
    /// The error for an operator whose configuration names the test `switch` that allows plain
    /// `http` (e.g. `insecure_allow_http_loopback`): a plain-`http` refusal of a loopback URL
    /// names it (the switch allows no other host).
    pub fn with_switch(&self, switch: &str) -> String {
        let loopback = |url: &str| {
            Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(is_loopback_host))
                .unwrap_or(false)
        };
        match self {
            Self::PlainHttp(url) if loopback(url) => {
                format!("{url}: plain http needs {switch} (tests only)")
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert!(secure_url("http://127.0.0.1:8080/mcp").is_some());
        assert!(secure_url("http://localhost/mcp").is_some());
        assert!(secure_url("https://idp.example.com/token").is_some());
        assert!(secure_url("http://mcp.example.com/mcp").is_none());
        assert!(secure_url("https://mcp.example.com/mcp#x").is_none());
        assert!(secure_url("ftp://mcp.example.com/mcp").is_none());
    }

    #[test]
    fn ip_literals_are_screened_by_the_policy() {
        let url: Url = "https://[::ffff:127.0.0.1]/x".parse().unwrap();
        assert!(check_ip_literal(&url, AddressPolicy::PublicOnly).is_err());
        assert!(check_ip_literal(&url, AddressPolicy::PublicAndLoopback).is_ok());
        let private: Url = "https://192.168.1.1/x".parse().unwrap();
        assert!(check_ip_literal(&private, AddressPolicy::PublicAndLoopback).is_err());
        assert!(check_ip_literal(&private, AddressPolicy::AnyConfigured).is_ok());
    }
    fn rules(allow_http_loopback: bool, addresses: AddressPolicy) -> UrlRules {
        UrlRules {
            allow_http_loopback,
            addresses,
        }
    }

    #[test]
    fn configured_urls_are_https_or_loopback_http_with_the_switch() {
        let strict = rules(false, AddressPolicy::PublicOnly);
        let tests = rules(true, AddressPolicy::PublicAndLoopback);
        assert!(check_configured_url("https://idp.example.com/x", strict).is_ok());
        assert!(check_configured_url("http://127.0.0.1:9/x", tests).is_ok());
        assert!(check_configured_url("http://[::1]:9/x", tests).is_ok());
        assert!(check_configured_url("http://localhost:9/x", tests).is_ok());
        for plain in ["http://127.0.0.1:9/x", "http://idp.example.com/x"] {
            assert!(matches!(
                check_configured_url(plain, strict),
                Err(UrlError::PlainHttp(_))
            ));
        }
        assert!(matches!(
            check_configured_url("http://idp.example.com/x", tests),
            Err(UrlError::PlainHttp(_))
        ));
    }

    #[test]
    fn odd_configured_urls_are_refused() {
        let r = rules(true, AddressPolicy::PublicAndLoopback);
        let err = |raw: &str| check_configured_url(raw, r).unwrap_err();
        assert!(matches!(err("/relative"), UrlError::NotAbsolute { .. }));
        assert!(matches!(
            err("idp.example.com"),
            UrlError::NotAbsolute { .. }
        ));
        assert!(matches!(err("mailto:a@example.com"), UrlError::NoHost(_)));
        assert_eq!(err("https://u:pw@idp.example.com/"), UrlError::Userinfo);
        assert!(
            !err("https://u:pw@idp.example.com/")
                .to_string()
                .contains("pw")
        );
        assert_eq!(err("https://u@idp.example.com/"), UrlError::Userinfo);
        assert!(matches!(
            err("https://idp.example.com/#f"),
            UrlError::Fragment(_)
        ));
        assert!(matches!(
            err("https://idp.example.com/#"),
            UrlError::Fragment(_)
        ));
        assert!(matches!(
            err("ftp://idp.example.com/"),
            UrlError::Scheme { .. }
        ));
        assert!(matches!(
            err("javascript://idp.example.com/"),
            UrlError::Scheme { .. }
        ));
    }

    #[test]
    fn configured_https_ip_literals_follow_the_policy() {
        let public = rules(false, AddressPolicy::PublicOnly);
        for raw in [
            "https://10.0.0.1/x",
            "https://169.254.169.254/x",
            "https://127.0.0.1/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://0x7f000001/x",
        ] {
            assert!(
                matches!(
                    check_configured_url(raw, public),
                    Err(UrlError::SpecialUse { .. })
                ),
                "{raw}"
            );
        }
        let loopback = rules(false, AddressPolicy::PublicAndLoopback);
        assert!(check_configured_url("https://127.0.0.1/x", loopback).is_ok());
        assert!(check_configured_url("https://10.0.0.1/x", loopback).is_err());
        let any = rules(false, AddressPolicy::AnyConfigured);
        assert!(check_configured_url("https://10.0.0.1/x", any).is_ok());
    }
}
