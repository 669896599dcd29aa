//! The reqwest resolver that screens every address before the connector sees it.
//!
//! It looks the name up once, refuses the whole answer if any address is refused by the
//! client's [`AddressPolicy`], and hands exactly the checked addresses to the connector, so the
//! address checked is the address connected to (no second lookup, no DNS-rebinding window).
//! IP-literal hosts never reach a resolver; callers screen them with the URL checks first.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::address::AddressPolicy;
use crate::error::OutboundError;
use crate::lookup::DnsLookup;

/// Called with a host name and the addresses handed to the connector for it, after screening.
/// Tests use it to prove that nothing but loopback is ever connected to.
pub type ConnectObserver = Arc<dyn Fn(&str, &[SocketAddr]) + Send + Sync>;

/// The screening resolver of every [`crate::OutboundClient`].
pub(crate) struct GuardedResolver {
    pub(crate) lookup: Arc<dyn DnsLookup>,
    pub(crate) policy: AddressPolicy,
    pub(crate) observer: Option<ConnectObserver>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let policy = self.policy;
        let observer = self.observer.clone();
        Box::pin(async move {
            let addrs = lookup.lookup(&host).await.map_err(|e| OutboundError::Dns {
                host: host.clone(),
                reason: e.to_string(),
            })?;
            if addrs.is_empty() {
                return Err(OutboundError::Dns {
                    host,
                    reason: "no addresses".into(),
                }
                .into());
            }
            for &addr in &addrs {
                policy
                    .check(addr)
                    .map_err(|range| OutboundError::BlockedAddress {
                        host: host.clone(),
                        addr,
                        range,
                    })?;
            }
            let socket_addrs: Vec<SocketAddr> =
                addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            if let Some(observe) = observer {
                observe(&host, &socket_addrs);
            }
            let iter: reqwest::dns::Addrs = Box::new(socket_addrs.into_iter());
            Ok(iter)
        })
    }
}
