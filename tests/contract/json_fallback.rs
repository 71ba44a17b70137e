//! Proves `contracts/json-fallback.md`: the `json_response` ladder moves one step down on a
//! format error only, against the wiremock stand-in with exact request counts per step, and the
//! classifier behind it, exhaustively and with proptest.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use provider_bridge::smoke::answer::{Reply, error_info};
use provider_bridge::smoke::classify::{
    FormatError, JSON_KEYS, JsonVerdict, Reason, Silent, classify_json, http_failure,
    is_explicit_rejection, is_llamacpp_format_500,
};

use crate::support::Smoke as _;
use crate::support::chat::{Chat, Step, content, reply};
use crate::support::fixture;

/// The context line the smoke prints first on stderr, against a stand-in with the key set.
const CONTEXT: &str =
    "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer\n";

/// `json_check` run against `chat`: exit `exit`, the one line `expected` (its latency a
/// placeholder), and stderr the context line then `json_response: <said>` (nothing for a pass).
fn expect_json(cli: crate::support::Cli, exit: i32, expected: &str, said: &str) {
    let said = if said.is_empty() {
        String::new()
    } else {
        format!("json_response: {said}\n")
    };
    let _ = cli
        .exits(exit)
        .stdout(format!("{expected} latency_ms=[MS]\n"))
        .stderr(format!("{CONTEXT}{said}"))
        .run();
}

/// The smoke, JSON check only.
fn json_check(chat: &Chat) -> crate::support::Cli {
    chat.smoke().args(["--check", "json_response"])
}

/// The three 400 format rejections of the reference: OpenAI's, llama.cpp's (newer builds,
/// `invalid_argument` → 400) and LiteLLM's.
const REJECTIONS: [&str; 3] = [
    "openai/error-openai-json-schema.json",
    "openai/error-llamacpp-response-format-400.json",
    "openai/error-litellm-unsupported-params.json",
];

/// llama.cpp's 500 rejections (builds that throw a `runtime_error`): `json_schema` itself on
/// builds before its support (ggml-org/llama.cpp#9522), an unknown type on later ones.
const LLAMACPP_500: [&str; 2] = [
    "openai/error-llamacpp-json-schema-500.json",
    "openai/error-llamacpp-response-format-500.json",
];

/// The silent format errors: 200 with prose, fenced JSON, empty content, an array.
const SILENT: [&str; 4] = [
    "openai/json-prose.json",
    "openai/json-fenced.json",
    "openai/json-empty.json",
    "openai/json-array.json",
];

/// The ladder in order, one request per step, stopping at the first pass: rejected, then
/// ignored, then a plain prompt that passes — each step requested exactly once — and the line
/// names the passing step, the fallback and every step.
#[tokio::test]
async fn fb_001_fb_010_ladder_runs_in_order_one_request_per_step() {
    let chat = two_steps_down(
        200,
        "openai/json-prose.json",
        "json_response=pass json_mode=plain_prompt fallback=ignored \
         steps=json_schema:rejected,json_object:ignored,plain_prompt:pass structured=json_schema:rejected,json_object:ignored",
    )
    .await;
    let bodies = chat.bodies().await;
    let order: Vec<Option<Step>> = bodies.iter().map(Step::of).collect();
    assert_eq!(
        order,
        [
            Some(Step::JsonSchema),
            Some(Step::JsonObject),
            Some(Step::Plain)
        ]
    );
    let schema = &bodies[0]["response_format"]["json_schema"];
    assert_eq!(
        schema["schema"]["required"],
        serde_json::json!(["capital", "letters"])
    );
    assert!(bodies[2].get("response_format").is_none());
    // Every step asks for the same small object, naming each key with its type; the plain
    // prompt also demands JSON only in a system message.
    for body in &bodies {
        let user = body["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .expect("a user message");
        for (key, kind) in JSON_KEYS {
            assert!(user.contains(&format!("\"{key}\" ({kind})")), "{user}");
        }
    }
    let system = bodies[2]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        bodies[2]["messages"][0]["role"] == "system" && system.contains("JSON"),
        "{system}"
    );
    chat.verify().await;
}

/// A first step that passes ends the ladder: no `json_object`, no plain prompt.
#[tokio::test]
async fn fb_001_fb_010_first_step_pass_sends_nothing_more() {
    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 200, "openai/json-ok.json", 1)
        .await;
    chat.never(Step::JsonObject).await;
    chat.never(Step::Plain).await;
    expect_json(
        json_check(&chat),
        0,
        "json_response=pass json_mode=response_format response_format=json_schema \
         structured=json_schema:enforced",
        "",
    );
    chat.verify().await;
}

