//! Issue 25 §2: the layer's decision hook hears every decision on a request with a valid token:
//! the principal, the client, the MCP method and tool, allowed or denied, the scopes required and
//! held. Requests without a valid token are not decisions about a principal and are not heard.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use http::StatusCode;
use mcp_auth_resource_server::{AccessDecision, DecisionHook, RootMetadata};

/// What the hook heard: (sub, client_id, mcp method, target, allowed, required, held).
type Heard = (String, String, String, String, bool, String, String);

#[derive(Default)]
struct Recorder(Mutex<Vec<Heard>>);

impl DecisionHook for Recorder {
    fn decided(&self, d: &AccessDecision<'_>) {
        self.0.lock().unwrap().push((
            d.principal.subject.clone(),
            d.principal.client_id.clone(),
            d.mcp_method().unwrap_or("-").to_owned(),
            d.target().unwrap_or("-").to_owned(),
            d.allowed,
            d.required.to_string(),
            d.held.to_string(),
        ));
    }
}

#[tokio::test]
async fn every_decision_with_a_valid_token_is_heard() {
    let recorder = Arc::new(Recorder::default());
    let f = fixture_with_hook(RootMetadata::Off, Some(recorder.clone())).await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(tools_list(Some(&token))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = f.send(call_tool(Some(&token), "delete_repo")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = f.send(call_tool(None, "delete_repo")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let heard = recorder.0.lock().unwrap().clone();
    assert_eq!(heard.len(), 2, "{heard:?}");
    let (sub, client, method, target, allowed, required, held) = &heard[0];
    assert_eq!(
        (method.as_str(), target.as_str(), *allowed),
        ("tools/list", "-", true)
    );
    assert_eq!(
        (required.as_str(), held.as_str()),
        ("mcp:basic", "mcp:basic")
    );
    assert!(!sub.is_empty() && !client.is_empty());
    let (_, _, method, target, allowed, required, held) = &heard[1];
    assert_eq!(
        (method.as_str(), target.as_str(), *allowed),
        ("tools/call", "delete_repo", false)
    );
    assert_eq!(
        (required.as_str(), held.as_str()),
        ("mcp:basic repo:write", "mcp:basic")
    );
}
