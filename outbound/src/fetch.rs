//! [`OutboundClient::get_json_conditional`]: one bounded, optionally conditional `GET` of a JSON
//! document, with every failure typed (the CIMD fetch, spec §3.3).

use reqwest::header::{ACCEPT, HeaderMap, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};

use crate::client_builder::OutboundClient;
use crate::error::OutboundError;
use crate::json_get::{check_json_response, read_body_limited};

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
        let response = request.send().await.map_err(OutboundError::from_reqwest)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified {
                headers: response.headers().clone(),
            });
        }
        check_json_response(&response)?;
        let headers = response.headers().clone();
        let body = read_body_limited(response, self.max_body_bytes).await?;
        Ok(Fetched::Body { body, headers })
    }
}