/// Each explicit rejection (OpenAI, llama.cpp, LiteLLM; 400 and 422) moves exactly one step
/// down: `json_object` is asked once, the plain prompt never, and `fallback=rejected`.
#[tokio::test]
async fn fb_002_fb_010_each_rejection_moves_exactly_one_step_down() {
    let cases = REJECTIONS
        .iter()
        .map(|f| (400, *f))
        .chain([(422, REJECTIONS[0])]);
    for (status, fixture) in cases {
        one_step_down(
            status,
            fixture,
            "json_response=pass json_mode=response_format response_format=json_object \
             fallback=rejected steps=json_schema:rejected,json_object:pass structured=json_schema:rejected,json_object:enforced",
        )
        .await;
    }
}

/// `json_schema` answers `status` with `fixture`, `json_object` passes, once each, the plain
/// prompt is never asked, and the check passes with `expected` as its line.
async fn one_step_down(status: u16, fixture: &str, expected: &str) {
    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, status, fixture, 1).await;
    chat.on(Step::JsonObject, 200, "openai/json-ok.json", 1)
        .await;
    chat.never(Step::Plain).await;
    expect_json(json_check(&chat), 0, expected, "");
    chat.verify().await;
}

/// A rejection at `json_object` moves down to the plain prompt, once.
#[tokio::test]
async fn fb_002_rejection_at_second_step_moves_to_plain_prompt() {
    let chat = two_steps_down(
        400,
        REJECTIONS[1],
        "json_response=pass json_mode=plain_prompt fallback=rejected \
         steps=json_schema:rejected,json_object:rejected,plain_prompt:pass structured=json_schema:rejected,json_object:rejected",
    )
    .await;
    chat.verify().await;
}

/// `json_schema` is rejected (`REJECTIONS[0]`), `json_object` answers `status` with `fixture`,
/// the plain prompt passes, once each, and the check passes with `expected` as its line; the
/// stand-in, for more checks.
async fn two_steps_down(status: u16, fixture: &str, expected: &str) -> Chat {
    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 400, REJECTIONS[0], 1).await;
    chat.on(Step::JsonObject, status, fixture, 1).await;
    chat.on(Step::Plain, 200, "openai/json-ok.json", 1).await;
    expect_json(json_check(&chat), 0, expected, "");
    chat
}

/// Each silent format error (200 prose, fenced JSON, empty, array) moves exactly one step
/// down, with `fallback=ignored`.
#[tokio::test]
async fn fb_003_fb_010_each_silent_error_moves_exactly_one_step_down() {
    for fixture in SILENT {
        one_step_down(
            200,
            fixture,
            "json_response=pass json_mode=response_format response_format=json_object \
             fallback=ignored steps=json_schema:ignored,json_object:pass structured=json_schema:ignored,json_object:enforced",
        )
        .await;
    }
}

/// One failing case of the matrix: `fixture` with `status` at the first step (or at
/// `json_object` after a rejection when `second` is set), no further step requested, the exit
/// code and the line as given.
async fn no_fallback(
    status: u16,
    fixture: &str,
    second: bool,
    exit: i32,
    expected: &str,
    said: &str,
) {
    let chat = Chat::start().await;
    if second {
        chat.on(Step::JsonSchema, 400, REJECTIONS[2], 1).await;
        chat.on(Step::JsonObject, status, fixture, 1).await;
    } else {
        chat.on(Step::JsonSchema, status, fixture, 1).await;
        chat.never(Step::JsonObject).await;
    }
    chat.never(Step::Plain).await;
    expect_json(json_check(&chat), exit, expected, said);
    chat.verify().await;
}

