//! [`get_json`]: one bounded `GET` of a JSON document (a JWK Set, RFC 8414 or OpenID Connect
//! metadata), shared by every fetcher of keys and metadata in the workspace.

use crate::error::OutboundError;

/// `GET url` with `http` and `Accept: application/json`: the body of a `200` response with a
/// JSON content type (`application/json` or `application/<x>+json`, parameters allowed), read
/// up to `max_body_bytes` bytes and abandoned beyond. Redirects, proxies and timeouts are the
/// client's configuration: give it a client that does not follow redirects (e.g.
/// [`crate::guarded_http_client`], or use [`crate::OutboundClient::get_json`]).
///
/// # Errors
/// [`OutboundError::Redirect`] for a 3xx, [`OutboundError::Status`] for another status than
/// 200, [`OutboundError::ContentType`], [`OutboundError::BodyTooLarge`], and the resolver's and
/// transport's errors ([`OutboundError::from_reqwest`]).
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    max_body_bytes: usize,
) -> Result<Vec<u8>, OutboundError> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(OutboundError::from_reqwest)?;
    check_json_response(&response)?;
    read_body_limited(response, max_body_bytes).await
}

/// A `200` answer with a JSON content type; a 3xx is [`OutboundError::Redirect`] (never
/// followed), another status [`OutboundError::Status`], another type
/// [`OutboundError::ContentType`].
pub(crate) fn check_json_response(response: &reqwest::Response) -> Result<(), OutboundError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(OutboundError::Redirect(status.as_u16()));
    }
    if status != reqwest::StatusCode::OK {
        return Err(OutboundError::Status(status.as_u16()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !is_json_media_type(&content_type) {
        return Err(OutboundError::ContentType(content_type));
    }
    Ok(())
}

/// The body of `response`, up to `max_body_bytes` bytes (checked on `Content-Length` and
/// while streaming) and abandoned beyond.
///
/// # Errors
/// [`OutboundError::BodyTooLarge`], or the transport's error while reading.
pub async fn read_body_limited(
    mut response: reqwest::Response,
    max_body_bytes: usize,
) -> Result<Vec<u8>, OutboundError> {
    if response
        .content_length()
        .is_some_and(|len| len > max_body_bytes as u64)
    {
        return Err(OutboundError::BodyTooLarge(max_body_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(OutboundError::from_reqwest)?
    {
        if body.len() + chunk.len() > max_body_bytes {
            return Err(OutboundError::BodyTooLarge(max_body_bytes));
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
    pub async fn get_json(&self, url: &str) -> Result<Vec<u8>, OutboundError> {
        get_json(&self.http, url, self.max_body_bytes).await
    }
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
