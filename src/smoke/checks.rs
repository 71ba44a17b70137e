//! The three checks — `chat_completion`, `json_response` (the ladder `json_schema` →
//! `json_object` → `plain_prompt`) and `tool_call` — each one run of one check: one request per
//! step, never retried.

use std::time::Duration;

use serde_json::{Value, json};

use super::answer::{Reply, reasoning_diagnosis};
use super::classify::{
    self, Failure, FormatError, JSON_KEYS, JsonVerdict, Reason, TOOL_NAME, classify_json,
    classify_reply,
};
use super::client::{ChatClient, StreamSent};
use super::config::{Check, JsonMode, JsonStep};
use super::stream::Assembled;

/// How one step of the JSON ladder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepOutcome {
    Pass,
    /// Explicit format rejection (400/422).
    Rejected,
    /// Silent format error (2xx, not the asked JSON).
    Ignored,
    /// Any other failure, which ends the ladder.
    Failed(Reason),
}

impl StepOutcome {
    pub(crate) const fn as_str(self) -> &'static str {
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
pub(crate) struct RunOutcome {
    pub(crate) result: Result<(), Failure>,
    /// Time spent waiting for answers in this run (all its steps; for `tool_choice`, the
    /// slower of its two concurrent requests).
    pub(crate) latency: Duration,
    /// The JSON ladder's steps, in order (empty for the other checks).
    pub(crate) steps: Vec<(JsonStep, StepOutcome)>,
    /// Check-specific `key=value` tokens of the line (`ttft_ms`, `missing`, `ignored`, …), in
    /// the order the line shows them.
    pub(crate) extra: Vec<(&'static str, String)>,
}

/// Runs one check once.
pub(crate) async fn run_once(client: &ChatClient, check: Check, mode: JsonMode) -> RunOutcome {
    match check {
        Check::ChatCompletion => chat_completion(client).await,
        Check::JsonResponse => json_response(client, mode).await,
        Check::ToolCall => tool_call(client).await,
        Check::StreamChat => stream_chat(client).await,
        Check::StreamToolCall => stream_tool_call(client).await,
        Check::ToolChoice => tool_choice(client).await,
    }
}

fn simple(result: Result<(), Failure>, latency: Duration) -> RunOutcome {
    RunOutcome {
        result,
        latency,
        steps: Vec::new(),
        extra: Vec::new(),
    }
}

/// A non-streamed check's run: on a failure, SMK-036's reasoning tokens of the answer.
fn judged(result: Result<(), Failure>, reply: &Reply, latency: Duration) -> RunOutcome {
    let extra = if result.is_err() {
        reasoning_diagnosis(reply)
    } else {
        Vec::new()
    };
    RunOutcome {
        extra,
        ..simple(result, latency)
    }
}

/// `chat_completion`: passes when `choices[0].message.content` is a non-blank string.
pub(crate) async fn chat_completion(client: &ChatClient) -> RunOutcome {
    let body = client.body(json!([{"role": "user", "content": PONG}]), json!({}));
    let sent = client.send(&body).await;
    let result = classify_reply(&sent.reply)
        .map_err(|f| f.with_retry_after(sent.retry_after))
        .and_then(|answer| classify::judge_chat(&answer).map_err(Failure::new));
    judged(result, &sent.reply, sent.latency)
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
pub(crate) fn json_body(client: &ChatClient, step: JsonStep) -> Value {
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
pub(crate) async fn json_response(client: &ChatClient, mode: JsonMode) -> RunOutcome {
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
            steps,
            ..judged(result, &sent.reply, latency)
        };
    }
    unreachable!("the ladder has at least one step and every step returns or continues")
}

/// The one function every tool check offers: `get_weather(city: string)`, `city` required.
pub(crate) fn tools() -> Value {
    json!([{"type": "function", "function": {
        "name": TOOL_NAME,
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        }
    }}])
}

/// The question of the tool checks: it needs the tool.
const WEATHER: &str = "What is the weather in Paris right now? Use the tool you are given.";
/// The question of the chat checks (and of the forced `tool_choice`: it needs no tool).
const PONG: &str = "Reply with the single word: pong";

/// `tool_call`: offers `get_weather(city: string)`; passes when `tool_calls[0]` names it with
/// an `arguments` string that parses to an object with a string `city`.
pub(crate) async fn tool_call(client: &ChatClient) -> RunOutcome {
    let body = client.body(
        json!([{"role": "user", "content": WEATHER}]),
        json!({"tools": tools()}),
    );
    let sent = client.send(&body).await;
    let result = classify_reply(&sent.reply)
        .map_err(|f| f.with_retry_after(sent.retry_after))
        .and_then(|answer| classify::judge_tool(&answer).map_err(Failure::new));
    judged(result, &sent.reply, sent.latency)
}

/// A streamed run's failure before its content is judged: any non-2xx (as the other checks
/// read it), a stream broken by a timeout, one JSON body instead of events, an error event, no
/// event at all, or a stream that ended without its finish reason or `[DONE]`.
fn stream_failure(sent: &StreamSent, extra: &mut Vec<(&'static str, String)>) -> Option<Failure> {
    let a = &sent.assembled;
    if !matches!(&sent.reply, Reply::Http { status, .. } if (200..300).contains(status)) {
        return classify_reply(&sent.reply)
            .err()
            .map(|f| f.with_retry_after(sent.retry_after));
    }
    if let Some(Reply::Timeout) = &sent.broken {
        return Some(Failure::new(Reason::Timeout));
    }
    if a.not_streamed() {
        return Some(Failure::new(Reason::NotStreamed));
    }
    if let Some(message) = &a.error {
        return Some(Failure {
            message: Some(message.clone()),
            ..Failure::new(Reason::BadResponse)
        });
    }
    if a.events == 0 {
        return Some(Failure {
            message: Some(String::from_utf8_lossy(&a.raw).chars().take(300).collect()),
            ..Failure::new(Reason::BadResponse)
        });
    }
    let missing: Vec<&str> = [
        (a.finish_reason.is_none(), "finish_reason"),
        (!a.done, "done"),
    ]
    .into_iter()
    .filter_map(|(gone, name)| gone.then_some(name))
    .collect();
    if !missing.is_empty() {
        extra.push(("missing", missing.join(",")));
        return Some(Failure {
            message: match &sent.broken {
                Some(Reply::Unreachable { detail }) => Some(detail.clone()),
                _ => None,
            },
            ..Failure::new(Reason::StreamIncomplete)
        });
    }
    None
}

/// `ttft_ms=` when a first token came.
fn ttft(sent: &StreamSent, extra: &mut Vec<(&'static str, String)>) {
    if let Some(t) = sent.assembled.ttft {
        extra.push(("ttft_ms", t.as_millis().to_string()));
    }
}

/// `stream_chat`: `stream: true`; passes when the events assemble to non-blank content and the
/// stream ends with a finish reason and `data: [DONE]`. Reports `ttft_ms=`.
pub(crate) async fn stream_chat(client: &ChatClient) -> RunOutcome {
    let body = client.body(
        json!([{"role": "user", "content": PONG}]),
        json!({"stream": true}),
    );
    streamed(client, &body, |assembled, _| {
        classify::judge_chat(&assembled.answer())
    })
    .await
}

/// `stream_tool_call`: the tool call streamed; passes when the deltas assemble to a call of
/// `get_weather` with an `id`, an `index` on every delta, arguments that parse to the asked
/// object, and the stream finishes with `tool_calls`.
pub(crate) async fn stream_tool_call(client: &ChatClient) -> RunOutcome {
    let body = client.body(
        json!([{"role": "user", "content": WEATHER}]),
        json!({"tools": tools(), "stream": true}),
    );
    streamed(client, &body, judge_stream_tool).await
}

/// Sends one streamed request and judges it: a failed or broken stream first (as
/// [`stream_failure`] reads it), else `judge` on the assembled events; `ttft_ms=` either way.
async fn streamed(
    client: &ChatClient,
    body: &Value,
    judge: impl FnOnce(&Assembled, &mut Vec<(&'static str, String)>) -> Result<(), Reason>,
) -> RunOutcome {
    let sent = client.stream(body).await;
    let mut extra = Vec::new();
    let result = match stream_failure(&sent, &mut extra) {
        Some(failure) => Err(failure),
        None => judge(&sent.assembled, &mut extra).map_err(Failure::new),
    };
    ttft(&sent, &mut extra);
    RunOutcome {
        result,
        latency: sent.latency,
        steps: Vec::new(),
        extra,
    }
}

/// Judges an assembled tool-call stream (see [`stream_tool_call`]).
pub(crate) fn judge_stream_tool(
    a: &Assembled,
    extra: &mut Vec<(&'static str, String)>,
) -> Result<(), Reason> {
    if a.calls.is_empty() && a.content.contains(TOOL_NAME) {
        extra.push(("call_as_text", "true".to_owned()));
    }
    classify::judge_tool(&a.answer())?;
    let call = &a.calls[0];
    if call.id.is_none() {
        return Err(Reason::NoCallId);
    }
    if a.missing_index {
        return Err(Reason::NoCallIndex);
    }
    let finish = a.finish_reason.as_deref().unwrap_or("");
    if finish != "tool_calls" {
        extra.push(("finish_reason", finish.to_owned()));
        return Err(Reason::WrongFinishReason);
    }
    Ok(())
}

/// `tool_choice`: two concurrent requests offering `get_weather` — one forcing it
/// (`{"type":"function","function":{"name":"get_weather"}}`) on a question that needs no
/// tool, one with `"none"` on a question that does. Passes when the first calls the function
/// and the second answers without `tool_calls`; else `reason=ignored_tool_choice
/// ignored=forced|none|forced,none`. `none=call_as_text` when `none` was obeyed in form only
/// (no `tool_calls`, but the call written as text in `content`).
pub(crate) async fn tool_choice(client: &ChatClient) -> RunOutcome {
    let forced = client.body(
        json!([{"role": "user", "content": PONG}]),
        json!({"tools": tools(),
               "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}}}),
    );
    let none = client.body(
        json!([{"role": "user", "content": WEATHER}]),
        json!({"tools": tools(), "tool_choice": "none"}),
    );
    let (forced, none) = tokio::join!(client.send(&forced), client.send(&none));
    let latency = forced.latency.max(none.latency);
    let mut extra = Vec::new();
    let answers = classify_reply(&forced.reply)
        .map_err(|f| f.with_retry_after(forced.retry_after))
        .and_then(|f| {
            classify_reply(&none.reply)
                .map_err(|e| e.with_retry_after(none.retry_after))
                .map(|n| (f, n))
        });
    let result = answers.and_then(|(forced, none)| {
        let forced_ok = forced
            .tool_calls
            .first()
            .is_some_and(|c| c.name.as_deref() == Some(TOOL_NAME));
        let none_ok = none.tool_calls.is_empty();
        if none_ok
            && none
                .content
                .as_deref()
                .is_some_and(|c| c.contains(TOOL_NAME) || c.contains("<tool_call>"))
        {
            extra.push(("none", "call_as_text".to_owned()));
        }
        let ignored: Vec<&str> = [(!forced_ok, "forced"), (!none_ok, "none")]
            .into_iter()
            .filter_map(|(bad, name)| bad.then_some(name))
            .collect();
        if ignored.is_empty() {
            Ok(())
        } else {
            extra.insert(0, ("ignored", ignored.join(",")));
            Err(Failure::new(Reason::IgnoredToolChoice))
        }
    });
    RunOutcome {
        result,
        latency,
        steps: Vec::new(),
        extra,
    }
}
