//! [`get_json`]: one bounded `GET` of a JSON document (a JWK Set, RFC 8414 or OpenID Connect
//! metadata), shared by every fetcher of keys and metadata in the workspace.

/// `GET url` with `http` and `Accept: application/json`: the body of a `200` response with a
/// JSON content type (`application/json` or `application/<x>+json`, parameters allowed), read
/// up to `max_body_bytes` bytes and abandoned beyond. Redirects, proxies and timeouts are the
/// client's configuration: give it a client that does not follow redirects (e.g.
/// [`crate::guarded_http_client`], or use [`crate::OutboundClient::get_json`]).
///
/// # Errors
/// A reason for the logs: the transport error, another status, another content type, a body
/// over the limit.
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    max_body_bytes: usize,
) -> Result<Vec<u8>, String> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("request failed: {}", with_sources(&e)))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_json_media_type(content_type) {
        return Err(format!("content type {content_type:?} is not JSON"));
    }
    read_body_limited(response, max_body_bytes).await
}

/// The body of `response`, up to `max_body_bytes` bytes (checked on `Content-Length` and
/// while streaming) and abandoned beyond.
///
/// # Errors
/// `body too large`, or why reading failed.
pub async fn read_body_limited(
    mut response: reqwest::Response,
    max_body_bytes: usize,
) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|len| len > max_body_bytes as u64)
    {
        return Err("body too large".to_owned());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading body failed: {e}"))?
    {
        if body.len() + chunk.len() > max_body_bytes {
            return Err("body too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl crate::OutboundClient {
    /// [`get_json`] with this client and its body limit.
    ///
    /// # Errors
    /// As [`get_json`].
    pub async fn get_json(&self, url: &str) -> Result<Vec<u8>, String> {
        get_json(&self.http, url, self.max_body_bytes).await
    }
}

/// `e` and its sources, `: `-separated, so a log says why (e.g. which special-use address a
/// name resolved to), not only that the request failed.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cur = inner.source();
    }
    text
}

/// `application/json` or `application/<name>+json` (a non-empty name without `/`), parameters
/// allowed, any case (CIMD spec §3.3; RFC 6839 structured syntax suffixes).
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .and_then(|sub| sub.strip_suffix("+json"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/jwk-set+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in ["text/html", "application/jsonx", "json", "", "text/json"] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    /// Spec §3.3: JSON media types, with parameters, are accepted; others are not.
    #[test]
    fn only_json_media_types_are_accepted() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/oauth-client-metadata+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/html",
            "text/json",
            "application/+json",
            "application/jsonp",
            "application/json-seq",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
