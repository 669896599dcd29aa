//! Reading the MCP operation of a JSON-RPC request body the way the MCP server will dispatch it,
//! and refusing every body that cannot be read that way (issue #8 item 1: fail closed).
//!
//! The layer reads exactly one field per operation: `params.name` for `tools/call` and
//! `prompts/get`, `params.uri` for `resources/read`, `resources/subscribe` and
//! `resources/unsubscribe` (MCP 2025-11-25 schema). Other members of `params` do not matter.
//! A body is refused ([`OperationError`], answered `400 invalid_request`) when:
//!
//! - it is not UTF-8 JSON, or it is a JSON-RPC batch (an array; MCP 2025-06-18 and later have
//!   no batches), or a JSON value that is not an object;
//! - a member name appears twice in the message or in its `params` object (readers disagree on
//!   which one counts: `serde_json::Value` keeps the last, derived structs refuse the message);
//! - `method` is present but not a string;
//! - the method's scope depends on a name and `params` is missing or not an object, or the
//!   name field is missing or not a string.
//!
//! A message without `method` (a JSON-RPC response to a server request) names no operation.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One MCP operation named by a JSON-RPC request body (MCP 2025-11-25 schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpOperation {
    /// `tools/call` of the tool `params.name`.
    CallTool(String),
    /// `resources/read` (or `subscribe`/`unsubscribe`) of `params.uri`.
    ReadResource(String),
    /// `prompts/get` of `params.name`.
    GetPrompt(String),
    /// Any other method, e.g. `tools/list`.
    Method(String),
}

/// Why a request body's MCP operation could not be read (answered `400 invalid_request`).
///
/// The `Display` text is the public `error_description`; it never echoes the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// Not UTF-8, not JSON, or trailing data after the JSON value (RFC 8259).
    #[error("the request body is not JSON")]
    NotJson,
    /// A JSON array: a JSON-RPC batch, which MCP does not accept.
    #[error("JSON-RPC batches are not accepted")]
    Batch,
    /// A JSON value that is not an object.
    #[error("the JSON-RPC message is not an object")]
    NotAnObject,
    /// A member name appears twice in the message or in its `params`.
    #[error("a JSON-RPC member name appears twice")]
    DuplicateMember,
    /// `method` is not a string.
    #[error("the JSON-RPC method is not a string")]
    MethodNotString,
    /// `params` of a method whose scope depends on a name is missing or not an object.
    #[error("{method} needs a params object")]
    ParamsNotObject {
        /// The method, e.g. `tools/call`.
        method: &'static str,
    },
    /// The name field of a method whose scope depends on a name is missing or not a string.
    #[error("{method} needs params.{field} as a string")]
    NameNotString {
        /// The method, e.g. `tools/call`.
        method: &'static str,
        /// The field, `name` or `uri`.
        field: &'static str,
    },
    /// The method is not one the scope policy covers, and the policy refuses other methods
    /// ([`crate::policy::OtherMethods::Refuse`]).
    #[error("the JSON-RPC method is not covered by the scope policy")]
    UnknownMethod,
}

/// The methods whose required scopes depend on one `params` field, with that field.
const NAMED: [(&str, &str); 5] = [
    ("tools/call", "name"),
    ("prompts/get", "name"),
    ("resources/read", "uri"),
    ("resources/subscribe", "uri"),
    ("resources/unsubscribe", "uri"),
];

