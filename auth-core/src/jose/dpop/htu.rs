//! The `htu` rule (RFC 9449 §4.3 item 9): the proof's URI and the request's URI are compared
//! without query and fragment, after the syntax- and scheme-based normalisation of RFC 3986
//! §6.2.2–6.2.3 (scheme and host in lower case, the default port dropped, percent-encoding and
//! dot segments normalised).
//!
//! The url crate parses by the WHATWG URL rules, which repair what RFC 3986 forbids: a `\` in
//! an http(s) URI becomes `/`, tabs and line breaks are dropped, spaces and non-ASCII text are
//! percent-encoded. A proof whose `htu` needs such repair is refused before it is parsed, so the
//! rule compares only URIs that RFC 3986 reads the same way.

use url::Url;

/// True when `claimed` (the proof's `htu`) and `expected` (the URI the request was sent to) name
/// the same resource: same scheme, host, port (the scheme's default when absent) and path,
/// whatever their query and fragment. False when either is not an absolute `http`/`https` URI
/// with a host, or when `claimed` holds a character RFC 3986 §2 does not allow in a URI (see
/// `is_uri_text`).
pub fn htu_matches(claimed: &str, expected: &str) -> bool {
    if !is_uri_text(claimed) {
        return false;
    }
    // The usual case, a client that sends the URI it called: one parse, same answer.
    if claimed == expected {
        return normalised(expected).is_some();
    }
    match (normalised(claimed), normalised(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// True when every byte of `text` is one RFC 3986 §2 allows in a URI: unreserved
/// (`A-Z a-z 0-9 - . _ ~`), reserved (`: / ? # [ ] @ ! $ & ' ( ) * + , ; =`) or `%`. Refused
/// among others: `\`, space, control characters, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}` and
/// any non-ASCII byte.
fn is_uri_text(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b))
}

/// `(scheme, host, port, path)` of `uri` as the url crate normalises them.
fn normalised(uri: &str) -> Option<(String, String, u16, String)> {
    let url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    Some((
        url.scheme().to_owned(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?,
        url.path().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "https://as.example.com/token";

    #[test]
    fn query_and_fragment_are_ignored() {
        assert!(htu_matches("https://as.example.com/token?a=1#f", TOKEN));
        assert!(htu_matches(TOKEN, "https://as.example.com/token?x"));
    }

    #[test]
    fn scheme_and_host_case_and_default_port_are_normalised() {
        assert!(htu_matches("HTTPS://AS.Example.COM:443/token", TOKEN));
        assert!(htu_matches(
            "http://127.0.0.1:80/mcp",
            "http://127.0.0.1/mcp"
        ));
        assert!(htu_matches("https://as.example.com/a/../token", TOKEN));
    }

    #[test]
    fn another_path_port_host_or_scheme_does_not_match() {
        for other in [
            "https://as.example.com/token/",
            "https://as.example.com/Token",
            "https://as.example.com:8443/token",
            "https://evil.example.com/token",
            "http://as.example.com/token",
            "/token",
            "not a uri",
            "urn:example:token",
        ] {
            assert!(!htu_matches(other, TOKEN), "{other}");
        }
    }

    /// EXT-R2-02, EXT-R2-04: an `htu` the WHATWG parser would repair (a backslash for a slash, a tab or line
    /// break dropped, a space or non-ASCII text encoded) is refused, also when it is the exact
    /// text of the request URI.
    #[test]
    fn text_a_uri_cannot_hold_is_refused() {
        for odd in [
            "https://as.example.com\\token",
            "https:\\\\as.example.com/token",
            "https://as.example.com/to\tken",
            "https://as.example.com/to\nken",
            "https://as.example.com/token\r",
            " https://as.example.com/token",
            "https://as.example.com/token ",
            "https://as.example.com/to ken",
            "https://as.example.com/tok\u{0}en",
            "https://as.example.com/tok\u{7f}en",
            "https://as.exämple.com/token",
            "https://as.example.com/tökén",
            "https://as.example.com/{token}",
            "https://as.example.com/token|x",
            "https://as.example.com/\"token\"",
            "https://as.example.com/<token>",
            "https://as.example.com/`token`",
            "https://as.example.com/^token",
        ] {
            assert!(!htu_matches(odd, TOKEN), "{odd:?}");
            assert!(!htu_matches(odd, odd), "{odd:?} equal text");
        }
        // What RFC 3986 allows still matches: percent-encoding, sub-delims, brackets in a host.
        assert!(htu_matches(
            "https://as.example.com/token?a=%20&b=(x)!*$';,+",
            TOKEN
        ));
        assert!(htu_matches(
            "http://[::1]:8080/token",
            "http://[::1]:8080/token"
        ));
    }

    /// Equal text matches only when it is a URI the rule accepts at all.
    #[test]
    fn equal_text_still_needs_an_absolute_http_uri() {
        assert!(htu_matches(TOKEN, TOKEN));
        for odd in [
            "/token",
            "not a uri",
            "urn:example:token",
            "ftp://as.example.com/t",
        ] {
            assert!(!htu_matches(odd, odd), "{odd}");
        }
    }
}
