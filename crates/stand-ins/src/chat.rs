//! The OpenAI-compatible chat stand-in: a wiremock server answering `POST /v1/chat/completions`
//! with payloads from `fixtures/openai/`, in the shapes of `docs/openai-compat.md`.
//!
//! Every request is sorted into the [`Step`] it belongs to (plain chat, each JSON ladder step,
//! tool call) by its body, so a test can answer each step differently and count each one.
//! Two ways to use it, on the one type:
//! - **Standing answers**, set on the builder ([`Chat::builder`]): a passing answer per step,
//!   optionally after a delay, behind a key and a model check, with `json_schema` rejected —
//!   what the demo, the benchmarks and the docs tests need. They answer any number of times.
//! - **Counted answers**, mounted on a started server by a contract test ([`Chat::on`] and its
//!   siblings), each expecting an exact number of requests. Call [`Chat::verify`] at the end of
//!   a test: the counts are checked there, inside the test.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures::fixture_json;

/// The chat route under the base URL `<server>/v1`.
pub const CHAT: &str = "/v1/chat/completions";
/// The model list under the base URL `<server>/v1`.
pub const MODELS: &str = "/v1/models";
/// The synthetic key most smoke tests send.
pub const KEY: &str = "synthetic-ollama-key-0123456789abcdef";
/// The model of the fixtures (`gemma4:31b-cloud`, as on Ollama Cloud).
pub const MODEL: &str = "gemma4:31b-cloud";

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
    /// `stream_chat`: `"stream": true`, no `tools`.
    StreamChat,
    /// `stream_tool_call`: `"stream": true` and `tools`.
    StreamTool,
    /// `tool_choice`'s forced request: `tool_choice` an object naming the function.
    ToolChoiceForced,
    /// `tool_choice`'s other request: `tool_choice: "none"`.
    ToolChoiceNone,
}

impl Step {
    /// Sorts a request body into its step; `None` for anything else (a bug in the smoke).
    pub fn of(body: &Value) -> Option<Step> {
        let stream = body.get("stream") == Some(&Value::Bool(true));
        match body.get("tool_choice") {
            Some(Value::String(s)) if s == "none" => return Some(Step::ToolChoiceNone),
            Some(Value::Object(_)) => return Some(Step::ToolChoiceForced),
            Some(_) => return None,
            None => {}
        }
        if body.get("tools").is_some() {
            return Some(if stream { Step::StreamTool } else { Step::Tool });
        }
        if stream {
            return Some(Step::StreamChat);
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

    /// The step of a request, read from its body.
    pub fn of_request(req: &Request) -> Option<Step> {
        serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|b| Step::of(&b))
    }

    /// The fixture of a passing answer to this step (`.sse` for the streamed steps).
    pub fn passing_fixture(self) -> &'static str {
        match self {
            Step::Tool | Step::ToolChoiceForced => "openai/tool-ok.json",
            Step::Chat | Step::ToolChoiceNone => "openai/chat-ok.json",
            Step::JsonSchema | Step::JsonObject | Step::Plain => "openai/json-ok.json",
            Step::StreamChat => "openai/stream-ollama-chat.sse",
            Step::StreamTool => "openai/stream-ollama-tool.sse",
        }
    }

    /// A 200 with this step's passing answer.
    pub fn passing(self) -> ResponseTemplate {
        answer(200, self.passing_fixture())
    }
}

/// A 2xx or error answer with a fixture: a `.sse` fixture as a `text/event-stream` body (the
/// chunks concatenated, as wiremock serves them), any other as a JSON body.
pub fn answer(status: u16, fixture: &str) -> ResponseTemplate {
    if fixture.ends_with(".sse") {
        ResponseTemplate::new(status).set_body_raw(
            crate::fixtures::fixture(fixture).into_bytes(),
            "text/event-stream",
        )
    } else {
        reply(status, fixture)
    }
}

