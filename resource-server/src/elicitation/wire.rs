//! ELIC-R2-02 on the wire (delta 2026-07-28 §9): a 2026-07-28 response carries no
//! `elicitationId`.
//!
//! rmcp 3.9's `ElicitRequestParams::UrlElicitationParams` always serializes `elicitationId`
//! (`""` when unset), and there is no typed way around it: `InputRequest` is a closed enum of
//! rmcp's request types, and a tool handler answers with a `CallToolResponse`. So the bearer
//! layer ([`crate::BearerAuthLayer`], feature `elicitation`) passes the responses of 2026-07-28
//! `tools/call` requests through [`strip_elicitation_ids`], which removes
//! `params.elicitationId` only where it is `""` inside `result.inputRequests.*` of a URL-mode
//! `elicitation/create` of a `resultType: "input_required"` result. Everything else passes byte
//! for byte: other responses, other messages and events, and any body or SSE event larger than
//! [`REWRITE_LIMIT`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use serde_json::Value;

/// The most bytes of one JSON body or one SSE event that are rewritten (1 MiB). A bigger event
/// passes untouched; once a JSON body or an incomplete event buffers more, the rest of the body
/// passes through untouched.
pub(crate) const REWRITE_LIMIT: usize = 1 << 20;

/// The protocol version whose responses carry no `elicitationId`.
const R2: &str = "2026-07-28";

/// True when the request body is a JSON-RPC `tools/call` of protocol 2026-07-28: the
/// `MCP-Protocol-Version` header or `params._meta["io.modelcontextprotocol/protocolVersion"]`
/// says `2026-07-28`.
pub(crate) fn is_r2_tool_call(headers: &HeaderMap, body: &[u8]) -> bool {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return false;
    }
    let header = headers
        .get_all("mcp-protocol-version")
        .iter()
        .any(|v| v.as_bytes() == R2.as_bytes());
    let meta = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .and_then(Value::as_str)
        == Some(R2);
    header || meta
}

/// Removes `params.elicitationId` where it is `""` in the URL-mode `elicitation/create`
/// entries of `result.inputRequests` of an `input_required` result; true if anything changed.
fn strip_message(message: &mut Value) -> bool {
    let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) else {
        return false;
    };
    if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
        return false;
    }
    let Some(requests) = result
        .get_mut("inputRequests")
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let mut changed = false;
    for request in requests.values_mut() {
        if request.get("method").and_then(Value::as_str) != Some("elicitation/create") {
            continue;
        }
        let Some(params) = request.get_mut("params").and_then(Value::as_object_mut) else {
            continue;
        };
        if params.get("mode").and_then(Value::as_str) == Some("url")
            && params.get("elicitationId").and_then(Value::as_str) == Some("")
        {
            params.remove("elicitationId");
            changed = true;
        }
    }
    changed
}

/// One JSON-RPC message without the empty `elicitationId`s, or `None` when it is not JSON or
/// has none (the caller then keeps the original bytes).
fn strip_json(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(bytes).ok()?;
    if !strip_message(&mut message) {
        return None;
    }
    serde_json::to_vec(&message).ok()
}

/// The line of `buf` starting at `start`: `(end of its content, start of the next line)`, or
/// `None` when its terminator (CRLF, LF or CR, per the SSE grammar) has not arrived yet. A CR
/// as the last byte waits for a possible LF unless `eof`.
fn next_line(buf: &[u8], start: usize, eof: bool) -> Option<(usize, usize)> {
    let i = start
        + buf[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')?;
    if buf[i] == b'\n' {
        return Some((i, i + 1));
    }
    match buf.get(i + 1) {
        Some(b'\n') => Some((i, i + 2)),
        Some(_) => Some((i, i + 1)),
        None if eof => Some((i, i + 1)),
        None => None,
    }
}

/// One complete SSE event (its lines and the blank line ending it) with the message of its
/// `data` field rewritten, or `None` to keep the original bytes. The `data` lines become one
/// `data: ` line at the place of the first; every other line stays as it was.
fn strip_event(event: &[u8]) -> Option<Vec<u8>> {
    let mut lines = Vec::new();
    let mut pos = 0;
    while pos < event.len() {
        let (end, next) = next_line(event, pos, true)?;
        lines.push((&event[pos..end], &event[end..next]));
        pos = next;
    }
    let is_data = |line: &[u8]| line == b"data" || line.starts_with(b"data:");
    let data: Vec<&[u8]> = lines
        .iter()
        .filter(|(line, _)| is_data(line))
        .map(|(line, _)| {
            let value = line.get(5..).unwrap_or_default();
            value.strip_prefix(b" ").unwrap_or(value)
        })
        .collect();
    if data.is_empty() {
        return None;
    }
    let message = strip_json(&data.join(&b'\n'))?;
    let mut out = Vec::with_capacity(event.len());
    let mut written = false;
    for (line, terminator) in lines {
        if is_data(line) {
            if !written {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&message);
                out.extend_from_slice(terminator);
                written = true;
            }
        } else {
            out.extend_from_slice(line);
            out.extend_from_slice(terminator);
        }
    }
    Some(out)
}

