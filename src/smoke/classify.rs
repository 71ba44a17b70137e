//! THE pure part of the smoke: what one reply means.
//!
//! Every judgement here is a function of the reply alone — (status, body) or a transport
//! outcome — with no I/O, so it can be tested exhaustively. The rule that matters most is
//! [`classify_json`]: a *format error* (the only thing that moves the JSON ladder one step down)
//! is either an explicit rejection (400/422 whose message names `response_format`,
//! `json_schema`, `json_object` or structured output) or a silent one (2xx, `finish_reason` not
//! `length`, content that is not strictly a JSON object). Everything else — 401, 403, 404, 408,
//! 429, 5xx, a timeout, a refused connection, any other 400, a 400 saying the model was not
//! found, `finish_reason: length` — is a failure that stops the ladder. One 5xx is a rejection
//! too (FB-015): llama.cpp's own `response_format type must be one of …` answered with 500 by
//! the builds that throw it as a `runtime_error`; no other 5xx ever is.

use serde_json::{Map, Value};

use super::answer::{Answer, Reply, error_info, parse_answer};
use crate::exit::Exit;

/// Why a check failed. `as_str` is the `reason=` token of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// 401 or 403: the key (or its absence) was refused.
    Auth,
    /// 404, or a 400 saying the model was not found.
    NotFound,
    /// No answer within `--timeout`, or 408.
    Timeout,
    /// Refused or broken connection, TLS failure, or a 5xx.
    Unavailable,
    /// A 429 naming a usage limit (Ollama Cloud's hourly, session, weekly or monthly limit).
    Quota,
    /// Any other 429.
    RateLimited,
    /// The server or model cannot do what the check asked (Ollama's `does not support tools`,
    /// llama.cpp's `tools param requires --jinja flag`).
    Unsupported,
    /// Any other 4xx (a 400/422 that is not about the response format).
    BadRequest,
    /// A 3xx: the base URL redirects (redirects are never followed).
    Redirect,
    /// A 2xx whose body is not a chat completion (no `choices[0].message`).
    BadResponse,
    /// `finish_reason: length`: the answer was cut at `--max-tokens`.
    Truncated,
    /// A JSON object came back, but without the asked keys and types.
    Schema,
    /// The last JSON step was explicitly rejected as a format error.
    Rejected,
    /// Content that is neither a JSON object nor fenced JSON (prose, an array, a number).
    NotJson,
    /// Content wrapped in a markdown fence.
    Fenced,
    /// Empty or null content, no reasoning text.
    Empty,
    /// Empty content with the text in `reasoning` / `reasoning_content`.
    ReasoningOnly,
    /// A prose answer where a tool call was expected.
    NoToolCall,
    /// `tool_calls[0]` names another function.
    WrongFunction,
    /// `tool_calls[0].function.arguments` is not a JSON string of an object with a string
    /// `city`.
    BadArguments,
    /// `stream: true` answered with one JSON body instead of Server-Sent Events.
    NotStreamed,
    /// The stream ended without its finish reason or without `data: [DONE]` (`missing=`).
    StreamIncomplete,
    /// A streamed tool call without an `id`.
    NoCallId,
    /// A streamed tool-call delta without an `index`.
    NoCallIndex,
    /// A streamed tool call whose stream did not finish with `tool_calls`.
    WrongFinishReason,
    /// A forced function or `tool_choice: "none"` was not obeyed (`ignored=`).
    IgnoredToolChoice,
}