/// A 200 `text/event-stream` answer whose body is the `.sse` fixture, byte for byte.
pub fn sse(fixture: &str) -> ResponseTemplate {
    answer(200, fixture)
}

/// A response with a fixture as its JSON body.
pub fn reply(status: u16, fixture: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(fixture_json(fixture))
}

/// A 200 chat completion whose `message.content` is `content`.
pub fn content(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-synthetic", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}]
    }))
}

// ---------------------------------------------------------------------------------------------
// The builder and its standing answers

/// Builds a [`Chat`] stand-in. Every knob is off by default: [`ChatBuilder::start`] with no
/// knob set gives a bare server on which a test mounts its counted answers.
#[must_use = "a builder does nothing until `.start().await`"]
#[derive(Clone, Default)]
pub struct ChatBuilder {
    passing: bool,
    reject_json_schema: bool,
    key: Option<String>,
    model: Option<String>,
    delay: Duration,
    no_models: bool,
    models_fixture: Option<String>,
}

impl ChatBuilder {
    /// No `GET /v1/models` route: it answers wiremock's bare 404, as an endpoint without a
    /// model list does. Default: the route answers 200 with
    /// `fixtures/openai/models-ollama.json` (lists [`MODEL`]), any number of times.
    pub fn no_models(mut self) -> Self {
        self.no_models = true;
        self
    }

    /// `GET /v1/models` answers 200 with this fixture instead (e.g.
    /// `openai/models-ollama-cloud.json`, the names without `-cloud`).
    pub fn models(mut self, fixture: &str) -> Self {
        self.models_fixture = Some(fixture.to_owned());
        self
    }

    /// Every chat request answers 200 with its step's passing fixture ([`Step::passing_fixture`]:
    /// a tool call, a JSON object, a chat answer), any number of times.
    pub fn passing(mut self) -> Self {
        self.passing = true;
        self
    }

    /// With [`Self::passing`]: a `json_schema` request answers 400 with OpenAI's rejection,
    /// `fixtures/openai/error-openai-json-schema.json`, so the smoke falls back to
    /// `json_object` (`true`), or passes like the others (`false`, the default).
    pub fn reject_json_schema(mut self, reject: bool) -> Self {
        self.reject_json_schema = reject;
        self
    }

    /// Standing answers only to `Authorization: Bearer <key>`; any other request, on any route,
    /// answers 401 with `fixtures/openai/error-ollama-401.json`. Without it every key (or none)
    /// is accepted.
    pub fn only_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Only `model` exists: a request naming another one answers 404 with
    /// `fixtures/openai/error-ollama-404-model.json`, its message naming the model asked for,
    /// as Ollama does. Without it every model exists.
    pub fn only_model(mut self, model: &str) -> Self {
        self.model = Some(model.to_owned());
        self
    }

    /// Every standing answer (the 200s, the 400 and the 404; not the 401 of [`Self::only_key`])
    /// comes after `delay`. Default: none.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Starts the server on a loopback port and mounts the standing answers.
    pub async fn start(self) -> Chat {
        let server = MockServer::start().await;
        if !self.no_models {
            let fixture = self
                .models_fixture
                .clone()
                .unwrap_or_else(|| "openai/models-ollama.json".to_owned());
            Mock::given(method("GET"))
                .and(path(MODELS))
                .respond_with(ModelsAnswer {
                    key: self.key.clone(),
                    fixture,
                    delay: self.delay,
                })
                .with_priority(1)
                .mount(&server)
                .await;
        }
        if self.passing {
            Mock::given(method("POST"))
                .and(path(CHAT))
                .respond_with(Standing(self.clone()))
                .with_priority(1)
                .mount(&server)
                .await;
        }
        if self.key.is_some() {
            Mock::given(any())
                .respond_with(reply(401, "openai/error-ollama-401.json"))
                .with_priority(10)
                .mount(&server)
                .await;
        }
        Chat { server }
    }
}

