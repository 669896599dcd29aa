//! [`OutboundClient::get_json_conditional`]: one bounded, optionally conditional `GET` of a JSON
//! document, with every failure typed (the CIMD fetch, spec §3.3).

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};

use crate::client_builder::OutboundClient;
use crate::error::OutboundError;
use crate::json_get::is_json_media_type;

/// What a conditional fetch produced.
#[derive(Debug)]
pub enum Fetched {
    /// 200 with a JSON body of at most the size limit.
    Body {
        /// The body.
        body: Vec<u8>,
        /// The response headers (caching: `Cache-Control`, `Expires`, `ETag`, `Date`).
        headers: HeaderMap,
    },
    /// 304 to a conditional request.
    NotModified {
        /// The response headers.
        headers: HeaderMap,
    },
}

impl OutboundClient {
    /// `GET url` with `Accept: application/json` (and `If-None-Match: etag` when revalidating):
    /// the body of a 200 with a JSON content type, up to the client's body limit (checked on
    /// `Content-Length` and while streaming), or 304 when `etag` was sent; within the total
    /// timeout.
    ///
    /// # Errors
    /// [`OutboundError::Redirect`] for a 3xx, [`OutboundError::Status`] for another status,
    /// [`OutboundError::ContentType`], [`OutboundError::BodyTooLarge`],
    /// [`OutboundError::Timeout`], and the resolver's and transport's errors.
    pub async fn get_json_conditional(
        &self,
        url: &Url,
        etag: Option<&str>,
    ) -> Result<Fetched, OutboundError> {
        match tokio::time::timeout(self.total_timeout, self.fetch_inner(url, etag)).await {
            Ok(result) => result,
            Err(_) => Err(OutboundError::Timeout),
        }
    }

    async fn fetch_inner(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, OutboundError> {
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(OutboundError::from_reqwest)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified {
                headers: response.headers().clone(),
            });
        }
        if status.is_redirection() {
            return Err(OutboundError::Redirect(status.as_u16()));
        }
        if status != StatusCode::OK {
            return Err(OutboundError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_json_media_type(&content_type) {
            return Err(OutboundError::ContentType(content_type));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(OutboundError::BodyTooLarge(self.max_body_bytes));
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(OutboundError::from_reqwest)?
        {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(OutboundError::BodyTooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { body, headers })
    }
}
