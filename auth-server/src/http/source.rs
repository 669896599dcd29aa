//! Where a request came from, and whether it came over https, when proxies stand in between
//! (issue #8 items 3 and 6; spec AS-20, SEC-01, SEC-06).
//!
//! The **source address** (the key of the per-source rate limits) is the socket peer, unless the
//! peer is one of the configured `trusted_proxies`. Then the forwarding headers are walked from
//! the right, skipping trusted proxies, and the first address that is not a trusted proxy is the
//! source (when every hop is trusted, the leftmost one):
//!
//! - `X-Forwarded-For`: a comma-separated list of addresses (`192.0.2.1`, `2001:db8::1`, or either
//!   with a port: `192.0.2.1:4711`, `[2001:db8::1]:4711`). Several header lines are one list, in
//!   order (RFC 9110 §5.3).
//! - `Forwarded` (RFC 7239): the `for=` of each element. An element without `for=` is allowed
//!   only when no element has one (then the header names no addresses).
//!
//! **Protocol** (only when the issuer is https): from a trusted proxy, the last hop decides: the
//! last value of `X-Forwarded-Proto` and the `proto=` of the last `Forwarded` element must be
//! exactly `https`, and at least one of them must be present. From any other peer, forwarding
//! headers never vouch for https, but a report of anything else anywhere in them (`http`,
//! `HTTPS`, an empty value) is still refused: a downgrade report is never ignored.
//!
//! **Fail closed**: from a trusted proxy, a malformed header (an entry that is not an address,
//! `for=unknown`, an obfuscated `for=_id`, an empty list element, a repeated parameter, a
//! backslash in a quoted value, a non-ASCII byte) refuses the request, and so do
//! `X-Forwarded-For` and `Forwarded` that name different sources, or `X-Forwarded-Proto` and
//! `Forwarded` that name different protocols. From an untrusted peer `X-Forwarded-For` is not
//! read at all; `Forwarded` and `X-Forwarded-Proto` are read for the protocol only.
//!
//! For rate limiting, an IPv6 source counts as its `/64` network (one host usually holds a whole
//! `/64`), and an IPv4-mapped IPv6 address as the IPv4 address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Why the forwarding headers of a request cannot be believed. Every variant is refused with
/// `400 invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardingError {
    /// A forwarding header that cannot be read exactly.
    #[error("malformed {0} header")]
    Malformed(&'static str),
    /// `X-Forwarded-For` and `Forwarded` name different sources, or `X-Forwarded-Proto` and
    /// `Forwarded` different protocols.
    #[error("X-Forwarded-For / X-Forwarded-Proto and Forwarded disagree")]
    Conflicting,
    /// The request is reported as, or not shown to be, https while the issuer is https.
    #[error("plain http is refused; use https")]
    NotHttps,
}

/// The caller's address as the rate limits see it; `None` when the server was not given
/// connection info (a router driven without a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAddress(pub Option<IpAddr>);

impl SourceAddress {
    /// The rate-limit key: the IPv4 address, the `/64` network of an IPv6 address, or
    /// `unknown` (all callers without an address share one key).
    pub fn rate_key(&self) -> String {
        match self.0.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, 64)
                .map(|n| n.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
            None => "unknown".into(),
        }
    }
}

/// Resolve the source address of a request from its socket `peer` and `headers`, and check its
/// protocol when `require_https` (the issuer is https). See the module documentation for the
/// rules.
///
/// # Errors
/// [`ForwardingError`] when the request must be refused.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    require_https: bool,
) -> Result<SourceAddress, ForwardingError> {
    let peer = peer.map(|p| p.to_canonical());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let Some(peer_ip) = peer.filter(|p| is_trusted(p)) else {
        if require_https {
            untrusted_proto_check(headers)?;
        }
        return Ok(SourceAddress(peer));
    };
    let forwarded = header_list(headers, "forwarded", "Forwarded")?
        .map(|l| parse_forwarded(&l))
        .transpose()?;
    if require_https {
        trusted_proto_check(headers, forwarded.as_deref())?;
    }
    let xff = header_list(headers, "x-forwarded-for", "X-Forwarded-For")?
        .map(|l| parse_xff(&l))
        .transpose()?;
    let fwd_chain = match &forwarded {
        Some(elements) => forwarded_for_chain(elements)?,
        None => None,
    };
    let from_xff = xff.map(|chain| walk(&chain, &is_trusted));
    let from_fwd = fwd_chain.map(|chain| walk(&chain, &is_trusted));
    let source = match (from_xff, from_fwd) {
        (Some(a), Some(b)) if a != b => return Err(ForwardingError::Conflicting),
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => peer_ip,
    };
    Ok(SourceAddress(Some(source.to_canonical())))
}