/// The model list's standing answer (behind the key, when one is set).
struct ModelsAnswer {
    key: Option<String>,
    fixture: String,
    delay: Duration,
}

impl Respond for ModelsAnswer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(key) = &self.key {
            let sent = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if sent != Some(format!("Bearer {key}").as_str()) {
                return reply(401, "openai/error-ollama-401.json");
            }
        }
        reply(200, &self.fixture).set_delay(self.delay)
    }
}

/// The chat route's standing answer.
struct Standing(ChatBuilder);

impl Respond for Standing {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let opts = &self.0;
        if let Some(key) = &opts.key {
            let bearer = format!("Bearer {key}");
            let sent = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if sent != Some(bearer.as_str()) {
                return reply(401, "openai/error-ollama-401.json");
            }
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let answer = match (&opts.model, Step::of(&body)) {
            (Some(model), _) if body["model"] != model.as_str() => {
                // The fixture's shape, naming the model that was asked for, as Ollama does.
                let mut error = fixture_json("openai/error-ollama-404-model.json");
                error["error"]["message"] =
                    format!("model '{}' not found", body["model"].as_str().unwrap_or("")).into();
                ResponseTemplate::new(404).set_body_json(error)
            }
            (_, Some(Step::JsonSchema)) if opts.reject_json_schema => {
                reply(400, "openai/error-openai-json-schema.json")
            }
            (_, step) => step.map_or_else(|| reply(200, "openai/json-ok.json"), Step::passing),
        };
        answer.set_delay(opts.delay)
    }
}

// ---------------------------------------------------------------------------------------------
// The stand-in and its counted answers

/// A running chat stand-in. Call [`Chat::verify`] at the end of a test to check the counts.
pub struct Chat {
    /// The wiremock server, for what the helpers below do not cover.
    pub server: MockServer,
}

impl Chat {
    /// A builder with every knob off (see [`ChatBuilder`]).
    pub fn builder() -> ChatBuilder {
        ChatBuilder::default()
    }

    /// A bare server with no standing answer, for a test to mount its counted ones.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The base URL to pass as `--base-url`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// `POST` on the chat route.
    fn post() -> MockBuilder {
        Mock::given(method("POST")).and(path(CHAT))
    }