/// 401 (Ollama's object envelope, Ollama's bare-string sign-in envelope, llama.cpp's integer
/// code) and 403, at the first or the second step: `reason=auth`, exit 3, zero fallback.
#[tokio::test]
async fn fb_004_refused_credentials_never_fall_back() {
    let refused = |said: &str| {
        format!("the server refused the API key (HTTP 401); the server said: \"{said}\"")
    };
    for (status, fixture, said) in [
        (401, "openai/error-ollama-401.json", refused("unauthorized")),
        (
            401,
            "openai/error-ollama-401-signin.json",
            refused("unauthorized"),
        ),
        (
            401,
            "openai/error-llamacpp-401.json",
            refused("Invalid API Key"),
        ),
    ] {
        no_fallback(
            status,
            fixture,
            false,
            3,
            &format!(
                "json_response=fail reason=auth status={status} auth=bearer \
                 json_mode=response_format response_format=json_schema"
            ),
            &said,
        )
        .await;
    }
    // Ollama's 403 for a `-cloud` model on a local server with cloud disabled (SMK-021).
    no_fallback(
        403,
        "openai/error-ollama-403-cloud-disabled.json",
        false,
        3,
        "json_response=fail reason=auth status=403 auth=bearer hint=cloud_disabled \
         json_mode=response_format response_format=json_schema",
        "this Ollama server has cloud models disabled (HTTP 403), so it will not forward the \
         request to ollama.com (the key was not refused): enable cloud access in that Ollama, or \
         use a local model or --base-url https://ollama.com/v1; the server said: \"ollama cloud \
         is disabled: remote model is unavailable\"",
    )
    .await;
    no_fallback(
        401,
        "openai/error-ollama-401.json",
        true,
        3,
        "json_response=fail reason=auth status=401 auth=bearer json_mode=response_format \
         response_format=json_object fallback=rejected steps=json_schema:rejected,json_object:auth structured=json_schema:rejected",
        &refused("unauthorized"),
    )
    .await;
}

/// 404 and llama.cpp's router 400 `model 'x' not found`: `reason=not_found`, exit 4, zero
/// fallback — also when the not-found message also names `response_format`.
#[tokio::test]
async fn fb_005_not_found_never_falls_back() {
    for (status, fixture) in [
        (404, "openai/error-ollama-404-model.json"),
        (400, "openai/error-llamacpp-router-model.json"),
    ] {
        no_fallback(
            status,
            fixture,
            false,
            4,
            &format!(
                "json_response=fail reason=not_found status={status} \
                 json_mode=response_format response_format=json_schema"
            ),
            &format!(
                "not found (HTTP {status}): check --model and --base-url; the server said: \
                 \"model 'gemma4:31b-cloud' not found\""
            ),
        )
        .await;
    }
    let chat = Chat::start().await;
    chat.on_with(
        Step::JsonSchema,
        wiremock::ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": {
            "message": "model 'x' not found (response_format json_schema requested)",
            "type": "invalid_request_error", "code": 400}})),
        1,
    )
    .await;
    chat.never(Step::JsonObject).await;
    chat.never(Step::Plain).await;
    expect_json(
        json_check(&chat),
        4,
        "json_response=fail reason=not_found status=400 json_mode=response_format \
         response_format=json_schema",
        "not found (HTTP 400): check --model and --base-url; the server said: \"model 'x' not \
         found (response_format json_schema requested)\"",
    );
    chat.verify().await;
}

/// 408 and 429 (a usage limit: `quota`; any other: `rate_limited`) at the first step:
/// `reason=timeout`, `quota` or `rate_limited`, exit 5, zero fallback.
#[tokio::test]
async fn fb_006_timeout_and_429_never_fall_back() {
    let quota = |said: &str| {
        format!(
            "the account's usage limit is reached (HTTP 429): a quota, not an outage; wait for \
             the limit to reset or raise the plan, retrying sooner will not help; the server \
             said: \"{said}\""
        )
    };
    let busy = "the endpoint is unavailable (HTTP 503); the server said: \"server busy, please \
                try again.  maximum pending requests exceeded\"";
    for (status, fixture, tail, said) in [
        (
            408,
            "openai/error-408.json",
            "reason=timeout status=408",
            "the server timed out (HTTP 408); the server said: \"request timeout\"".to_owned(),
        ),
        (
            429,
            "openai/error-429.json",
            "reason=rate_limited status=429",
            "the endpoint is rate-limiting requests (HTTP 429): wait and run again; the server \
             said: \"Rate limit reached for requests\""
                .to_owned(),
        ),
        (
            429,
            "openai/error-ollama-cloud-429-weekly.json",
            "reason=quota status=429",
            quota(
                "you (synthetic-user) have reached your weekly usage limit, upgrade for higher \
                 limits: https://ollama.com/upgrade",
            ),
        ),
        (
            429,
            "openai/error-ollama-cloud-429-hourly.json",
            "reason=quota status=429",
            quota("you've reached your hourly usage limit, please wait or upgrade to continue"),
        ),
        (
            500,
            "openai/error-500.json",
            "reason=unavailable status=500",
            "the endpoint is unavailable (HTTP 500); the server said: \"internal server error\""
                .to_owned(),
        ),
        (
            503,
            "openai/error-ollama-503.json",
            "reason=unavailable status=503",
            busy.to_owned(),
        ),
        (
            503,
            "openai/error-ollama-503-native.json",
            "reason=unavailable status=503",
            busy.to_owned(),
        ),
        (
            503,
            "openai/error-llamacpp-503-loading.json",
            "reason=unavailable status=503 hint=loading",
            "the server is up but still loading the model (HTTP 503): wait until it has loaded \
             and run again; the server said: \"Loading model\""
                .to_owned(),
        ),
    ] {
        no_fallback(
            status,
            fixture,
            false,
            5,
            &format!(
                "json_response=fail {tail} json_mode=response_format response_format=json_schema"
            ),
            &said,
        )
        .await;
    }
}