impl McpOperation {
    /// The operation of a JSON-RPC body: `Ok(None)` for a message without `method` (a
    /// response), `Ok(Some(op))` for a request or notification.
    ///
    /// # Errors
    /// [`OperationError`] for every body the MCP server might read differently (see the module
    /// documentation).
    pub fn parse_body(body: &[u8]) -> Result<Option<McpOperation>, OperationError> {
        if std::str::from_utf8(body).is_err() {
            return Err(OperationError::NotJson);
        }
        let message = match serde_json::from_slice::<Message>(body) {
            Ok(Message::Object(m)) => m,
            Ok(Message::Array) => return Err(OperationError::Batch),
            Ok(Message::Other) => return Err(OperationError::NotAnObject),
            Err(_) => return Err(OperationError::NotJson),
        };
        if message.duplicate {
            return Err(OperationError::DuplicateMember);
        }
        let method = match message.method {
            None => return Ok(None),
            Some(Value::String(m)) => m,
            Some(_) => return Err(OperationError::MethodNotString),
        };
        let Some(&(method_name, field)) = NAMED.iter().find(|(m, _)| *m == method) else {
            return Ok(Some(McpOperation::Method(method)));
        };
        let Some(Params::Object(params)) = message.params else {
            return Err(OperationError::ParamsNotObject {
                method: method_name,
            });
        };
        if params.duplicate {
            return Err(OperationError::DuplicateMember);
        }
        let value = if field == "name" {
            params.name
        } else {
            params.uri
        };
        let Some(Value::String(name)) = value else {
            return Err(OperationError::NameNotString {
                method: method_name,
                field,
            });
        };
        Ok(Some(match method_name {
            "tools/call" => McpOperation::CallTool(name),
            "prompts/get" => McpOperation::GetPrompt(name),
            _ => McpOperation::ReadResource(name),
        }))
    }
}

/// The top-level JSON value of a body.
enum Message {
    Object(Members),
    Array,
    Other,
}

/// The members of a message that decide its scope; `duplicate` when any member name repeats.
struct Members {
    method: Option<Value>,
    params: Option<Params>,
    duplicate: bool,
}

/// The `params` member.
enum Params {
    Object(ParamMembers),
    Other,
}

struct ParamMembers {
    name: Option<Value>,
    uri: Option<Value>,
    duplicate: bool,
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MessageVisitor)
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParamsVisitor)
    }
}

