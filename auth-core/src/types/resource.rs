use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ParseError;

/// A protected resource identifier (RFC 8707 §2, RFC 9728 §1.2): the canonical URI of an MCP
/// server, used as the `resource` parameter and as the access token `aud`.
///
/// Parsing requires an absolute `http(s)` URI without a fragment and canonicalises it: the scheme
/// and host are lower-cased and a default port is dropped (MCP §Canonical Server URI); the path and
/// query are kept as written, and no trailing slash is added to an origin-only URI. Two values are
/// equal when their canonical strings are.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceUri(String);

impl ResourceUri {
    /// Longest accepted resource URI, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ResourceUri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new("resource is too long"));
        }
        if s.contains('#') {
            return Err(ParseError::new(
                "resource must not have a fragment (RFC 8707 §2)",
            ));
        }
        let url = Url::parse(s)
            .map_err(|_| ParseError::new("resource must be an absolute URI (RFC 8707 §2)"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(ParseError::new(
                "resource must be an http(s) URI with a host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::new("resource must not have userinfo"));
        }
        let mut canonical = url.to_string();
        // `Url` writes "/" for an empty path; keep an origin-only URI without it.
        let (_, after_scheme) = s.split_once("://").unwrap_or(("", s));
        let had_path = after_scheme.contains('/');
        if !had_path && url.path() == "/" && url.query().is_none() {
            canonical.pop();
        }
        Ok(Self(canonical))
    }
}

impl TryFrom<String> for ResourceUri {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ResourceUri> for String {
    fn from(r: ResourceUri) -> Self {
        r.0
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceUri({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_and_host_are_lowercased() {
        let r: ResourceUri = "HTTPS://MCP.Example.com/mcp".parse().unwrap();
        assert_eq!(r.as_str(), "https://mcp.example.com/mcp");
    }

    #[test]
    fn origin_only_has_no_trailing_slash() {
        let r: ResourceUri = "https://mcp.example.com".parse().unwrap();
        assert_eq!(r.as_str(), "https://mcp.example.com");
        let r: ResourceUri = "https://mcp.example.com:443/".parse().unwrap();
        assert_eq!(r.as_str(), "https://mcp.example.com/");
    }

    #[test]
    fn fragment_and_relative_are_refused() {
        assert!(
            "https://mcp.example.com/mcp#x"
                .parse::<ResourceUri>()
                .is_err()
        );
        assert!("/mcp".parse::<ResourceUri>().is_err());
        assert!("urn:x:y".parse::<ResourceUri>().is_err());
    }
}
