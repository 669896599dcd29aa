//! The SSRF-safe fetch (spec §3.3): one shared reqwest client with a screening DNS resolver.
//!
//! The client follows no redirects, uses no proxy, sends no cookies, has connect and total
//! timeouts, and resolves names only through [`GuardedResolver`]: it looks the name up once,
//! refuses the whole answer if any address is special-use, and hands exactly the checked
//! addresses to the connector, so the address checked is the address connected to (no second
//! lookup, no DNS-rebinding window). IP-literal hosts never reach a resolver; the URL rules
//! screen them before the fetch.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};

use crate::address::AddressPolicy;
use crate::error::CimdError;

/// Looks up the addresses of a host name. The default is [`SystemLookup`]; tests inject fakes.
#[async_trait]
pub trait DnsLookup: Send + Sync {
    /// Every address of `host` (a DNS name, never an IP literal).
    ///
    /// # Errors
    /// The lookup failed; the fetch fails with [`CimdError::Dns`].
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

/// The reqwest resolver that screens every address before the connector sees it.
pub(crate) struct GuardedResolver {
    lookup: Arc<dyn DnsLookup>,
    policy: AddressPolicy,
    /// Tests: every address handed to the connector.
    #[cfg(test)]
    pub(crate) handed_out: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
}

impl GuardedResolver {
    pub(crate) fn new(lookup: Arc<dyn DnsLookup>, policy: AddressPolicy) -> Self {
        Self {
            lookup,
            policy,
            #[cfg(test)]
            handed_out: Arc::default(),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let policy = self.policy;
        #[cfg(test)]
        let handed_out = self.handed_out.clone();
        Box::pin(async move {
            let addrs = lookup.lookup(&host).await.map_err(|e| CimdError::Dns {
                host: host.clone(),
                reason: e.to_string(),
            })?;
            if addrs.is_empty() {
                return Err(CimdError::Dns {
                    host,
                    reason: "no addresses".into(),
                }
                .into());
            }
            for &addr in &addrs {
                policy
                    .check(addr)
                    .map_err(|range| CimdError::BlockedAddress {
                        host: host.clone(),
                        addr,
                        range,
                    })?;
            }
            let socket_addrs: Vec<SocketAddr> =
                addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            #[cfg(test)]
            {
                // Safety net: tests never connect anywhere but loopback.
                assert!(
                    socket_addrs.iter().all(|a| a.ip().is_loopback()),
                    "test tried to connect to {socket_addrs:?}"
                );
                handed_out
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(socket_addrs.iter().copied());
            }
            let iter: reqwest::dns::Addrs = Box::new(socket_addrs.into_iter());
            Ok(iter)
        })
    }
}

/// A reqwest client for `GET`s of other untrusted `https` URLs (e.g. a trusted identity
/// provider's JWK Set) under the same SSRF rules as metadata documents (spec §3.3): no
/// redirects, no proxy, `https` only, the given connect and total timeouts, and the screening
/// DNS resolver, which refuses a name if any of its addresses is special-use
/// ([`crate::special_use_range`]: loopback, private, link-local, …) and connects only to the
/// addresses it checked.
///
/// It does not bound body sizes (read bodies in chunks and stop at a limit), and IP-literal hosts
/// never reach its resolver: callers refuse special-use IP literals first.
///
/// # Errors
/// The reqwest error if the client cannot be built (e.g. no TLS backend).
pub fn guarded_http_client(
    connect_timeout: Duration,
    total_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    Fetcher::new(FetchSettings {
        connect_timeout,
        total_timeout,
        max_body_bytes: 65_536,
        addresses: AddressPolicy::default(),
        lookup: Arc::new(SystemLookup),
        extra_roots: Vec::new(),
    })
    .map(|f| f.http)
}

/// Settings of the fetch client.
#[derive(Clone)]
pub(crate) struct FetchSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) total_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) addresses: AddressPolicy,
    pub(crate) lookup: Arc<dyn DnsLookup>,
    pub(crate) extra_roots: Vec<reqwest::Certificate>,
}

/// What a fetch produced.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// 200 with a JSON body of at most the size limit.
    Body { body: Vec<u8>, headers: HeaderMap },
    /// 304 to a conditional request.
    NotModified { headers: HeaderMap },
}

/// The one shared fetch client.
pub(crate) struct Fetcher {
    http: reqwest::Client,
    total_timeout: Duration,
    max_body_bytes: usize,
    #[cfg(test)]
    pub(crate) resolver: Arc<GuardedResolver>,
}

impl Fetcher {
    pub(crate) fn new(settings: FetchSettings) -> Result<Self, reqwest::Error> {
        let resolver = Arc::new(GuardedResolver::new(
            settings.lookup.clone(),
            settings.addresses,
        ));
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(true)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            .pool_max_idle_per_host(0)
            .user_agent(concat!(
                "mcp-auth-cimd-resolver/",
                env!("CARGO_PKG_VERSION")
            ))
            .dns_resolver(resolver.clone());
        for cert in settings.extra_roots {
            builder = builder.add_root_certificate(cert);
        }
        Ok(Self {
            http: builder.build()?,
            total_timeout: settings.total_timeout,
            max_body_bytes: settings.max_body_bytes,
            #[cfg(test)]
            resolver,
        })
    }

    /// The shared client, for other fetches of untrusted URLs with DNS-name hosts.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET url` with `Accept: application/json` (and `If-None-Match` when revalidating).
    pub(crate) async fn fetch(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, CimdError> {
        match tokio::time::timeout(self.total_timeout, self.fetch_inner(url, etag)).await {
            Ok(result) => result,
            Err(_) => Err(CimdError::Timeout),
        }
    }

    async fn fetch_inner(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, CimdError> {
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified {
                headers: response.headers().clone(),
            });
        }
        if status.is_redirection() {
            return Err(CimdError::Redirect(status.as_u16()));
        }
        if status != StatusCode::OK {
            return Err(CimdError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_json_media_type(&content_type) {
            return Err(CimdError::ContentType(content_type));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(CimdError::BodyTooLarge(self.max_body_bytes));
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(CimdError::BodyTooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { body, headers })
    }
}

/// `application/json` or `application/<anything>+json`, parameters allowed (spec §3.3).
pub(crate) fn is_json_media_type(raw: &str) -> bool {
    let essence = raw.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .and_then(|sub| sub.strip_suffix("+json"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Turn a reqwest error into a [`CimdError`]: our own resolver's refusal if it is in the chain,
/// else a timeout, else a transport failure.
fn classify(err: reqwest::Error) -> CimdError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(ours) = e.downcast_ref::<CimdError>() {
            return ours.clone();
        }
        source = e.source();
    }
    if err.is_timeout() {
        return CimdError::Timeout;
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    CimdError::Transport(message)
}

#[cfg(test)]
mod tests {
    use super::*;

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
