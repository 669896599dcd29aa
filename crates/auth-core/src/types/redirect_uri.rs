use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ParseError, is_loopback_host};

/// A `redirect_uri` (RFC 6749 §3.1.2), kept as the exact string the client sent.
///
/// Parsing accepts any absolute URL without a fragment. [`RedirectUri::check_registrable`] applies
/// the MCP rule for registration (https, or http on a loopback host). Matching is exact string
/// comparison ([`RedirectUri::matches`]), with the one exception of RFC 8252 §7.3: for an http
/// loopback redirect the port may differ.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri {
    raw: String,
    url: Url,
}

impl RedirectUri {
    /// Longest accepted redirect URI, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// The URI as sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host, for display on the consent page.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }

    /// True for an `http` URI on a loopback host (RFC 8252 §7.3).
    pub fn is_loopback(&self) -> bool {
        self.url.scheme() == "http" && is_loopback_host(self.host())
    }

    /// Registration rule (MCP §Communication Security, RFC 7591 §2): https, or http on a
    /// loopback host. Errors name the rule broken.
    pub fn check_registrable(&self) -> Result<(), ParseError> {
        match self.url.scheme() {
            "https" => Ok(()),
            "http" if is_loopback_host(self.host()) => Ok(()),
            "http" => Err(ParseError::new(
                "redirect_uri must use https unless its host is loopback",
            )),
            other => Err(ParseError::new(format!(
                "redirect_uri scheme {other:?} is not allowed"
            ))),
        }
    }

    /// Does this requested URI match the `registered` one? Exact string equality, except that for
    /// an http loopback registration the port is ignored (RFC 8252 §7.3). `localhost` is treated
    /// like a loopback IP literal for the port rule, but `localhost` never equals `127.0.0.1`.
    pub fn matches(&self, registered: &RedirectUri) -> bool {
        if self.raw == registered.raw {
            return true;
        }
        if !(self.is_loopback() && registered.is_loopback()) {
            return false;
        }
        match (strip_port(&self.raw), strip_port(&registered.raw)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

/// The URI with the `:port` of its authority removed, or `None` when it has no authority.
fn strip_port(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = if authority.starts_with('[') {
        let close = authority.find(']')?;
        &authority[..=close]
    } else {
        authority.split(':').next()?
    };
    Some(format!("{scheme}://{host}{tail}"))
}

impl FromStr for RedirectUri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new("redirect_uri is too long"));
        }
        let url = Url::parse(s).map_err(|e| ParseError::new(format!("redirect_uri: {e}")))?;
        if url.fragment().is_some() || s.contains('#') {
            return Err(ParseError::new(
                "redirect_uri must not have a fragment (RFC 6749 §3.1.2)",
            ));
        }
        if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
            return Err(ParseError::new(
                "redirect_uri must be an absolute URL with a host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::new("redirect_uri must not have userinfo"));
        }
        Ok(Self {
            raw: s.to_owned(),
            url,
        })
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RedirectUri> for String {
    fn from(r: RedirectUri) -> Self {
        r.raw
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedirectUri({})", self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> RedirectUri {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_port_may_differ() {
        assert!(r("http://127.0.0.1:51234/cb").matches(&r("http://127.0.0.1/cb")));
        assert!(r("http://127.0.0.1:51234/cb").matches(&r("http://127.0.0.1:80/cb")));
        assert!(r("http://[::1]:4000/cb").matches(&r("http://[::1]/cb")));
        assert!(r("http://localhost:4000/cb").matches(&r("http://localhost:3000/cb")));
    }

    #[test]
    fn loopback_path_and_host_must_match() {
        assert!(!r("http://127.0.0.1:5/other").matches(&r("http://127.0.0.1/cb")));
        assert!(!r("http://localhost:5/cb").matches(&r("http://127.0.0.1:5/cb")));
        assert!(!r("http://127.0.0.1:5/cb?x=1").matches(&r("http://127.0.0.1/cb")));
    }

    #[test]
    fn https_match_is_exact() {
        assert!(r("https://app.example/cb").matches(&r("https://app.example/cb")));
        assert!(!r("https://app.example:8443/cb").matches(&r("https://app.example/cb")));
        assert!(!r("https://APP.example/cb").matches(&r("https://app.example/cb")));
        assert!(!r("https://app.example/cb/").matches(&r("https://app.example/cb")));
    }

    #[test]
    fn registration_needs_https_or_loopback() {
        assert!(r("https://app.example/cb").check_registrable().is_ok());
        assert!(r("http://127.0.0.1/cb").check_registrable().is_ok());
        assert!(r("http://app.example/cb").check_registrable().is_err());
        assert!(r("javascript://x/alert").check_registrable().is_err());
        assert!("https://app.example/cb#f".parse::<RedirectUri>().is_err());
    }
}