/// What the body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One JSON-RPC message (`application/json`).
    Json,
    /// Server-sent events (`text/event-stream`), rewritten event by event.
    Sse,
}

/// A response body rewritten by [`strip_elicitation_ids`]: buffered up to [`REWRITE_LIMIT`]
/// (the whole JSON body, or the event being received), then passed on.
#[derive(Debug)]
pub(crate) struct StripBody<B> {
    inner: B,
    format: Format,
    /// Bytes received and not yet passed on.
    buf: Vec<u8>,
    /// Start of the first incomplete SSE line in `buf` (whose event starts at `buf[0]`).
    scan: usize,
    /// Forward the inner body untouched from now on.
    passthrough: bool,
    ready: VecDeque<Frame<Bytes>>,
    ended: bool,
}

impl<B> StripBody<B> {
    fn new(inner: B, format: Format, passthrough: bool) -> Self {
        Self {
            inner,
            format,
            buf: Vec::new(),
            scan: 0,
            passthrough,
            ready: VecDeque::new(),
            ended: false,
        }
    }

    fn emit(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.ready.push_back(Frame::data(Bytes::from(bytes)));
        }
    }

    /// Passes on every complete SSE event in `buf`, rewritten where needed.
    fn drain_events(&mut self, eof: bool) {
        let mut out = Vec::new();
        let mut event_start = 0;
        while let Some((end, next)) = next_line(&self.buf, self.scan, eof) {
            if end == self.scan {
                let event = &self.buf[event_start..next];
                let rewritten = if event.len() <= REWRITE_LIMIT {
                    strip_event(event)
                } else {
                    None
                };
                out.extend_from_slice(rewritten.as_deref().unwrap_or(event));
                event_start = next;
            }
            self.scan = next;
        }
        self.buf.drain(..event_start);
        self.scan -= event_start;
        self.emit(out);
    }

    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        if self.format == Format::Sse {
            self.drain_events(false);
        }
        if self.buf.len() > REWRITE_LIMIT {
            self.passthrough = true;
            let rest = std::mem::take(&mut self.buf);
            self.emit(rest);
        }
    }

    /// The end of the data: rewrite what is buffered and pass it on.
    fn flush(&mut self) {
        if self.passthrough || self.buf.is_empty() {
            return;
        }
        match self.format {
            Format::Json => {
                let buf = std::mem::take(&mut self.buf);
                let out = strip_json(&buf).unwrap_or(buf);
                self.emit(out);
            }
            Format::Sse => {
                self.drain_events(true);
                let rest = std::mem::take(&mut self.buf);
                self.emit(rest);
            }
        }
        self.passthrough = true;
    }

    fn idle(&self) -> bool {
        self.passthrough && self.buf.is_empty() && self.ready.is_empty()
    }
}

impl<B> Body for StripBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(frame) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.flush();
                    this.ended = true;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if this.passthrough => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(data) => this.push(&data),
                    Err(trailers) => {
                        this.flush();
                        this.ready.push_back(trailers);
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.idle() && !self.ended {
            self.inner.is_end_stream()
        } else {
            self.ended && self.ready.is_empty()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.idle() && !self.ended {
            self.inner.size_hint()
        } else {
            SizeHint::default()
        }
    }
}

