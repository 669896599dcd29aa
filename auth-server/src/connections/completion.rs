//! Completion signals for pending elicitations: the callback that finishes an elicitation
//! wakes whoever waits for it on this node at once (the MCP server's long-poll at
//! `/connect/status`, which then sends `notifications/elicitation/complete`, ELIC-06,
//! ELIC-CB-05); waiters on other nodes see the stored status on their next poll of the store,
//! at most [`STORE_POLL_INTERVAL`] later.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// How often a waiter reads the store again when nothing on this node signalled: 1 s.
pub const STORE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Most `/connect/status` long-polls one client may hold open on one node at once: 64. One
/// more is answered at once with the current status, as with `wait=0`.
pub const MAX_WAITS_PER_CLIENT: usize = 64;

/// Wakes the waiters of this node when an elicitation finishes, and bounds how many each
/// client may have. One per server; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct CompletionSignal {
    finished: Notify,
    waiting: Mutex<HashMap<String, usize>>,
}

/// One held long-poll of a client ([`CompletionSignal::enter`]); released when dropped.
#[derive(Debug)]
pub struct WaitSlot<'a> {
    signal: &'a CompletionSignal,
    client_id: String,
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let mut waiting = self
            .signal
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = waiting.get_mut(&self.client_id) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&self.client_id);
            }
        }
    }
}

impl CompletionSignal {
    /// A signal nobody waits on yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Call after an elicitation was finished in the store (completed, failed or cancelled):
    /// every waiter of this node reads the store again now.
    pub fn finished(&self) {
        self.finished.notify_waiters();
    }

    /// Hold one of `client_id`'s [`MAX_WAITS_PER_CLIENT`] long-poll slots; `None` when they are
    /// all taken.
    pub fn enter(&self, client_id: &str) -> Option<WaitSlot<'_>> {
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = waiting.entry(client_id.to_owned()).or_insert(0);
        if *n >= MAX_WAITS_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(WaitSlot {
            signal: self,
            client_id: client_id.to_owned(),
        })
    }

    /// Wait until [`Self::finished`] is called or [`STORE_POLL_INTERVAL`] passes, whichever
    /// comes first; the caller then reads the store again.
    pub async fn next_check(&self) {
        let _ = tokio::time::timeout(STORE_POLL_INTERVAL, self.finished.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_slots_and_gets_them_back() {
        let signal = CompletionSignal::new();
        let held: Vec<_> = (0..MAX_WAITS_PER_CLIENT)
            .map(|_| signal.enter("server-a").expect("a free slot"))
            .collect();
        assert!(signal.enter("server-a").is_none());
        assert!(
            signal.enter("server-b").is_some(),
            "other clients are not affected"
        );
        drop(held);
        assert!(signal.enter("server-a").is_some());
        assert!(
            signal
                .waiting
                .lock()
                .unwrap()
                .get("server-a")
                .is_none_or(|n| *n == 0)
        );
    }
}
