//! The HTTP pieces both legs share: URL rules and form posts to a token endpoint (discovery
//! is the shared one of `mcp-auth-ext-client-credentials`).

use std::time::Duration;

use url::Url;

use super::XaaClientError;

/// Largest response body read, bytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The default HTTP client: no redirects, connect timeout 5 s, total timeout 30 s (an
/// [`mcp_auth_outbound::OutboundClient`] for destinations the caller configured: any address,
/// plain `http` left to [`checked_url`], the environment's proxy).
///
/// # Errors
/// [`XaaClientError::Request`] when the client cannot be built.
pub fn default_http_client() -> Result<reqwest::Client, XaaClientError> {
    mcp_auth_outbound::OutboundClient::builder()
        .timeouts(Duration::from_secs(5), Duration::from_secs(30))
        .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
        .allow_http()
        .env_proxy()
        .build()
        .map(|c| c.http().clone())
        .map_err(|e| XaaClientError::request(e.to_string()))
}

/// `url` parsed, absolute, without fragment, and `https` — or `http` on a loopback host
/// ([`mcp_auth_outbound::secure_url`]).
///
/// # Errors
/// [`XaaClientError::InvalidUrl`].
pub(crate) fn checked_url(url: &str) -> Result<Url, XaaClientError> {
    mcp_auth_outbound::secure_url(url).ok_or_else(|| XaaClientError::invalid_url(url.to_owned()))
}

async fn read_body(res: reqwest::Response) -> Result<Vec<u8>, mcp_auth_outbound::OutboundError> {
    mcp_auth_outbound::read_body_limited(res, MAX_BODY_BYTES).await
}

/// `POST` `form` to the token endpoint `url` (with `authorization` when given) and read the
/// JSON answer: the object on 200, [`XaaClientError::Refused`] for an RFC 6749 §5.2 error.
pub(crate) async fn post_token_form(
    http: &reqwest::Client,
    url: &str,
    endpoint: &'static str,
    form: &[(&'static str, String)],
    authorization: Option<String>,
) -> Result<serde_json::Map<String, serde_json::Value>, XaaClientError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let mut req = http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);
    if let Some(a) = authorization {
        let mut value = reqwest::header::HeaderValue::from_str(&a)
            .map_err(|_| XaaClientError::request("client credentials are not a header value"))?;
        value.set_sensitive(true);
        req = req.header(reqwest::header::AUTHORIZATION, value);
    }
    let res = req
        .send()
        .await
        .map_err(|e| XaaClientError::request(format!("{endpoint}: {e}")))?;
    let status = res.status();
    let body = read_body(res)
        .await
        .map_err(|e| XaaClientError::request(format!("{endpoint}: {e}")))?;
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&body).map_err(|_| {
            XaaClientError::request(format!("{endpoint}: status {status}, not a JSON object"))
        })?;
    if status == reqwest::StatusCode::OK {
        return Ok(json);
    }
    match json.get("error").and_then(|e| e.as_str()) {
        Some(error) => Err(XaaClientError::Refused {
            endpoint,
            error: error.to_owned(),
            description: json
                .get("error_description")
                .and_then(|d| d.as_str())
                .map(str::to_owned),
        }),
        None => Err(XaaClientError::request(format!(
            "{endpoint}: status {status} without an OAuth error"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert!(checked_url("http://127.0.0.1:8080/token").is_ok());
        assert!(checked_url("https://idp.example.com/token").is_ok());
        assert!(checked_url("http://idp.example.com/token").is_err());
        assert!(checked_url("https://idp.example.com/token#x").is_err());
    }
}