/// Implements the non-map `visit_*` methods of a visitor as "some other JSON value".
macro_rules! other_values {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    other_values!(Message::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Message, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Message::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let mut seen = HashSet::new();
        let mut out = Members {
            method: None,
            params: None,
            duplicate: false,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "method" => out.method = Some(map.next_value()?),
                "params" => out.params = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if !seen.insert(key) {
                out.duplicate = true;
            }
        }
        Ok(Message::Object(out))
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    other_values!(Params::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Params, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Params::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut seen = HashSet::new();
        let mut out = ParamMembers {
            name: None,
            uri: None,
            duplicate: false,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => out.name = Some(map.next_value()?),
                "uri" => out.uri = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if !seen.insert(key) {
                out.duplicate = true;
            }
        }
        Ok(Params::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Option<McpOperation>, OperationError> {
        McpOperation::parse_body(body.as_bytes())
    }

    #[test]
    fn tools_call_body_names_the_tool() {
        assert_eq!(
            parse(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{}}}"#
            ),
            Ok(Some(McpOperation::CallTool("delete_repo".into())))
        );
    }

    /// Issue #8 item 1: the reproduction's extra `uri` of another type does not hide the tool.
    #[test]
    fn extra_field_of_another_type_does_not_hide_the_tool_name() {
        assert_eq!(
            parse(
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_item","arguments":{"id":"42"},"uri":0}}"#
            ),
            Ok(Some(McpOperation::CallTool("delete_item".into())))
        );
    }

    /// Issue #8 item 1: `resources/read` is decided by `params.uri` alone.
    #[test]
    fn resources_read_is_decided_by_the_uri_alone() {
        assert_eq!(
            parse(r#"{"method":"resources/read","params":{"uri":"file:///a","name":7}}"#),
            Ok(Some(McpOperation::ReadResource("file:///a".into())))
        );
    }

    /// Issue #8 item 1: `resources/unsubscribe` names its resource like `resources/read`.
    #[test]
    fn resources_unsubscribe_names_the_resource() {
        assert_eq!(
            parse(r#"{"method":"resources/unsubscribe","params":{"uri":"file:///a"}}"#),
            Ok(Some(McpOperation::ReadResource("file:///a".into())))
        );
    }

    #[test]
    fn non_json_body_is_refused() {
        assert_eq!(parse("not json"), Err(OperationError::NotJson));
    }

    #[test]
    fn non_utf8_body_is_refused() {
        let mut body = br#"{"method":"tools/call","params":{"name":"echo"#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#""}}"#);
        assert_eq!(
            McpOperation::parse_body(&body),
            Err(OperationError::NotJson)
        );
    }

    #[test]
    fn trailing_data_after_the_message_is_refused() {
        assert_eq!(
            parse(r#"{"method":"tools/list"} {"method":"tools/call"}"#),
            Err(OperationError::NotJson)
        );
    }

    #[test]
    fn batch_is_refused() {
        assert_eq!(
            parse(r#"[{"method":"tools/list"}]"#),
            Err(OperationError::Batch)
        );
    }

    #[test]
    fn json_that_is_not_an_object_is_refused() {
        for body in ["\"tools/call\"", "42", "null", "true"] {
            assert_eq!(parse(body), Err(OperationError::NotAnObject), "{body}");
        }
    }

    #[test]
    fn method_of_another_type_is_refused() {
        assert_eq!(
            parse(r#"{"method":["tools/call"],"params":{"name":"delete_item"}}"#),
            Err(OperationError::MethodNotString)
        );
    }

    /// Issue #8 item 1: `"name":"echo","name":"delete_item"` is refused, whatever the reader.
    #[test]
    fn duplicate_name_is_refused() {
        assert_eq!(
            parse(r#"{"method":"tools/call","params":{"name":"echo","name":"delete_item"}}"#),
            Err(OperationError::DuplicateMember)
        );
    }

    /// A JSON escape in a member name is the same name.
    #[test]
    fn escaped_duplicate_name_is_refused() {
        assert_eq!(
            parse(r#"{"method":"tools/call","params":{"name":"echo","n\u0061me":"delete_item"}}"#),
            Err(OperationError::DuplicateMember)
        );
    }

    #[test]
    fn duplicate_method_is_refused() {
        assert_eq!(
            parse(r#"{"method":"tools/list","method":"tools/call","params":{"name":"x"}}"#),
            Err(OperationError::DuplicateMember)
        );
    }

    #[test]
    fn duplicate_params_is_refused() {
        assert_eq!(
            parse(
                r#"{"method":"tools/call","params":{"name":"echo"},"params":{"name":"delete_item"}}"#
            ),
            Err(OperationError::DuplicateMember)
        );
    }

    #[test]
    fn tools_call_without_params_is_refused() {
        assert_eq!(
            parse(r#"{"method":"tools/call"}"#),
            Err(OperationError::ParamsNotObject {
                method: "tools/call"
            })
        );
    }

    #[test]
    fn prompts_get_with_params_of_another_type_is_refused() {
        for params in ["null", "[]", "\"p\"", "1"] {
            assert_eq!(
                parse(&format!(r#"{{"method":"prompts/get","params":{params}}}"#)),
                Err(OperationError::ParamsNotObject {
                    method: "prompts/get"
                }),
                "{params}"
            );
        }
    }

    #[test]
    fn tool_name_of_wrong_type_is_refused() {
        for name in ["1", "null", "[\"delete_item\"]", "{}"] {
            assert_eq!(
                parse(&format!(
                    r#"{{"method":"tools/call","params":{{"name":{name}}}}}"#
                )),
                Err(OperationError::NameNotString {
                    method: "tools/call",
                    field: "name"
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn resource_uri_missing_is_refused() {
        assert_eq!(
            parse(r#"{"method":"resources/subscribe","params":{"name":"file:///a"}}"#),
            Err(OperationError::NameNotString {
                method: "resources/subscribe",
                field: "uri"
            })
        );
    }

    #[test]
    fn response_without_method_names_no_operation() {
        assert_eq!(parse(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), Ok(None));
    }

    #[test]
    fn other_method_is_named() {
        assert_eq!(
            parse(r#"{"method":"tools/list","params":7}"#),
            Ok(Some(McpOperation::Method("tools/list".into())))
        );
    }
}
