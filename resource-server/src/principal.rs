//! The authenticated caller, put into request extensions by the layer and read by an extractor.

use axum::extract::FromRequestParts;
use http::StatusCode;
use http::request::Parts;
use mcp_auth_core::{ScopeSet, UnixTime};

/// Who called: the validated access token's identity (RFC 9068 §2.2, RFC 7662 §2.2).
///
/// The layer inserts one into the request extensions of every request it lets through; read it
/// with the [`Principal`] extractor or `req.extensions().get::<Principal>()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `iss`: the issuer that vouched for the token, byte-identical to the configured issuer.
    pub issuer: String,
    /// `sub`: the resource owner (or the client itself for `client_credentials`).
    pub subject: String,
    /// `client_id`: the OAuth client the token was issued to.
    pub client_id: String,
    /// `scope`, parsed; empty when the token has none.
    pub scopes: ScopeSet,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: UnixTime,
    /// `jti`, when present.
    pub token_id: Option<String>,
    /// Every claim of the token (JWT payload or introspection response), as received.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Principal {
    /// The key for state bound to an MCP session: `"<iss> <sub>:<session_id>"`. Session state
    /// is keyed by identity *and* session id, never by the session id alone, so a guessed
    /// session id cannot reach another user's state (spec RS-19, §1.4.5).
    pub fn session_key(&self, session_id: &str) -> String {
        format!("{} {}:{}", self.issuer, self.subject, session_id)
    }

    /// True when the token holds `scope` literally (no hierarchy; the layer applies the
    /// configured hierarchy before the handler runs).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Extracting a [`Principal`] fails with 500 when the layer is not installed: a wiring mistake,
/// never a client error.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "bearer authentication layer is not installed",
        ))
    }
}
