//! HTML responses with the security headers every page carries (spec AS-23, SEC-08):
//! no framing, no caching, no referrer, a restrictive content security policy.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::RedirectUri;
use url::Host;

/// `Content-Security-Policy` of every page: nothing loads but the server's own stylesheet and
/// images ([`crate::web::ui`]), no script at all, forms post only to the server itself, and no
/// framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Longest request id shown on a page, characters.
const MAX_REQUEST_ID_CHARS: usize = 128;

tokio::task_local! {
    static REQUEST_ID: Option<String>;
}

/// Middleware of the pages: makes the request's id (the
/// [`RequestId`](crate::http::request_id::RequestId) the request id layer put into its
/// extensions, else its `X-Request-Id` header) available to [`current_request_id`] while the
/// page is made, so error pages can show it. Only ids of at most 128 letters, digits, `-`, `_`,
/// `.` and `:` are shown.
pub async fn with_request_id(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = req
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.as_str())
        .or_else(|| {
            req.headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
        })
        .filter(|v| is_showable_request_id(v))
        .map(str::to_owned);
    REQUEST_ID.scope(id, next.run(req)).await
}

/// The id of the request whose page is being made, when [`with_request_id`] found one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok().flatten()
}

fn is_showable_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// An HTML page with the security headers and [`CONTENT_SECURITY_POLICY`].
pub fn html(status: StatusCode, body: String) -> Response {
    with_security_headers(
        (status, body).into_response(),
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    )
}

/// An HTML page whose form may be answered by a redirect to `redirect_uri` (the sign-in and
/// consent pages: their POST answers `303` to the client). Its policy is
/// [`form_redirect_policy`], because browsers that enforce `form-action` on the redirects after
/// a form submission (Chrome) would otherwise block the way back to the client.
pub fn html_with_form_redirect(
    status: StatusCode,
    body: String,
    redirect_uri: &RedirectUri,
) -> Response {
    let policy = HeaderValue::from_str(&form_redirect_policy(redirect_uri))
        .unwrap_or_else(|_| HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    with_security_headers((status, body).into_response(), policy)
}

/// [`CONTENT_SECURITY_POLICY`] with the origin of `redirect_uri` added to `form-action`, e.g.
/// `form-action 'self' http://127.0.0.1:3000` (CSP Level 3 §6.3.1 `form-action`). Only an
/// `http`/`https` origin whose host is an IP address or a name of letters, digits, `-` and `.`
/// is added; any other origin is left out (fail closed: the browser blocks the redirect rather
/// than the policy being widened).
pub fn form_redirect_policy(redirect_uri: &RedirectUri) -> String {
    match csp_origin(redirect_uri) {
        Some(origin) => CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        ),
        None => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

/// [`html_with_form_redirect`] whose `form-action` also allows `origins` (the upstream
/// identity providers' authorization origins on the sign-in page: browsers apply `form-action`
/// to the redirect that follows a form). An origin that cannot be a CSP source is left out.
pub fn html_with_form_targets(
    status: StatusCode,
    body: String,
    redirect_uri: &RedirectUri,
    origins: &[String],
) -> Response {
    let mut policy = form_redirect_policy(redirect_uri);
    for origin in origins.iter().filter(|o| is_csp_origin(o)) {
        policy = policy.replacen(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
            1,
        );
    }
    let policy = HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    with_security_headers((status, body).into_response(), policy)
}

/// `http(s)://` then letters, digits, `-`, `.`, `:`, `[`, `]` only.
fn is_csp_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'))
    })
}

/// `scheme://host[:port]` of `redirect_uri` as a CSP source expression, when it can be one.
fn csp_origin(redirect_uri: &RedirectUri) -> Option<String> {
    let url = redirect_uri.url();
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = match url.host()? {
        Host::Domain(d)
            if !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            d.to_ascii_lowercase()
        }
        Host::Domain(_) => return None,
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    };
    Some(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

fn with_security_headers(mut res: Response, policy: HeaderValue) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, policy);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A redirect: `302 Found` after a GET, `303 See Other` after a form POST.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut res = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(uri: &str) -> String {
        form_redirect_policy(&uri.parse().unwrap())
    }

    /// Issue #8 item 6: the form of a page may post to the server and be redirected to the
    /// client's origin, nowhere else.
    #[test]
    fn form_action_allows_self_and_the_redirect_origin() {
        assert_eq!(
            policy("http://127.0.0.1:3000/callback?x=1"),
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
             form-action 'self' http://127.0.0.1:3000; frame-ancestors 'none'"
        );
        assert_eq!(
            policy("https://App.Example.com/cb"),
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
             form-action 'self' https://app.example.com; frame-ancestors 'none'"
        );
        assert_eq!(
            policy("http://[::1]:8080/cb"),
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
             form-action 'self' http://[::1]:8080; frame-ancestors 'none'"
        );
    }

    /// Issue #8 item 6: an origin that cannot be written as a CSP source is left out rather
    /// than widening the policy; a non-web scheme is never added.
    #[test]
    fn unusual_redirect_origin_is_left_out_of_form_action() {
        for uri in [
            "https://a;b.example/cb",
            "https://a'b.example/cb",
            "https://a*.example/cb",
        ] {
            assert_eq!(policy(uri), CONTENT_SECURITY_POLICY, "{uri}");
        }
        assert_eq!(policy("myapp://cb.example/x"), CONTENT_SECURITY_POLICY);
    }
}
