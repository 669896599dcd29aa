//! [`DnsLookup`]: how the screening resolver looks names up; [`SystemLookup`] by default,
//! fakes in tests (tests never connect anywhere but loopback).

use std::net::IpAddr;

use async_trait::async_trait;

/// Looks up the addresses of a host name. The default is [`SystemLookup`]; tests inject fakes.
#[async_trait]
pub trait DnsLookup: Send + Sync {
    /// Every address of `host` (a DNS name, never an IP literal).
    ///
    /// # Errors
    /// The lookup failed; the request fails with [`crate::OutboundError::Dns`].
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

#[async_trait]
impl DnsLookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}