/// llama.cpp's `response_format` words on a 5xx other than 500, or on a 500 that is not its
/// `server_error` envelope, never fall back (FB-015 is that one case only): exit 5.
#[tokio::test]
async fn fb_006_fb_015_format_words_on_other_5xx_never_fall_back() {
    let llama_words = r#"{"error":{"code":503,"message":"response_format type must be one of \"text\" or \"json_object\", but got: json_schema","type":"unavailable_error"}}"#;
    let llama_words_500 = r#"{"error":{"message":"response_format type must be one of \"text\" or \"json_object\", but got: json_schema","type":"api_error","param":null,"code":null}}"#;
    for (status, body) in [
        (503, llama_words),
        (502, llama_words),
        (500, llama_words_500),
    ] {
        let chat = Chat::start().await;
        chat.on_with(
            Step::JsonSchema,
            wiremock::ResponseTemplate::new(status).set_body_string(body),
            1,
        )
        .await;
        chat.never(Step::JsonObject).await;
        chat.never(Step::Plain).await;
        expect_json(
            json_check(&chat),
            5,
            &format!(
                "json_response=fail reason=unavailable status={status} \
                 json_mode=response_format response_format=json_schema"
            ),
            &format!(
                "the endpoint is unavailable (HTTP {status}); the server said: \
                 \"response_format type must be one of \"text\" or \"json_object\", but got: \
                 json_schema\""
            ),
        );
        chat.verify().await;
    }
}

/// At the second step too: a 503 and a usage-limit 429 after a rejection end the ladder.
#[tokio::test]
async fn fb_006_second_step_unavailable_never_falls_back() {
    no_fallback(
        503,
        "openai/error-ollama-503.json",
        true,
        5,
        "json_response=fail reason=unavailable status=503 json_mode=response_format \
         response_format=json_object fallback=rejected \
         steps=json_schema:rejected,json_object:unavailable structured=json_schema:rejected",
        "the endpoint is unavailable (HTTP 503); the server said: \"server busy, please try \
         again.  maximum pending requests exceeded\"",
    )
    .await;
    no_fallback(
        429,
        "openai/error-ollama-cloud-429-session.json",
        true,
        5,
        "json_response=fail reason=quota status=429 json_mode=response_format \
         response_format=json_object fallback=rejected \
         steps=json_schema:rejected,json_object:quota structured=json_schema:rejected",
        "the account's usage limit is reached (HTTP 429): a quota, not an outage; wait for the \
         limit to reset or raise the plan, retrying sooner will not help; the server said: \"you \
         (synthetic-user) have reached your session usage limit, please wait or upgrade to \
         continue\"",
    )
    .await;
}

/// llama.cpp's 500 `response_format type must be one of …` (`server_error`) — for
/// `json_schema` on old builds, for another type on later ones — moves exactly one step down
/// like a 400 rejection: `json_object` asked once, the plain prompt never, `fallback=rejected`.
/// At `json_object` it moves on to the plain prompt.
#[tokio::test]
async fn fb_015_llamacpp_server_error_rejection_moves_one_step_down() {
    for fixture in LLAMACPP_500 {
        one_step_down(
            500,
            fixture,
            "json_response=pass json_mode=response_format response_format=json_object \
             fallback=rejected steps=json_schema:rejected,json_object:pass \
             structured=json_schema:rejected,json_object:enforced",
        )
        .await;
    }
    let chat = two_steps_down(
        500,
        LLAMACPP_500[1],
        "json_response=pass json_mode=plain_prompt fallback=rejected \
         steps=json_schema:rejected,json_object:rejected,plain_prompt:pass \
         structured=json_schema:rejected,json_object:rejected",
    )
    .await;
    chat.verify().await;
    // The classifier: exactly this envelope on exactly 500.
    for name in LLAMACPP_500 {
        let body = fixture(name);
        assert!(is_llamacpp_format_500(&body), "{name}");
        assert!(is_explicit_rejection(500, &body), "{name}");
        for status in [501, 502, 503, 504, 599] {
            assert!(!is_explicit_rejection(status, &body), "{name} {status}");
        }
    }
    assert!(!is_explicit_rejection(
        500,
        &fixture("openai/error-500.json")
    ));
    assert!(!is_explicit_rejection(
        500,
        &fixture("openai/error-llamacpp-jinja-500.json")
    ));
}