/// From the right: the first address that is not a trusted proxy, else the leftmost.
fn walk(chain: &[IpAddr], is_trusted: &impl Fn(&IpAddr) -> bool) -> IpAddr {
    chain
        .iter()
        .rev()
        .map(|ip| ip.to_canonical())
        .find(|ip| !is_trusted(ip))
        .unwrap_or_else(|| chain[0].to_canonical())
}

/// Every line of header `name`, joined with `,` in order; `None` when absent.
fn header_list(
    headers: &HeaderMap,
    name: &str,
    label: &'static str,
) -> Result<Option<String>, ForwardingError> {
    let mut joined: Option<String> = None;
    for value in headers.get_all(name) {
        let text = value
            .to_str()
            .map_err(|_| ForwardingError::Malformed(label))?;
        match &mut joined {
            Some(j) => {
                j.push(',');
                j.push_str(text);
            }
            None => joined = Some(text.to_owned()),
        }
    }
    Ok(joined)
}

/// `X-Forwarded-For` as addresses; any element that is not one is malformed.
fn parse_xff(list: &str) -> Result<Vec<IpAddr>, ForwardingError> {
    list.split(',')
        .map(|item| parse_node(item.trim()).ok_or(ForwardingError::Malformed("X-Forwarded-For")))
        .collect()
}

/// An address, with or without a port (`[v6]:port` for IPv6 with a port).
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    text.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// One `Forwarded` element: its parameters, names lowercased, values unquoted.
type Element = Vec<(String, String)>;

