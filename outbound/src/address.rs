//! Which IP addresses an outbound request may connect to (CIMD spec §3.3, CIMD-11; the same
//! rule for every outbound fetch).
//!
//! [`special_use_range`] is a pure function over [`IpAddr`]: it names the special-use range an
//! address is in (RFC 6890 and the IANA special-purpose registries), or `None` for an ordinary
//! global unicast address. IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:0:0/96`,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the embedded address. Any IPv6 address
//! outside global unicast `2000::/3` is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-use range an address was found in, for errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialUseRange {
    /// The range, in CIDR notation, e.g. `10.0.0.0/8`.
    pub range: &'static str,
    /// The IPv6 form that embedded the IPv4 address, e.g. `::ffff:0:0/96`, if any.
    pub via: Option<&'static str>,
}

impl fmt::Display for SpecialUseRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            Some(via) => write!(f, "{} (embedded in {via})", self.range),
            None => f.write_str(self.range),
        }
    }
}

/// IPv4 special-use ranges: (network, prefix length, name).
const V4_BLOCKED: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "0.0.0.0/8"),
    (0x0a00_0000, 8, "10.0.0.0/8"),
    (0x6440_0000, 10, "100.64.0.0/10"),
    (0x7f00_0000, 8, "127.0.0.0/8"),
    (0xa9fe_0000, 16, "169.254.0.0/16"),
    (0xac10_0000, 12, "172.16.0.0/12"),
    (0xc000_0000, 24, "192.0.0.0/24"),
    (0xc000_0200, 24, "192.0.2.0/24"),
    (0xc058_6300, 24, "192.88.99.0/24"),
    (0xc0a8_0000, 16, "192.168.0.0/16"),
    (0xc612_0000, 15, "198.18.0.0/15"),
    (0xc633_6400, 24, "198.51.100.0/24"),
    (0xcb00_7100, 24, "203.0.113.0/24"),
    (0xe000_0000, 4, "224.0.0.0/4"),
    (0xf000_0000, 4, "240.0.0.0/4"),
    // Cloud metadata services outside the ranges above (169.254.169.254 and 100.100.100.200
    // are covered by 169.254.0.0/16 and 100.64.0.0/10): the Azure host wire server.
    (0xa83f_8110, 32, "168.63.129.16/32"),
];

/// IPv6 special-use ranges checked after the IPv4-embedding forms: (network, prefix, name).
const V6_BLOCKED: &[(u128, u8, &str)] = &[
    (0, 128, "::/128"),
    (1, 128, "::1/128"),
    (0, 96, "::/96"),
    (0x0064_ff9b_0001 << 80, 48, "64:ff9b:1::/48"),
    (0x0100 << 112, 64, "100::/64"),
    (0x2001 << 112, 23, "2001::/23"),
    (0x2001_0db8 << 96, 32, "2001:db8::/32"),
    (0x3fff << 112, 20, "3fff::/20"),
    (0xfc00 << 112, 7, "fc00::/7"),
    (0xfe80 << 112, 10, "fe80::/10"),
    (0xfec0 << 112, 10, "fec0::/10"),
    (0xff00 << 112, 8, "ff00::/8"),
];

fn in_v4(addr: u32, net: u32, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    addr & mask == net & mask
}

fn in_v6(addr: u128, net: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    addr & mask == net & mask
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let addr = u32::from(ip);
    V4_BLOCKED
        .iter()
        .find(|(net, prefix, _)| in_v4(addr, *net, *prefix))
        .map(|(_, _, name)| *name)
}

/// The IPv4 address embedded in an IPv6 translation or tunnelling form, with that form's name.
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let bits = u128::from(ip);
    if in_v6(bits, 0xffff << 32, 96) {
        return Some((Ipv4Addr::from(bits as u32), "::ffff:0:0/96"));
    }
    if in_v6(bits, 0x0064_ff9b << 96, 96) {
        return Some((Ipv4Addr::from(bits as u32), "64:ff9b::/96"));
    }
    if in_v6(bits, 0x2002 << 112, 16) {
        return Some((Ipv4Addr::from((bits >> 80) as u32), "2002::/16"));
    }
    None
}

