//! Issue #8 item 1: the per-operation scope policy fails closed. The layer reads exactly the
//! field the MCP server dispatches on, and a body it cannot read that way is refused, never
//! checked against the baseline alone.

mod common;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode};
use mcp_auth_resource_server::{McpOperation, OperationError, ScopeRequirements};
use proptest::prelude::*;

/// The 403 of a `mcp:basic` token calling `delete_repo`.
fn repo_write_403() -> String {
    format!(
        r#"Bearer error="insufficient_scope", error_description="repo:write required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:write""#
    )
}

/// A POST of `body` with `token` and the given `Content-Type` headers.
fn post_raw(token: &str, content_types: &[&str], body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post("/mcp").header("authorization", format!("Bearer {token}"));
    for ct in content_types {
        b = b.header("content-type", *ct);
    }
    b.body(body.into()).unwrap()
}

/// Send `body` as JSON with a `mcp:basic` token; expect 400 `invalid_request` with
/// `description`.
async fn assert_refused(body: impl Into<Body>, description: &str) {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let resp = f.send(post_raw(&token, &["application/json"], body)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(challenge(&resp).unwrap(), invalid_request(description));
    assert_eq!(text(resp).await, error_body("invalid_request", description));
}

/// Issue #8 item 1: the reproduction (an extra `uri` of another type in `params`) gets 403
/// naming the tool's scope, never 200.
#[tokio::test]
async fn extra_param_of_another_type_still_requires_the_tool_scope() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let body = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_repo","arguments":{"id":"42"},"uri":0}}"#;
    let resp = f.send(post_rpc(Some(&token), body.to_owned())).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(challenge(&resp).unwrap(), repo_write_403());
}

/// Issue #8 item 1: a tool name of another type is 400, not a nameless `tools/call`.
#[tokio::test]
async fn tool_name_of_wrong_type_is_refused() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete_repo"]}}"#,
        "tools/call needs params.name as a string",
    )
    .await;
}

/// Issue #8 item 1: `tools/call` without `params` is 400.
#[tokio::test]
async fn tools_call_without_params_is_refused() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        "tools/call needs a params object",
    )
    .await;
}

/// Issue #8 item 1: `"name":"echo","name":"delete_repo"` is 400 whichever name a reader keeps.
#[tokio::test]
async fn duplicate_tool_name_is_refused() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repo"}}"#,
        "a JSON-RPC member name appears twice",
    )
    .await;
}

/// Issue #8 item 1: a repeated `method` is 400.
#[tokio::test]
async fn duplicate_method_is_refused() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"delete_repo"},"method":"tools/call"}"#,
        "a JSON-RPC member name appears twice",
    )
    .await;
}

/// Issue #8 item 1: `method` of another type is 400.
#[tokio::test]
async fn method_of_wrong_type_is_refused() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":7,"params":{"name":"delete_repo"}}"#,
        "the JSON-RPC method is not a string",
    )
    .await;
}

/// Issue #8 item 1: a batch is refused, not checked element by element.
#[tokio::test]
async fn batch_is_refused() {
    assert_refused(
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_repo"}}]"#,
        "JSON-RPC batches are not accepted",
    )
    .await;
}

/// Issue #8 item 1: a JSON body that is not an object is 400.
#[tokio::test]
async fn json_that_is_not_an_object_is_refused() {
    assert_refused("\"tools/call\"", "the JSON-RPC message is not an object").await;
}

/// Issue #8 item 1: a body declared JSON that is not JSON is 400.
#[tokio::test]
async fn body_declared_json_that_is_not_json_is_refused() {
    assert_refused("{\"method\":", "the request body is not JSON").await;
}

/// Issue #8 item 1: a body that is not UTF-8 is 400.
#[tokio::test]
async fn non_utf8_body_is_refused() {
    let mut body =
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","x":""#
            .to_vec();
    body.extend_from_slice(&[0xc3, 0x28]);
    body.extend_from_slice(br#""}}"#);
    assert_refused(body, "the request body is not JSON").await;
}

/// Issue #8 item 1: a JSON-RPC body sent as `text/plain` is read as JSON-RPC all the same.
#[tokio::test]
async fn json_body_under_another_content_type_still_requires_the_tool_scope() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let body = rpc("tools/call", serde_json::json!({"name": "delete_repo"}));
    for content_types in [&["text/plain"][..], &[]] {
        let resp = f
            .send(post_raw(&token, content_types, format!(" \n{body}")))
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{content_types:?}");
        assert_eq!(challenge(&resp).unwrap(), repo_write_403());
    }
}

