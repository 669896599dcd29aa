//! What sign-in needs besides the stores, built with the server: the failure counters and the
//! password hashing pool. Apart from [`super::sign_in`], so the server holds it without
//! importing the engine method that reads it.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::Clock;

use super::password::HashPool;
use crate::limits::SignInSettings;
use crate::rate_limit::SignInLimits;

/// What sign-in needs besides the stores: the failure counters and the password hashing pool.
/// One per server, built with it.
#[derive(Debug)]
pub(crate) struct SignInGuard {
    pub(crate) limits: SignInLimits,
    pub(crate) hashes: HashPool,
}

impl SignInGuard {
    /// Counters for `settings` on `clock` (in `shared` when given, see
    /// [`crate::rate_limit`]), and a pool with the configured threads and bounds.
    ///
    /// # Errors
    /// The operating system refused to start a hashing thread.
    pub(crate) fn new(
        settings: &SignInSettings,
        clock: Arc<dyn Clock>,
        shared: Option<Arc<dyn crate::rate_limit::SharedCounters>>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            limits: SignInLimits::new(settings, clock, shared),
            hashes: HashPool::new(
                settings.effective_hash_threads(),
                settings.effective_max_concurrent_hashes(),
                Duration::from_millis(settings.hash_wait_ms),
            )?,
        })
    }
}