/// The special-use range `ip` is in, or `None` when it is an ordinary global unicast address
/// that a metadata-document fetch may connect to (spec §3.3 list, plus cloud metadata
/// addresses and, for IPv6, everything outside `2000::/3`).
///
/// ```
/// use mcp_auth_outbound::special_use_range;
///
/// assert_eq!(special_use_range("10.1.2.3".parse().unwrap()).unwrap().range, "10.0.0.0/8");
/// let mapped = special_use_range("::ffff:169.254.169.254".parse().unwrap()).unwrap();
/// assert_eq!(mapped.to_string(), "169.254.0.0/16 (embedded in ::ffff:0:0/96)");
/// assert_eq!(special_use_range("93.184.216.34".parse().unwrap()), None);
/// ```
pub fn special_use_range(ip: IpAddr) -> Option<SpecialUseRange> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4).map(|range| SpecialUseRange { range, via: None }),
        IpAddr::V6(v6) => {
            if let Some((v4, via)) = embedded_v4(v6) {
                return v4_range(v4).map(|range| SpecialUseRange {
                    range,
                    via: Some(via),
                });
            }
            let bits = u128::from(v6);
            if let Some((_, _, range)) = V6_BLOCKED
                .iter()
                .find(|(net, prefix, _)| in_v6(bits, *net, *prefix))
            {
                return Some(SpecialUseRange { range, via: None });
            }
            if !in_v6(bits, 0x2000 << 112, 3) {
                return Some(SpecialUseRange {
                    range: "outside 2000::/3",
                    via: None,
                });
            }
            None
        }
    }
}

/// True for a loopback address: `127.0.0.0/8`, `::1`, or an IPv4-mapped loopback address.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The rule applied to every address before it is connected to.
///
/// ```
/// use mcp_auth_outbound::AddressPolicy;
///
/// assert!(AddressPolicy::PublicOnly.check("127.0.0.1".parse().unwrap()).is_err());
/// assert!(AddressPolicy::PublicAndLoopback.check("127.0.0.1".parse().unwrap()).is_ok());
/// assert!(AddressPolicy::PublicAndLoopback.check("10.0.0.1".parse().unwrap()).is_err());
/// assert!(AddressPolicy::AnyConfigured.check("10.0.0.1".parse().unwrap()).is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressPolicy {
    /// Only ordinary global unicast addresses ([`special_use_range`] is `None`): the rule for
    /// every URL an untrusted party chose (CIMD documents, `jwks_uri`s, IdP discovery).
    #[default]
    PublicOnly,
    /// [`Self::PublicOnly`] plus loopback addresses: tests and development only (the callers'
    /// `insecure_*` switches).
    PublicAndLoopback,
    /// Every address: only for destinations the operator configured (the authorization server
    /// a resource server trusts, a third party marked `allow_insecure_private_addresses`).
    AnyConfigured,
}

impl AddressPolicy {
    /// `Ok` when `ip` may be connected to; otherwise the range that forbids it.
    ///
    /// # Errors
    /// The [`SpecialUseRange`] `ip` is in.
    pub fn check(&self, ip: IpAddr) -> Result<(), SpecialUseRange> {
        match self {
            Self::AnyConfigured => return Ok(()),
            Self::PublicAndLoopback if is_loopback(ip) => return Ok(()),
            _ => {}
        }
        match special_use_range(ip) {
            Some(range) => Err(range),
            None => Ok(()),
        }
    }

