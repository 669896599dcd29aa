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
    /// `wrong_credentials`, `rate_limited`, or for an upstream `iss_mismatch`,
    /// `state_replayed`, `upstream_error`…), locally or through `upstream`.
    SignIn {
        /// The user, when known.
        sub: Option<String>,
        /// `success` or `failure`.
        outcome: String,
        /// Why it failed (a class, never the password).
        reason: Option<String>,
        /// The upstream identity provider used (its configured name), if any.
        upstream: Option<String>,
        /// `true` for the development profile's sign-in without a password; absent otherwise
        /// (so events of other sign-ins serialize as before this field existed).
        #[serde(default, skip_serializing_if = "is_false")]
        development: bool,
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
        /// The RFC 7638 thumbprint of the DPoP key the token is bound to (RFC 9449 §6,
        /// `cnf.jkt`); absent for an unbound token (so unbound events serialize as before this
        /// field existed, and stored chains keep verifying).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jkt: Option<String>,
    },
    /// A JWT assertion was redeemed for a token (RFC 7523 §2.1): an Identity Assertion JWT
    /// Authorization Grant (ID-JAG) at the Cross App Access `jwt-bearer` grant (SEP-990).
    /// Recorded after the token it bought, whose `jti` it names.
    AssertionRedeemed {
        /// The grant type (`urn:ietf:params:oauth:grant-type:jwt-bearer`).
        grant_type: String,
        /// The assertion's issuer: the enterprise identity provider.
        issuer: String,
        /// The assertion's own `jti` (spent: a second redemption is refused).
        assertion_jti: String,
        /// The client that redeemed it.
        client_id: String,
        /// The subject of the token issued (the user).
        sub: String,
        /// The issued access token's `jti`.
        jti: String,
    },
    /// A token exchange succeeded (RFC 8693): a token was minted (recorded after its
    /// `token_issued`), or a stored third-party credential was handed to an MCP server.
    TokenExchanged {
        /// The client that exchanged.
        client_id: String,
        /// The subject of the issued token (the subject token's `sub`).
        sub: String,
        /// The actor chain of the issued token, outermost (current) actor first: each `act`
        /// claim's `sub` (RFC 8693 §4.1); empty when the token has no `act`.
        actors: Vec<String>,
        /// The `requested_token_type` parameter, when given.
        requested_token_type: Option<String>,
        /// The `audience` parameters, in order (RFC 8693 §2.1).
        audience: Vec<String>,
        /// The issued token's audience resource (for a stored credential: the resource of the
        /// subject token).
        resource: String,
        /// The issued token's `jti`; `None` when the exchange handed out a user's stored
        /// third-party credential (`/connect/token`, `audience` naming the connection).
        jti: Option<String>,
    },
    /// A client identified by a Client ID Metadata Document URL (SEP-991) was fetched and
    /// admitted for the first time. Recorded once per client per retention period
    /// (`[audit] keep_days`), on whichever node saw it first, not once per fetch.
    CimdClientSeen {
        /// The client: the document's URL.
        client_id: String,
        /// The document's `client_name`, if any (as the client states it; unverified).
        client_name: Option<String>,
    },
    /// A user connected a third-party account (issue 11): its tokens or API key were sealed
    /// into the vault (a reconnect replaces the earlier entry and is recorded again).
    ConnectionAdded {
        /// The user.
        sub: String,
        /// The connection's configured name.
        connection: String,
        /// `oauth` or `api_key`.
        credential: String,
    },
    /// A user's third-party connection was removed from the vault.
    ConnectionRemoved {
        /// The user.
        sub: String,
        /// The connection's configured name.
        connection: String,
        /// `removed` (by the user or an operator; its tokens revoked at the third party first),
        /// or `expired` (its access token expired and the third party refused the refresh, or
        /// there was no refresh token).
        reason: String,
    },
    /// A third-party connection's expired access token was refreshed at the third party and
    /// sealed again.
    ConnectionRefreshed {
        /// The user.
        sub: String,
        /// The connection's configured name.
        connection: String,
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
            Self::AssertionRedeemed { .. } => "assertion_redeemed",
            Self::TokenExchanged { .. } => "token_exchanged",
            Self::CimdClientSeen { .. } => "cimd_client_seen",
            Self::ConnectionAdded { .. } => "connection_added",
            Self::ConnectionRemoved { .. } => "connection_removed",
            Self::ConnectionRefreshed { .. } => "connection_refreshed",
        }
    }

    /// The user the event concerns, for filtering.
    pub fn sub(&self) -> Option<&str> {
        match self {
            Self::SignIn { sub, .. } | Self::AdminCommand { sub, .. } => sub.as_deref(),
            Self::ConsentGranted { sub, .. }
            | Self::AccessRemoved { sub, .. }
            | Self::TokenIssued { sub, .. }
            | Self::AssertionRedeemed { sub, .. }
            | Self::TokenExchanged { sub, .. }
            | Self::ConnectionAdded { sub, .. }
            | Self::ConnectionRemoved { sub, .. }
            | Self::ConnectionRefreshed { sub, .. } => Some(sub),
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
            | Self::ClientRegistered { client_id, .. }
            | Self::AssertionRedeemed { client_id, .. }
            | Self::TokenExchanged { client_id, .. }
            | Self::CimdClientSeen { client_id, .. } => Some(client_id),
            Self::AdminCommand { client_id, .. } => client_id.as_deref(),
            _ => None,
        }
    }
}

/// For `skip_serializing_if`: leave `false` out.
fn is_false(b: &bool) -> bool {
    !*b
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
            jkt: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "token_issued");
        assert_eq!(v["jti"], "j1");
        assert_eq!(e.kind(), "token_issued");
        assert_eq!((e.sub(), e.client_id()), (Some("u1"), Some("c1")));
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    /// Events stored before `jkt` and `development` existed read back, and the same events
    /// serialize byte for byte as before (so a stored chain's `data` is what a new server
    /// would write); a bound token's `jkt` is written.
    #[test]
    fn optional_fields_keep_the_old_wire_form() {
        let old = r#"{"kind":"token_issued","grant_type":"authorization_code","client_id":"c1","sub":"u1","resource":"https://mcp.example/mcp","scope":"mcp:basic","jti":"j1","refresh_token":false}"#;
        let e: AuditEvent = serde_json::from_str(old).unwrap();
        assert!(matches!(&e, AuditEvent::TokenIssued { jkt: None, .. }));
        assert_eq!(serde_json::to_string(&e).unwrap(), old);
        let old =
            r#"{"kind":"sign_in","sub":"u1","outcome":"success","reason":null,"upstream":null}"#;
        let e: AuditEvent = serde_json::from_str(old).unwrap();
        assert!(matches!(
            &e,
            AuditEvent::SignIn {
                development: false,
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&e).unwrap(), old);
        let bound = AuditEvent::TokenIssued {
            grant_type: "authorization_code".into(),
            client_id: "c1".into(),
            sub: "u1".into(),
            resource: "r".into(),
            scope: "s".into(),
            jti: "j".into(),
            refresh_token: false,
            jkt: Some("thumb".into()),
        };
        assert_eq!(serde_json::to_value(&bound).unwrap()["jkt"], "thumb");
    }
}
