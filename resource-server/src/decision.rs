//! Access decisions for the audit trail (issue 25 §2): an optional [`DecisionHook`] hears every
//! request the layer decides on with a valid token, allowed or refused for too little scope:
//! who (principal, client), what (HTTP method, path, MCP method and tool, resource or prompt
//! name), the decision, and the scopes required and held. [`TracingDecisions`] logs each as one
//! `tracing` event. The token itself is never passed to the hook (its `jti` is, when present).

use http::Method;
use mcp_auth_core::ScopeSet;

use crate::policy::McpOperation;
use crate::principal::Principal;

/// One decision of the layer.
#[derive(Debug, Clone, Copy)]
pub struct AccessDecision<'a> {
    /// Who: the validated token's principal.
    pub principal: &'a Principal,
    /// The HTTP method.
    pub method: &'a Method,
    /// The request path.
    pub path: &'a str,
    /// The MCP operation of the body, when it carries one (`tools/call` of a tool, …).
    pub operation: Option<&'a McpOperation>,
    /// `true` when the request goes on to the MCP server.
    pub allowed: bool,
    /// The scopes the request needs.
    pub required: &'a ScopeSet,
    /// The scopes the token holds.
    pub held: &'a ScopeSet,
}

impl AccessDecision<'_> {
    /// The MCP method (`tools/call`, `resources/read`, `prompts/get`, or the method named),
    /// when the body carries one.
    pub fn mcp_method(&self) -> Option<&str> {
        self.operation.map(|op| match op {
            McpOperation::CallTool(_) => "tools/call",
            McpOperation::ReadResource(_) => "resources/read",
            McpOperation::GetPrompt(_) => "prompts/get",
            McpOperation::Method(m) => m.as_str(),
        })
    }

    /// The tool, resource URI or prompt the operation names, if any.
    pub fn target(&self) -> Option<&str> {
        self.operation.and_then(|op| match op {
            McpOperation::CallTool(n)
            | McpOperation::ReadResource(n)
            | McpOperation::GetPrompt(n) => Some(n.as_str()),
            McpOperation::Method(_) => None,
        })
    }
}

/// Hears every decision of [`crate::BearerAuthLayer`] on a request with a valid token. Called
/// on the request path: keep it quick (send to a channel for slow sinks); it cannot change the
/// decision.
pub trait DecisionHook: Send + Sync {
    /// One decision.
    fn decided(&self, decision: &AccessDecision<'_>);
}

/// A [`DecisionHook`] that logs each decision as one `tracing` event (target
/// `mcp_auth::decision`, level `info`): `sub`, `client_id`, `jti`, `http_method`, `path`,
/// `mcp_method`, `target`, `decision` (`allow` or `deny`), `required`, `held`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingDecisions;

impl DecisionHook for TracingDecisions {
    fn decided(&self, d: &AccessDecision<'_>) {
        tracing::info!(
            target: "mcp_auth::decision",
            sub = %d.principal.subject,
            client_id = %d.principal.client_id,
            jti = d.principal.token_id.as_deref().unwrap_or("-"),
            http_method = %d.method,
            path = d.path,
            mcp_method = d.mcp_method().unwrap_or("-"),
            target = d.target().unwrap_or("-"),
            decision = if d.allowed { "allow" } else { "deny" },
            required = %d.required,
            held = %d.held,
            "access decision"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_and_target_read_from_the_operation() {
        let principal = Principal {
            issuer: "https://as.example".into(),
            subject: "u1".into(),
            client_id: "c1".into(),
            scopes: ScopeSet::default(),
            expires_at: 0,
            token_id: None,
            claims: Default::default(),
        };
        let empty = ScopeSet::default();
        let op = McpOperation::CallTool("search".into());
        let d = AccessDecision {
            principal: &principal,
            method: &Method::POST,
            path: "/mcp",
            operation: Some(&op),
            allowed: true,
            required: &empty,
            held: &empty,
        };
        assert_eq!(
            (d.mcp_method(), d.target()),
            (Some("tools/call"), Some("search"))
        );
        let list = McpOperation::Method("tools/list".into());
        let d = AccessDecision {
            operation: Some(&list),
            ..d
        };
        assert_eq!((d.mcp_method(), d.target()), (Some("tools/list"), None));
        let d = AccessDecision {
            operation: None,
            ..d
        };
        assert_eq!((d.mcp_method(), d.target()), (None, None));
        TracingDecisions.decided(&d);
    }
}
