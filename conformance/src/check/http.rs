//! A recording HTTP client for the checks: every request and its response are kept as an
//! [`Exchange`], so a failed check can show exactly what was sent and what came back. Redirects
//! are never followed (the checks look at each `Location`). Secrets are redacted from every
//! summary: the `Authorization` and `Cookie` headers, form and query values of secret
//! parameters (`client_secret`, `code`, `code_verifier`, `refresh_token`, `password`,
//! `assertion`, `client_assertion`, `token`, `access_token`), and token members of JSON bodies.

use std::time::Duration;

use serde_json::Value;

use super::HttpSetupError;

/// Parameters whose values are secrets; their values never appear in a summary.
const SECRET_PARAMS: &[&str] = &[
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "password",
    "assertion",
    "client_assertion",
    "token",
    "access_token",
    "id_token",
    "subject_token",
    "csrf_token",
];

/// The longest a request of the checker may take (connecting included).
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest response body kept in a summary, characters.
const SUMMARY_BODY_CHARS: usize = 600;

/// One request and its response, read to the end. A transport failure (connection refused,
/// TLS, timeout) is an exchange with [`Exchange::status`] 0 and the error as the body.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request URL.
    pub url: String,
    /// The request headers that matter to a reader (`Authorization`, `Content-Type`, `Cookie`),
    /// as sent.
    pub request_headers: Vec<(String, String)>,
    /// The request body, as sent.
    pub request_body: Option<String>,
    /// The status code; 0 for a transport failure.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The response body as UTF-8 (lossy), or the transport error.
    pub body: String,
}

