use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ParseError, is_loopback_host};

/// A `redirect_uri` (RFC 6749 §3.1.2), kept as the exact string the client sent.
///
/// One representation is compared and redirected to: the raw string. Parsing therefore refuses
/// every URI that the next reader (the `url` crate, a browser) could read differently from the
/// raw string (issue #8 item 5):
///
/// - only RFC 3986 §2 characters: ASCII letters, digits, `-._~:/?#[]@!$&'()*+,;=` and `%`
///   followed by two hex digits. A backslash (read as `/` by WHATWG parsers), whitespace,
///   control characters (silently dropped by WHATWG parsers), non-ASCII characters and
///   `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}` are refused;
/// - `scheme://authority` with the authority exactly `host[:port]`: no userinfo (not even an
///   empty one: no `@` before the path), no `%` in the host, a port of ASCII digits that the
///   parser reads as the same number;
/// - no fragment (RFC 6749 §3.1.2).
///
/// [`RedirectUri::check_registrable`] applies the MCP rule for registration (https, or http on a
/// loopback host). Matching is exact string comparison ([`RedirectUri::matches`]), with the one
/// exception of RFC 8252 §7.3: for an http loopback redirect the port may differ. Responses are
/// built on the raw string ([`RedirectUri::with_parameters`]), so the browser is sent to exactly
/// the string that was compared.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri {
    raw: String,
    url: Url,
    /// Byte range of `:port` in `raw` (the colon included), when the authority has one.
    port_span: Option<(usize, usize)>,
}

impl RedirectUri {
    /// Longest accepted redirect URI, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// The URI as sent: the string that is compared and redirected to.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed URL (for its host and scheme; never serialise it into a redirect, use
    /// [`RedirectUri::with_parameters`]).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host as the parser reads it (IPv6 in brackets), for display on the consent page.
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
    /// an http loopback registration the port is ignored (RFC 8252 §7.3): the two raw strings
    /// must then be equal once their `:port` (located when parsing, where the parser reads it)
    /// is removed. `localhost` is treated like a loopback IP literal for the port rule, but
    /// `localhost` never equals `127.0.0.1`.
    pub fn matches(&self, registered: &RedirectUri) -> bool {
        if self.raw == registered.raw {
            return true;
        }
        self.is_loopback()
            && registered.is_loopback()
            && self.without_port() == registered.without_port()
    }

    /// The raw string with `pairs` appended to its query, `application/x-www-form-urlencoded`
    /// (RFC 6749 §4.1.2 and §4.1.2.1: `code`, `error`, `state`, `iss`). Everything before the
    /// appended pairs is the raw string byte for byte.
    pub fn with_parameters<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> String {
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            encoded.append_pair(name, value);
        }
        let encoded = encoded.finish();
        let mut out = self.raw.clone();
        if encoded.is_empty() {
            return out;
        }
        if !self.raw.contains('?') {
            out.push('?');
        } else if !self.raw.ends_with(['?', '&']) {
            out.push('&');
        }
        out.push_str(&encoded);
        out
    }

    fn without_port(&self) -> std::borrow::Cow<'_, str> {
        match self.port_span {
            Some((start, end)) => format!("{}{}", &self.raw[..start], &self.raw[end..]).into(),
            None => self.raw.as_str().into(),
        }
    }
}

/// RFC 3986 §2 characters other than letters, digits and `%`.
const URI_PUNCTUATION: &[u8] = b"-._~:/?#[]@!$&'()*+,;=";

/// Refuse every character a URI may not hold as written (RFC 3986 §2), naming the first found.
fn check_characters(s: &str) -> Result<(), ParseError> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Err(ParseError::new("redirect_uri must not contain a backslash")),
            b if b.is_ascii_whitespace() || b.is_ascii_control() => {
                return Err(ParseError::new(
                    "redirect_uri must not contain whitespace or control characters",
                ));
            }
            b if !b.is_ascii() => {
                return Err(ParseError::new(
                    "redirect_uri must be ASCII; percent-encode other characters (RFC 3986 §2.1)",
                ));
            }
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err(ParseError::new(
                        "redirect_uri has a % that is not followed by two hex digits",
                    ));
                }
            }
            b if b.is_ascii_alphanumeric() || URI_PUNCTUATION.contains(&b) => {}
            other => {
                return Err(ParseError::new(format!(
                    "redirect_uri must not contain {:?} (RFC 3986 §2)",
                    char::from(other)
                )));
            }
        }
    }
    Ok(())
}

