//! The chat client: the request bodies, one POST under [`RULES`] (never retried, bodies cut
//! at [`BODY_CAP`]), and the [`Reply`] an [`Outcome`] means. The reply model and its reading
//! live in [`super::answer`].

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::answer::Reply;
use super::stream::{Assembled, Assembler};
use crate::http::{self, Bearer, BodyRules, Cap, Outcome, Request, Retry, Stage, Url};
use crate::secret::SecretString;

/// At most this many bytes of a body are read; the rest is dropped.
pub(crate) const BODY_CAP: usize = 1024 * 1024;

/// The smoke's rules: one attempt (a retry would hide a flaky endpoint), every body cut at
/// [`BODY_CAP`], a broken body a failed exchange.
pub(crate) const RULES: http::Rules = http::Rules {
    retry: Retry::Never,
    body: BodyRules {
        answer: Cap::Truncate(BODY_CAP),
        error: Cap::Truncate(BODY_CAP),
        error_best_effort: false,
    },
};

/// The reply an outcome means: any answer is `Http` with its body as text, whatever the status
/// (the classifier judges it); a timeout and an unreachable endpoint are their own.
pub(crate) fn reply_of(outcome: Outcome) -> Reply {
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
pub(crate) struct Sent {
    pub(crate) reply: Reply,
    pub(crate) latency: Duration,
    pub(crate) retry_after: Option<Duration>,
}

/// Where and how to send: the chat URL, the optional `Authorization` header (its `Debug`
/// shows no key), the model and the token cap.
#[derive(Debug, Clone)]
pub(crate) struct ChatClient {
    /// The project's HTTP client.
    pub(crate) http: http::Client,
    /// `<base-url>/chat/completions`.
    pub(crate) url: Url,
    /// The Bearer header, when a key was found.
    pub(crate) auth: Option<Bearer>,
    /// `model` of every request.
    pub(crate) model: String,
    /// `max_tokens` of every request.
    pub(crate) max_tokens: u32,
    /// `reasoning_effort` of every request, when given.
    pub(crate) reasoning_effort: Option<&'static str>,
    /// `<base-url>/models`.
    pub(crate) models_url: Url,
}

/// One streamed request: how it ended, what its events assembled to, how long it took.
#[derive(Debug, Clone)]
pub(crate) struct StreamSent {
    /// The HTTP side: a 2xx (its body went to the assembler: `body` is empty here), or any
    /// other outcome as a reply.
    pub(crate) reply: Reply,
    /// The stream broke (timeout, transport) after it began: the reply it means.
    pub(crate) broken: Option<Reply>,
    /// What the body's events assembled to (empty when there was no 2xx).
    pub(crate) assembled: Assembled,
    pub(crate) latency: Duration,
    pub(crate) retry_after: Option<Duration>,
}

impl ChatClient {
    /// A request body: model, messages, `stream: false`, `max_tokens`, `reasoning_effort`
    /// when given, and `extra` merged in (a streamed check's `"stream": true` replaces the
    /// default).
    pub(crate) fn body(&self, messages: Value, extra: Value) -> Value {
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
    pub(crate) async fn send(&self, body: &Value) -> Sent {
        let start = Instant::now();
        let body = SecretString::from(body.to_string());
        let mut request = Request::post_json(&self.url, &body).accept_json();
        if let Some(auth) = &self.auth {
            request = request.bearer(auth);
        }
        let exchange = self.http.send(&request, &RULES).await;
        let retry_after = exchange.outcome.retry_after();
        Sent {
            reply: reply_of(exchange.outcome),
            latency: start.elapsed(),
            retry_after,
        }
    }

    /// One streamed POST — never retried — its 2xx body parsed as Server-Sent Events as it
    /// arrives (at most [`BODY_CAP`] bytes), the time to the first token measured on arrival.
    pub(crate) async fn stream(&self, body: &Value) -> StreamSent {
        let start = Instant::now();
        let body = SecretString::from(body.to_string());
        let mut request = Request::post_json(&self.url, &body);
        if let Some(auth) = &self.auth {
            request = request.bearer(auth);
        }
        let mut assembler = Assembler::new(start);
        let streamed = self
            .http
            .stream(&request, &RULES.body, BODY_CAP, &mut |chunk| {
                assembler.feed(chunk)
            })
            .await;
        let assembled = assembler.finish();
        let latency = start.elapsed();
        match streamed {
            http::Streamed::Body { status, broken } => StreamSent {
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
                retry_after: outcome.retry_after(),
                reply: reply_of(outcome),
                broken: None,
                assembled,
                latency,
            },
        }
    }

    /// One `GET <base-url>/models` — never retried.
    pub(crate) async fn models(&self) -> Reply {
        let mut request = Request::get(&self.models_url).accept_json();
        if let Some(auth) = &self.auth {
            request = request.bearer(auth);
        }
        reply_of(self.http.send(&request, &RULES).await.outcome)
    }
}