impl Reason {
    /// The `reason=` token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::NotFound => "not_found",
            Reason::Timeout => "timeout",
            Reason::Unavailable => "unavailable",
            Reason::Quota => "quota",
            Reason::RateLimited => "rate_limited",
            Reason::Unsupported => "unsupported",
            Reason::BadRequest => "bad_request",
            Reason::Redirect => "redirect",
            Reason::BadResponse => "bad_response",
            Reason::Truncated => "truncated",
            Reason::Schema => "schema",
            Reason::Rejected => "rejected",
            Reason::NotJson => "not_json",
            Reason::Fenced => "fenced",
            Reason::Empty => "empty",
            Reason::ReasoningOnly => "reasoning_only",
            Reason::NoToolCall => "no_tool_call",
            Reason::WrongFunction => "wrong_function",
            Reason::BadArguments => "bad_arguments",
            Reason::NotStreamed => "not_streamed",
            Reason::StreamIncomplete => "stream_incomplete",
            Reason::NoCallId => "no_call_id",
            Reason::NoCallIndex => "no_call_index",
            Reason::WrongFinishReason => "wrong_finish_reason",
            Reason::IgnoredToolChoice => "ignored_tool_choice",
        }
    }

    /// The exit code this failure calls for: 3 refused, 4 not found, 5 unavailable or timed
    /// out, 1 for everything else.
    pub(crate) const fn exit(self) -> Exit {
        match self {
            Reason::Auth => Exit::Refused,
            Reason::NotFound => Exit::NotFound,
            Reason::Timeout | Reason::Unavailable | Reason::Quota | Reason::RateLimited => {
                Exit::Unavailable
            }
            _ => Exit::CheckFailed,
        }
    }

    /// Whether the operator's fix is a larger `--max-tokens`.
    pub(crate) const fn wants_more_tokens(self) -> bool {
        matches!(self, Reason::Truncated | Reason::ReasoningOnly)
    }
}

/// A failed probe: the reason, the HTTP status when there was one, and the server's own words
/// (raw: quote them only through `Redactor::quote`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub(crate) status: Option<u16>,
    pub(crate) message: Option<String>,
    /// What the server cannot do (`reason=unsupported`): `tools`, `tool_choice`, `thinking`.
    pub(crate) unsupported: Option<&'static str>,
    /// A known situation behind the status, with its own advice ([`Hint`]).
    pub(crate) hint: Option<Hint>,
    /// The server's `Retry-After`, in whole seconds, when it gave one.
    pub(crate) retry_after: Option<u64>,
}

impl Failure {
    pub(crate) fn new(reason: Reason) -> Self {
        Failure {
            reason,
            status: None,
            message: None,
            unsupported: None,
            hint: None,
            retry_after: None,
        }
    }

    /// A failure with the status and the server's words.
    pub(crate) fn http(reason: Reason, status: u16, message: String) -> Self {
        Failure {
            status: Some(status),
            message: Some(message),
            ..Failure::new(reason)
        }
    }

    /// The same failure, with the server's `Retry-After` (read in whole seconds only:
    /// `http::parse_retry_after`).
    pub(crate) fn with_retry_after(mut self, retry_after: Option<std::time::Duration>) -> Self {
        if self.status.is_some() {
            self.retry_after = retry_after.map(|d| d.as_secs());
        }
        self
    }
}

/// A known situation a status stands for, with its own advice: the `hint=` token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// llama.cpp's 503 `Loading model`: the server is up and still loading.
    Loading,
    /// llama.cpp without `--jinja`: start it with `--jinja`.
    Jinja,
    /// A local Ollama whose cloud access is disabled (403 `ollama cloud is disabled`).
    CloudDisabled,
}

impl Hint {
    /// The `hint=` token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Hint::Loading => "loading",
            Hint::Jinja => "--jinja",
            Hint::CloudDisabled => "cloud_disabled",
        }
    }
}

/// How a 2xx answer failed to be the requested JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silent {
    Empty,
    ReasoningOnly,
    Fenced,
    NotJson,
}

impl Silent {
    pub(crate) const fn reason(self) -> Reason {
        match self {
            Silent::Empty => Reason::Empty,
            Silent::ReasoningOnly => Reason::ReasoningOnly,
            Silent::Fenced => Reason::Fenced,
            Silent::NotJson => Reason::NotJson,
        }
    }
}

/// A format error: the only thing that moves the JSON ladder one step down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// 400/422 naming `response_format`, `json_schema`, `json_object` or structured output.
    Rejected { status: u16, message: String },
    /// 2xx, `finish_reason` not `length`, content not a JSON object.
    Ignored(Silent),
}

impl FormatError {
    /// The failure this format error becomes when there is no step left.
    pub(crate) fn into_failure(self) -> Failure {
        match self {
            FormatError::Rejected { status, message } => {
                Failure::http(Reason::Rejected, status, message)
            }
            FormatError::Ignored(silent) => Failure::new(silent.reason()),
        }
    }
}

