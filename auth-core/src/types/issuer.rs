use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ParseError, is_loopback_host};

/// An authorization server issuer identifier (RFC 8414 §2): an `https` URL with no query and no
/// fragment. Plain `http` is accepted only for a loopback host (development).
///
/// The original string is kept and is what every output uses byte for byte (metadata `issuer`,
/// token `iss`, the RFC 9207 `iss` parameter); a trailing slash is removed at parse time so that
/// endpoint URLs join cleanly, and the issuer then never ends in `/`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Issuer {
    raw: String,
    url: Url,
}

impl Issuer {
    /// The issuer string.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// True for an `http` issuer on a loopback host.
    pub fn is_insecure_loopback(&self) -> bool {
        self.url.scheme() == "http"
    }

    /// The issuer's path, without a trailing slash; empty for an issuer at the origin root.
    pub fn path(&self) -> &str {
        let p = self.url.path();
        if p == "/" { "" } else { p }
    }

    /// The scheme, host and port: `https://auth.example.com`.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// An endpoint URL under the issuer: `endpoint("/token")` → `https://as.example/tenant/token`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.raw, path)
    }

    /// The RFC 8414 §3.1 metadata path, with path insertion: `/.well-known/oauth-authorization-server`
    /// followed by the issuer path.
    pub fn metadata_path(&self) -> String {
        format!("/.well-known/oauth-authorization-server{}", self.path())
    }

    /// The OIDC discovery path (OpenID Connect Discovery §4): the issuer path followed by
    /// `/.well-known/openid-configuration`.
    pub fn openid_configuration_path(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.path())
    }
}

impl FromStr for Issuer {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        let url = Url::parse(trimmed).map_err(|e| ParseError::new(format!("issuer: {e}")))?;
        if url.query().is_some() || url.fragment().is_some() || s.contains('?') || s.contains('#') {
            return Err(ParseError::new("issuer must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::new("issuer must not have userinfo"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| ParseError::new("issuer has no host"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(host) => {}
            "http" => {
                return Err(ParseError::new(
                    "issuer must be https (plain http only on a loopback host)",
                ));
            }
            _ => return Err(ParseError::new("issuer must be an https URL")),
        }
        Ok(Self {
            raw: trimmed.to_owned(),
            url,
        })
    }
}

impl TryFrom<String> for Issuer {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Issuer> for String {
    fn from(i: Issuer) -> Self {
        i.raw
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Issuer({})", self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_path_uses_path_insertion() {
        let i: Issuer = "https://auth.acme.test/tenant1".parse().unwrap();
        assert_eq!(
            i.metadata_path(),
            "/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(i.endpoint("/token"), "https://auth.acme.test/tenant1/token");
        let root: Issuer = "https://auth.acme.test".parse().unwrap();
        assert_eq!(
            root.metadata_path(),
            "/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!("http://127.0.0.1:9000".parse::<Issuer>().is_ok());
        assert!("http://localhost:9000".parse::<Issuer>().is_ok());
        assert!("http://auth.example.com".parse::<Issuer>().is_err());
    }

    #[test]
    fn query_and_fragment_are_refused() {
        assert!("https://a.example/?x=1".parse::<Issuer>().is_err());
        assert!("https://a.example/#f".parse::<Issuer>().is_err());
    }
}
