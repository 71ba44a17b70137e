//! The reply model and its reading: what one request came back with ([`Reply`], plain data),
//! the parts of a chat completion the checks judge ([`Answer`], read by [`parse_answer`]), and
//! a tolerant reading of the error envelope ([`error_info`]: `error` as an object or a bare
//! string, `code` as a string, an integer or null, or no envelope at all). Pure: the client
//! ([`super::client`]) produces replies, the classifier and the stream assembler read them,
//! and nothing here sends.

use serde_json::Value;

/// What one request came back with, as plain data (the input of the classifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The server answered: any status, the body as text (as much of it as the client read).
    Http { status: u16, body: String },
    /// No complete answer within `--timeout`.
    Timeout,
    /// No answer at all: refused or broken connection, DNS or TLS failure.
    Unreachable { detail: String },
}

/// The parts of `choices[0]` the checks judge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub finish_reason: Option<String>,
    /// `message.content` when it is a string (`null`, missing or another type: `None`).
    pub content: Option<String>,
    /// `message.reasoning` or `message.reasoning_content`, when a string.
    pub reasoning: Option<String>,
    /// Which of the two held [`Answer::reasoning`] (SMK-036).
    pub reasoning_field: Option<&'static str>,
    /// `usage.completion_tokens_details.reasoning_tokens`, when a number (SMK-036).
    pub reasoning_tokens: Option<u64>,
    pub tool_calls: Vec<ToolCall>,
}

impl Answer {
    /// Whether the answer put text in `reasoning` / `reasoning_content`.
    pub(crate) fn has_reasoning(&self) -> bool {
        self.reasoning
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
    }

    /// SMK-036: when the content is empty or the answer finished with `length` while reasoning
    /// holds text, the tokens that say so: `reasoning_chars`, `reasoning_field`,
    /// `finish_reason` (when given), `reasoning_tokens` (when `usage` gives it). Else none.
    pub(crate) fn reasoning_diagnosis(&self) -> Vec<(&'static str, String)> {
        let empty = self.content.as_deref().is_none_or(|c| c.trim().is_empty());
        let truncated = self.finish_reason.as_deref() == Some("length");
        let Some(reasoning) = self.reasoning.as_deref().filter(|_| self.has_reasoning()) else {
            return Vec::new();
        };
        if !(empty || truncated) {
            return Vec::new();
        }
        let mut t = vec![("reasoning_chars", reasoning.chars().count().to_string())];
        if let Some(field) = self.reasoning_field {
            t.push(("reasoning_field", field.to_owned()));
        }
        if let Some(finish) = &self.finish_reason {
            t.push(("finish_reason", finish.clone()));
        }
        if let Some(n) = self.reasoning_tokens {
            t.push(("reasoning_tokens", n.to_string()));
        }
        t
    }
}

/// SMK-036's tokens for a reply: a 2xx chat completion's [`Answer::reasoning_diagnosis`], else
/// none.
pub(crate) fn reasoning_diagnosis(reply: &Reply) -> Vec<(&'static str, String)> {
    match reply {
        Reply::Http { status, body } if (200..300).contains(status) => parse_answer(body)
            .map(|a| a.reasoning_diagnosis())
            .unwrap_or_default(),
        _ => Vec::new(),
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
    let (reasoning, reasoning_field) =
        match text(message.get("reasoning")).filter(|r| !r.trim().is_empty()) {
            Some(r) => (Some(r), Some("reasoning")),
            None => match text(message.get("reasoning_content")) {
                Some(r) => (Some(r), Some("reasoning_content")),
                None => (None, None),
            },
        };
    let reasoning_tokens = root
        .pointer("/usage/completion_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64);
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
        reasoning_field,
        reasoning_tokens,
        tool_calls,
    })
}

/// An error envelope, read tolerantly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    pub message: String,
    /// `error.type`.
    pub(crate) kind: Option<String>,
    pub(crate) param: Option<String>,
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
