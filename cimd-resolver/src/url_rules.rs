//! The rules a `client_id` URL must meet before anything is fetched (spec §3.2, CIMD-07).

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::{CimdError, UrlError};
use mcp_auth_outbound::AddressPolicy;

/// Longest accepted `client_id` URL, in bytes (spec §3.2, our choice).
pub const MAX_URL_LEN: usize = 2048;

/// Check a `client_id` URL against spec §3.2 without any network I/O.
///
/// The raw string is checked, not only the parsed URL, because parsing normalises away dot
/// segments and empty fragments. Rules, in order: length ≤ [`MAX_URL_LEN`] bytes; parses as an
/// absolute URL; scheme `https`; no userinfo; no fragment; no query; a path other than `/`; no
/// `.`/`..` segments (raw or percent-encoded as `%2e`); a DNS-name host. An IP-literal host is
/// first checked against the special-use ranges, so a blocked literal gives
/// [`CimdError::BlockedAddress`]; any other literal gives [`UrlError::IpLiteralHost`] unless
/// `allow_ip_literal` is set.
///
/// Returns the parsed URL to fetch.
pub(crate) fn check_url(
    raw: &str,
    addresses: AddressPolicy,
    allow_ip_literal: bool,
) -> Result<Url, CimdError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong.into());
    }
    let url = Url::parse(raw).map_err(|_| UrlError::Unparsable)?;
    if url.scheme() != "https" || !raw.starts_with("https://") {
        return Err(UrlError::NotHttps.into());
    }
    let after_scheme = &raw["https://".len()..];
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    if authority.contains('@') || !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo.into());
    }
    if raw.contains('#') {
        return Err(UrlError::Fragment.into());
    }
    if raw.contains('?') {
        return Err(UrlError::Query.into());
    }
    let raw_path = &after_scheme[authority_end..];
    if raw_path.is_empty() || raw_path == "/" {
        return Err(UrlError::NoPath.into());
    }
    if raw_path.split('/').any(is_dot_segment) {
        return Err(UrlError::DotSegment.into());
    }
    let host = url.host().ok_or(UrlError::Unparsable)?;
    let ip: Option<IpAddr> = match host {
        Host::Domain(_) => None,
        Host::Ipv4(v4) => Some(v4.into()),
        Host::Ipv6(v6) => Some(v6.into()),
    };
    if let Some(ip) = ip {
        addresses
            .check(ip)
            .map_err(|range| CimdError::BlockedAddress {
                host: url.host_str().unwrap_or_default().to_owned(),
                addr: ip,
                range,
            })?;
        if !allow_ip_literal {
            return Err(UrlError::IpLiteralHost.into());
        }
    }
    Ok(url)
}

/// `.` or `..`, also when some of the dots are written `%2e`/`%2E`.
fn is_dot_segment(segment: &str) -> bool {
    let lowered = segment.to_ascii_lowercase();
    let decoded = lowered.replace("%2e", ".");
    decoded == "." || decoded == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<Url, CimdError> {
        check_url(raw, AddressPolicy::default(), false)
    }

    fn url_err(raw: &str) -> UrlError {
        match check(raw) {
            Err(CimdError::InvalidUrl(e)) => e,
            other => panic!("{raw}: expected a URL error, got {other:?}"),
        }
    }

    /// CIMD-07: a well-formed https URL with a path and a port passes.
    #[test]
    fn https_url_with_path_is_accepted() {
        let url = check("https://app.example.com:8443/oauth/client.json").unwrap();
        assert_eq!(
            url.as_str(),
            "https://app.example.com:8443/oauth/client.json"
        );
    }

    /// CIMD-07: `http:` is refused.
    #[test]
    fn http_scheme_is_refused() {
        assert_eq!(
            url_err("http://app.example.com/client.json"),
            UrlError::NotHttps
        );
    }

    /// CIMD-07: no path, or just `/`, is refused.
    #[test]
    fn missing_path_is_refused() {
        assert_eq!(url_err("https://app.example.com"), UrlError::NoPath);
        assert_eq!(url_err("https://app.example.com/"), UrlError::NoPath);
    }

    /// CIMD-07: a fragment, even an empty one, is refused.
    #[test]
    fn fragment_is_refused() {
        assert_eq!(
            url_err("https://app.example.com/c.json#x"),
            UrlError::Fragment
        );
        assert_eq!(
            url_err("https://app.example.com/c.json#"),
            UrlError::Fragment
        );
    }

    /// CIMD-07: userinfo is refused, with or without a password.
    #[test]
    fn userinfo_is_refused() {
        assert_eq!(
            url_err("https://user:pw@app.example.com/c.json"),
            UrlError::Userinfo
        );
        assert_eq!(
            url_err("https://user@app.example.com/c.json"),
            UrlError::Userinfo
        );
        assert_eq!(
            url_err("https://@app.example.com/c.json"),
            UrlError::Userinfo
        );
    }

    /// CIMD-07: `.` and `..` segments are refused, raw or percent-encoded.
    #[test]
    fn dot_segments_are_refused() {
        for raw in [
            "https://app.example.com/a/../c.json",
            "https://app.example.com/./c.json",
            "https://app.example.com/a/%2e%2e/c.json",
            "https://app.example.com/a/%2E./c.json",
            "https://app.example.com/a/.%2e",
            "https://app.example.com/%2e/c.json",
        ] {
            assert_eq!(url_err(raw), UrlError::DotSegment, "{raw}");
        }
        assert!(check("https://app.example.com/a/..b/c.json").is_ok());
    }

    /// Spec §3.2 [OURS]: a query string is refused.
    #[test]
    fn query_is_refused() {
        assert_eq!(
            url_err("https://app.example.com/c.json?v=1"),
            UrlError::Query
        );
    }

    /// Spec §3.2 [OURS]: longer than 2048 bytes is refused.
    #[test]
    fn overlong_url_is_refused() {
        let raw = format!("https://app.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(url_err(&raw), UrlError::TooLong);
    }

    /// CIMD-11: an IP-literal host in a blocked range is refused as a blocked address.
    #[test]
    fn blocked_ip_literal_hosts_are_refused_as_blocked_addresses() {
        for (raw, addr, range) in [
            ("https://10.0.0.1/c.json", "10.0.0.1", "10.0.0.0/8"),
            ("https://127.0.0.1:8443/c.json", "127.0.0.1", "127.0.0.0/8"),
            (
                "https://169.254.169.254/latest",
                "169.254.169.254",
                "169.254.0.0/16",
            ),
            ("https://[::1]/c.json", "::1", "::1/128"),
            ("https://[fd00::1]/c.json", "fd00::1", "fc00::/7"),
            (
                "https://[::ffff:10.0.0.1]/c.json",
                "::ffff:a00:1",
                "10.0.0.0/8",
            ),
            ("https://0x7f000001/c.json", "127.0.0.1", "127.0.0.0/8"),
        ] {
            match check(raw) {
                Err(CimdError::BlockedAddress {
                    addr: a, range: r, ..
                }) => {
                    assert_eq!(a, addr.parse::<IpAddr>().unwrap(), "{raw}");
                    assert_eq!(r.range, range, "{raw}");
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    /// Spec §3.2 [OURS]: a public IP-literal host is refused unless allowed.
    #[test]
    fn public_ip_literal_host_needs_permission() {
        assert_eq!(
            url_err("https://93.184.216.34/c.json"),
            UrlError::IpLiteralHost
        );
        assert!(
            check_url(
                "https://93.184.216.34/c.json",
                AddressPolicy::default(),
                true
            )
            .is_ok()
        );
    }
}
