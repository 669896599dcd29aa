//! The 2025-11-25 completion watcher: long-polls `/connect/status` for one elicitation and sends
//! `notifications/elicitation/complete {elicitationId}` on the originating session's peer only,
//! once (spec ELIC-05, ELIC-06, ELIC-CB-05).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{CustomNotification, ServerNotification};
use rmcp::service::Peer;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::client::{AsClient, STATUS_WAIT_SECS, Status};

/// The notification method (MCP 2025-11-25 `ElicitationCompleteNotification`).
pub const ELICITATION_COMPLETE: &str = "notifications/elicitation/complete";

/// Default most watchers running at once: 256. Past it, no completion notification is sent
/// (delivery is best-effort; the client can still retry).
pub const DEFAULT_MAX_WATCHERS: usize = 256;

/// Most watchers one user (`iss`, `sub`) may have running at once, over all their sessions: 8.
/// Past it that user's further elicitations get no completion notification, so one user's many
/// sessions cannot use up [`DEFAULT_MAX_WATCHERS`] for everyone.
pub const MAX_WATCHERS_PER_USER: usize = 8;

/// Pause after an authorization server error before polling again: 2 seconds.
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// The running watchers, keyed by (elicitation id, MCP session id): one per pair, so a
/// client retrying a call within the same session gets one notification.
pub(crate) struct Watchers {
    active: Mutex<HashSet<(String, Option<String>)>>,
    per_user: Mutex<HashMap<String, usize>>,
    permits: Arc<Semaphore>,
}

impl Watchers {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            active: Mutex::new(HashSet::new()),
            per_user: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max)),
        }
    }

    /// Start watching `elicitation_id` for `peer` until `deadline` (the elicitation's expiry),
    /// unless a watcher for the same (id, session) runs, `user` (its `iss` and `sub`) already
    /// has [`MAX_WATCHERS_PER_USER`], or the overall bound is reached.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        client: AsClient,
        peer: Peer<RoleServer>,
        user: String,
        elicitation_id: String,
        session_id: Option<String>,
        deadline: Instant,
    ) {
        let key = (elicitation_id.clone(), session_id);
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!("too many elicitation watchers; no completion notification");
            return;
        };
        {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if active.contains(&key) {
                return;
            }
            let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            let n = per_user.entry(user.clone()).or_insert(0);
            if *n >= MAX_WATCHERS_PER_USER {
                tracing::warn!(
                    "too many elicitation watchers for one user; no completion notification"
                );
                return;
            }
            *n += 1;
            active.insert(key.clone());
        }
        let this = self.clone();
        tokio::spawn(async move {
            watch(&client, &peer, &elicitation_id, deadline).await;
            let mut active = this.active.lock().unwrap_or_else(|e| e.into_inner());
            active.remove(&key);
            let mut per_user = this.per_user.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_user.get_mut(&user) {
                *n -= 1;
                if *n == 0 {
                    per_user.remove(&user);
                }
            }
            drop(permit);
        });
    }
}

async fn watch(client: &AsClient, peer: &Peer<RoleServer>, id: &str, deadline: Instant) {
    loop {
        let now = Instant::now();
        if peer.is_transport_closed() || now >= deadline {
            return;
        }
        let left = deadline.saturating_duration_since(now).as_secs().max(1);
        match client.status(id, left.min(STATUS_WAIT_SECS)).await {
            Ok(Status::Open) => {}
            Ok(Status::Completed) => {
                let note = CustomNotification::new(
                    ELICITATION_COMPLETE,
                    Some(serde_json::json!({ "elicitationId": id })),
                );
                if peer
                    .send_notification(ServerNotification::CustomNotification(note))
                    .await
                    .is_err()
                {
                    tracing::debug!("the session closed before the completion notification");
                }
                return;
            }
            Ok(Status::Finished) => return,
            Err(()) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}
