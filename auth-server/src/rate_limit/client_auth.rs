//! Bounds on failed client authentications at `/token`, `/introspect` and `/revoke` (spec
//! CC-14, SEC-06; issue #8 item 3): the [`ClientAuthThrottle`].

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::error::OAuthError;
use mcp_auth_core::{Clock, TokenHash};

use super::{Limiter, SharedCounters};
use crate::limits::ClientAuthBackstop;

/// Bounds on failed client authentications at `/token`, `/introspect` and `/revoke` (spec CC-14,
/// SEC-06; issue #8 item 3).
///
/// Failures are counted per (client id, source address) pair: a pair over its limit is refused
/// (`429` `invalid_request`, `Retry-After` until the minute ends) before its credentials are
/// checked, while the same client from another address, and other clients from the same address,
/// go on. A global count of failures is the backstop against attackers spread over many
/// addresses: past it, every further *failure* is answered after a fixed delay. It never refuses,
/// and a correct credential is never delayed or refused because of someone else's failures.
///
/// Both counts are per node in memory, or shared by every node when the server has
/// [`SharedCounters`] (PostgreSQL; see [`crate::rate_limit`]): then failures spread over
/// several nodes reach the limits together. A shared counter that fails does not limit.
pub struct ClientAuthThrottle {
    per_pair: Limiter,
    global: Limiter,
    backstop_delay: Duration,
}

impl std::fmt::Debug for ClientAuthThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuthThrottle")
            .field("per_pair", &self.per_pair)
            .field("global", &self.global)
            .field("backstop_delay", &self.backstop_delay)
            .finish()
    }
}

impl ClientAuthThrottle {
    /// `per_pair_per_minute` failures per (client, source) pair each minute, and the global
    /// `backstop`, on `clock`; counted in `shared` when given (keys `client_auth_pair:…` and
    /// `client_auth_global:`), else in memory.
    pub fn new(
        per_pair_per_minute: u32,
        backstop: &ClientAuthBackstop,
        clock: Arc<dyn Clock>,
        shared: Option<Arc<dyn SharedCounters>>,
    ) -> Self {
        Self {
            per_pair: Limiter::new(per_pair_per_minute, 60, clock.clone())
                .shared(shared.clone(), "client_auth_pair"),
            global: Limiter::new(backstop.failures_per_minute, 60, clock)
                .shared(shared, "client_auth_global"),
            backstop_delay: Duration::from_millis(backstop.delay_ms),
        }
    }

    fn pair_key(client_id: &str, source: Option<&str>) -> String {
        format!(
            "{} {}",
            TokenHash::of(client_id).as_str(),
            source.unwrap_or("unknown")
        )
    }

    /// Before checking credentials of `client_id` from `source` (a rate key; `None` when
    /// unknown, which is one shared source).
    ///
    /// # Errors
    /// `429` `invalid_request` with `Retry-After` when this pair is over its limit.
    pub async fn admit(&self, client_id: &str, source: Option<&str>) -> Result<(), OAuthError> {
        if self
            .per_pair
            .exceeded(&Self::pair_key(client_id, source))
            .await
        {
            let wait = self.per_pair.retry_after();
            crate::metrics::rate_limited("client_auth");
            return Err(OAuthError::invalid_request(format!(
                "too many failed client authentications for this client from this address; try again in {wait} seconds"
            ))
            .with_retry_after(wait));
        }
        Ok(())
    }

    /// Count a failed authentication of `client_id` from `source`; returns how long to wait
    /// before answering it (zero unless the global backstop is exceeded).
    pub async fn failed(&self, client_id: &str, source: Option<&str>) -> Duration {
        self.per_pair
            .check(&Self::pair_key(client_id, source))
            .await;
        if self.global.check("").await {
            Duration::ZERO
        } else {
            self.backstop_delay
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::FixedClock;

    fn throttle(clock: Arc<FixedClock>) -> ClientAuthThrottle {
        let backstop = ClientAuthBackstop {
            failures_per_minute: 3,
            delay_ms: 250,
        };
        ClientAuthThrottle::new(2, &backstop, clock, None)
    }

    /// Issue #8 item 3: the failing (client, source) pair is throttled; other pairs are not.
    #[tokio::test]
    async fn only_the_failing_pair_is_refused() {
        let t = throttle(Arc::new(FixedClock::new(30)));
        t.failed("a", Some("10.0.0.2")).await;
        t.failed("a", Some("10.0.0.2")).await;
        let err = t.admit("a", Some("10.0.0.2")).await.unwrap_err();
        assert_eq!(err.http_status(), 429);
        assert_eq!(err.code(), mcp_auth_core::ErrorCode::InvalidRequest);
        assert_eq!(err.retry_after(), Some(30));
        assert!(t.admit("a", Some("10.0.0.1")).await.is_ok());
        assert!(t.admit("b", Some("10.0.0.2")).await.is_ok());
    }

    /// Issue #8 item 3: past the global backstop, failures are slowed, never refused.
    #[tokio::test]
    async fn backstop_delays_failures_past_the_global_limit() {
        let t = throttle(Arc::new(FixedClock::new(0)));
        assert_eq!(t.failed("a", Some("1")).await, Duration::ZERO);
        assert_eq!(t.failed("b", Some("2")).await, Duration::ZERO);
        assert_eq!(t.failed("c", Some("3")).await, Duration::ZERO);
        assert_eq!(t.failed("d", Some("4")).await, Duration::from_millis(250));
        assert!(t.admit("e", Some("5")).await.is_ok());
    }
}