/// `reason=unsupported` (llama.cpp's 500 `tools param requires --jinja flag`, Ollama's 400
/// `does not support tools`) at either step ends the ladder: exit 1, no further request.
#[tokio::test]
async fn fb_016_unsupported_never_falls_back() {
    for (status, fixture, tail, said) in [
        (
            500,
            "openai/error-llamacpp-jinja-500.json",
            "status=500 unsupported=tools hint=--jinja",
            "the server cannot do tools (HTTP 500): llama-server takes tools only when started \
             with --jinja (and a chat template that knows tools); the server said: \"tools param \
             requires --jinja flag\"",
        ),
        (
            400,
            "openai/error-ollama-400-no-tools.json",
            "status=400 unsupported=tools",
            "the model cannot do tools (HTTP 400): choose a model that supports it; the server \
             said: \"registry.ollama.ai/library/gemma3:270m does not support tools\"",
        ),
    ] {
        for second in [false, true] {
            let steps = if second {
                "response_format=json_object fallback=rejected \
                 steps=json_schema:rejected,json_object:unsupported structured=json_schema:rejected"
            } else {
                "response_format=json_schema"
            };
            no_fallback(
                status,
                fixture,
                second,
                1,
                &format!(
                    "json_response=fail reason=unsupported {tail} json_mode=response_format \
                     {steps}"
                ),
                said,
            )
            .await;
        }
    }
}

/// A timeout (`--timeout 0.3` against a 5 s answer) ends the ladder after one request, with
/// `reason=timeout`, exit 5, well under a second.
#[tokio::test]
async fn fb_006_smk_012_timeout_never_falls_back_and_is_quick() {
    let chat = Chat::start().await;
    chat.slow(
        Step::JsonSchema,
        "openai/json-ok.json",
        Duration::from_secs(5),
        1,
    )
    .await;
    chat.never(Step::JsonObject).await;
    chat.never(Step::Plain).await;
    let started = Instant::now();
    expect_json(
        json_check(&chat).args(["--timeout", "0.3"]),
        5,
        "json_response=fail reason=timeout json_mode=response_format response_format=json_schema",
        "no answer within 0.3s (--timeout)",
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    chat.verify().await;
}

/// A refused connection: `reason=unavailable`, exit 5, one line, no fallback possible.
#[test]
fn fb_006_refused_connection_never_falls_back() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    expect_json(
        crate::support::Cli::smoke()
            .args(["--check", "json_response", "--base-url"])
            .arg(format!("http://127.0.0.1:{port}/v1"))
            .secret_env("OLLAMA_CLOUD_API_KEY", crate::support::chat::KEY),
        5,
        "json_response=fail reason=unavailable json_mode=response_format response_format=json_schema",
        "the endpoint is unavailable; cannot connect: Connection refused (os error 111)",
    );
}

/// A 400 (and a 422) about anything but the format: `reason=bad_request`, exit 1, zero
/// fallback.
#[tokio::test]
async fn fb_007_other_bad_request_never_falls_back() {
    for status in [400, 422] {
        no_fallback(
            status,
            "openai/error-ollama-400-bad-request.json",
            false,
            1,
            &format!(
                "json_response=fail reason=bad_request status={status} \
                 json_mode=response_format response_format=json_schema"
            ),
            &format!(
                "the server rejected the request (HTTP {status}); the server said: \"invalid \
                 message format\""
            ),
        )
        .await;
    }
}

/// `finish_reason: length` with broken JSON: `reason=truncated hint=--max-tokens`, exit 1,
/// zero fallback.
#[tokio::test]
async fn fb_008_truncated_answer_never_falls_back() {
    for second in [false, true] {
        let tail = if second {
            "response_format=json_object fallback=rejected \
             steps=json_schema:rejected,json_object:truncated structured=json_schema:rejected"
        } else {
            "response_format=json_schema"
        };
        no_fallback(
            200,
            "openai/json-truncated.json",
            second,
            1,
            &format!(
                "json_response=fail reason=truncated hint=--max-tokens json_mode=response_format \
                 {tail}"
            ),
            "the answer was cut at --max-tokens 1024 (finish_reason: length): raise --max-tokens",
        )
        .await;
    }
}