    /// Every chat request, whatever its step, answers `status` with a fixture, no delay;
    /// exactly `times` requests expected.
    pub async fn answer(&self, status: u16, fixture: &str, times: u64) {
        Self::post()
            .respond_with(reply(status, fixture))
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Requests of one step answer `status` with a fixture, no delay; exactly `times` expected.
    pub async fn on(&self, step: Step, status: u16, fixture: &str, times: u64) {
        self.on_with(step, reply(status, fixture), times).await;
    }

    /// Requests of one step answer with any responder (its own status, body, delay); exactly
    /// `times` expected.
    pub async fn on_with(&self, step: Step, responder: impl Respond + 'static, times: u64) {
        Self::post()
            .and(move |req: &Request| Step::of_request(req) == Some(step))
            .respond_with(responder)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// The first `n` requests of one step answer `first` (later ones fall to the next mock);
    /// exactly `n` expected.
    pub async fn first_n(&self, step: Step, n: u64, first: ResponseTemplate) {
        Self::post()
            .and(move |req: &Request| Step::of_request(req) == Some(step))
            .respond_with(first)
            .up_to_n_times(n)
            .expect(n)
            .mount(&self.server)
            .await;
    }

    /// No request of this step at all is expected (one that came would get a 500).
    pub async fn never(&self, step: Step) {
        self.on_with(step, ResponseTemplate::new(500), 0).await;
    }

    /// Requests of one step answer 200 with a fixture after `delay`; exactly `times` expected.
    pub async fn slow(&self, step: Step, fixture: &str, delay: Duration, times: u64) {
        self.on_with(step, reply(200, fixture).set_delay(delay), times)
            .await;
    }

    /// Every chat request body received so far (`POST /v1/chat/completions` only; the model
    /// list's `GET` is not among them).
    pub async fn bodies(&self) -> Vec<Value> {
        self.requests()
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    /// Every chat request received so far (`POST /v1/chat/completions` only).
    pub async fn requests(&self) -> Vec<Request> {
        self.all_requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == CHAT)
            .collect()
    }

    /// Every request received so far, on any route (the model list's `GET` too).
    pub async fn all_requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// How many `GET /v1/models` came.
    pub async fn model_list_requests(&self) -> usize {
        self.all_requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path() == MODELS)
            .count()
    }

    /// Checks every `expect(n)` now, inside the test.
    pub async fn verify(&self) {
        self.server.verify().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::http_body;

    #[tokio::test]
    async fn builder_standing_answers() {
        let chat = Chat::builder()
            .passing()
            .only_key("synthetic-k")
            .only_model(MODEL)
            .reject_json_schema(true)
            .start()
            .await;
        let url = chat.server.uri();
        let ask =
            |key: Option<&str>, body: Value| http_body(&url, "POST", CHAT, key, &body.to_string());
        let msg = json!([{"role": "user", "content": "hi"}]);
        let (status, body) = ask(
            Some("synthetic-k"),
            json!({"model": MODEL, "messages": msg}),
        );
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            fixture_json("openai/chat-ok.json")
        );
        assert_eq!(ask(None, json!({"model": MODEL, "messages": msg})).0, 401);
        assert_eq!(
            ask(
                Some("synthetic-x"),
                json!({"model": MODEL, "messages": msg})
            )
            .0,
            401
        );
        let (status, body) = ask(
            Some("synthetic-k"),
            json!({"model": "nope:1b", "messages": msg}),
        );
        assert_eq!(status, 404);
        assert!(body.contains("model 'nope:1b' not found"), "{body}");
        let schema =
            json!({"model": MODEL, "messages": msg, "response_format": {"type": "json_schema"}});
        assert_eq!(ask(Some("synthetic-k"), schema).0, 400);
        let tools = json!({"model": MODEL, "messages": msg, "tools": []});
        let (status, body) = ask(Some("synthetic-k"), tools);
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            fixture_json("openai/tool-ok.json")
        );
    }

    #[tokio::test]
    async fn delay_and_counted_answers() {
        let slow = Chat::builder()
            .passing()
            .delay(Duration::from_millis(150))
            .start()
            .await;
        let start = std::time::Instant::now();
        let (status, _) = http_body(&slow.server.uri(), "POST", CHAT, None, "{}");
        assert_eq!(status, 200);
        assert!(start.elapsed() >= Duration::from_millis(150));

        let chat = Chat::start().await;
        chat.on(Step::Chat, 429, "openai/error-429.json", 1).await;
        chat.never(Step::Tool).await;
        let body = json!({"messages": [{"role": "user", "content": "hi"}]}).to_string();
        assert_eq!(
            http_body(&chat.server.uri(), "POST", CHAT, None, &body).0,
            429
        );
        assert_eq!(chat.bodies().await.len(), 1);
        chat.verify().await;
    }

    #[test]
    fn steps_are_sorted_by_body() {
        let msg = |c: &str| json!([{"role": "user", "content": c}]);
        assert_eq!(Step::of(&json!({"messages": msg("hi")})), Some(Step::Chat));
        assert_eq!(
            Step::of(&json!({"messages": msg("JSON please")})),
            Some(Step::Plain)
        );
        assert_eq!(
            Step::of(&json!({"tools": [], "messages": msg("JSON")})),
            Some(Step::Tool)
        );
        let rf = |t: &str| json!({"response_format": {"type": t}, "messages": msg("JSON")});
        assert_eq!(Step::of(&rf("json_schema")), Some(Step::JsonSchema));
        assert_eq!(Step::of(&rf("json_object")), Some(Step::JsonObject));
        assert_eq!(Step::of(&rf("text")), None);
    }
}