/// Issue #8 item 1: two `Content-Type` headers (readers may pick either) are 400.
#[tokio::test]
async fn repeated_content_type_is_refused() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let body = rpc("tools/list", serde_json::json!({}));
    let resp = f
        .send(post_raw(
            &token,
            &["application/x-www-form-urlencoded", "application/json"],
            body,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&resp).unwrap(),
        invalid_request("more than one Content-Type header")
    );
}

/// Issue #8 item 1: `prompts/get` is decided by `params.name` alone.
#[tokio::test]
async fn prompts_get_requires_the_prompt_scope_whatever_else_params_holds() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let body = rpc(
        "prompts/get",
        serde_json::json!({"name": "release_notes", "uri": 5, "arguments": []}),
    );
    let resp = f.send(post_rpc(Some(&token), body)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&resp).unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", error_description="repo:read required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:read""#
        )
    );
}

/// Issue #8 item 1: `resources/read`, `resources/subscribe` and `resources/unsubscribe` are
/// decided by `params.uri` alone.
#[tokio::test]
async fn resource_methods_require_the_resource_scope() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    for method in [
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let body = rpc(
            method,
            serde_json::json!({"uri": "repo://secrets", "name": 0}),
        );
        let resp = f.send(post_rpc(Some(&token), body)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{method}");
        assert_eq!(
            challenge(&resp).unwrap(),
            format!(
                r#"Bearer error="insufficient_scope", error_description="repo:admin required", resource_metadata="{PRM_URL}", scope="mcp:basic repo:admin""#
            ),
            "{method}"
        );
    }
}

/// Issue #8 item 1: a resource uri of another type is 400.
#[tokio::test]
async fn resource_uri_of_wrong_type_is_refused() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{"href":"repo://secrets"}}}"#,
        "resources/read needs params.uri as a string",
    )
    .await;
}

/// Issue #8 item 1: a method the policy does not know is refused by default
/// (`OtherMethods::Refuse`).
#[tokio::test]
async fn unknown_method_is_refused_by_default() {
    assert_refused(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call2","params":{"name":"delete_repo"}}"#,
        "the JSON-RPC method is not covered by the scope policy",
    )
    .await;
}

/// A JSON-RPC response (no `method`) needs only the baseline.
#[tokio::test]
async fn response_message_needs_only_the_baseline() {
    let f = fixture().await;
    let token = f.minter().valid("mcp:basic").unwrap();
    let body = r#"{"jsonrpc":"2.0","id":9,"result":{"name":"delete_repo"}}"#;
    let resp = f.send(post_rpc(Some(&token), body.to_owned())).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A JSON value of the shapes an attacker puts beside `name`.
fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_/:]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..4)
                .prop_map(|m| { serde_json::Value::Object(m.into_iter().collect()) }),
        ]
    })
}

/// A member name: mostly the ones readers care about, sometimes anything.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_owned()),
        Just("uri".to_owned()),
        Just("arguments".to_owned()),
        Just("_meta".to_owned()),
        Just("n\\u0061me".to_owned()),
        "[a-zA-Z_]{1,8}",
    ]
}

proptest! {
    /// Issue #8 item 1: for arbitrary `params` members around a top-level
    /// `"name":"delete_repo"` (extra fields of any type, repeated names, escaped names), the
    /// request is either refused or requires `repo:write`; never the baseline alone.
    #[test]
    fn params_naming_delete_repo_always_require_its_scope(
        members in prop::collection::vec((arb_key(), arb_json()), 0..6),
        at in 0usize..7,
    ) {
        let mut rendered: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        rendered.insert(at.min(rendered.len()), r#""name":"delete_repo""#.to_owned());
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{{}}}}}"#,
            rendered.join(",")
        );
        let policy: ScopeRequirements = policy();
        let outcome = McpOperation::parse_body(body.as_bytes()).and_then(|op| {
            policy.requirement(&http::Method::POST, "/mcp", op.as_slice())
        });
        match outcome {
            Ok(required) => prop_assert!(required.contains("repo:write"), "{body} → {required}"),
            Err(e) => prop_assert!(
                matches!(e, OperationError::DuplicateMember),
                "{body} → {e:?}"
            ),
        }
    }
}