    /// Whether this policy refuses any address at all (everything but [`Self::AnyConfigured`]).
    pub fn screens(&self) -> bool {
        !matches!(self, Self::AnyConfigured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Option<String> {
        special_use_range(s.parse().unwrap()).map(|r| r.to_string())
    }

    /// CIMD-11: every IPv4 special-use range of spec §3.3 is refused, at both ends of the range.
    #[test]
    fn every_blocked_ipv4_range_is_refused() {
        let cases = [
            ("0.0.0.0", "0.0.0.0/8"),
            ("0.255.255.255", "0.0.0.0/8"),
            ("10.0.0.0", "10.0.0.0/8"),
            ("10.255.255.255", "10.0.0.0/8"),
            ("100.64.0.0", "100.64.0.0/10"),
            ("100.127.255.255", "100.64.0.0/10"),
            ("100.100.100.200", "100.64.0.0/10"),
            ("127.0.0.1", "127.0.0.0/8"),
            ("127.255.255.254", "127.0.0.0/8"),
            ("169.254.0.1", "169.254.0.0/16"),
            ("169.254.169.254", "169.254.0.0/16"),
            ("172.16.0.0", "172.16.0.0/12"),
            ("172.31.255.255", "172.16.0.0/12"),
            ("192.0.0.192", "192.0.0.0/24"),
            ("192.0.2.1", "192.0.2.0/24"),
            ("192.88.99.1", "192.88.99.0/24"),
            ("192.168.0.1", "192.168.0.0/16"),
            ("192.168.255.255", "192.168.0.0/16"),
            ("198.18.0.1", "198.18.0.0/15"),
            ("198.19.255.255", "198.18.0.0/15"),
            ("198.51.100.7", "198.51.100.0/24"),
            ("203.0.113.9", "203.0.113.0/24"),
            ("224.0.0.1", "224.0.0.0/4"),
            ("239.255.255.255", "224.0.0.0/4"),
            ("240.0.0.1", "240.0.0.0/4"),
            ("255.255.255.255", "240.0.0.0/4"),
            ("168.63.129.16", "168.63.129.16/32"),
        ];
        for (ip, want) in cases {
            assert_eq!(range(ip).as_deref(), Some(want), "{ip}");
        }
    }

    /// CIMD-11: the neighbours of the IPv4 ranges are ordinary addresses.
    #[test]
    fn ipv4_range_neighbours_are_allowed() {
        for ip in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.0.1.1",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "168.63.129.17",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    /// CIMD-11: every IPv6 special-use range is refused.
    #[test]
    fn every_blocked_ipv6_range_is_refused() {
        let cases = [
            ("::", "::/128"),
            ("::1", "::1/128"),
            ("::a00:1", "::/96"),
            ("64:ff9b:1::1", "64:ff9b:1::/48"),
            ("100::1", "100::/64"),
            ("2001::1", "2001::/23"),
            ("2001:1ff:ffff::1", "2001::/23"),
            ("2001:db8::1", "2001:db8::/32"),
            ("3fff::1", "3fff::/20"),
            ("fc00::1", "fc00::/7"),
            ("fd00::1", "fc00::/7"),
            ("fd00:ec2::254", "fc00::/7"),
            ("fe80::1", "fe80::/10"),
            ("fe80::a9fe:a9fe", "fe80::/10"),
            ("fec0::1", "fec0::/10"),
            ("ff02::1", "ff00::/8"),
            ("4000::1", "outside 2000::/3"),
        ];
        for (ip, want) in cases {
            assert_eq!(range(ip).as_deref(), Some(want), "{ip}");
        }
    }

    /// CIMD-11: IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4 address inside.
    #[test]
    fn ipv6_forms_embedding_a_blocked_ipv4_address_are_refused() {
        let cases = [
            (
                "::ffff:127.0.0.1",
                "127.0.0.0/8 (embedded in ::ffff:0:0/96)",
            ),
            ("::ffff:10.0.0.1", "10.0.0.0/8 (embedded in ::ffff:0:0/96)"),
            (
                "::ffff:169.254.169.254",
                "169.254.0.0/16 (embedded in ::ffff:0:0/96)",
            ),
            (
                "64:ff9b::192.168.1.1",
                "192.168.0.0/16 (embedded in 64:ff9b::/96)",
            ),
            (
                "64:ff9b::a9fe:a9fe",
                "169.254.0.0/16 (embedded in 64:ff9b::/96)",
            ),
            (
                "2002:c0a8:0101::1",
                "192.168.0.0/16 (embedded in 2002::/16)",
            ),
            ("2002:7f00:1::", "127.0.0.0/8 (embedded in 2002::/16)"),
        ];
        for (ip, want) in cases {
            assert_eq!(range(ip).as_deref(), Some(want), "{ip}");
        }
    }

    /// Global unicast IPv6 and embedded public IPv4 addresses are allowed.
    #[test]
    fn global_ipv6_is_allowed() {
        for ip in [
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2001:200::1",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    /// Spec A6: the test allowance lets loopback through and nothing else.
    #[test]
    fn loopback_allowance_admits_only_loopback() {
        let policy = AddressPolicy::PublicAndLoopback;
        assert_eq!(policy.check("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("::1".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("::ffff:127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(
            policy.check("10.0.0.1".parse().unwrap()).unwrap_err().range,
            "10.0.0.0/8"
        );
        assert_eq!(
            policy
                .check("169.254.169.254".parse().unwrap())
                .unwrap_err()
                .range,
            "169.254.0.0/16"
        );
        let strict = AddressPolicy::default();
        assert_eq!(
            strict
                .check("127.0.0.1".parse().unwrap())
                .unwrap_err()
                .range,
            "127.0.0.0/8"
        );
    }
}