impl Exchange {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The value of header `name` (first one), if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name`.
    pub fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The `error` member of a JSON error body (RFC 6749 §5.2).
    pub fn error(&self) -> Option<String> {
        self.json()?
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The `Location` of a 3xx response, resolved against the request URL.
    pub fn location(&self) -> Option<url::Url> {
        if !(300..400).contains(&self.status) {
            return None;
        }
        let loc = self.header("location")?;
        url::Url::parse(&self.url).ok()?.join(loc).ok()
    }

    /// Whether `Cache-Control` holds the `no-store` directive.
    pub fn no_store(&self) -> bool {
        self.headers_all("cache-control").iter().any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
        })
    }

    /// A few lines for the report, secrets redacted: the request line, its headers and body,
    /// then `→ status`, the response headers a check looks at, and the start of the body.
    pub fn summary(&self) -> String {
        let mut out = format!("{} {}", self.method, redact_url(&self.url));
        for (name, value) in &self.request_headers {
            out.push_str(&format!("\n{name}: {}", redact_header(name, value)));
        }
        if let Some(body) = &self.request_body {
            out.push_str(&format!("\n\n{}", redact_body(body)));
        }
        if self.status == 0 {
            out.push_str(&format!("\n→ no response: {}", self.body));
            return out;
        }
        out.push_str(&format!("\n→ {}", self.status));
        for name in [
            "location",
            "www-authenticate",
            "cache-control",
            "content-type",
        ] {
            for v in self.headers_all(name) {
                let v = if name == "location" {
                    redact_url(&v)
                } else {
                    v
                };
                out.push_str(&format!("\n{name}: {v}"));
            }
        }
        let body = redact_body(&self.body);
        if !body.is_empty() {
            let cut: String = body.chars().take(SUMMARY_BODY_CHARS).collect();
            let more = if cut.len() < body.len() { " …" } else { "" };
            out.push_str(&format!("\n\n{}{more}", cut.trim_end()));
        }
        out
    }
}

fn redact_header(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization") {
        let scheme = value.split(' ').next().unwrap_or_default();
        format!("{scheme} [redacted]")
    } else if name.eq_ignore_ascii_case("cookie") {
        "[redacted]".into()
    } else {
        value.to_owned()
    }
}

/// `s` with the values of secret form parameters replaced by `[redacted]`.
fn redact_form(s: &str) -> String {
    s.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.contains(&k) => format!("{k}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `url` with the values of secret query parameters redacted.
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}", redact_form(query)),
        None => url.to_owned(),
    }
}

/// A body with secrets redacted: JSON token members, or secret form values.
pub fn redact_body(body: &str) -> String {
    if let Ok(mut v) = serde_json::from_str::<Value>(body) {
        redact_json(&mut v);
        return v.to_string();
    }
    if body.contains('=') && !body.contains(['<', ' ', '\n']) {
        return redact_form(body);
    }
    redact_text(body)
}

/// Free text (an HTML page, a log line) with the value after every `name=` of a secret
/// parameter replaced, up to the next `&`, quote, `<`, `#` or white space; `name` must start
/// the text or follow `?`, `&`, `;` (as in `&amp;`) or white space.
fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let bytes = text.as_bytes();
    'scan: while i < text.len() {
        let boundary = i == 0
            || matches!(
                bytes[i - 1],
                b'?' | b'&' | b';' | b' ' | b'\n' | b'"' | b'>' | b','
            );
        if boundary {
            for name in SECRET_PARAMS {
                let key = format!("{name}=");
                if text[i..].starts_with(&key) {
                    out.push_str(&key);
                    out.push_str("[redacted]");
                    i += key.len();
                    while i < text.len()
                        && !matches!(bytes[i], b'&' | b'"' | b'\'' | b'<' | b'#')
                        && !bytes[i].is_ascii_whitespace()
                    {
                        i += 1;
                    }
                    continue 'scan;
                }
            }
        }
        let ch = text[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn redact_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if SECRET_PARAMS.contains(&k.as_str()) && val.is_string() {
                    *val = Value::String("[redacted]".into());
                } else {
                    redact_json(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// The recording client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client that follows no redirects, times out after 15 s, and (with
    /// `extra_root_pem`) also trusts that CA certificate: mcp-auth's one outbound client
    /// ([`mcp_auth_outbound::OutboundClient`]), allowed any address and plain `http`, since
    /// the checker talks to the servers its operator names (a private or loopback address
    /// included), as any configured destination.
    ///
    /// # Errors
    /// [`HttpSetupError`] when the TLS backend or the extra certificate cannot be loaded.
    pub fn new(extra_root_pem: Option<&[u8]>) -> Result<Self, HttpSetupError> {
        let mut b = mcp_auth_outbound::OutboundClient::builder()
            .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
            .allow_http()
            .env_proxy()
            .timeouts(CHECK_TIMEOUT, CHECK_TIMEOUT)
            .user_agent(concat!("mcp-auth-conformance/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(HttpSetupError::Certificate)?;
            b = b.add_root_certificate(cert);
        }
        Ok(Self {
            client: b.build().map_err(HttpSetupError::Client)?.http().clone(),
        })
    }

    /// Send a request with `headers` and an optional `body`, and read the whole response.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Exchange {
        let mut ex = Exchange {
            method: method.to_owned(),
            url: url.to_owned(),
            request_headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            request_body: body.clone(),
            status: 0,
            headers: reqwest::header::HeaderMap::new(),
            body: String::new(),
        };
        let m = match reqwest::Method::from_bytes(method.as_bytes()) {
            Ok(m) => m,
            Err(e) => {
                ex.body = e.to_string();
                return ex;
            }
        };
        let mut req = self.client.request(m, url);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        match req.send().await {
            Ok(res) => {
                ex.status = res.status().as_u16();
                ex.headers = res.headers().clone();
                ex.body = match res.bytes().await {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => format!("(body unreadable: {e})"),
                };
            }
            Err(e) => ex.body = error_chain(&e),
        }
        ex
    }

    /// `GET url` with `headers`.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Exchange {
        self.send("GET", url, headers, None).await
    }

    /// `POST url` with the form `params` (`application/x-www-form-urlencoded`) and an optional
    /// `Authorization` header.
    pub async fn post_form(
        &self,
        url: &str,
        params: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Exchange {
        let body = form(params);
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(a) = authorization {
            headers.push(("authorization", a));
        }
        self.send("POST", url, &headers, Some(body)).await
    }

    /// `POST url` with a JSON body and extra `headers`.
    pub async fn post_json(&self, url: &str, body: &Value, headers: &[(&str, &str)]) -> Exchange {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send("POST", url, &all, Some(body.to_string())).await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

/// `params` as an `application/x-www-form-urlencoded` string.
pub fn form(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The `Authorization` header of `client_secret_basic` (RFC 6749 §2.3.1: id and secret
/// form-encoded, then Base64).
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_never_carry_secrets() {
        let ex = Exchange {
            method: "POST".into(),
            url: "http://127.0.0.1:1/token?code=abc".into(),
            request_headers: vec![
                ("authorization".into(), basic("c", "s3cr3t")),
                ("cookie".into(), "sid=s3cr3t".into()),
            ],
            request_body: Some(form(&[
                ("grant_type", "authorization_code"),
                ("code", "s3cr3t"),
                ("code_verifier", "s3cr3t"),
                ("client_secret", "s3cr3t"),
            ])),
            status: 200,
            headers: reqwest::header::HeaderMap::new(),
            body: r#"{"access_token":"s3cr3t","refresh_token":"s3cr3t","token_type":"Bearer"}"#
                .into(),
        };
        let s = ex.summary();
        assert!(!s.contains("s3cr3t"), "{s}");
        assert!(!s.contains("abc"), "{s}");
        assert!(s.contains("grant_type=authorization_code"), "{s}");
        assert!(s.contains("Basic [redacted]"), "{s}");
        assert!(s.contains("\"token_type\":\"Bearer\""), "{s}");
    }

    #[test]
    fn html_bodies_are_redacted_too() {
        let html = "Redirecting to http://127.0.0.1:1/cb?code=s3cr3t&amp;state=xyz&amp;iss=x.";
        let r = redact_body(html);
        assert_eq!(
            r,
            "Redirecting to http://127.0.0.1:1/cb?code=[redacted]&amp;state=xyz&amp;iss=x."
        );
        assert_eq!(
            redact_body("<p>access_token=abc def</p>"),
            "<p>access_token=[redacted] def</p>"
        );
    }
}