/// What one JSON step's reply means.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonVerdict {
    /// A JSON object came back (its keys are checked by the caller).
    Object(Map<String, Value>),
    /// A format error: step down, if a step is left.
    Format(FormatError),
    /// Anything else: the check fails here, no step down.
    Fail(Failure),
}

/// Judges the reply to one JSON step. Pure; never panics, whatever the body.
pub fn classify_json(reply: &Reply) -> JsonVerdict {
    if let Reply::Http { status, body } = reply {
        if is_explicit_rejection(*status, body) {
            return JsonVerdict::Format(FormatError::Rejected {
                status: *status,
                message: envelope_message(body),
            });
        }
    }
    let answer = match classify_reply(reply) {
        Ok(answer) => answer,
        Err(failure) => return JsonVerdict::Fail(failure),
    };
    if answer.finish_reason.as_deref() == Some("length") {
        return JsonVerdict::Fail(Failure::new(Reason::Truncated));
    }
    match json_object(&answer) {
        Ok(map) => JsonVerdict::Object(map),
        Err(silent) => JsonVerdict::Format(FormatError::Ignored(silent)),
    }
}

/// Content that parses strictly (the whole trimmed text, nothing around it) as a JSON object.
pub(crate) fn json_object(answer: &Answer) -> Result<Map<String, Value>, Silent> {
    let content = answer.content.as_deref().unwrap_or("").trim();
    if content.is_empty() {
        return Err(if answer.has_reasoning() {
            Silent::ReasoningOnly
        } else {
            Silent::Empty
        });
    }
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Silent::NotJson),
        Err(_) if content.starts_with("```") || content.starts_with("~~~") => Err(Silent::Fenced),
        Err(_) => Err(Silent::NotJson),
    }
}

/// A reply as a chat answer, or the failure it is. 2xx without `choices[0].message` is
/// `bad_response`; other statuses map by [`http_failure`].
pub(crate) fn classify_reply(reply: &Reply) -> Result<Answer, Failure> {
    match reply {
        Reply::Timeout => Err(Failure::new(Reason::Timeout)),
        Reply::Unreachable { detail } => Err(Failure {
            message: Some(detail.clone()),
            ..Failure::new(Reason::Unavailable)
        }),
        Reply::Http { status, body } if (200..300).contains(status) => parse_answer(body)
            .ok_or_else(|| Failure::http(Reason::BadResponse, *status, envelope_message(body))),
        Reply::Http { status, body } => Err(http_failure(*status, body)),
    }
}

/// The failure a non-2xx status means. Decided by the status first, the message second: the
/// message turns a 400 into `not_found` when it says the model was not found, a 400 or 500
/// into `unsupported` when the server says it cannot do tools (SMK-019), a 429 into `quota`
/// when it names a usage limit (SMK-022), and adds a hint to a 403 or 503 it recognizes.
pub fn http_failure(status: u16, body: &str) -> Failure {
    let hay = haystack(body);
    let unsupported = unsupported_capability(status, &hay);
    let reason = match status {
        _ if unsupported.is_some() => Reason::Unsupported,
        401 | 403 => Reason::Auth,
        404 => Reason::NotFound,
        400 if names_missing_model(&hay) => Reason::NotFound,
        408 => Reason::Timeout,
        429 if names_usage_limit(&hay) => Reason::Quota,
        429 => Reason::RateLimited,
        500..=599 => Reason::Unavailable,
        300..=399 => Reason::Redirect,
        400..=499 => Reason::BadRequest,
        _ => Reason::BadResponse,
    };
    let hint = match (reason, status) {
        (Reason::Unsupported, 500) => Some(Hint::Jinja),
        (Reason::Auth, 403) if hay.contains("ollama cloud is disabled") => {
            Some(Hint::CloudDisabled)
        }
        (Reason::Unavailable, 503) if hay.contains("loading model") => Some(Hint::Loading),
        _ => None,
    };
    Failure {
        unsupported,
        hint,
        ..Failure::http(reason, status, envelope_message(body))
    }
}

/// What the server says it cannot do, when it says so: Ollama's 400 `<model> does not support
/// tools` (or `thinking`), llama.cpp's 500 `tools param requires --jinja flag` and `tool_choice
/// param requires --jinja flag`. Only these exact phrases on these statuses count.
fn unsupported_capability(status: u16, hay: &str) -> Option<&'static str> {
    match status {
        400 if hay.contains("does not support tools") => Some("tools"),
        400 if hay.contains("does not support thinking") => Some("thinking"),
        500 if hay.contains("tools param requires --jinja flag") => Some("tools"),
        500 if hay.contains("tool_choice param requires --jinja flag") => Some("tool_choice"),
        _ => None,
    }
}