/// Where the parts of `scheme://host[:port]` lie in the raw string, before any parser reads it.
struct RawAuthority<'a> {
    scheme: &'a str,
    /// `:` and the digits after it; empty when the authority has no port.
    port: &'a str,
    /// Byte offset of `port` in the raw string.
    port_start: usize,
}

/// Split the raw string's authority and check that it is `host[:port]`: no userinfo (no `@`
/// before the path, not even an empty one), no percent-encoding in the host, a port of digits.
fn raw_authority(raw: &str) -> Result<RawAuthority<'_>, ParseError> {
    let malformed = || ParseError::new("redirect_uri authority must be host[:port]");
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| ParseError::new("redirect_uri must start with scheme://host"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(ParseError::new("redirect_uri must not have userinfo"));
    }
    if authority.contains('%') {
        return Err(ParseError::new(
            "redirect_uri host must not be percent-encoded",
        ));
    }
    let host_len = if authority.starts_with('[') {
        authority.find(']').ok_or_else(malformed)? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let port = &authority[host_len..];
    let digits_ok = port
        .strip_prefix(':')
        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
    if host_len == 0 || !(port.is_empty() || digits_ok) {
        return Err(malformed());
    }
    Ok(RawAuthority {
        scheme,
        port,
        port_start: scheme.len() + "://".len() + host_len,
    })
}

/// Check that the parser read the scheme and the port the way [`raw_authority`] split them, and
/// return the byte range of `:port` in the raw string.
fn check_parsed_authority(
    raw: &RawAuthority<'_>,
    url: &Url,
) -> Result<Option<(usize, usize)>, ParseError> {
    if !raw.scheme.eq_ignore_ascii_case(url.scheme()) {
        return Err(ParseError::new(
            "redirect_uri must start with scheme://host",
        ));
    }
    if raw.port.is_empty() {
        return Ok(None);
    }
    let digits = &raw.port[1..];
    let agrees = if digits.is_empty() {
        url.port().is_none()
    } else {
        digits
            .parse::<u16>()
            .is_ok_and(|n| url.port_or_known_default() == Some(n))
    };
    if !agrees {
        return Err(ParseError::new(
            "redirect_uri authority must be host[:port]",
        ));
    }
    Ok(Some((raw.port_start, raw.port_start + raw.port.len())))
}

