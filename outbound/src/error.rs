//! [`OutboundError`]: why an outbound fetch failed.

use std::net::IpAddr;

use crate::address::SpecialUseRange;

/// Why an outbound request failed. Callers map it to their own error (a CIMD resolver keeps the
/// variant for its logs and shows one public description); the text never holds a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// The host resolves to a special-use address ([`crate::special_use_range`]) the client's
    /// [`crate::AddressPolicy`] refuses; nothing was connected to.
    #[error("host {host} resolves to {addr}, which is in {range}")]
    BlockedAddress {
        /// The URL host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The special-use range it is in.
        range: SpecialUseRange,
    },
    /// DNS resolution failed or gave no address.
    #[error("could not resolve {host}: {reason}")]
    Dns {
        /// The URL host.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// A 3xx answer; redirects are never followed (RFC 9700 §4.11).
    #[error("redirected (HTTP {0})")]
    Redirect(u16),
    /// A status other than the one expected (200, or 304 to a revalidation).
    #[error("HTTP {0}")]
    Status(u16),
    /// The `Content-Type` is not `application/json` or `application/…+json`.
    #[error("content type {0:?} is not JSON")]
    ContentType(String),
    /// The body is longer than the client's limit, in bytes.
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The connect or total timeout passed.
    #[error("timed out")]
    Timeout,
    /// Connection, TLS or HTTP failure (the reqwest error and its sources).
    #[error("request failed: {0}")]
    Transport(String),
}

/// For the JOSE key caches' fetchers ([`mcp_auth_core::jose::JwksFetcher`]): the text, for logs.
#[cfg(feature = "jose")]
impl From<OutboundError> for mcp_auth_core::jose::FetchError {
    fn from(e: OutboundError) -> Self {
        Self(e.to_string())
    }
}

impl OutboundError {
    /// The screening resolver's refusal if it is in `err`'s source chain, else a timeout, else a
    /// transport failure naming every source.
    pub fn from_reqwest(err: reqwest::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(ours) = e.downcast_ref::<OutboundError>() {
                return ours.clone();
            }
            source = e.source();
        }
        if err.is_timeout() {
            return Self::Timeout;
        }
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            message.push_str(": ");
            message.push_str(&e.to_string());
            source = e.source();
        }
        Self::Transport(message)
    }
}