/// The response of a 2026-07-28 `tools/call` ([`is_r2_tool_call`]) without empty
/// `elicitationId`s (ELIC-R2-02). Only a `200` with `Content-Type` `application/json` or
/// `text/event-stream` and no `Content-Encoding` (other than `identity`) is read, a JSON body
/// only when its `Content-Length` is absent or at most [`REWRITE_LIMIT`]; then
/// `Content-Length` is removed, since the length may change. Any other response passes
/// untouched, headers and bytes.
pub(crate) fn strip_elicitation_ids<B>(resp: Response<B>) -> Response<StripBody<B>> {
    let format = rewritable(resp.status(), resp.headers());
    let (mut parts, body) = resp.into_parts();
    let body = match format {
        Some(format) => {
            parts.headers.remove(CONTENT_LENGTH);
            StripBody::new(body, format, false)
        }
        None => StripBody::new(body, Format::Json, true),
    };
    Response::from_parts(parts, body)
}

/// The format of a response [`strip_elicitation_ids`] reads, or `None` to pass it untouched.
fn rewritable(status: StatusCode, headers: &HeaderMap) -> Option<Format> {
    if status != StatusCode::OK {
        return None;
    }
    let encoded = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return None;
    }
    let mut types = headers.get_all(CONTENT_TYPE).iter();
    let content_type = types.next()?;
    if types.next().is_some() {
        return None;
    }
    let essence = content_type
        .to_str()
        .ok()?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if essence.eq_ignore_ascii_case("text/event-stream") {
        return Some(Format::Sse);
    }
    if !essence.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let length = headers
        .get(CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()));
    match length {
        None => Some(Format::Json),
        Some(Some(n)) if n <= REWRITE_LIMIT as u64 => Some(Format::Json),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use http_body_util::BodyExt;
    use serde_json::json;

    /// A body yielding the given chunks.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn input_required(id: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 7, "result": {
            "resultType": "input_required",
            "inputRequests": {
                "connect": {"method": "elicitation/create", "params": {
                    "mode": "url", "message": "Connect", "url": "https://as.example/connect/x",
                    "elicitationId": id}},
                "form": {"method": "elicitation/create", "params": {
                    "mode": "form", "message": "m", "elicitationId": "",
                    "requestedSchema": {"type": "object", "properties": {}}}}
            },
            "requestState": "s"
        }})
    }

    fn stripped() -> Value {
        let mut v = input_required(json!(""));
        v["result"]["inputRequests"]["connect"]["params"]
            .as_object_mut()
            .unwrap()
            .remove("elicitationId");
        v
    }

    async fn run(content_type: &str, chunks: Vec<Vec<u8>>) -> Vec<u8> {
        let resp = Response::builder()
            .header(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap())
            .body(Chunks(chunks.into_iter().map(Bytes::from).collect()))
            .unwrap();
        let resp = strip_elicitation_ids(resp);
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    /// ELIC-R2-02: a JSON body loses the empty `elicitationId` of the URL entry only; the form
    /// entry (not URL mode) keeps its field.
    #[tokio::test]
    async fn json_body_loses_only_the_empty_url_elicitation_id() {
        let body = input_required(json!("")).to_string().into_bytes();
        let (a, b) = body.split_at(10);
        let out = run("application/json", vec![a.to_vec(), b.to_vec()]).await;
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out, stripped());
        assert_eq!(
            out["result"]["inputRequests"]["form"]["params"]["elicitationId"],
            ""
        );
    }

    /// ELIC-R2-02: an SSE body split at every byte position, with LF, CRLF and CR line ends,
    /// a priming event, a comment and an `id` line, loses exactly the empty `elicitationId`;
    /// every other byte is kept.
    #[tokio::test]
    async fn sse_events_split_anywhere_are_rewritten() {
        let message = input_required(json!("")).to_string();
        let expected_message = stripped().to_string();
        for nl in ["\n", "\r\n", "\r"] {
            let prefix = format!("id: 0{nl}retry: 3000{nl}data:{nl}{nl}: ping{nl}{nl}");
            let body = format!("{prefix}id: 1{nl}data: {message}{nl}{nl}");
            let expected = format!("{prefix}id: 1{nl}data: {expected_message}{nl}{nl}");
            let bytes = body.as_bytes();
            for split in 0..=bytes.len() {
                let (a, b) = bytes.split_at(split);
                let out = run("text/event-stream", vec![a.to_vec(), b.to_vec()]).await;
                assert_eq!(String::from_utf8(out).unwrap(), expected, "split {split}");
            }
            let one_by_one = bytes.iter().map(|b| vec![*b]).collect();
            let out = run("text/event-stream", one_by_one).await;
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    /// A multi-line `data` field is joined per the SSE grammar and written back as one line.
    #[tokio::test]
    async fn sse_multi_line_data_is_joined() {
        let message = serde_json::to_string_pretty(&input_required(json!(""))).unwrap();
        let data: String = message.lines().map(|l| format!("data: {l}\n")).collect();
        let out = run("text/event-stream", vec![format!("{data}\n").into_bytes()]).await;
        let out = String::from_utf8(out).unwrap();
        let line = out.strip_prefix("data: ").unwrap().strip_suffix("\n\n");
        let value: Value = serde_json::from_str(line.unwrap()).unwrap();
        assert_eq!(value, stripped());
    }

    /// Everything else passes byte for byte: a non-empty id, a result that is not
    /// `input_required`, an error, other content types, another status, and a body over the
    /// limit.
    #[tokio::test]
    async fn everything_else_passes_byte_for_byte() {
        let kept = [
            input_required(json!("abc")).to_string(),
            input_required(json!(null)).to_string(),
            {
                let mut v = input_required(json!(""));
                v["result"]["resultType"] = json!("complete");
                v.to_string()
            },
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32042,"data":{"elicitationId":""}}}"#
                .to_owned(),
            "  { not json".to_owned(),
        ];
        for body in kept {
            let out = run("application/json", vec![body.clone().into_bytes()]).await;
            assert_eq!(out, body.as_bytes());
            let event = format!("data: {body}\n\n");
            let out = run("text/event-stream", vec![event.clone().into_bytes()]).await;
            assert_eq!(out, event.as_bytes());
        }
        let body = input_required(json!("")).to_string();
        assert_eq!(
            run("text/plain", vec![body.clone().into_bytes()]).await,
            body.as_bytes()
        );

        let resp = Response::builder()
            .status(StatusCode::CREATED)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len())
            .body(Chunks([Bytes::from(body.clone())].into()))
            .unwrap();
        let resp = strip_elicitation_ids(resp);
        assert_eq!(resp.headers()[CONTENT_LENGTH], body.len().to_string());
        let out = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(out, body.as_bytes());

        let resp = Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(Chunks([Bytes::from(body.clone())].into()))
            .unwrap();
        let out = strip_elicitation_ids(resp).into_body().collect().await;
        assert_eq!(out.unwrap().to_bytes(), body.as_bytes());

        // Over the limit: JSON and an SSE event pass untouched.
        let mut big = input_required(json!(""));
        big["result"]["requestState"] = json!("x".repeat(REWRITE_LIMIT));
        let big = big.to_string();
        let chunks: Vec<Vec<u8>> = big.as_bytes().chunks(4096).map(<[u8]>::to_vec).collect();
        assert!(run("application/json", chunks).await == big.as_bytes());
        let event = format!("data: {big}\n\n");
        let chunks: Vec<Vec<u8>> = event.as_bytes().chunks(4096).map(<[u8]>::to_vec).collect();
        assert!(run("text/event-stream", chunks).await == event.as_bytes());
        // A big event in one chunk passes untouched; the small event after it is rewritten.
        let small = input_required(json!("")).to_string();
        let body = format!("{event}data: {small}\n\n");
        let expected = format!("{event}data: {}\n\n", stripped());
        let out = run("text/event-stream", vec![body.into_bytes()]).await;
        assert!(out == expected.as_bytes());
    }

    /// A JSON body declaring more than the limit is not read at all; `Content-Length` stays.
    #[test]
    fn declared_large_json_is_not_rewritten() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(REWRITE_LIMIT as u64 + 1));
        assert_eq!(rewritable(StatusCode::OK, &h), None);
        h.insert(CONTENT_LENGTH, HeaderValue::from(10u64));
        assert_eq!(rewritable(StatusCode::OK, &h), Some(Format::Json));
    }

    /// Only 2026-07-28 `tools/call` requests are rewritten.
    #[test]
    fn only_r2_tool_calls_qualify() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#;
        let meta = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let mut r2 = HeaderMap::new();
        r2.insert("mcp-protocol-version", HeaderValue::from_static(R2));
        let mut r1 = HeaderMap::new();
        r1.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-11-25"),
        );
        assert!(is_r2_tool_call(&r2, call));
        assert!(is_r2_tool_call(&HeaderMap::new(), meta));
        assert!(!is_r2_tool_call(&r1, call));
        assert!(!is_r2_tool_call(&r2, list));
        assert!(!is_r2_tool_call(&r2, b"not json"));
    }
}
