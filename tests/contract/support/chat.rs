//! A wiremock stand-in for an OpenAI-compatible chat endpoint, serving payloads from
//! `fixtures/openai/` in the shapes of `../shared/reference/openai-compat.md`.
//!
//! Every request is sorted into the [`Step`] it belongs to (plain chat, each JSON ladder step,
//! tool call) by its body, so a test can answer each step differently and count each one with
//! `Mock::expect`. Call [`Chat::verify`] at the end of a test: the counts are checked there,
//! inside the test.

use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::fixtures::fixture_json;

/// The chat route under the base URL `<server>/v1`.
pub const CHAT: &str = "/v1/chat/completions";

/// What a request asks for, read from its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `chat_completion`: no `tools`, no `response_format`, no mention of JSON.
    Chat,
    /// `response_format.type == "json_schema"`.
    JsonSchema,
    /// `response_format.type == "json_object"`.
    JsonObject,
    /// No `response_format`, no `tools`, a prompt that demands JSON.
    Plain,
    /// A request offering `tools`.
    Tool,
}

impl Step {
    /// Sorts a request body into its step; `None` for anything else (a bug in the smoke).
    pub fn of(body: &Value) -> Option<Step> {
        if body.get("tools").is_some() {
            return Some(Step::Tool);
        }
        match body.pointer("/response_format/type").map(Value::as_str) {
            Some(Some("json_schema")) => Some(Step::JsonSchema),
            Some(Some("json_object")) => Some(Step::JsonObject),
            Some(_) => None,
            None => {
                let asks_json = body
                    .get("messages")
                    .is_some_and(|m| m.to_string().contains("JSON"));
                Some(if asks_json { Step::Plain } else { Step::Chat })
            }
        }
    }

    fn matches(self, req: &Request) -> bool {
        serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|b| Step::of(&b))
            == Some(self)
    }
}

/// A response with a fixture as its JSON body.
pub fn reply(status: u16, fixture: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(fixture_json(fixture))
}

/// A 200 chat completion whose `message.content` is `content`.
pub fn content(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "chatcmpl-synthetic", "object": "chat.completion", "model": "gemma4:31b-cloud",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}]
    }))
}

pub struct Chat {
    pub server: MockServer,
}

impl Chat {
    pub async fn start() -> Self {
        Chat {
            server: MockServer::start().await,
        }
    }

    /// The base URL to pass as `--base-url`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// Answers every chat request with a fixture, expecting exactly `times` requests.
    pub async fn answer(&self, status: u16, fixture: &str, times: u64) {
        Mock::given(method("POST"))
            .and(path(CHAT))
            .respond_with(reply(status, fixture))
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Answers requests of one step with a fixture, expecting exactly `times` of them.
    pub async fn on(&self, step: Step, status: u16, fixture: &str, times: u64) {
        self.on_with(step, reply(status, fixture), times).await;
    }

    /// Answers requests of one step with any responder, expecting exactly `times` of them.
    pub async fn on_with(&self, step: Step, responder: impl Respond + 'static, times: u64) {
        Mock::given(method("POST"))
            .and(path(CHAT))
            .and(move |req: &Request| step.matches(req))
            .respond_with(responder)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Answers the first `n` requests of one step with `first` (then the next mock applies),
    /// expecting exactly `n` of them.
    pub async fn first_n(&self, step: Step, n: u64, first: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(CHAT))
            .and(move |req: &Request| step.matches(req))
            .respond_with(first)
            .up_to_n_times(n)
            .expect(n)
            .mount(&self.server)
            .await;
    }

    /// Expects no request of this step at all (a 500 would be answered if one came).
    pub async fn never(&self, step: Step) {
        self.on_with(step, ResponseTemplate::new(500), 0).await;
    }

    /// Answers one step after `delay` (the answer itself is a passing one).
    pub async fn slow(&self, step: Step, fixture: &str, delay: Duration, times: u64) {
        self.on_with(step, reply(200, fixture).set_delay(delay), times)
            .await;
    }

    /// Every request body received so far.
    pub async fn bodies(&self) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Checks every `expect(n)` now, inside the test.
    pub async fn verify(&self) {
        self.server.verify().await;
    }
}

/// The synthetic key most smoke tests send.
pub const KEY: &str = "synthetic-ollama-key-0123456789abcdef";

impl Chat {
    /// The smoke pointed at this stand-in, with [`KEY`] in `OLLAMA_CLOUD_API_KEY`.
    pub fn smoke(&self) -> super::Cli {
        super::Cli::smoke()
            .arg("--base-url")
            .arg(self.base_url())
            .secret_env("OLLAMA_CLOUD_API_KEY", KEY)
    }
}

/// stdout's lines, each checked to end with `latency_ms=<n>`, that token removed.
#[track_caller]
pub fn lines(run: &super::cli::Run) -> Vec<String> {
    run.stdout
        .lines()
        .map(|l| {
            let (head, last) = l.rsplit_once(' ').unwrap_or(("", l));
            let ok = last
                .strip_prefix("latency_ms=")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                run.fail(&format!("line {l:?} does not end with latency_ms=<n>"));
            }
            head.to_owned()
        })
        .collect()
}

/// The only stdout line, without its `latency_ms=` token.
#[track_caller]
pub fn line(run: &super::cli::Run) -> String {
    let mut all = lines(run);
    if all.len() != 1 {
        run.fail("expected exactly one stdout line");
    }
    all.remove(0)
}
