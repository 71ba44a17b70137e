//! The chat client: the request bodies, one POST with no retry, and a tolerant reading of the
//! answer and of the error envelope (`error` as an object or a bare string, `code` as a string,
//! an integer or null, or no envelope at all).

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

/// What one request came back with, as plain data (the input of the classifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The server answered: any status, the body as text (capped at [`BODY_CAP`]).
    Http { status: u16, body: String },
    /// No complete answer within `--timeout`.
    Timeout,
    /// No answer at all: refused or broken connection, DNS or TLS failure.
    Unreachable { detail: String },
}

/// At most this many bytes of a body are read; the rest is dropped.
pub const BODY_CAP: usize = 1024 * 1024;

/// The parts of `choices[0]` the checks judge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub finish_reason: Option<String>,
    /// `message.content` when it is a string (`null`, missing or another type: `None`).
    pub content: Option<String>,
    /// `message.reasoning` or `message.reasoning_content`, when a string.
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

impl Answer {
    /// Whether the answer put text in `reasoning` / `reasoning_content`.
    pub fn has_reasoning(&self) -> bool {
        self.reasoning
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
    }
}

/// One entry of `message.tool_calls`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    pub name: Option<String>,
    /// `function.arguments` as sent: a string per the API, but any JSON value is kept.
    pub arguments: Option<Value>,
}

/// Reads `choices[0]` of a chat completion; `None` when the body is not JSON or has no
/// `choices[0].message` object.
pub fn parse_answer(body: &str) -> Option<Answer> {
    let root: Value = serde_json::from_str(body).ok()?;
    let choice = root.get("choices")?.as_array()?.first()?;
    let message = choice.get("message")?.as_object()?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let reasoning = text(message.get("reasoning"))
        .filter(|r| !r.trim().is_empty())
        .or_else(|| text(message.get("reasoning_content")));
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|call| {
                    let function = call.get("function");
                    ToolCall {
                        name: text(function.and_then(|f| f.get("name"))),
                        arguments: function.and_then(|f| f.get("arguments")).cloned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Answer {
        finish_reason: text(choice.get("finish_reason")),
        content: text(message.get("content")),
        reasoning,
        tool_calls,
    })
}

/// An error envelope, read tolerantly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    pub message: String,
    /// `error.type`.
    pub kind: Option<String>,
    pub param: Option<String>,
    /// `error.code` as text, whether the server sent a string or a number; `None` for null.
    pub code: Option<String>,
}

/// Reads the error envelope: `{"error": {"message", "type", "param", "code"}}`,
/// `{"error": "..."}`, or a top-level `message` / `detail`. `None` when the body is not JSON or
/// has none of these.
pub fn error_info(body: &str) -> Option<ErrorInfo> {
    let root: Value = serde_json::from_str(body).ok()?;
    let root = root.as_object()?;
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    match root.get("error") {
        Some(Value::Object(err)) => Some(ErrorInfo {
            message: err.get("message").and_then(text).unwrap_or_default(),
            kind: err.get("type").and_then(text),
            param: err.get("param").and_then(text),
            code: err.get("code").and_then(text),
        }),
        Some(Value::Null) | None => ["message", "detail"]
            .iter()
            .find_map(|k| root.get(*k).and_then(text))
            .map(|message| ErrorInfo {
                message,
                ..ErrorInfo::default()
            }),
        Some(other) => Some(ErrorInfo {
            message: text(other).unwrap_or_default(),
            ..ErrorInfo::default()
        }),
    }
}

/// Where and how to send: the chat URL, the optional `Authorization` header (marked
/// sensitive), the model and the token cap.
#[derive(Clone)]
pub struct ChatClient {
    pub http: reqwest::Client,
    pub url: reqwest::Url,
    pub auth: Option<HeaderValue>,
    pub model: String,
    pub max_tokens: u32,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("url", &self.url.as_str())
            .field("auth", &self.auth.as_ref().map(|_| "[REDACTED]"))
            .field("model", &self.model)
            .finish()
    }
}

impl ChatClient {
    /// A request body: model, messages, `stream: false`, `max_tokens`, and `extra` merged in.
    pub fn body(&self, messages: Value, extra: Value) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": false,
            "max_tokens": self.max_tokens,
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    }

    /// One POST — never retried — and how long it took.
    pub async fn send(&self, body: &Value) -> (Reply, Duration) {
        let start = Instant::now();
        let mut request = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body.to_string());
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let reply = match request.send().await {
            Ok(response) => read(response).await,
            Err(e) => transport(&e),
        };
        (reply, start.elapsed())
    }
}

async fn read(mut response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_CAP.saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if bytes.len() >= BODY_CAP {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return transport(&e),
        }
    }
    Reply::Http {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn transport(err: &reqwest::Error) -> Reply {
    if err.is_timeout() {
        return Reply::Timeout;
    }
    // The innermost cause names what went wrong ("Connection refused", a TLS alert) without the
    // URL; the key is only ever in a header, never in these texts.
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    let kind = if err.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    Reply::Unreachable {
        detail: format!("{kind}: {source}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Object, bare-string and non-JSON envelopes; an integer code is read as text.
    #[test]
    fn envelopes() {
        let e =
            error_info(r#"{"error":{"message":"m","type":"t","param":null,"code":401}}"#).unwrap();
        assert_eq!(e.message, "m");
        assert_eq!(e.code.as_deref(), Some("401"));
        assert_eq!(e.param, None);
        assert_eq!(
            error_info(r#"{"error":"unauthorized","signin_url":"u"}"#)
                .unwrap()
                .message,
            "unauthorized"
        );
        assert_eq!(error_info("not json"), None);
        assert_eq!(error_info("[1]"), None);
    }
}