/// Whether lower-cased error text names a usage limit (Ollama Cloud: `you've reached your
/// hourly usage limit`, `… your weekly usage limit, upgrade for higher limits`, `… session
/// usage limit …`).
fn names_usage_limit(hay: &str) -> bool {
    hay.contains("usage limit")
}

/// An explicit format rejection: 400 or 422 whose error names the response format, and does
/// not say the model was not found (a wrong model name must never be hidden by a fallback) —
/// or llama.cpp's own rejection on a 500 ([`is_llamacpp_format_500`], FB-015).
pub fn is_explicit_rejection(status: u16, body: &str) -> bool {
    if status == 500 {
        return is_llamacpp_format_500(body);
    }
    if status != 400 && status != 422 {
        return false;
    }
    let hay = haystack(body);
    !names_missing_model(&hay) && names_format(&hay)
}

/// llama.cpp's `response_format` rejection as the builds that throw a `runtime_error` answer
/// it: status 500, `error.type` `server_error`, and the message starting with
/// `response_format type must be one of` (ggml-org/llama.cpp `tools/server/server-common.cpp`,
/// `oaicompat_chat_params_parse`; builds before json_schema support, ggml-org/llama.cpp#9522,
/// say it for `json_schema` itself). Nothing else on a 5xx is ever a format error.
pub fn is_llamacpp_format_500(body: &str) -> bool {
    const PREFIX: &str = "response_format type must be one of";
    error_info(body).is_some_and(|info| {
        info.kind.as_deref() == Some("server_error") && info.message.starts_with(PREFIX)
    })
}

/// Whether lower-cased error text names the response format.
fn names_format(hay: &str) -> bool {
    const NEEDLES: [&str; 7] = [
        "response_format",
        "response format",
        "json_schema",
        "json_object",
        "structured output",
        "structured_output",
        "structured-output",
    ];
    NEEDLES.iter().any(|n| hay.contains(n))
}

/// Whether lower-cased error text says a model was not found (Ollama's and llama.cpp's
/// `model 'x' not found`, OpenAI's `The model 'x' does not exist`, code `model_not_found`).
fn names_missing_model(hay: &str) -> bool {
    hay.contains("model_not_found")
        || (hay.contains("model") && (hay.contains("not found") || hay.contains("does not exist")))
}

/// The text to classify: the envelope's message, type, param and code when the body is an
/// error envelope, else the body itself; lower-cased, and bounded so a huge body costs little.
fn haystack(body: &str) -> String {
    const LIMIT: usize = 16 * 1024;
    let text = match error_info(body) {
        Some(info) => [
            info.message.as_str(),
            info.kind.as_deref().unwrap_or(""),
            info.param.as_deref().unwrap_or(""),
            info.code.as_deref().unwrap_or(""),
        ]
        .join(" "),
        None => body.chars().take(LIMIT).collect(),
    };
    text.to_lowercase()
}

/// What an OpenAI-style error envelope says (`error.message`, a bare `error`, `message` or
/// `detail`), else the raw body (its first 64 Ki characters). Raw: the report quotes it only
/// through `Redactor::quote`.
pub(crate) fn envelope_message(body: &str) -> String {
    const LIMIT: usize = 64 * 1024;
    match error_info(body) {
        Some(info) => info.message,
        None => body.chars().take(LIMIT).collect(),
    }
}

/// The function the tool check offers.
pub(crate) const TOOL_NAME: &str = "get_weather";

/// Judges a tool-call answer: `tool_calls[0]` names [`TOOL_NAME`] and its `arguments` string
/// parses to an object with a string `city`.
pub(crate) fn judge_tool(answer: &Answer) -> Result<(), Reason> {
    let Some(call) = answer.tool_calls.first() else {
        if answer.finish_reason.as_deref() == Some("length") {
            return Err(Reason::Truncated);
        }
        return Err(Reason::NoToolCall);
    };
    if call.name.as_deref() != Some(TOOL_NAME) {
        return Err(Reason::WrongFunction);
    }
    let Some(Value::String(raw)) = &call.arguments else {
        return Err(Reason::BadArguments);
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) if map.get("city").is_some_and(Value::is_string) => Ok(()),
        _ => Err(Reason::BadArguments),
    }
}

