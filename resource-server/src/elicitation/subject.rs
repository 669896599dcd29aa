//! What the bearer layer leaves in the request extensions for the connection vault (feature
//! `elicitation`): the validated bearer token as a secret, and the facts of the JSON-RPC request
//! that a sealed `requestState` is bound to.

use std::fmt;
use std::sync::Arc;

use ring::digest::{SHA256, digest};
use serde_json::Value;

/// The validated bearer token of *this* HTTP request, put into the request extensions by
/// [`crate::BearerAuthLayer`] when the feature `elicitation` is on.
///
/// It exists only so [`super::ConnectionVault`] can present it as the RFC 8693 `subject_token`
/// to this server's own authorization server; it is never forwarded anywhere else (spec ELIC-15,
/// no token passthrough). `Debug` prints `[redacted]`; there is no `Display`, no `Serialize`,
/// and no public accessor. It is `Clone` only because `http::Extensions` requires it (rmcp copies
/// the request parts into each tool call's context); a clone shares the same allocation.
#[derive(Clone)]
pub struct SubjectToken(Arc<str>);

impl SubjectToken {
    pub(crate) fn new(token: &str) -> Self {
        Self(Arc::from(token))
    }

    /// The token, for the token exchange request body only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectToken([redacted])")
    }
}

/// The parts of the JSON-RPC request body a sealed `requestState` is bound to (spec
/// ELIC-R2-06: "a request identifier (method + digest of salient params)"), read by the bearer
/// layer from the body it already buffered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFacts {
    /// SHA-256 over the canonical JSON of `[method, params.name, params.arguments]`, object keys
    /// sorted at every depth; `null` for a member that is absent.
    pub(crate) digest: [u8; 32],
    /// `params.requestState` when it is a string (2026-07-28 MRTR retry).
    pub(crate) request_state: Option<String>,
    /// The `Mcp-Session-Id` of the request (2025-11-25 sessions), to route the completion
    /// notification to the originating session only.
    pub(crate) session_id: Option<String>,
}

impl RequestFacts {
    /// The facts of one JSON-RPC request body; `None` when the body is not a JSON object.
    pub(crate) fn from_body(body: &[u8], session_id: Option<String>) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let object = value.as_object()?;
        let method = object.get("method").cloned().unwrap_or(Value::Null);
        let params = object.get("params").and_then(Value::as_object);
        let name = params
            .and_then(|p| p.get("name"))
            .cloned()
            .unwrap_or(Value::Null);
        let arguments = params
            .and_then(|p| p.get("arguments"))
            .cloned()
            .unwrap_or(Value::Null);
        let request_state = params
            .and_then(|p| p.get("requestState"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut canonical = String::new();
        write_canonical(&Value::Array(vec![method, name, arguments]), &mut canonical);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, canonical.as_bytes()).as_ref());
        Some(Self {
            digest: out,
            request_state,
            session_id,
        })
    }
}

/// JSON with object keys sorted at every depth and no whitespace, whatever map order
/// `serde_json` was built with.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_key_order_and_request_state() {
        let a = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1,"b":{"y":2,"x":1}}}}"#;
        let b = br#"{"id":9,"method":"tools/call","params":{"requestState":"s","arguments":{"b":{"x":1,"y":2},"a":1},"name":"t"},"jsonrpc":"2.0"}"#;
        let fa = RequestFacts::from_body(a, None).unwrap();
        let fb = RequestFacts::from_body(b, None).unwrap();
        assert_eq!(fa.digest, fb.digest);
        assert_eq!(fb.request_state.as_deref(), Some("s"));
        let c = br#"{"method":"tools/call","params":{"name":"t","arguments":{"a":2,"b":{"x":1,"y":2}}}}"#;
        assert_ne!(fa.digest, RequestFacts::from_body(c, None).unwrap().digest);
    }

    #[test]
    fn subject_token_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", SubjectToken::new("eyJsecret")),
            "SubjectToken([redacted])"
        );
    }
}