/// Valid JSON without an asked key, or with a key of another type: `reason=schema`, exit 1,
/// zero fallback.
#[tokio::test]
async fn fb_009_json_without_asked_keys_never_falls_back() {
    for fixture in [
        "openai/json-missing-keys.json",
        "openai/json-wrong-type.json",
    ] {
        no_fallback(
            200,
            fixture,
            false,
            1,
            "json_response=fail reason=schema json_mode=response_format response_format=json_schema \
             structured=json_schema:ignored",
            "the JSON object lacks the asked keys and types: \"capital\" (string), \"letters\" \
             (integer)",
        )
        .await;
    }
}

/// A pinned mode sends that one step only: a rejection fails with `reason=rejected`, prose with
/// `reason=not_json`, and a passing plain prompt reports `json_mode=plain_prompt`.
#[tokio::test]
async fn fb_011_pinned_mode_never_falls_back() {
    let chat = Chat::start().await;
    chat.never(Step::JsonSchema).await;
    chat.on(Step::JsonObject, 400, REJECTIONS[1], 1).await;
    chat.never(Step::Plain).await;
    expect_json(
        json_check(&chat).args(["--json-mode", "json_object"]),
        1,
        "json_response=fail reason=rejected status=400 json_mode=response_format \
         response_format=json_object structured=json_object:rejected",
        "the endpoint rejected the response format (HTTP 400); the server said: \
         \"response_format type must be one of \"text\" or \"json_object\", but got: xml\"",
    );
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 200, "openai/json-prose.json", 1)
        .await;
    chat.never(Step::JsonObject).await;
    chat.never(Step::Plain).await;
    expect_json(
        json_check(&chat).args(["--json-mode", "json_schema"]),
        1,
        "json_response=fail reason=not_json json_mode=response_format response_format=json_schema \
         structured=json_schema:ignored",
        "the content is not a JSON object",
    );
    chat.verify().await;

    let chat = Chat::start().await;
    chat.never(Step::JsonSchema).await;
    chat.never(Step::JsonObject).await;
    chat.on(Step::Plain, 200, "openai/json-ok.json", 1).await;
    expect_json(
        json_check(&chat).args(["--json-mode", "plain_prompt"]),
        0,
        "json_response=pass json_mode=plain_prompt",
        "",
    );
    chat.verify().await;
}

/// Three format errors in a row: the check fails, exit 1, with the last step's reason
/// (`not_json`, `fenced`, `empty`, `reasoning_only` with its hint).
#[tokio::test]
async fn fb_012_no_step_left_fails_with_last_reason() {
    for (last, reason, said) in [
        (
            "openai/json-prose.json",
            "reason=not_json",
            "the content is not a JSON object",
        ),
        (
            "openai/json-fenced.json",
            "reason=fenced",
            "the content is JSON wrapped in a markdown fence",
        ),
        (
            "openai/json-empty.json",
            "reason=empty",
            "the content is empty",
        ),
        (
            "openai/json-reasoning-only.json",
            "reason=reasoning_only hint=--max-tokens reasoning_chars=45 reasoning_field=reasoning \
             finish_reason=stop",
            "the content is empty and the text is in reasoning (a known gemma4 behaviour): raise \
             --max-tokens (now 1024)",
        ),
    ] {
        let chat = Chat::start().await;
        chat.on(Step::JsonSchema, 400, REJECTIONS[0], 1).await;
        chat.on(Step::JsonObject, 200, "openai/json-fenced.json", 1)
            .await;
        chat.on(Step::Plain, 200, last, 1).await;
        expect_json(
            json_check(&chat),
            1,
            &format!(
                "json_response=fail {reason} json_mode=plain_prompt fallback=ignored \
                 steps=json_schema:rejected,json_object:ignored,plain_prompt:ignored \
                 structured=json_schema:rejected,json_object:ignored"
            ),
            said,
        );
        chat.verify().await;
    }
}

