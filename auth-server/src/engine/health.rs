//! Liveness and readiness of this node, for load balancers and Kubernetes probes.
//!
//! Liveness needs nothing: a process that answers is alive. Readiness asks the two things a
//! node cannot serve tokens without: the store answers (a read of the signing keys, bounded by
//! [`STORE_CHECK_TIMEOUT`]), and a signing key is loaded (the published JWK Set is not empty).

use std::time::Duration;

use serde::Serialize;

use crate::server::AuthorizationServer;

/// How long the store may take to answer the readiness read before the node counts as not
/// ready: 2 seconds.
pub const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of one readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The check passed.
    Ok,
    /// The check failed (the store returned an error, or no signing key is loaded).
    Failed,
    /// The store did not answer within [`STORE_CHECK_TIMEOUT`].
    TimedOut,
}

/// Whether this node can serve traffic: `{"store": …, "signing_key": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The store answered a read of the signing keys in time.
    pub store: CheckStatus,
    /// At least one signing key is loaded and published.
    pub signing_key: CheckStatus,
}

impl Readiness {
    /// True when every check passed.
    pub fn is_ready(&self) -> bool {
        self.store == CheckStatus::Ok && self.signing_key == CheckStatus::Ok
    }
}

impl AuthorizationServer {
    /// Check readiness: one bounded read of the store, and the loaded signing keys. Never
    /// fails; a failing check is reported in the result. Nothing is written.
    pub async fn readiness(&self) -> Readiness {
        let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, self.stores().keys.list()).await
        {
            Ok(Ok(_)) => CheckStatus::Ok,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the store check failed");
                CheckStatus::Failed
            }
            Err(_) => {
                tracing::warn!("readiness: the store did not answer in time");
                CheckStatus::TimedOut
            }
        };
        let has_key = self
            .jwks()
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|keys| !keys.is_empty());
        Readiness {
            store,
            signing_key: if has_key {
                CheckStatus::Ok
            } else {
                CheckStatus::Failed
            },
        }
    }
}
