//! [`OutboundClient`]: the one outbound HTTP client, and its builder.

use std::sync::Arc;
use std::time::Duration;

use crate::address::AddressPolicy;
use crate::lookup::{DnsLookup, SystemLookup};
use crate::resolver::{ConnectObserver, GuardedResolver};

/// The user agent of the screening clients the CIMD resolver and [`crate::guarded_http_client`]
/// have always sent (the workspace shares one version).
pub const GUARDED_USER_AGENT: &str = concat!("mcp-auth-cimd-resolver/", env!("CARGO_PKG_VERSION"));

/// A reqwest client configured by [`OutboundClientBuilder`], with the body limit its reads
/// apply ([`Self::get_json`], [`Self::get_json_conditional`]).
///
/// Always: no redirects (RFC 9700 §4.11; a 3xx is an answer, never followed), names resolved
/// only through the screening resolver (every address checked against the
/// [`AddressPolicy`]; the addresses checked are the ones connected to), connect and total
/// timeouts. A screening client also uses no proxy (a proxy would resolve names itself) and
/// keeps no idle connections.
#[derive(Clone)]
pub struct OutboundClient {
    pub(crate) http: reqwest::Client,
    pub(crate) total_timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("total_timeout", &self.total_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    /// A builder with the safe defaults: [`AddressPolicy::PublicOnly`], `https` only, connect
    /// 5 s, total 30 s, bodies up to 64 KiB, no proxy, the system resolver.
    pub fn builder() -> OutboundClientBuilder {
        OutboundClientBuilder::default()
    }

    /// The reqwest client, for requests the helpers here do not cover (token requests, the
    /// `oauth2` crate's HTTP client). Read its bodies with [`crate::read_body_limited`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The largest body the helpers read, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The total time allowed for one request.
    pub fn total_timeout(&self) -> Duration {
        self.total_timeout
    }
}

/// Builds an [`OutboundClient`]; ends in a fallible [`Self::build`].
pub struct OutboundClientBuilder {
    connect_timeout: Duration,
    total_timeout: Duration,
    max_body_bytes: usize,
    addresses: AddressPolicy,
    https_only: bool,
    env_proxy: bool,
    lookup: Arc<dyn DnsLookup>,
    extra_roots: Vec<reqwest::Certificate>,
    user_agent: Option<String>,
    observer: Option<ConnectObserver>,
}

impl Default for OutboundClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024,
            addresses: AddressPolicy::PublicOnly,
            https_only: true,
            env_proxy: false,
            lookup: Arc::new(SystemLookup),
            extra_roots: Vec::new(),
            user_agent: None,
            observer: None,
        }
    }
}

impl std::fmt::Debug for OutboundClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("addresses", &self.addresses)
            .field("https_only", &self.https_only)
            .finish_non_exhaustive()
    }
}

impl OutboundClientBuilder {
    /// Connect and total timeouts.
    pub fn timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.total_timeout = total;
        self
    }

    /// The largest body [`OutboundClient::get_json`] and friends read, in bytes.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Which addresses may be connected to (default [`AddressPolicy::PublicOnly`]). A caller
    /// that weakens it for tests names its switch `insecure_*` and logs a warning.
    pub fn addresses(mut self, policy: AddressPolicy) -> Self {
        self.addresses = policy;
        self
    }

    /// Also allow plain `http` URLs (default: `https` only). The caller's URL checks decide
    /// which `http` URLs it sends (e.g. loopback hosts only).
    pub fn allow_http(mut self) -> Self {
        self.https_only = false;
        self
    }

    /// Use the proxy of the environment (`HTTPS_PROXY`, …), as reqwest does by default. Only
    /// with [`AddressPolicy::AnyConfigured`]: a screening client ignores it (a proxy would
    /// resolve names itself, past the screening).
    pub fn env_proxy(mut self) -> Self {
        self.env_proxy = true;
        self
    }

    /// Look names up with `lookup` instead of the system resolver (tests).
    pub fn lookup(mut self, lookup: Arc<dyn DnsLookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// Trust `cert` as a root beside the system's (tests with a private CA).
    pub fn add_root_certificate(mut self, cert: reqwest::Certificate) -> Self {
        self.extra_roots.push(cert);
        self
    }

    /// Send this `User-Agent` (default: none).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Call `observer` with every screened answer handed to the connector (tests).
    pub fn observe_connections(mut self, observer: ConnectObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// The reqwest error if the client cannot be built (e.g. the TLS backend did not start).
    pub fn build(self) -> Result<OutboundClient, reqwest::Error> {
        let screens = self.addresses.screens();
        let resolver = Arc::new(GuardedResolver {
            lookup: self.lookup,
            policy: self.addresses,
            observer: self.observer,
        });
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(self.https_only)
            .connect_timeout(self.connect_timeout)
            .timeout(self.total_timeout)
            .dns_resolver(resolver);
        if screens || !self.env_proxy {
            builder = builder.no_proxy();
        }
        if screens {
            builder = builder.pool_max_idle_per_host(0);
        }
        if let Some(agent) = self.user_agent {
            builder = builder.user_agent(agent);
        }
        for cert in self.extra_roots {
            builder = builder.add_root_certificate(cert);
        }
        Ok(OutboundClient {
            http: builder.build()?,
            total_timeout: self.total_timeout,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

/// A reqwest client for `GET`s of untrusted `https` URLs (e.g. a trusted identity provider's
/// JWK Set): [`OutboundClient::builder`] with [`AddressPolicy::PublicOnly`] and the given
/// timeouts. It refuses a name if any of its addresses is special-use
/// ([`crate::special_use_range`]: loopback, private, link-local, …) and connects only to the
/// addresses it checked.
///
/// It does not bound body sizes (read bodies with [`crate::get_json`] or
/// [`crate::read_body_limited`]), and IP-literal hosts never reach its resolver: callers
/// refuse special-use IP literals first ([`crate::check_ip_literal`]).
///
/// # Errors
/// The reqwest error if the client cannot be built (e.g. no TLS backend).
pub fn guarded_http_client(
    connect_timeout: Duration,
    total_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    OutboundClient::builder()
        .timeouts(connect_timeout, total_timeout)
        .user_agent(GUARDED_USER_AGENT)
        .build()
        .map(|c| c.http)
}
