//! The three checks — `chat_completion`, `json_response` (the ladder `json_schema` →
//! `json_object` → `plain_prompt`) and `tool_call` — each one run of one check: one request per
//! step, never retried.

use std::time::Duration;

use serde_json::{Value, json};

use super::classify::{
    self, Failure, FormatError, JSON_KEYS, JsonVerdict, Reason, TOOL_NAME, classify_json,
    classify_reply,
};
use super::client::ChatClient;
use super::config::{Check, JsonMode, JsonStep};

/// How one step of the JSON ladder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Pass,
    /// Explicit format rejection (400/422).
    Rejected,
    /// Silent format error (2xx, not the asked JSON).
    Ignored,
    /// Any other failure, which ends the ladder.
    Failed(Reason),
}

impl StepOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Pass => "pass",
            StepOutcome::Rejected => "rejected",
            StepOutcome::Ignored => "ignored",
            StepOutcome::Failed(reason) => reason.as_str(),
        }
    }
}

/// One run of one check.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub result: Result<(), Failure>,
    /// Time spent waiting for answers in this run (all its steps).
    pub latency: Duration,
    /// The JSON ladder's steps, in order (empty for the other checks).
    pub steps: Vec<(JsonStep, StepOutcome)>,
}

/// Runs one check once.
pub async fn run_once(client: &ChatClient, check: Check, mode: JsonMode) -> RunOutcome {
    match check {
        Check::ChatCompletion => chat_completion(client).await,
        Check::JsonResponse => json_response(client, mode).await,
        Check::ToolCall => tool_call(client).await,
    }
}

fn simple(result: Result<(), Failure>, latency: Duration) -> RunOutcome {
    RunOutcome {
        result,
        latency,
        steps: Vec::new(),
    }
}

/// `chat_completion`: passes when `choices[0].message.content` is a non-blank string.
pub async fn chat_completion(client: &ChatClient) -> RunOutcome {
    let body = client.body(
        json!([{"role": "user", "content": "Reply with the single word: pong"}]),
        json!({}),
    );
    let sent = client.send(&body).await;
    let result = classify_reply(&sent.reply)
        .map_err(|f| f.with_retry_after(sent.retry_after))
        .and_then(|answer| classify::judge_chat(&answer).map_err(Failure::new));
    simple(result, sent.latency)
}

/// The question of the JSON check, naming every asked key and its type.
fn json_prompt() -> String {
    let keys: Vec<String> = JSON_KEYS
        .iter()
        .map(|(k, t)| format!("\"{k}\" ({t})"))
        .collect();
    format!(
        "What is the capital of France, and how many letters does its name have? Answer as a \
         JSON object with exactly these keys: {}.",
        keys.join(", ")
    )
}

/// The request body of one JSON step.
pub fn json_body(client: &ChatClient, step: JsonStep) -> Value {
    let user = json!({"role": "user", "content": json_prompt()});
    match step {
        JsonStep::JsonSchema => {
            let properties: serde_json::Map<String, Value> = JSON_KEYS
                .iter()
                .map(|(k, t)| ((*k).to_owned(), json!({"type": t})))
                .collect();
            let required: Vec<&str> = JSON_KEYS.iter().map(|(k, _)| *k).collect();
            client.body(
                json!([user]),
                json!({"response_format": {"type": "json_schema", "json_schema": {
                    "name": "capital",
                    "strict": true,
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": required,
                        "additionalProperties": false,
                    }
                }}}),
            )
        }
        JsonStep::JsonObject => client.body(
            json!([user]),
            json!({"response_format": {"type": "json_object"}}),
        ),
        JsonStep::PlainPrompt => client.body(
            json!([
                {"role": "system", "content": "You answer with one JSON object and nothing else: \
                  no prose, no explanation, no markdown code fence. The first character of your \
                  answer is { and the last is }."},
                user
            ]),
            json!({}),
        ),
    }
}

/// `json_response`: the ladder in `auto`, one pinned step otherwise. Moves one step down only
/// on a format error; any other failure, or a JSON object without the asked keys, ends it.
pub async fn json_response(client: &ChatClient, mode: JsonMode) -> RunOutcome {
    let ladder: &[JsonStep] = match mode {
        JsonMode::Auto => &[
            JsonStep::JsonSchema,
            JsonStep::JsonObject,
            JsonStep::PlainPrompt,
        ],
        JsonMode::JsonSchema => &[JsonStep::JsonSchema],
        JsonMode::JsonObject => &[JsonStep::JsonObject],
        JsonMode::PlainPrompt => &[JsonStep::PlainPrompt],
    };
    let mut steps = Vec::new();
    let mut latency = Duration::ZERO;
    for (i, step) in ladder.iter().enumerate() {
        let sent = client.send(&json_body(client, *step)).await;
        latency += sent.latency;
        let result = match classify_json(&sent.reply) {
            JsonVerdict::Object(map) if classify::has_asked_keys(&map) => {
                steps.push((*step, StepOutcome::Pass));
                Ok(())
            }
            JsonVerdict::Object(_) => {
                steps.push((*step, StepOutcome::Failed(Reason::Schema)));
                Err(Failure::new(Reason::Schema))
            }
            JsonVerdict::Format(format) => {
                steps.push((
                    *step,
                    match format {
                        FormatError::Rejected { .. } => StepOutcome::Rejected,
                        FormatError::Ignored(_) => StepOutcome::Ignored,
                    },
                ));
                if i + 1 < ladder.len() {
                    continue;
                }
                Err(format.into_failure())
            }
            JsonVerdict::Fail(failure) => {
                steps.push((*step, StepOutcome::Failed(failure.reason)));
                Err(failure.with_retry_after(sent.retry_after))
            }
        };
        return RunOutcome {
            result,
            latency,
            steps,
        };
    }
    unreachable!("the ladder has at least one step and every step returns or continues")
}

/// `tool_call`: offers `get_weather(city: string)`; passes when `tool_calls[0]` names it with
/// an `arguments` string that parses to an object with a string `city`.
pub async fn tool_call(client: &ChatClient) -> RunOutcome {
    let body = client.body(
        json!([{"role": "user", "content": "What is the weather in Paris right now? Use the \
                 tool you are given."}]),
        json!({"tools": [{"type": "function", "function": {
            "name": TOOL_NAME,
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city name."}},
                "required": ["city"],
            }
        }}]}),
    );
    let sent = client.send(&body).await;
    let result = classify_reply(&sent.reply)
        .map_err(|f| f.with_retry_after(sent.retry_after))
        .and_then(|answer| classify::judge_tool(&answer).map_err(Failure::new));
    simple(result, sent.latency)
}
