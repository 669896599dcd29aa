//! The audit seam (issue 25 §2): typed security events and the [`AuditSink`] that records them.
//!
//! An event names who acted for whom with which authority, never a credential: tokens are named
//! by their `jti`, codes and refresh tokens not at all (their replay is an event of its own),
//! secrets and passwords never. Sinks are the durable chain of the server
//! ([`crate::store::AuditLog`]), a JSON-lines file or standard output, or one of your own.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// One security event. Serialized with its `kind` as a tag (`{"kind":"token_issued",…}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// A sign-in succeeded (`sub` set) or failed (`reason` a class such as
    /// `wrong_credentials`, `rate_limited`), locally or through `upstream`.
    SignIn {
        /// The user, when known.
        sub: Option<String>,
        /// `success` or `failure`.
        outcome: String,
        /// Why it failed (a class, never the password).
        reason: Option<String>,
        /// The upstream identity provider used, if any.
        upstream: Option<String>,
    },
    /// A user approved scopes for a client and resource.
    ConsentGranted {
        /// The user.
        sub: String,
        /// The client.
        client_id: String,
        /// The resource (RFC 8707).
        resource: String,
        /// The approved scopes, space-separated.
        scope: String,
    },
    /// A user's access for a client was removed (account page or `grants revoke`).
    AccessRemoved {
        /// The user.
        sub: String,
        /// The client.
        client_id: String,
        /// `user` (the account page) or `admin` (a command).
        by: String,
        /// Consents forgotten.
        consents: u64,
        /// Refresh tokens revoked.
        refresh_tokens: u64,
    },
    /// A token was issued at the token endpoint (every grant, refreshes included).
    TokenIssued {
        /// The grant type.
        grant_type: String,
        /// The client.
        client_id: String,
        /// The subject (the user, or the client for machine grants).
        sub: String,
        /// The audience resource.
        resource: String,
        /// The granted scopes, space-separated.
        scope: String,
        /// The access token's `jti`.
        jti: String,
        /// Whether a refresh token was issued with it.
        refresh_token: bool,
    },
    /// A token was revoked at the revocation endpoint (RFC 7009).
    TokenRevoked {
        /// The client that revoked it.
        client_id: String,
        /// The access token's `jti`, when it was one.
        jti: Option<String>,
    },
    /// An authorization code was presented a second time; what it issued was revoked.
    CodeReplayed {
        /// The client that presented it.
        client_id: String,
    },
    /// A client registered itself (RFC 7591), or got its existing registration back.
    ClientRegistered {
        /// The client.
        client_id: String,
        /// Its `token_endpoint_auth_method`.
        auth_method: String,
        /// Whether an identical public registration returned the existing client.
        existing: bool,
    },
    /// An admin command changed something.
    AdminCommand {
        /// The command, e.g. `grants revoke`.
        command: String,
        /// What it changed (names and counts, never a secret).
        detail: String,
        /// The user it concerned, if any.
        sub: Option<String>,
        /// The client it concerned, if any.
        client_id: Option<String>,
    },
    /// A signing key was created and the current one retired.
    KeyRotated {
        /// The new key's `kid`.
        kid: String,
    },
    /// Old events were pruned past the retention (`[audit] keep_days`).
    AuditPruned {
        /// Events before this time (seconds since the epoch) were deleted.
        before: UnixTime,
        /// How many.
        events: u64,
    },
}

impl AuditEvent {
    /// The `kind` tag, e.g. `token_issued`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SignIn { .. } => "sign_in",
            Self::ConsentGranted { .. } => "consent_granted",
            Self::AccessRemoved { .. } => "access_removed",
            Self::TokenIssued { .. } => "token_issued",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::CodeReplayed { .. } => "code_replayed",
            Self::ClientRegistered { .. } => "client_registered",
            Self::AdminCommand { .. } => "admin_command",
            Self::KeyRotated { .. } => "key_rotated",
            Self::AuditPruned { .. } => "audit_pruned",
        }
    }

    /// The user the event concerns, for filtering.
    pub fn sub(&self) -> Option<&str> {
        match self {
            Self::SignIn { sub, .. } | Self::AdminCommand { sub, .. } => sub.as_deref(),
            Self::ConsentGranted { sub, .. }
            | Self::AccessRemoved { sub, .. }
            | Self::TokenIssued { sub, .. } => Some(sub),
            _ => None,
        }
    }

    /// The client the event concerns, for filtering.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::ConsentGranted { client_id, .. }
            | Self::AccessRemoved { client_id, .. }
            | Self::TokenIssued { client_id, .. }
            | Self::TokenRevoked { client_id, .. }
            | Self::CodeReplayed { client_id }
            | Self::ClientRegistered { client_id, .. } => Some(client_id),
            Self::AdminCommand { client_id, .. } => client_id.as_deref(),
            _ => None,
        }
    }
}

/// Where security events go. `record` never fails the operation that caused the event: a sink
/// that cannot write logs the failure (without the event's details) and goes on.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Record `event`, which happened at `at` (seconds since the epoch).
    async fn record(&self, at: UnixTime, event: &AuditEvent);
}

/// A sink that records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAudit;

#[async_trait]
impl AuditSink for NoAudit {
    async fn record(&self, _at: UnixTime, _event: &AuditEvent) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire form carries the kind as a tag; sub and client are found for filtering.
    #[test]
    fn events_serialize_with_their_kind() {
        let e = AuditEvent::TokenIssued {
            grant_type: "authorization_code".into(),
            client_id: "c1".into(),
            sub: "u1".into(),
            resource: "https://mcp.example/mcp".into(),
            scope: "mcp:basic".into(),
            jti: "j1".into(),
            refresh_token: true,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "token_issued");
        assert_eq!(v["jti"], "j1");
        assert_eq!(e.kind(), "token_issued");
        assert_eq!((e.sub(), e.client_id()), (Some("u1"), Some("c1")));
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