/// Every envelope shape of the reference is read: `error` as object or bare string, `code` as
/// string, integer or null, `message` / `detail` at the top, a body that is not JSON; the
/// status decides first.
#[test]
fn fb_013_error_envelopes_in_every_shape() {
    let shapes: [(&str, &str, Option<&str>); 8] = [
        (
            r#"{"error":{"message":"m1","type":"t","param":null,"code":"rate_limit_exceeded"}}"#,
            "m1",
            Some("rate_limit_exceeded"),
        ),
        (
            r#"{"error":{"message":"m2","type":"authentication_error","code":401}}"#,
            "m2",
            Some("401"),
        ),
        (r#"{"error":{"message":"m3","code":null}}"#, "m3", None),
        (
            r#"{"error":"m4","signin_url":"https://x.example"}"#,
            "m4",
            None,
        ),
        (r#"{"message":"m5"}"#, "m5", None),
        (r#"{"detail":"m6"}"#, "m6", None),
        (r#"{"error":{"code":500}}"#, "", Some("500")),
        (r#"{"error":["m8"]}"#, r#"["m8"]"#, None),
    ];
    for (body, message, code) in shapes {
        let info = error_info(body).unwrap_or_else(|| panic!("not read: {body}"));
        assert_eq!(info.message, message, "{body}");
        assert_eq!(info.code.as_deref(), code, "{body}");
        // Status first: the same body is auth at 401, not_found at 404, unavailable at 503.
        assert_eq!(http_failure(401, body).reason, Reason::Auth);
        assert_eq!(http_failure(404, body).reason, Reason::NotFound);
        assert_eq!(http_failure(503, body).reason, Reason::Unavailable);
    }
    for body in [
        "<html>502 Bad Gateway</html>",
        "",
        "null",
        "[]",
        "42",
        "\"x\"",
    ] {
        assert_eq!(error_info(body), None, "{body}");
        assert_eq!(http_failure(502, body).reason, Reason::Unavailable);
    }
    // A non-JSON body naming the format is still an explicit rejection at 400.
    assert!(is_explicit_rejection(
        400,
        "response_format json_schema is not supported"
    ));
    // Every fixture envelope is read.
    for name in [
        "error-openai-json-schema",
        "error-llamacpp-response-format-400",
        "error-llamacpp-response-format-500",
        "error-llamacpp-json-schema-500",
        "error-llamacpp-503-loading",
        "error-llamacpp-tool-choice-jinja-500",
        "error-ollama-400-no-tools",
        "error-ollama-403-cloud-disabled",
        "error-ollama-503-native",
        "error-ollama-cloud-429-weekly",
        "error-ollama-cloud-429-hourly",
        "error-ollama-cloud-429-session",
        "error-litellm-unsupported-params",
        "error-ollama-401",
        "error-ollama-401-signin",
        "error-llamacpp-401",
        "error-ollama-404-model",
        "error-llamacpp-router-model",
        "error-ollama-503",
    ] {
        let body = fixture(&format!("openai/{name}.json"));
        assert!(
            error_info(&body).is_some_and(|i| !i.message.is_empty()),
            "{name}"
        );
    }
}

/// The classifier over a status × body grid: only 400/422 naming the format is an explicit
/// rejection, only a 2xx can be silent, and every other status is a failure of its reason.
#[test]
fn fb_014_classifier_grid() {
    let bodies: Vec<String> = [
        REJECTIONS[0],
        REJECTIONS[1],
        REJECTIONS[2],
        "openai/error-ollama-401.json",
        "openai/error-llamacpp-router-model.json",
        "openai/json-prose.json",
        "openai/json-ok.json",
        "openai/json-truncated.json",
        LLAMACPP_500[0],
        LLAMACPP_500[1],
    ]
    .iter()
    .map(|f| fixture(f))
    .chain(["".to_owned(), "not json".to_owned()])
    .collect();
    for status in 100..600u16 {
        for (i, body) in bodies.iter().enumerate() {
            let verdict = classify_json(&Reply::Http {
                status,
                body: body.clone(),
            });
            match &verdict {
                JsonVerdict::Format(FormatError::Rejected { .. }) => assert!(
                    (matches!(status, 400 | 422) && (i < 3 || matches!(i, 8 | 9)))
                        || (status == 500 && matches!(i, 8 | 9)),
                    "{status} {body}"
                ),
                JsonVerdict::Format(FormatError::Ignored(_)) | JsonVerdict::Object(_) => {
                    assert!((200..300).contains(&status), "{status} {body}")
                }
                JsonVerdict::Fail(f) => {
                    let expected = match status {
                        200..=299 => f.reason,
                        _ => http_failure(status, body).reason,
                    };
                    assert_eq!(f.reason, expected, "{status} {body}");
                    // llama.cpp's 400 and 500 rejections are rejections wherever they count.
                    assert!(!(status == 500 && matches!(i, 8 | 9)), "{status} {body}");
                }
            }
        }
    }
    assert_eq!(
        classify_json(&Reply::Http {
            status: 200,
            body: fixture("openai/json-prose.json")
        }),
        JsonVerdict::Format(FormatError::Ignored(Silent::NotJson))
    );
    assert!(matches!(
        classify_json(&Reply::Timeout),
        JsonVerdict::Fail(f) if f.reason == Reason::Timeout
    ));
    assert!(matches!(
        classify_json(&Reply::Unreachable { detail: "x".into() }),
        JsonVerdict::Fail(f) if f.reason == Reason::Unavailable
    ));
    // Deeply nested and huge bodies.
    let deep = "[".repeat(100_000);
    let huge = format!(
        "{{\"error\":{{\"message\":\"{}response_format\"}}}}",
        "x".repeat(2_000_000)
    );
    for body in [deep, huge] {
        let _ = classify_json(&Reply::Http { status: 400, body });
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("response_format"),
            Just("model 'x' not found"),
            Just("length"),
            Just("{\"capital\":\"Paris\",\"letters\":5}")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("error".to_owned()),
                    Just("choices".to_owned()),
                    Just("message".to_owned()),
                    Just("content".to_owned()),
                    Just("code".to_owned()),
                    Just("finish_reason".to_owned()),
                    Just("tool_calls".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes and random JSON shaped like answers and envelopes, at any status: the
    /// classifier returns a verdict without panicking, and never calls a status other than
    /// 400/422 an explicit rejection — but for FB-015's exact llama.cpp 500 envelope.
    #[test]
    fn fb_014_random_bodies_never_crash_the_classifier(
        status in 100u16..600,
        raw in prop::collection::vec(any::<u8>(), 0..256),
        json in arb_json(),
    ) {
        for body in [String::from_utf8_lossy(&raw).into_owned(), json.to_string()] {
            let verdict = classify_json(&Reply::Http { status, body: body.clone() });
            if let JsonVerdict::Format(FormatError::Rejected { .. }) = verdict {
                prop_assert!(
                    status == 400 || status == 422 || (status == 500 && is_llamacpp_format_500(&body))
                );
            }
            let _ = http_failure(status, &body);
            let _ = error_info(&body);
            let _ = provider_bridge::smoke::answer::parse_answer(&body);
        }
    }
}

/// The stand-in's helpers answer what they claim (guards the tests above against a stand-in
/// that silently answers something else).
#[tokio::test]
async fn fb_001_stand_in_sorts_steps() {
    let chat = Chat::start().await;
    chat.on_with(Step::Chat, content("pong"), 1).await;
    chat.on_with(Step::Tool, reply(200, "openai/tool-ok.json"), 1)
        .await;
    chat.on_with(Step::JsonSchema, reply(200, "openai/json-ok.json"), 1)
        .await;
    chat.never(Step::JsonObject).await;
    chat.never(Step::Plain).await;
    let _ = chat
        .smoke()
        .exits(0)
        .stdout(
            "chat_completion=pass latency_ms=[MS]\njson_response=pass json_mode=response_format \
             response_format=json_schema structured=json_schema:enforced latency_ms=[MS]\n\
             tool_call=pass latency_ms=[MS]\n",
        )
        .stderr(CONTEXT)
        .run();
    chat.verify().await;
}

/// A plain-text (non-envelope) 400 is read well past its first kilobyte: a proxy's long HTML
/// or text page that names `response_format` after 2 KB of preamble is still a rejection.
#[test]
fn fb_002_long_plain_text_rejection_is_read() {
    let body = format!(
        "{}\nUnsupportedParamsError: does not support parameters: ['response_format']",
        "x".repeat(2048)
    );
    assert!(is_explicit_rejection(400, &body));
    let far = format!("{}response_format", "x".repeat(17 * 1024));
    assert!(
        !is_explicit_rejection(400, &far),
        "the classifier reads a bounded prefix only"
    );
}

/// The asked keys are checked by type, not by value: any integer is an integer (a negative
/// one, one beyond i64), a float or a numeric string is not.
#[test]
fn fb_009_asked_keys_are_checked_by_type() {
    use provider_bridge::smoke::classify::has_asked_keys;
    let ok = |v: serde_json::Value| has_asked_keys(v.as_object().unwrap());
    assert!(ok(serde_json::json!({"capital": "Paris", "letters": 5})));
    assert!(ok(serde_json::json!({"capital": "Paris", "letters": -5})));
    assert!(ok(
        serde_json::json!({"capital": "Paris", "letters": u64::MAX})
    ));
    assert!(!ok(serde_json::json!({"capital": "Paris", "letters": 5.5})));
    assert!(!ok(serde_json::json!({"capital": "Paris", "letters": "5"})));
    assert!(!ok(serde_json::json!({"capital": 1, "letters": 5})));
    assert!(!ok(serde_json::json!({"letters": 5})));
}