/// Judges a plain chat answer: `choices[0].message.content` is a non-blank string.
pub(crate) fn judge_chat(answer: &Answer) -> Result<(), Reason> {
    if answer
        .content
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty())
    {
        return Ok(());
    }
    if answer.has_reasoning() {
        Err(Reason::ReasoningOnly)
    } else if answer.finish_reason.as_deref() == Some("length") {
        Err(Reason::Truncated)
    } else {
        Err(Reason::Empty)
    }
}

/// The keys the JSON check asks for, with their JSON types.
pub const JSON_KEYS: [(&str, &str); 2] = [("capital", "string"), ("letters", "integer")];

/// Whether a JSON object has every asked key with its type (extra keys are allowed).
pub fn has_asked_keys(map: &Map<String, Value>) -> bool {
    JSON_KEYS.iter().all(|(key, kind)| match map.get(*key) {
        Some(Value::String(_)) => *kind == "string",
        Some(Value::Number(n)) => *kind == "integer" && (n.is_i64() || n.is_u64()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str) -> Reply {
        Reply::Http {
            status,
            body: body.to_owned(),
        }
    }

    fn ok_content(content: &str) -> String {
        serde_json::json!({"choices": [{"finish_reason": "stop",
            "message": {"role": "assistant", "content": content}}]})
        .to_string()
    }

    /// SMK-021's hint only for a 403 that says cloud is disabled: any other 403 is a refused
    /// key, with no hint.
    #[test]
    fn smk_021_only_the_cloud_disabled_403_has_the_hint() {
        let disabled = http_failure(
            403,
            r#"{"error":"ollama cloud is disabled: remote model is unavailable"}"#,
        );
        assert_eq!(
            (disabled.reason, disabled.hint),
            (Reason::Auth, Some(Hint::CloudDisabled))
        );
        let refused = http_failure(403, r#"{"error":{"message":"forbidden"}}"#);
        assert_eq!((refused.reason, refused.hint), (Reason::Auth, None));
    }

    /// Only 400/422 with format words is a rejection; a missing model or a generic "JSON
    /// object" complaint is not.
    #[test]
    fn rejection_needs_the_status_and_the_words() {
        let body =
            r#"{"error":{"message":"'response_format' of type 'json_schema' is not supported"}}"#;
        assert!(is_explicit_rejection(400, body));
        assert!(is_explicit_rejection(422, body));
        for status in [401, 403, 404, 408, 429, 500, 502, 503] {
            assert!(!is_explicit_rejection(status, body), "{status}");
        }
        assert!(!is_explicit_rejection(
            400,
            r#"{"error":"model 'x' not found"}"#
        ));
        assert!(!is_explicit_rejection(
            400,
            r#"{"error":"request body must be a JSON object"}"#
        ));
    }

    /// Each kind of silent format error is told apart.
    #[test]
    fn silent_kinds() {
        let v = |c: &str| classify_json(&http(200, &ok_content(c)));
        assert!(matches!(
            v(r#"{"capital":"Paris"}"#),
            JsonVerdict::Object(_)
        ));
        for (content, silent) in [
            ("```json\n{}\n```", Silent::Fenced),
            ("Paris", Silent::NotJson),
            ("[1]", Silent::NotJson),
            (" ", Silent::Empty),
        ] {
            assert_eq!(
                v(content),
                JsonVerdict::Format(FormatError::Ignored(silent)),
                "{content:?}"
            );
        }
    }

    /// The asked keys need their types; extra keys are allowed.
    #[test]
    fn asked_keys() {
        let m = |s: &str| serde_json::from_str::<Map<String, Value>>(s).unwrap();
        assert!(has_asked_keys(&m(
            r#"{"capital":"Paris","letters":5,"x":1}"#
        )));
        assert!(!has_asked_keys(&m(r#"{"capital":"Paris","letters":5.5}"#)));
        assert!(!has_asked_keys(&m(r#"{"capital":"Paris"}"#)));
        assert!(!has_asked_keys(&m(r#"{"capital":1,"letters":5}"#)));
    }
}
