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
}