/// RFC 7239 §4: `Forwarded = 1#forwarded-element`, `forwarded-element = [pair] *(";" [pair])`,
/// `pair = token "=" (token / quoted-string)`. Stricter than the grammar where it is ambiguous:
/// no empty elements or pairs, no repeated parameter in an element, no backslash escapes.
fn parse_forwarded(list: &str) -> Result<Vec<Element>, ForwardingError> {
    const BAD: ForwardingError = ForwardingError::Malformed("Forwarded");
    let mut elements = Vec::new();
    let mut element: Element = Vec::new();
    let mut chars = list.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| is_tchar(*c)) {
            name.push(c.to_ascii_lowercase());
        }
        if name.is_empty() || chars.next() != Some('=') {
            return Err(BAD);
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') | None => return Err(BAD),
                    Some(c) if c == '\t' || (' '..='~').contains(&c) => value.push(c),
                    Some(_) => return Err(BAD),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| is_tchar(*c)) {
                value.push(c);
            }
            if value.is_empty() {
                return Err(BAD);
            }
        }
        if element.iter().any(|(n, _)| *n == name) {
            return Err(BAD);
        }
        element.push((name, value));
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.next() {
            Some(';') => {}
            Some(',') => elements.push(std::mem::take(&mut element)),
            None => {
                elements.push(element);
                return Ok(elements);
            }
            Some(_) => return Err(BAD),
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn param<'a>(element: &'a Element, name: &str) -> Option<&'a str> {
    element
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The `for=` addresses of every element; `None` when no element has `for=`.
fn forwarded_for_chain(elements: &[Element]) -> Result<Option<Vec<IpAddr>>, ForwardingError> {
    let with_for = elements
        .iter()
        .filter(|e| param(e, "for").is_some())
        .count();
    if with_for == 0 {
        return Ok(None);
    }
    if with_for != elements.len() {
        return Err(ForwardingError::Malformed("Forwarded"));
    }
    elements
        .iter()
        .map(|e| {
            param(e, "for")
                .and_then(parse_node)
                .ok_or(ForwardingError::Malformed("Forwarded"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// From a trusted proxy: the last hop must say exactly `https`.
fn trusted_proto_check(
    headers: &HeaderMap,
    forwarded: Option<&[Element]>,
) -> Result<(), ForwardingError> {
    let xfp = header_list(headers, "x-forwarded-proto", "X-Forwarded-Proto")?;
    let from_xfp = xfp.as_deref().map(|l| {
        l.rsplit(',')
            .next()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    });
    let from_fwd = forwarded
        .and_then(|els| els.last())
        .and_then(|last| param(last, "proto"))
        .map(str::to_owned);
    let proto = match (from_xfp, from_fwd) {
        (Some(a), Some(b)) if a != b => return Err(ForwardingError::Conflicting),
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return Err(ForwardingError::NotHttps),
    };
    if proto == "https" {
        Ok(())
    } else {
        Err(ForwardingError::NotHttps)
    }
}

/// From any other peer: any protocol reported anywhere must be exactly `https`.
fn untrusted_proto_check(headers: &HeaderMap) -> Result<(), ForwardingError> {
    if let Some(list) = header_list(headers, "x-forwarded-proto", "X-Forwarded-Proto")?
        && list.split(',').any(|p| p.trim() != "https")
    {
        return Err(ForwardingError::NotHttps);
    }
    if let Some(list) = header_list(headers, "forwarded", "Forwarded")? {
        let elements = parse_forwarded(&list)?;
        if elements
            .iter()
            .filter_map(|e| param(e, "proto"))
            .any(|p| p != "https")
        {
            return Err(ForwardingError::NotHttps);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn source(
        peer: &str,
        pairs: &[(&'static str, &'static str)],
    ) -> Result<SourceAddress, ForwardingError> {
        resolve(ip(peer), &headers(pairs), &proxies(), false)
    }

    #[test]
    fn untrusted_peer_forwarded_for_is_ignored() {
        let s = source("192.0.2.7", &[("x-forwarded-for", "203.0.113.9")]).unwrap();
        assert_eq!(s, SourceAddress(ip("192.0.2.7")));
        let s = source("192.0.2.7", &[("forwarded", "for=203.0.113.9")]).unwrap();
        assert_eq!(s, SourceAddress(ip("192.0.2.7")));
    }

    #[test]
    fn trusted_chain_is_walked_from_the_right_skipping_trusted_proxies() {
        let s = source(
            "10.0.0.1",
            &[("x-forwarded-for", "198.51.100.66, 203.0.113.9, 10.1.2.3")],
        )
        .unwrap();
        assert_eq!(s, SourceAddress(ip("203.0.113.9")));
    }

    #[test]
    fn repeated_forwarded_for_lines_are_one_list_in_order() {
        let s = source(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "198.51.100.66"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        )
        .unwrap();
        assert_eq!(s, SourceAddress(ip("203.0.113.9")));
    }

    #[test]
    fn all_trusted_hops_give_the_leftmost() {
        let s = source("10.0.0.1", &[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]).unwrap();
        assert_eq!(s, SourceAddress(ip("10.9.9.9")));
    }

    #[test]
    fn trusted_peer_without_forwarding_headers_is_the_source() {
        assert_eq!(
            source("10.0.0.1", &[]).unwrap(),
            SourceAddress(ip("10.0.0.1"))
        );
    }

    #[test]
    fn forwarded_for_with_ports_and_ipv6_is_read() {
        let s = source(
            "10.0.0.1",
            &[(
                "forwarded",
                "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";proto=https",
            )],
        )
        .unwrap();
        assert_eq!(s, SourceAddress(ip("2001:db8:cafe::17")));
        let s = source("10.0.0.1", &[("x-forwarded-for", "192.0.2.43:5555")]).unwrap();
        assert_eq!(s, SourceAddress(ip("192.0.2.43")));
    }

    #[test]
    fn malformed_forwarded_for_from_a_trusted_peer_is_refused() {
        for bad in [
            "not-an-ip",
            "192.0.2.1,,192.0.2.2",
            "",
            "192.0.2.1 192.0.2.2",
            "[192.0.2.1]",
        ] {
            let h = HeaderMap::from_iter([(
                axum::http::header::HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(bad).unwrap(),
            )]);
            assert_eq!(
                resolve(ip("10.0.0.1"), &h, &proxies(), false),
                Err(ForwardingError::Malformed("X-Forwarded-For")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn malformed_forwarded_from_a_trusted_peer_is_refused() {
        for bad in [
            "for=unknown",
            "for=_hidden",
            "for=192.0.2.1;for=192.0.2.2",
            "for=\"192.0.2.1\\\"\"",
            "for=192.0.2.1,",
            "for=192.0.2.1,,for=192.0.2.2",
            "for",
            "for=",
            "for=\"192.0.2.1",
            "for=192.0.2.1, proto=https",
            "for=2001:db8::1",
        ] {
            let h = HeaderMap::from_iter([(
                axum::http::header::HeaderName::from_static("forwarded"),
                HeaderValue::from_str(bad).unwrap(),
            )]);
            assert_eq!(
                resolve(ip("10.0.0.1"), &h, &proxies(), false),
                Err(ForwardingError::Malformed("Forwarded")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn disagreeing_forwarding_headers_are_refused() {
        let r = source(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("forwarded", "for=198.51.100.1"),
            ],
        );
        assert_eq!(r, Err(ForwardingError::Conflicting));
        let agree = source(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("forwarded", "for=203.0.113.9"),
            ],
        );
        assert_eq!(agree, Ok(SourceAddress(ip("203.0.113.9"))));
    }

    #[test]
    fn ipv4_mapped_peer_matches_an_ipv4_proxy_network() {
        let s = source("::ffff:10.0.0.1", &[("x-forwarded-for", "203.0.113.9")]).unwrap();
        assert_eq!(s, SourceAddress(ip("203.0.113.9")));
    }

    #[test]
    fn rate_key_groups_ipv6_by_64_and_unmaps_ipv4() {
        assert_eq!(
            SourceAddress(ip("2001:db8:1:2:3:4:5:6")).rate_key(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            SourceAddress(ip("::ffff:192.0.2.1")).rate_key(),
            "192.0.2.1"
        );
        assert_eq!(SourceAddress(None).rate_key(), "unknown");
    }

    fn proto(
        peer: &str,
        pairs: &[(&'static str, &'static str)],
    ) -> Result<SourceAddress, ForwardingError> {
        resolve(ip(peer), &headers(pairs), &proxies(), true)
    }

    #[test]
    fn trusted_last_hop_https_is_accepted() {
        assert!(proto("10.0.0.1", &[("x-forwarded-proto", "https")]).is_ok());
        assert!(proto("10.0.0.1", &[("forwarded", "for=192.0.2.1;proto=https")]).is_ok());
        assert!(proto("10.0.0.1", &[("x-forwarded-proto", "http, https")]).is_ok());
    }

    #[test]
    fn trusted_last_hop_other_than_exactly_https_is_refused() {
        for pairs in [
            &[("x-forwarded-proto", "http")][..],
            &[("x-forwarded-proto", "HTTPS")],
            &[("x-forwarded-proto", "https, http")],
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-proto", "http"),
            ],
            &[("x-forwarded-proto", "https,")],
            &[("forwarded", "for=192.0.2.1;proto=http")],
            &[("forwarded", "proto=https, proto=http")],
            &[],
            &[("x-forwarded-for", "192.0.2.1")],
        ] {
            assert_eq!(
                proto("10.0.0.1", pairs),
                Err(ForwardingError::NotHttps),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn trusted_proto_headers_that_disagree_are_refused() {
        let r = proto(
            "10.0.0.1",
            &[("x-forwarded-proto", "https"), ("forwarded", "proto=http")],
        );
        assert_eq!(r, Err(ForwardingError::Conflicting));
    }

    #[test]
    fn untrusted_peer_reporting_plain_http_anywhere_is_refused() {
        for pairs in [
            &[("x-forwarded-proto", "http")][..],
            &[("x-forwarded-proto", "http, https")],
            &[("forwarded", "proto=http, proto=https")],
        ] {
            assert_eq!(
                proto("192.0.2.7", pairs),
                Err(ForwardingError::NotHttps),
                "{pairs:?}"
            );
        }
        assert!(proto("192.0.2.7", &[]).is_ok());
        assert!(proto("192.0.2.7", &[("x-forwarded-proto", "https")]).is_ok());
    }

    #[test]
    fn loopback_issuer_ignores_the_protocol() {
        assert!(source("192.0.2.7", &[("x-forwarded-proto", "http")]).is_ok());
    }
}