impl FromStr for RedirectUri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new("redirect_uri is too long"));
        }
        check_characters(s)?;
        if s.contains('#') {
            return Err(ParseError::new(
                "redirect_uri must not have a fragment (RFC 6749 §3.1.2)",
            ));
        }
        let authority = raw_authority(s)?;
        let url = Url::parse(s).map_err(|e| ParseError::new(format!("redirect_uri: {e}")))?;
        if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
            return Err(ParseError::new(
                "redirect_uri must be an absolute URL with a host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::new("redirect_uri must not have userinfo"));
        }
        let port_span = check_parsed_authority(&authority, &url)?;
        Ok(Self {
            raw: s.to_owned(),
            url,
            port_span,
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

    fn refused(s: &str) -> String {
        match s.parse::<RedirectUri>() {
            Ok(u) => panic!("{s:?} was accepted as {u:?}"),
            Err(e) => e.0,
        }
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

    /// Issue #8 item 5: the reproduction. The `url` crate reads `\` as `/`, so this
    /// would redirect to `http://127.0.0.1:3000/@evil.example/cb`; it is refused outright.
    #[test]
    fn backslash_is_refused() {
        assert_eq!(
            refused("http://127.0.0.1:3000\\@evil.example/cb"),
            "redirect_uri must not contain a backslash"
        );
        assert_eq!(
            refused("https://app.example\\cb"),
            "redirect_uri must not contain a backslash"
        );
    }

    /// Issue #8 item 5: WHATWG parsers drop tabs and newlines and trim spaces, so the string
    /// compared would not be the one followed.
    #[test]
    fn whitespace_and_control_characters_are_refused() {
        for bad in [
            "http://127.0.0.1:3000/c\tb",
            "http://127.0.0.1:3000/c\nb",
            "http://127.0.0.1:3000/c\rb",
            "http://127.0.0.1:30\t00/cb",
            " http://127.0.0.1:3000/cb",
            "http://127.0.0.1:3000/cb ",
            "http://127.0.0.1:3000/c b",
            "http://127.0.0.1:3000/c\u{0}b",
            "http://127.0.0.1:3000/c\u{7f}b",
            "http://127.0.0.1:3000/c\u{b}b",
        ] {
            assert_eq!(
                refused(bad),
                "redirect_uri must not contain whitespace or control characters",
                "{bad:?}"
            );
        }
    }

    /// Issue #8 item 5: non-ASCII is percent-encoded or IDNA-mapped by parsers; a URI is ASCII.
    #[test]
    fn non_ascii_is_refused() {
        for bad in [
            "https://app.example/caf\u{e9}",
            "https://\u{430}pp.example/cb",
            "http://127.0.0.1:3000/cb\u{3000}",
        ] {
            assert_eq!(
                refused(bad),
                "redirect_uri must be ASCII; percent-encode other characters (RFC 3986 §2.1)",
                "{bad:?}"
            );
        }
    }

    /// Issue #8 item 5: characters outside RFC 3986 are refused, not silently escaped.
    #[test]
    fn characters_outside_rfc3986_are_refused() {
        assert_eq!(
            refused("https://app.example/c|b"),
            "redirect_uri must not contain '|' (RFC 3986 §2)"
        );
        assert_eq!(
            refused("https://app.example/c\"b"),
            "redirect_uri must not contain '\"' (RFC 3986 §2)"
        );
        assert_eq!(
            refused("https://app.example/c%zzb"),
            "redirect_uri has a % that is not followed by two hex digits"
        );
        assert_eq!(
            refused("https://app.example/cb%4"),
            "redirect_uri has a % that is not followed by two hex digits"
        );
    }

    /// Issue #8 item 5: userinfo, even empty, is refused: `@` may not appear in the authority.
    #[test]
    fn userinfo_is_refused_even_when_empty() {
        for bad in [
            "http://@127.0.0.1:3000/cb",
            "http://:@127.0.0.1:3000/cb",
            "http://user@127.0.0.1:3000/cb",
            "http://127.0.0.1:3000:x@evil.example/cb",
            "https://app.example:pw@evil.example/cb",
        ] {
            assert_eq!(
                refused(bad),
                "redirect_uri must not have userinfo",
                "{bad:?}"
            );
        }
    }

    /// Issue #8 item 5: a percent-encoded host could decode to something else; refused.
    #[test]
    fn percent_encoded_host_is_refused() {
        assert_eq!(
            refused("http://127.0.0.%31:3000/cb"),
            "redirect_uri host must not be percent-encoded"
        );
        assert_eq!(
            refused("http://127.0.0.1%3A3000/cb"),
            "redirect_uri host must not be percent-encoded"
        );
    }

    /// Issue #8 item 5: percent-encoding in the path is fine: the same string is compared and
    /// redirected to, and `%5C` stays `%5C`.
    #[test]
    fn percent_encoded_path_is_kept_verbatim() {
        let u = r("http://127.0.0.1:3000/%5C@evil.example/cb");
        assert_eq!(u.host(), "127.0.0.1");
        assert!(!u.matches(&r("http://127.0.0.1:3000/cb")));
        assert_eq!(
            u.with_parameters([("code", "c")]),
            "http://127.0.0.1:3000/%5C@evil.example/cb?code=c"
        );
    }

    /// Issue #8 item 5: the loopback port rule reads the port where the parser reads it.
    #[test]
    fn loopback_port_rule_uses_the_parsed_authority() {
        assert!(r("http://127.0.0.1:/cb").matches(&r("http://127.0.0.1:3000/cb")));
        assert!(!r("http://127.0.0.1:3000/cb").matches(&r("http://127.0.0.1:3000/cb/")));
        assert!(
            !r("http://127.0.0.1.evil.example:3000/cb").matches(&r("http://127.0.0.1:3000/cb"))
        );
        assert_eq!(
            refused("http://127.0.0.1:3000x/cb"),
            "redirect_uri authority must be host[:port]"
        );
        assert_eq!(
            refused("http://[::1]x:3000/cb"),
            "redirect_uri authority must be host[:port]"
        );
    }

    /// Issue #8 item 5: the response is the compared string with parameters appended, not a
    /// re-serialisation (which would, e.g., drop the default port or add a `/`).
    #[test]
    fn parameters_are_appended_to_the_raw_string() {
        assert_eq!(
            r("http://127.0.0.1:80/cb").with_parameters([("code", "a b"), ("state", "x&y")]),
            "http://127.0.0.1:80/cb?code=a+b&state=x%26y"
        );
        assert_eq!(
            r("https://app.example").with_parameters([("code", "c")]),
            "https://app.example?code=c"
        );
        assert_eq!(
            r("https://app.example/cb?tenant=1").with_parameters([("code", "c")]),
            "https://app.example/cb?tenant=1&code=c"
        );
        assert_eq!(
            r("https://app.example/cb?").with_parameters([("code", "c")]),
            "https://app.example/cb?code=c"
        );
    }
}
