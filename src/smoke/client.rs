//! The chat client: the request bodies, one POST under [`RULES`] (never retried, bodies cut
//! at [`BODY_CAP`]), the [`Reply`] an [`Outcome`] means, and a tolerant reading of the answer
//! and of the error envelope (`error` as an object or a bare string, `code` as a string, an
//! integer or null, or no envelope at all).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{self, Bearer, BodyRules, Cap, Outcome, Request, Retry, Stage, Url};
use crate::secret::SecretString;

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

/// The smoke's rules: one attempt (a retry would hide a flaky endpoint), every body cut at
/// [`BODY_CAP`], a broken body a failed exchange.
pub const RULES: http::Rules = http::Rules {
    retry: Retry::Never,
    body: BodyRules {
        answer: Cap::Truncate(BODY_CAP),
        error: Cap::Truncate(BODY_CAP),
        error_best_effort: false,
    },
};

/// The reply an outcome means: any answer is `Http` with its body as text, whatever the status
/// (the classifier judges it); a timeout and an unreachable endpoint are their own.
pub fn reply_of(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Ok { status, body } => Reply::Http {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        Outcome::Status { code, body, .. } | Outcome::Redirect { code, body } => {
            Reply::Http { status: code, body }
        }
        Outcome::Timeout => Reply::Timeout,
        Outcome::Unreachable { why } => Reply::Unreachable {
            detail: format!(
                "{}: {}",
                match why.stage {
                    Stage::Connect => "cannot connect",
                    Stage::Body | Stage::Other => "connection failed",
                },
                why.cause
            ),
        },
        // Not under `RULES` (bodies are cut, never refused); kept total all the same.
        Outcome::TooLarge => Reply::Unreachable {
            detail: format!("connection failed: the answer is larger than {BODY_CAP} bytes"),
        },
    }
}

/// One request's reply, how long it took, and the server's `Retry-After` when it gave one.
#[derive(Debug, Clone)]
pub struct Sent {
    pub reply: Reply,
    pub latency: Duration,
    pub retry_after: Option<Duration>,
}

/// The `Retry-After` an outcome carries (only a non-2xx status has one).
pub fn retry_after_of(outcome: &Outcome) -> Option<Duration> {
    match outcome {
        Outcome::Status { retry_after, .. } => *retry_after,
        _ => None,
    }
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
    pub fn has_reasoning(&self) -> bool {
        self.reasoning
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
    }

    /// SMK-036: when the content is empty or the answer finished with `length` while reasoning
    /// holds text, the tokens that say so: `reasoning_chars`, `reasoning_field`,
    /// `finish_reason` (when given), `reasoning_tokens` (when `usage` gives it). Else none.
    pub fn reasoning_diagnosis(&self) -> Vec<(&'static str, String)> {
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
pub fn reasoning_diagnosis(reply: &Reply) -> Vec<(&'static str, String)> {
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

/// Where and how to send: the chat URL, the optional `Authorization` header (its `Debug`
/// shows no key), the model and the token cap.
#[derive(Debug, Clone)]
pub struct ChatClient {
    /// The project's HTTP client.
    pub http: http::Client,
    /// `<base-url>/chat/completions`.
    pub url: Url,
    /// The Bearer header, when a key was found.
    pub auth: Option<Bearer>,
    /// `model` of every request.
    pub model: String,
    /// `max_tokens` of every request.
    pub max_tokens: u32,
    /// `reasoning_effort` of every request, when given.
    pub reasoning_effort: Option<&'static str>,
    /// `<base-url>/models`.
    pub models_url: Url,
}

/// One streamed request: how it ended, what its events assembled to, how long it took.
#[derive(Debug, Clone)]
pub struct StreamSent {
    /// The HTTP side: a 2xx (its body went to the assembler: `body` is empty here), or any
    /// other outcome as a reply.
    pub reply: Reply,
    /// The stream broke (timeout, transport) after it began: the reply it means.
    pub broken: Option<Reply>,
    /// What the body's events assembled to (empty when there was no 2xx).
    pub assembled: super::stream::Assembled,
    pub latency: Duration,
    pub retry_after: Option<Duration>,
}

impl ChatClient {
    /// A request body: model, messages, `stream: false`, `max_tokens`, `reasoning_effort`
    /// when given, and `extra` merged in (a streamed check's `"stream": true` replaces the
    /// default).
    pub fn body(&self, messages: Value, extra: Value) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": false,
            "max_tokens": self.max_tokens,
        });
        if let (Some(body), Some(effort)) = (body.as_object_mut(), self.reasoning_effort) {
            body.insert("reasoning_effort".to_owned(), Value::from(effort));
        }
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    }

    /// One POST — never retried — and how long it took.
    pub async fn send(&self, body: &Value) -> Sent {
        let start = Instant::now();
        let body = SecretString::from(body.to_string());
        let mut request = Request::post_json(&self.url, &body).accept_json();
        if let Some(auth) = &self.auth {
            request = request.bearer(auth);
        }
        let exchange = self.http.send(&request, &RULES).await;
        let retry_after = retry_after_of(&exchange.outcome);
        Sent {
            reply: reply_of(exchange.outcome),
            latency: start.elapsed(),
            retry_after,
        }
    }

    /// One streamed POST — never retried — its 2xx body parsed as Server-Sent Events as it
    /// arrives (at most [`BODY_CAP`] bytes), the time to the first token measured on arrival.
    pub async fn stream(&self, body: &Value) -> StreamSent {
        let start = Instant::now();
        let body = SecretString::from(body.to_string());
        let mut request = Request::post_json(&self.url, &body);
        if let Some(auth) = &self.auth {
            request = request.bearer(auth);
        }
        let mut assembler = super::stream::Assembler::new(start);
        let streamed = self
            .http
            .stream(&request, &RULES.body, BODY_CAP, &mut |chunk| {
                assembler.feed(chunk)
            })
            .await;
        let assembled = assembler.finish();
        let latency = start.elapsed();
        match streamed {
            http::Streamed::Body { status, broken, .. } => StreamSent {
                reply: Reply::Http {
                    status,
                    body: String::new(),
                },
                broken: broken.map(|o| reply_of(*o)),
                assembled,
                latency,
                retry_after: None,
            },
            http::Streamed::Other(outcome) => StreamSent {
                retry_after: retry_after_of(&outcome),
                reply: reply_of(outcome),
                broken: None,
                assembled,
                latency,
            },
        }
    }

    /// One `GET <base-url>/models` — never retried.
    pub async fn models(&self) -> Reply {
        let mut request = Request::get(&self.models_url).accept_json();
        if let Some(auth) = &self.auth {
            request = request.bearer(auth);
        }
        reply_of(self.http.send(&request, &RULES).await.outcome)
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
