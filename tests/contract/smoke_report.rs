//! Proves `contracts/smoke-report.md`: the three checks, the options and the report of
//! `ollama-compat-smoke`, against the wiremock stand-in.

use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::support::Cli;
use crate::support::chat::{Chat, Step, content, reply};
use crate::support::{Smoke as _, line, lines};
use snapbox::str;

/// The context line the smoke prints first on stderr, against a stand-in with the key set.
const CONTEXT: &str =
    "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer\n";

/// A stand-in on which every check passes, each step expected `times` times.
async fn all_pass(chat: &Chat, times: u64) {
    chat.on(Step::Chat, 200, "openai/chat-ok.json", times).await;
    chat.on(Step::JsonSchema, 200, "openai/json-ok.json", times)
        .await;
    chat.on(Step::Tool, 200, "openai/tool-ok.json", times).await;
}

/// Every check passing: three lines in the fixed order, `<check>=pass` first, `latency_ms=`
/// last; the same order whatever the order of the `--check` flags.
#[tokio::test]
async fn smk_001_one_line_per_check_in_fixed_order() {
    let chat = Chat::start().await;
    all_pass(&chat, 1).await;
    let run = chat
        .smoke()
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    let token = Regex::new(r"^[a-z_]+=[^\s=]+$").unwrap();
    for l in run.stdout.lines() {
        assert!(
            l.split(' ').all(|t| token.is_match(t)),
            "not key=value tokens: {l}"
        );
    }
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(Step::Tool, 200, "openai/tool-prose.json", 1).await;
    chat.never(Step::JsonSchema).await;
    let _ = chat
        .smoke()
        .args(["--check", "tool_call", "--check", "chat_completion"])
        .exits(1)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
tool_call=fail reason=no_tool_call latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
tool_call: the model answered without calling get_weather

"#]])
        .run();
    chat.verify().await;
}

/// Three checks against an endpoint that takes 700 ms per answer finish in well under the
/// 2.1 s they would take one after the other.
#[tokio::test]
async fn smk_002_checks_run_concurrently() {
    let chat = Chat::start().await;
    let delay = Duration::from_millis(700);
    chat.slow(Step::Chat, "openai/chat-ok.json", delay, 1).await;
    chat.slow(Step::JsonSchema, "openai/json-ok.json", delay, 1)
        .await;
    chat.slow(Step::Tool, "openai/tool-ok.json", delay, 1).await;
    let started = Instant::now();
    let _ = chat
        .smoke()
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1600), "took {took:?}");
    chat.verify().await;
}

/// Non-blank content passes; empty and null content fail with `reason=empty`, exit 1.
#[tokio::test]
async fn smk_003_chat_completion_needs_content() {
    let empty = "chat_completion: the content is empty\n";
    for (fixture, exit, expected, explained) in [
        ("openai/chat-ok.json", 0, "chat_completion=pass", ""),
        (
            "openai/chat-empty.json",
            1,
            "chat_completion=fail reason=empty",
            empty,
        ),
        (
            "openai/chat-null-content.json",
            1,
            "chat_completion=fail reason=empty",
            empty,
        ),
    ] {
        let chat = Chat::start().await;
        chat.on(Step::Chat, 200, fixture, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", "chat_completion"])
            .exits(exit)
            .stdout(format!("{expected} latency_ms=[MS]\n"))
            .stderr(format!("{CONTEXT}{explained}"))
            .run();
        chat.verify().await;
    }
}

/// Empty content with the text in `reasoning` or `reasoning_content`: `reason=reasoning_only
/// hint=--max-tokens`, and stderr names `--max-tokens` with its value.
#[tokio::test]
async fn smk_004_reasoning_only_is_named_with_the_fix() {
    for (fixture, diagnosis) in [
        (
            "openai/chat-reasoning-only.json",
            "reasoning_chars=61 reasoning_field=reasoning finish_reason=stop",
        ),
        (
            "openai/chat-reasoning-content-only.json",
            "reasoning_chars=29 reasoning_field=reasoning_content finish_reason=stop",
        ),
    ] {
        let chat = Chat::start().await;
        chat.on(Step::Chat, 200, fixture, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", "chat_completion", "--max-tokens", "333"])
            .exits(1)
            .stdout(format!(
                "chat_completion=fail reason=reasoning_only hint=--max-tokens {diagnosis} \
                 latency_ms=[MS]\n"
            ))
            .stderr(format!(
                "{CONTEXT}chat_completion: the content is empty and the text is in reasoning (a \
                 known gemma4 behaviour): raise --max-tokens (now 333)\n"
            ))
            .run();
        chat.verify().await;
    }
}

/// A proper call passes (with `content` "" as Ollama sends, or null as OpenAI does), and the
/// request offers exactly `get_weather(city: string)` with `city` required.
#[tokio::test]
async fn smk_005_tool_call_passes_on_proper_call() {
    for fixture in ["openai/tool-ok.json", "openai/tool-ok-null-content.json"] {
        let chat = Chat::start().await;
        chat.on(Step::Tool, 200, fixture, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", "tool_call"])
            .exits(0)
            .stdout("tool_call=pass latency_ms=[MS]\n")
            .stderr(CONTEXT)
            .run();
        let bodies = chat.bodies().await;
        let tools = bodies[0]["tools"].as_array().expect("tools is an array");
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0]["type"], "function");
        let f = &tools[0]["function"];
        assert_eq!(f["name"], "get_weather");
        assert_eq!(f["parameters"]["properties"]["city"]["type"], "string");
        assert_eq!(f["parameters"]["required"], serde_json::json!(["city"]));
        chat.verify().await;
    }
}

/// Prose, another function, arguments without `city`, arguments as an object instead of a
/// string, and broken arguments: each its reason, exit 1.
#[tokio::test]
async fn smk_006_tool_call_names_why_it_failed() {
    let not_city = "the arguments of get_weather are not a JSON string of an object with a \
                    string \"city\"";
    for (fixture, reason, explained) in [
        (
            "openai/tool-prose.json",
            "no_tool_call",
            "the model answered without calling get_weather",
        ),
        (
            "openai/tool-wrong-function.json",
            "wrong_function",
            "tool_calls[0] names another function than get_weather",
        ),
        ("openai/tool-bad-arguments.json", "bad_arguments", not_city),
        (
            "openai/tool-arguments-object.json",
            "bad_arguments",
            not_city,
        ),
        (
            "openai/tool-arguments-broken.json",
            "bad_arguments",
            not_city,
        ),
    ] {
        let chat = Chat::start().await;
        chat.on(Step::Tool, 200, fixture, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", "tool_call"])
            .exits(1)
            .stdout(format!("tool_call=fail reason={reason} latency_ms=[MS]\n"))
            .stderr(format!("{CONTEXT}tool_call: {explained}\n"))
            .run();
        chat.verify().await;
    }
}

/// `--repeat 3`: three requests per check; 3/3 passes, 2/3 fails with `passes=2/3`.
#[tokio::test]
async fn smk_007_repeat_measures_flakiness() {
    let chat = Chat::start().await;
    all_pass(&chat, 3).await;
    let _ = chat
        .smoke()
        .args(["--repeat", "3"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass passes=3/3 latency_ms=[MS]
json_response=pass passes=3/3 json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass passes=3/3 latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    chat.verify().await;

    let chat = Chat::start().await;
    chat.first_n(Step::Chat, 2, reply(200, "openai/chat-ok.json"))
        .await;
    chat.on(Step::Chat, 200, "openai/chat-empty.json", 1).await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion", "--repeat", "3"])
        .exits(1)
        .stdout(str![[r#"
chat_completion=fail passes=2/3 reason=empty latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the content is empty

"#]])
        .run();
    chat.verify().await;
}

/// One run per combination: all pass → 0; a prose tool answer → 1; 503 → 5; 404 and 503 → 4;
/// 401, 404 and 503 → 3 (the lowest of 3/4/5 wins over 1).
#[tokio::test]
async fn smk_008_exit_code_names_the_root_cause() {
    // each answer with the line it gives and what stderr says of it ("" for a pass)
    let chat_ok = || {
        (
            reply(200, "openai/chat-ok.json"),
            "chat_completion=pass",
            "",
        )
    };
    let chat_503 = || {
        (
            reply(503, "openai/error-ollama-503.json"),
            "chat_completion=fail reason=unavailable status=503",
            "chat_completion: the endpoint is unavailable (HTTP 503); the server said: \"server \
             busy, please try again.  maximum pending requests exceeded\"\n",
        )
    };
    let json_ok = || {
        (
            reply(200, "openai/json-ok.json"),
            "json_response=pass json_mode=response_format response_format=json_schema \
             structured=json_schema:enforced",
            "",
        )
    };
    let json_404 = || {
        (
            reply(404, "openai/error-ollama-404-model.json"),
            "json_response=fail reason=not_found status=404 json_mode=response_format \
             response_format=json_schema",
            "json_response: not found (HTTP 404): check --model and --base-url; the server said: \
             \"model 'gemma4:31b-cloud' not found\"\n",
        )
    };
    let tool_ok = || (reply(200, "openai/tool-ok.json"), "tool_call=pass", "");
    let tool_prose = || {
        (
            reply(200, "openai/tool-prose.json"),
            "tool_call=fail reason=no_tool_call",
            "tool_call: the model answered without calling get_weather\n",
        )
    };
    let tool_401 = || {
        (
            reply(401, "openai/error-ollama-401.json"),
            "tool_call=fail reason=auth status=401 auth=bearer",
            "tool_call: the server refused the API key (HTTP 401); the server said: \
             \"unauthorized\"\n",
        )
    };
    let cases = [
        (chat_ok(), json_ok(), tool_ok(), 0),
        (chat_ok(), json_ok(), tool_prose(), 1),
        (chat_503(), json_ok(), tool_prose(), 5),
        (chat_503(), json_404(), tool_prose(), 4),
        (chat_503(), json_404(), tool_401(), 3),
    ];
    for ((chat_reply, chat_line, chat_said), (json_reply, json_line, json_said), tool, exit) in
        cases
    {
        let (tool_reply, tool_line, tool_said) = tool;
        let chat = Chat::start().await;
        chat.on_with(Step::Chat, chat_reply, 1).await;
        chat.on_with(Step::JsonSchema, json_reply, 1).await;
        chat.on_with(Step::Tool, tool_reply, 1).await;
        let _ = chat
            .smoke()
            .exits(exit)
            .stdout(format!(
                "{chat_line} latency_ms=[MS]\n{json_line} latency_ms=[MS]\n{tool_line} \
                 latency_ms=[MS]\n"
            ))
            .stderr(format!("{CONTEXT}{chat_said}{json_said}{tool_said}"))
            .run();
        chat.verify().await;
    }
}

/// `--format json`: one document with the endpoint, model, auth, modes, reasons, statuses,
/// quoted messages and latencies; never the key.
#[tokio::test]
async fn smk_009_smk_035_json_report() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(
        Step::JsonSchema,
        400,
        "openai/error-openai-json-schema.json",
        1,
    )
    .await;
    chat.on(Step::JsonObject, 200, "openai/json-ok.json", 1)
        .await;
    chat.on(Step::Tool, 401, "openai/error-ollama-401.json", 1)
        .await;
    let run = chat
        .smoke()
        .args(["--format", "json"])
        .exits(3)
        .stdout_checked_elsewhere("one JSON document, read field by field below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
tool_call: the server refused the API key (HTTP 401); the server said: "unauthorized"

"#]])
        .run();
    let doc = run.stdout_json();
    assert_eq!(doc["endpoint"], chat.base_url());
    assert_eq!(doc["model"], "gemma4:31b-cloud");
    assert_eq!(doc["auth"], "bearer");
    assert_eq!(doc["json_mode"], "auto");
    assert_eq!(doc["repeat"], 1);
    assert_eq!(doc["timeout_s"], 60.0);
    assert_eq!(doc["max_tokens"], 1024);
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["exit_code"], 3);
    let checks = doc["checks"].as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chat_completion", "json_response", "tool_call"]);
    assert_eq!(checks[0]["result"], "pass");
    assert_eq!(checks[0]["reason"], Value::Null);
    assert_eq!(checks[0]["passes"], 1);
    assert_eq!(checks[0]["runs"], 1);
    assert!(checks[0]["latency_ms"].is_u64());
    assert_eq!(checks[0]["latencies_ms"].as_array().unwrap().len(), 1);
    assert_eq!(checks[1]["result"], "pass");
    assert_eq!(checks[1]["json_mode"], "response_format");
    assert_eq!(checks[1]["response_format"], "json_object");
    assert_eq!(checks[1]["fallback"], "rejected");
    assert_eq!(
        checks[1]["steps"],
        serde_json::json!([
            {"step": "json_schema", "outcome": "rejected", "structured": "rejected"},
            {"step": "json_object", "outcome": "pass", "structured": "enforced"}
        ])
    );
    assert_eq!(checks[2]["result"], "fail");
    assert_eq!(checks[2]["reason"], "auth");
    assert_eq!(checks[2]["status"], 401);
    assert_eq!(checks[2]["message"], "unauthorized");
    assert!(checks[2].get("json_mode").is_none());
    chat.verify().await;
}

/// Tags open and close in order (a small well-formedness check without an XML parser).
fn assert_balanced(xml: &str) {
    let tag = Regex::new(r"<(/?)([A-Za-z][\w-]*)[^<>]*?(/?)>").unwrap();
    let body = xml.trim_start_matches(|c| c != '\n');
    let mut stack: Vec<String> = Vec::new();
    for cap in tag.captures_iter(body) {
        let name = cap[2].to_owned();
        match (&cap[1], &cap[3]) {
            ("", "/") => {}
            ("", _) => stack.push(name),
            _ => assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "{xml}"),
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?} in {xml}");
    let stripped = tag.replace_all(body, "");
    assert!(
        !stripped.contains('<') && !stripped.contains('>'),
        "stray markup: {xml}"
    );
}

/// `--format junit`: one suite with counts and properties, one testcase per check, the
/// failure typed by its reason, server words XML-escaped.
#[tokio::test]
async fn smk_010_junit_report() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(Step::JsonSchema, 200, "openai/json-ok.json", 1)
        .await;
    chat.on_with(
        Step::Tool,
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": {
            "message": "bad <tools> & \"quotes\" 'here'", "type": "invalid_request_error"}})),
        1,
    )
    .await;
    let run = chat
        .smoke()
        .args(["--format", "junit"])
        .exits(1)
        .stdout_checked_elsewhere("the JUnit document, read part by part below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
tool_call: the server rejected the request (HTTP 400); the server said: "bad <tools> & "quotes" 'here'"

"#]])
        .run();
    let xml = &run.stdout;
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        "{xml}"
    );
    assert_balanced(xml);
    assert!(xml.contains("<testsuite name=\"ollama-compat-smoke\" tests=\"3\" failures=\"1\""));
    assert_eq!(xml.matches("<testcase ").count(), 3);
    for name in ["chat_completion", "json_response", "tool_call"] {
        assert!(xml.contains(&format!("name=\"{name}\"")), "{name}");
    }
    assert!(xml.contains(&format!(
        "<property name=\"endpoint\" value=\"{}\"/>",
        chat.base_url()
    )));
    assert!(xml.contains("<property name=\"model\" value=\"gemma4:31b-cloud\"/>"));
    assert!(xml.contains("<property name=\"auth\" value=\"bearer\"/>"));
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(xml.contains("<failure type=\"bad_request\" message=\"reason=bad_request status=400"));
    assert!(
        xml.contains("bad &lt;tools&gt; &amp; &quot;quotes&quot; &apos;here&apos;"),
        "{xml}"
    );
    assert!(!xml.contains("<tools>"));
    chat.verify().await;
}

/// `--help` shows each flag with its variable and default; `OLLAMA_BASE_URL` and
/// `OLLAMA_MODEL` are used; `--model` beats the variable; the default `max_tokens` is 1024.
#[tokio::test]
async fn smk_011_defaults_and_environment() {
    // every flag with its variable and default, as an operator reads it; clap pads the blank
    // lines between a flag and its values with spaces, which the comparison trims
    let help = Cli::smoke()
        .arg("--help")
        .exits(0)
        .stdout_checked_elsewhere(
            "the help, compared whole below, each line's trailing blanks trimmed",
        )
        .run();
    let trimmed: String = help
        .stdout
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    assert_eq!(trimmed, SMOKE_HELP, "{}", help.report());

    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 2).await;
    let _ = Cli::smoke()
        .env("OLLAMA_BASE_URL", chat.base_url())
        .env("OLLAMA_MODEL", "synthetic-model:1b")
        .args(["--check", "chat_completion"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=synthetic-model:1b auth=none

"#]])
        .run();
    let _ = Cli::smoke()
        .env("OLLAMA_BASE_URL", chat.base_url())
        .env("OLLAMA_MODEL", "synthetic-model:1b")
        .args(["--check", "chat_completion", "--model", "flag-model:2b"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=flag-model:2b auth=none

"#]])
        .run();
    let bodies = chat.bodies().await;
    assert_eq!(bodies[0]["model"], "synthetic-model:1b");
    assert_eq!(bodies[1]["model"], "flag-model:2b");
    assert_eq!(bodies[0]["max_tokens"], 1024);
    chat.verify().await;
}

/// Bad values exit 2 naming the flag, print nothing on stdout, and send nothing.
#[tokio::test]
async fn smk_013_bad_values_are_usage_errors() {
    let chat = Chat::start().await;
    chat.never(Step::Chat).await;
    chat.never(Step::JsonSchema).await;
    chat.never(Step::Tool).await;
    // clap's own error for a value its parser refuses; ours for an empty model
    let clap = |arg: &str, flag: &str, why: &str| {
        format!(
            "ollama-compat-smoke: error: invalid value '{arg}' for '{flag}'{why}\n\nFor more information, try \
             '--help'.\n"
        )
    };
    let timeout = |v: &str| {
        clap(
            v,
            "--timeout <SECS>",
            &format!(": \"{v}\" must be more than 0 and at most 3600 seconds"),
        )
    };
    for (args, stderr) in [
        (vec!["--timeout", "0"], timeout("0")),
        (vec!["--timeout=-1"], timeout("-1")),
        (
            vec!["--timeout", "abc"],
            clap(
                "abc",
                "--timeout <SECS>",
                ": \"abc\" is not a number of seconds",
            ),
        ),
        (vec!["--timeout", "NaN"], timeout("NaN")),
        (vec!["--timeout", "3601"], timeout("3601")),
        (
            vec!["--repeat", "0"],
            clap("0", "--repeat <N>", ": 0 is not in 1..=1000"),
        ),
        (
            vec!["--max-tokens", "0"],
            clap("0", "--max-tokens <N>", ": 0 is not in 1..=4294967295"),
        ),
        (
            vec!["--check", "embeddings"],
            clap(
                "embeddings",
                "--check <CHECK>",
                "\n  [possible values: chat_completion, json_response, tool_call, stream_chat, \
                 stream_tool_call, tool_choice, all]",
            ),
        ),
        (
            vec!["--json-mode", "xml"],
            clap(
                "xml",
                "--json-mode <MODE>",
                "\n  [possible values: auto, json_schema, json_object, plain_prompt]",
            ),
        ),
        (
            vec!["--format", "yaml"],
            clap(
                "yaml",
                "--format <FORMAT>",
                "\n  [possible values: text, json, junit]",
            ),
        ),
        (
            vec!["--model", ""],
            "ollama-compat-smoke: error: --model (or OLLAMA_MODEL) is empty\n".to_owned(),
        ),
    ] {
        let _ = chat.smoke().args(args).exits(2).stderr(stderr).run();
    }
    chat.verify().await;
}

/// `POST <base>/chat/completions` with `model`, `messages`, `stream: false` and
/// `max_tokens`; a trailing `/` on the base URL is tolerated.
#[tokio::test]
async fn smk_014_request_shape() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    let _ = Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/", chat.base_url()))
        .args(["--check", "chat_completion", "--max-tokens", "77"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1/ model=gemma4:31b-cloud auth=none

"#]])
        .run();
    let requests = chat.requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "POST");
    assert_eq!(requests[0].url.path(), "/v1/chat/completions");
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["model"], "gemma4:31b-cloud");
    assert_eq!(body["stream"], false);
    assert_eq!(body["max_tokens"], 77);
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(body["messages"][0]["content"].is_string());
    chat.verify().await;
}

/// An HTML page and `{}` with 200 are not chat completions: `reason=bad_response status=200`,
/// exit 1.
#[tokio::test]
async fn smk_016_non_completion_is_bad_response() {
    for (template, said) in [
        (
            ResponseTemplate::new(200).set_body_string("<html><body>Welcome</body></html>"),
            "<html><body>Welcome</body></html>",
        ),
        (
            ResponseTemplate::new(200).set_body_json(serde_json::json!({})),
            "{}",
        ),
        (
            reply(200, "openai/not-a-completion.json"),
            r#"{"data":[],"object":"list"}"#,
        ),
    ] {
        let chat = Chat::start().await;
        chat.on_with(Step::Chat, template, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", "chat_completion"])
            .exits(1)
            .stdout("chat_completion=fail reason=bad_response status=200 latency_ms=[MS]\n")
            .stderr(format!(
                "{CONTEXT}chat_completion: the answer is not a chat completion (no \
                 choices[0].message) (HTTP 200); the server said: \"{said}\"\n"
            ))
            .run();
        chat.verify().await;
    }
}

/// stderr: the context line first, then one line per failed check naming what went wrong and
/// quoting the server.
#[tokio::test]
async fn smk_017_stderr_explains_each_failure() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(
        Step::JsonSchema,
        404,
        "openai/error-ollama-404-model.json",
        1,
    )
    .await;
    chat.on(Step::Tool, 200, "openai/tool-wrong-function.json", 1)
        .await;
    let _ = Cli::smoke()
        .arg("--base-url")
        .arg(chat.base_url())
        .exits(4)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=fail reason=not_found status=404 json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=wrong_function latency_ms=[MS]

"#]])
        .stderr(
            "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud \
             auth=none\n\
             json_response: not found (HTTP 404): check --model and --base-url; the server said: \
             \"model 'gemma4:31b-cloud' not found\"\n\
             tool_call: tool_calls[0] names another function than get_weather\n",
        )
        .run();
    chat.verify().await;
}

/// Every check refused with 401: each line carries `reason=auth status=401 auth=bearer`, in
/// order, and exit 3.
#[tokio::test]
async fn smk_001_lines_hold_only_known_tokens() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 401, "openai/error-ollama-401.json", 1)
        .await;
    chat.on(Step::JsonSchema, 401, "openai/error-ollama-401.json", 1)
        .await;
    chat.on(Step::Tool, 401, "openai/error-ollama-401.json", 1)
        .await;
    // the key is registered: the run fails on any encoding of it in either stream
    let _ = chat
        .smoke()
        .exits(3)
        .stdout(str![[r#"
chat_completion=fail reason=auth status=401 auth=bearer latency_ms=[MS]
json_response=fail reason=auth status=401 auth=bearer json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=auth status=401 auth=bearer latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the server refused the API key (HTTP 401); the server said: "unauthorized"
json_response: the server refused the API key (HTTP 401); the server said: "unauthorized"
tool_call: the server refused the API key (HTTP 401); the server said: "unauthorized"

"#]])
        .run();
    chat.verify().await;
}

/// The stand-in helper [`content`] builds a real completion (used by the fallback tests).
#[tokio::test]
async fn smk_003_plain_content_helper_passes() {
    let chat = Chat::start().await;
    chat.on_with(Step::Chat, content("pong"), 1).await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    chat.verify().await;
}

/// No retry after 503 (chat), 429 (tool), 500 (JSON) or a timeout: exactly one request each,
/// and with `--repeat 2` exactly two.
#[tokio::test]
async fn smk_018_smk_007_no_retries() {
    let said = "chat_completion: the endpoint is unavailable (HTTP 503); the server said: \
                \"server busy, please try again.  maximum pending requests exceeded\"\n\
                json_response: the endpoint is unavailable (HTTP 500); the server said: \
                \"internal server error\"\n\
                tool_call: the endpoint is rate-limiting requests (HTTP 429): wait and run again; \
                the server said: \"Rate limit reached for requests\"\n";
    for (repeat, passes) in [(1u64, ""), (2, " passes=0/2")] {
        let chat = Chat::start().await;
        chat.on(Step::Chat, 503, "openai/error-ollama-503.json", repeat)
            .await;
        chat.on(Step::JsonSchema, 500, "openai/error-500.json", repeat)
            .await;
        chat.never(Step::JsonObject).await;
        chat.on(Step::Tool, 429, "openai/error-429.json", repeat)
            .await;
        let _ = chat
            .smoke()
            .args(["--repeat", &repeat.to_string()])
            .exits(5)
            .stdout(format!(
                "chat_completion=fail{passes} reason=unavailable status=503 latency_ms=[MS]\n\
                 json_response=fail{passes} reason=unavailable status=500 \
                 json_mode=response_format response_format=json_schema latency_ms=[MS]\n\
                 tool_call=fail{passes} reason=rate_limited status=429 latency_ms=[MS]\n"
            ))
            .stderr(format!("{CONTEXT}{said}"))
            .run();
        chat.verify().await;
    }
    let chat = Chat::start().await;
    chat.slow(Step::Chat, "openai/chat-ok.json", Duration::from_secs(5), 1)
        .await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion", "--timeout", "0.2"])
        .exits(5)
        .stdout(str![[r#"
chat_completion=fail reason=timeout latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: no answer within 0.2s (--timeout)

"#]])
        .run();
    chat.verify().await;
}

/// One check (`--check <check>`) against a stand-in answering `step` once with `status` and
/// `fixture`; the exit code, the whole line and the whole stderr explanation as given.
async fn one_failure(
    check: &str,
    step: Step,
    answer: ResponseTemplate,
    exit: i32,
    expected_line: &str,
    expected_stderr: &str,
) {
    let chat = Chat::start().await;
    chat.on_with(step, answer, 1).await;
    let _ = chat
        .smoke()
        .args(["--check", check])
        .exits(exit)
        .stdout(format!("{expected_line} latency_ms=[MS]\n"))
        .stderr(format!("{CONTEXT}{expected_stderr}\n"))
        .run();
    chat.verify().await;
}

/// Ollama's 400 `<model> does not support tools` (wrapped on `/v1`) and llama.cpp's 500
/// `tools param requires --jinja flag` / `tool_choice param requires --jinja flag`:
/// `reason=unsupported`, exit 1, the line and stderr name what the server cannot do — never
/// `bad_request` or `unavailable`. Ollama's `does not support thinking` is `unsupported=thinking`.
#[tokio::test]
async fn smk_019_cannot_do_tools_is_unsupported() {
    one_failure(
        "tool_call",
        Step::Tool,
        reply(400, "openai/error-ollama-400-no-tools.json"),
        1,
        "tool_call=fail reason=unsupported status=400 unsupported=tools",
        "tool_call: the model cannot do tools (HTTP 400): choose a model that supports it; the \
         server said: \"registry.ollama.ai/library/gemma3:270m does not support tools\"",
    )
    .await;
    one_failure(
        "tool_call",
        Step::Tool,
        reply(500, "openai/error-llamacpp-jinja-500.json"),
        1,
        "tool_call=fail reason=unsupported status=500 unsupported=tools hint=--jinja",
        "tool_call: the server cannot do tools (HTTP 500): llama-server takes tools only when \
         started with --jinja (and a chat template that knows tools); the server said: \"tools \
         param requires --jinja flag\"",
    )
    .await;
    one_failure(
        "tool_call",
        Step::Tool,
        reply(500, "openai/error-llamacpp-tool-choice-jinja-500.json"),
        1,
        "tool_call=fail reason=unsupported status=500 unsupported=tool_choice hint=--jinja",
        "tool_call: the server cannot do tool_choice (HTTP 500): llama-server takes tools only \
         when started with --jinja (and a chat template that knows tools); the server said: \
         \"tool_choice param requires --jinja flag\"",
    )
    .await;
    // the bare native envelope, and thinking
    one_failure(
        "chat_completion",
        Step::Chat,
        ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "registry.ollama.ai/library/gemma3:270m does not support thinking"})),
        1,
        "chat_completion=fail reason=unsupported status=400 unsupported=thinking",
        "chat_completion: the model cannot do thinking (HTTP 400): choose a model that supports \
         it; the server said: \"registry.ollama.ai/library/gemma3:270m does not support \
         thinking\"",
    )
    .await;
    // the same words on another status are not this clause: a 503 stays unavailable
    one_failure(
        "tool_call",
        Step::Tool,
        ResponseTemplate::new(503).set_body_json(serde_json::json!({
            "error": {"message": "tools param requires --jinja flag", "type": "server_error"}})),
        5,
        "tool_call=fail reason=unavailable status=503",
        "tool_call: the endpoint is unavailable (HTTP 503); the server said: \"tools param \
         requires --jinja flag\"",
    )
    .await;
}

/// llama.cpp's 503 `Loading model`: `reason=unavailable status=503 hint=loading`, exit 5, and
/// stderr says the server is still loading; one request (no retry).
#[tokio::test]
async fn smk_020_loading_model_is_unavailable_with_hint() {
    one_failure(
        "chat_completion",
        Step::Chat,
        reply(503, "openai/error-llamacpp-503-loading.json"),
        5,
        "chat_completion=fail reason=unavailable status=503 hint=loading",
        "chat_completion: the server is up but still loading the model (HTTP 503): wait until \
         it has loaded and run again; the server said: \"Loading model\"",
    )
    .await;
}

/// A local Ollama with cloud disabled (403, unwrapped): `reason=auth status=403 auth=bearer
/// hint=cloud_disabled`, exit 3, and stderr says so — never "refused the API key".
#[tokio::test]
async fn smk_021_cloud_disabled_is_named() {
    let chat = Chat::start().await;
    chat.on(
        Step::Chat,
        403,
        "openai/error-ollama-403-cloud-disabled.json",
        1,
    )
    .await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion"])
        .exits(3)
        .stdout(
            "chat_completion=fail reason=auth status=403 auth=bearer hint=cloud_disabled \
             latency_ms=[MS]\n",
        )
        .stderr(format!(
            "{CONTEXT}chat_completion: this Ollama server has cloud models disabled (HTTP 403), \
             so it will not forward the request to ollama.com (the key was not refused): enable \
             cloud access in that Ollama, or use a local model or --base-url \
             https://ollama.com/v1; the server said: \"ollama cloud is disabled: remote model is \
             unavailable\"\n"
        ))
        .run();
    chat.verify().await;
}

/// Ollama Cloud's usage-limit 429s (hourly, session, weekly; bare-string and object
/// envelopes, no Retry-After): `reason=quota status=429`, exit 5, stderr says quota, not
/// outage; one request each.
#[tokio::test]
async fn smk_022_usage_limit_is_quota() {
    for (fixture, said) in [
        (
            "openai/error-ollama-cloud-429-weekly.json",
            "you (synthetic-user) have reached your weekly usage limit, upgrade for higher \
             limits: https://ollama.com/upgrade",
        ),
        (
            "openai/error-ollama-cloud-429-hourly.json",
            "you've reached your hourly usage limit, please wait or upgrade to continue",
        ),
        (
            "openai/error-ollama-cloud-429-session.json",
            "you (synthetic-user) have reached your session usage limit, please wait or upgrade \
             to continue",
        ),
    ] {
        one_failure(
            "tool_call",
            Step::Tool,
            reply(429, fixture),
            5,
            "tool_call=fail reason=quota status=429",
            &format!(
                "tool_call: the account's usage limit is reached (HTTP 429): a quota, not an \
                 outage; wait for the limit to reset or raise the plan, retrying sooner will not \
                 help; the server said: \"{said}\""
            ),
        )
        .await;
    }
}

/// Any other 429: `reason=rate_limited status=429`, exit 5; with `Retry-After: 7` (seconds)
/// the line adds `retry_after=7` and stderr says how long to wait; without one, or with an
/// HTTP-date, no `retry_after`. One request each, no retry.
#[tokio::test]
async fn smk_023_other_too_many_requests_is_rate_limited_with_retry_after() {
    one_failure(
        "chat_completion",
        Step::Chat,
        reply(429, "openai/error-429.json").insert_header("retry-after", "7"),
        5,
        "chat_completion=fail reason=rate_limited status=429 retry_after=7",
        "chat_completion: the endpoint is rate-limiting requests (HTTP 429): it asks to wait 7s \
         (Retry-After); the server said: \"Rate limit reached for requests\"",
    )
    .await;
    one_failure(
        "chat_completion",
        Step::Chat,
        reply(429, "openai/error-429.json"),
        5,
        "chat_completion=fail reason=rate_limited status=429",
        "chat_completion: the endpoint is rate-limiting requests (HTTP 429): wait and run \
         again; the server said: \"Rate limit reached for requests\"",
    )
    .await;
    // an HTTP-date is not read: no retry_after token (never a guess)
    one_failure(
        "chat_completion",
        Step::Chat,
        reply(429, "openai/error-429.json")
            .insert_header("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT"),
        5,
        "chat_completion=fail reason=rate_limited status=429",
        "chat_completion: the endpoint is rate-limiting requests (HTTP 429): wait and run \
         again; the server said: \"Rate limit reached for requests\"",
    )
    .await;
}

// ---------------------------------------------------------------- issue 15: the new checks

use crate::support::chat::answer;

/// One new check against a stand-in answering its step(s): the exit code, the whole line
/// (`ttft_ms=[MS]` where the check streams; `latency_ms=[MS]` is added) and what stderr says
/// after the context line (`""` for a pass).
async fn new_check(
    check: &str,
    answers: Vec<(Step, ResponseTemplate)>,
    exit: i32,
    expected_line: &str,
    said: &str,
) {
    let chat = Chat::start().await;
    for (step, a) in answers {
        chat.on_with(step, a, 1).await;
    }
    let _ = chat
        .smoke()
        .args(["--check", check])
        .exits(exit)
        .stdout(format!("{expected_line} latency_ms=[MS]\n"))
        .stderr(format!("{CONTEXT}{said}"))
        .run();
    chat.verify().await;
}

/// No `--check`: the seed's three only (no stream, no tool_choice request); `--check all`: all
/// six lines in the fixed order, each step asked once.
#[tokio::test]
async fn smk_024_new_checks_off_by_default_all_runs_six() {
    let chat = Chat::start().await;
    all_pass(&chat, 1).await;
    for step in [
        Step::StreamChat,
        Step::StreamTool,
        Step::ToolChoiceForced,
        Step::ToolChoiceNone,
    ] {
        chat.never(step).await;
    }
    let _ = chat
        .smoke()
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    chat.verify().await;

    let chat = Chat::start().await;
    all_pass(&chat, 1).await;
    for step in [
        Step::StreamChat,
        Step::StreamTool,
        Step::ToolChoiceForced,
        Step::ToolChoiceNone,
    ] {
        chat.on_with(step, step.passing(), 1).await;
    }
    let _ = chat
        .smoke()
        .args(["--check", "tool_choice", "--check", "all"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]
stream_chat=pass ttft_ms=[MS] latency_ms=[MS]
stream_tool_call=pass ttft_ms=[MS] latency_ms=[MS]
tool_choice=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    let bodies = chat.bodies().await;
    let streamed = bodies.iter().filter(|b| b["stream"] == true).count();
    assert_eq!(streamed, 2, "{bodies:#?}");
    chat.verify().await;
}

/// Ollama's and llama.cpp's real chat streams (llama.cpp's recorded from llama-server):
/// `stream_chat=pass ttft_ms=…`, exit 0, one streamed request each.
#[tokio::test]
async fn smk_025_stream_chat_passes_on_both_shapes() {
    streams_pass(
        "stream_chat",
        Step::StreamChat,
        [
            "openai/stream-ollama-chat.sse",
            "openai/stream-llamacpp-chat.sse",
        ],
    )
    .await;
}

/// `check` alone against each of the two real servers' streams in `fixtures`: a passing line
/// with its `ttft_ms=`, exit 0.
async fn streams_pass(check: &str, step: Step, fixtures: [&str; 2]) {
    for fixture in fixtures {
        let expected = format!("{check}=pass ttft_ms=[MS]");
        new_check(check, vec![(step, answer(200, fixture))], 0, &expected, "").await;
    }
}

/// `stream: true` answered with one JSON completion: `reason=not_streamed`, exit 1 (also for
/// the streamed tool call).
#[tokio::test]
async fn smk_026_one_json_body_is_not_streamed() {
    let said = "the server ignored \"stream\": true and answered one JSON body instead of \
                Server-Sent Events";
    new_check(
        "stream_chat",
        vec![(Step::StreamChat, reply(200, "openai/chat-ok.json"))],
        1,
        "stream_chat=fail reason=not_streamed",
        &format!("stream_chat: {said}\n"),
    )
    .await;
    new_check(
        "stream_tool_call",
        vec![(Step::StreamTool, reply(200, "openai/tool-ok.json"))],
        1,
        "stream_tool_call=fail reason=not_streamed",
        &format!("stream_tool_call: {said}\n"),
    )
    .await;
}

/// No `[DONE]`, no finish reason: `reason=stream_incomplete missing=…`, exit 1.
#[tokio::test]
async fn smk_027_early_end_is_stream_incomplete() {
    for (fixture, missing) in [
        ("openai/stream-no-done.sse", "finish_reason,done"),
        ("openai/stream-no-finish.sse", "finish_reason"),
    ] {
        new_check(
            "stream_chat",
            vec![(Step::StreamChat, answer(200, fixture))],
            1,
            &format!("stream_chat=fail reason=stream_incomplete missing={missing} ttft_ms=[MS]"),
            "stream_chat: the stream ended before its finish_reason and \"data: [DONE]\" (see \
             missing=)\n",
        )
        .await;
    }
    // reasoning only, properly ended: SMK-004's reason
    new_check(
        "stream_chat",
        vec![(
            Step::StreamChat,
            answer(200, "openai/stream-ollama-reasoning-only.sse"),
        )],
        1,
        "stream_chat=fail reason=reasoning_only hint=--max-tokens ttft_ms=[MS]",
        "stream_chat: the content is empty and the text is in reasoning (a known gemma4 \
         behaviour): raise --max-tokens (now 1024)\n",
    )
    .await;
}

/// Ollama's whole call in one delta and llama.cpp's split call (recorded from llama-server):
/// `stream_tool_call=pass`, exit 0.
#[tokio::test]
async fn smk_028_stream_tool_call_passes_on_both_shapes() {
    streams_pass(
        "stream_tool_call",
        Step::StreamTool,
        [
            "openai/stream-ollama-tool.sse",
            "openai/stream-llamacpp-tool.sse",
        ],
    )
    .await;
}

/// Each broken stream shape of the public reports, its reason, exit 1.
#[tokio::test]
async fn smk_029_stream_tool_call_names_what_is_wrong() {
    for (fixture, tail, said) in [
        (
            "openai/stream-tool-as-text.sse",
            "reason=no_tool_call call_as_text=true",
            "the model answered without calling get_weather",
        ),
        (
            "openai/stream-tool-no-id.sse",
            "reason=no_call_id",
            "the streamed call of get_weather carries no id",
        ),
        (
            "openai/stream-tool-no-index.sse",
            "reason=no_call_index",
            "a streamed tool-call delta of get_weather carries no index",
        ),
        (
            "openai/stream-tool-finish-stop.sse",
            "reason=wrong_finish_reason finish_reason=stop",
            "the stream called get_weather but did not finish with finish_reason \"tool_calls\"",
        ),
        (
            "openai/stream-tool-broken-arguments.sse",
            "reason=bad_arguments",
            "the arguments of get_weather are not a JSON string of an object with a string \
             \"city\"",
        ),
    ] {
        new_check(
            "stream_tool_call",
            vec![(Step::StreamTool, answer(200, fixture))],
            1,
            &format!("stream_tool_call=fail {tail} ttft_ms=[MS]"),
            &format!("stream_tool_call: {said}\n"),
        )
        .await;
    }
}

/// Both obeyed: pass; a forced call answered with prose, `none` answered with a call, both:
/// `reason=ignored_tool_choice ignored=…`, exit 1, stderr says which; `none` obeyed in form
/// only (`<tool_call>` text): pass with `none=call_as_text`. The two requests carry the
/// object form and `"none"`.
#[tokio::test]
async fn smk_030_tool_choice_forced_and_none() {
    let call = || reply(200, "openai/tool-ok.json");
    let prose = || reply(200, "openai/tool-prose.json");
    let forced_said = "a forced get_weather (tool_choice {\"type\":\"function\",...}) came back \
                       without calling it";
    let none_said = "tool_choice \"none\" came back calling get_weather";
    let ignored = |what: &str| format!("tool_choice: the server ignored tool_choice: {what}\n");
    for (forced, none, exit, tail, said) in [
        (call(), prose(), 0, "tool_choice=pass", String::new()),
        (
            prose(),
            prose(),
            1,
            "tool_choice=fail reason=ignored_tool_choice ignored=forced",
            ignored(forced_said),
        ),
        (
            call(),
            call(),
            1,
            "tool_choice=fail reason=ignored_tool_choice ignored=none",
            ignored(none_said),
        ),
        (
            prose(),
            call(),
            1,
            "tool_choice=fail reason=ignored_tool_choice ignored=forced,none",
            ignored(&format!("{forced_said}; {none_said}")),
        ),
        (
            call(),
            content(
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            ),
            0,
            "tool_choice=pass none=call_as_text",
            String::new(),
        ),
        // Each sign alone is enough: the tool's name in a JSON text, or a bare tag.
        (
            call(),
            content("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"),
            0,
            "tool_choice=pass none=call_as_text",
            String::new(),
        ),
        (
            call(),
            content("<tool_call>\n{\"city\": \"Paris\"}\n</tool_call>"),
            0,
            "tool_choice=pass none=call_as_text",
            String::new(),
        ),
    ] {
        new_check(
            "tool_choice",
            vec![
                (Step::ToolChoiceForced, forced),
                (Step::ToolChoiceNone, none),
            ],
            exit,
            tail,
            &said,
        )
        .await;
    }
    let chat = Chat::start().await;
    chat.on_with(Step::ToolChoiceForced, prose(), 1).await;
    chat.on_with(Step::ToolChoiceNone, call(), 1).await;
    let _ = chat
        .smoke()
        .args(["--check", "tool_choice"])
        .exits(1)
        .stdout(str![[r#"
tool_choice=fail reason=ignored_tool_choice ignored=forced,none latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
tool_choice: the server ignored tool_choice: a forced get_weather (tool_choice {"type":"function",...}) came back without calling it; tool_choice "none" came back calling get_weather

"#]])
        .run();
    let bodies = chat.bodies().await;
    assert!(bodies.iter().any(|b| b["tool_choice"]
        == serde_json::json!({"type": "function", "function": {"name": "get_weather"}})));
    assert!(bodies.iter().any(|b| b["tool_choice"] == "none"));
    chat.verify().await;
}

/// One `GET /models` per run (also with `--repeat 2` and every check); `--no-model-list`: none.
/// A 404 for the asked model while the list holds `gemma4:31b`: `closest=gemma4:31b`, stderr
/// names it. No list (404): said once on stderr, checks judged as before.
#[tokio::test]
async fn smk_031_model_list_names_the_closest() {
    let chat = Chat::builder()
        .models("openai/models-ollama-cloud.json")
        .start()
        .await;
    chat.answer(404, "openai/error-ollama-404-model.json", 6)
        .await;
    let _ = chat
        .smoke()
        .args(["--repeat", "2"])
        .exits(4)
        .stdout(str![[r#"
chat_completion=fail passes=0/2 reason=not_found status=404 closest=gemma4:31b,gemma4:e4b latency_ms=[MS]
json_response=fail passes=0/2 reason=not_found status=404 closest=gemma4:31b,gemma4:e4b json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail passes=0/2 reason=not_found status=404 closest=gemma4:31b,gemma4:e4b latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: not found (HTTP 404): check --model and --base-url; the endpoint does not list gemma4:31b-cloud but lists gemma4:31b, gemma4:e4b; the server said: "model 'gemma4:31b-cloud' not found"
json_response: not found (HTTP 404): check --model and --base-url; the endpoint does not list gemma4:31b-cloud but lists gemma4:31b, gemma4:e4b; the server said: "model 'gemma4:31b-cloud' not found"
tool_call: not found (HTTP 404): check --model and --base-url; the endpoint does not list gemma4:31b-cloud but lists gemma4:31b, gemma4:e4b; the server said: "model 'gemma4:31b-cloud' not found"

"#]])
        .run();
    assert_eq!(chat.model_list_requests().await, 1);
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion", "--no-model-list"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    assert_eq!(chat.model_list_requests().await, 0);
    chat.verify().await;

    let chat = Chat::builder().no_models().start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(Step::Tool, 200, "openai/tool-ok.json", 1).await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion", "--check", "tool_call"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
ollama-compat-smoke: the endpoint has no model list (GET /models: HTTP 404); the checks do not need one

"#]])
        .run();
    chat.verify().await;
}

/// A check that ran and failed is a `<failure>`; refused, not found and unavailable ones are
/// `<error>`s; the suite counts them apart.
#[tokio::test]
async fn smk_032_junit_failure_and_error() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 503, "openai/error-ollama-503.json", 1)
        .await;
    chat.on(Step::JsonSchema, 401, "openai/error-ollama-401.json", 1)
        .await;
    chat.on(Step::Tool, 200, "openai/tool-prose.json", 1).await;
    let run = chat
        .smoke()
        .args(["--format", "junit"])
        .exits(3)
        .stdout_checked_elsewhere("the JUnit document, its counts read below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the endpoint is unavailable (HTTP 503); the server said: "server busy, please try again.  maximum pending requests exceeded"
json_response: the server refused the API key (HTTP 401); the server said: "unauthorized"
tool_call: the model answered without calling get_weather

"#]])
        .run();
    let xml = &run.stdout;
    assert!(
        xml.contains(
            "<testsuite name=\"ollama-compat-smoke\" tests=\"3\" failures=\"1\" errors=\"2\""
        ),
        "{xml}"
    );
    assert_eq!(
        xml.matches("<error type=\"unavailable\"").count(),
        1,
        "{xml}"
    );
    assert_eq!(xml.matches("<error type=\"auth\"").count(), 1, "{xml}");
    assert_eq!(
        xml.matches("<failure type=\"no_tool_call\"").count(),
        1,
        "{xml}"
    );
    assert_eq!(xml.matches("</error>").count(), 2);
    chat.verify().await;
}

/// `--output FILE --format junit`: FILE holds the whole JUnit report (no temporary file
/// left), stdout the text lines; an unwritable FILE exits 6 naming it.
#[tokio::test]
async fn smk_033_output_file_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smoke.junit.xml");
    std::fs::write(&out, "old").unwrap();
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    let _ = chat
        .smoke()
        .args([
            "--check",
            "chat_completion",
            "--format",
            "junit",
            "--output",
        ])
        .arg(&out)
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .tmp(dir.path())
        .run();
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.ends_with("</testsuites>\n"),
        "{xml}"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("smoke.junit.xml")]);
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    let bad = dir.path().join("no-such-dir").join("x.xml");
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion", "--output"])
        .arg(&bad)
        .exits(6)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
ollama-compat-smoke: error: cannot write the report to [TMP]/no-such-dir/x.xml (--output): No such file or directory (os error 2)

"#]])
        .tmp(dir.path())
        .run();
    chat.verify().await;
}

/// `--reasoning-effort none` adds `"reasoning_effort": "none"` to every request, none without
/// it; a 400 rejecting it is the server's answer: `bad_request`, no fallback.
#[tokio::test]
async fn smk_034_reasoning_effort_passed_through() {
    let chat = Chat::start().await;
    all_pass(&chat, 1).await;
    let _ = chat
        .smoke()
        .args(["--reasoning-effort", "none"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    let bodies = chat.bodies().await;
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| b["reasoning_effort"] == "none"),
        "{bodies:#?}"
    );
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    let _ = chat
        .smoke()
        .args(["--check", "chat_completion"])
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    assert!(chat.bodies().await[0].get("reasoning_effort").is_none());
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on_with(
        Step::JsonSchema,
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": {
            "message": "invalid reasoning value: \"none\"", "type": "invalid_request_error"}})),
        1,
    )
    .await;
    chat.never(Step::JsonObject).await;
    let _ = chat
        .smoke()
        .args(["--check", "json_response", "--reasoning-effort", "none"])
        .exits(1)
        .stdout(str![[r#"
json_response=fail reason=bad_request status=400 json_mode=response_format response_format=json_schema latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
json_response: the server rejected the request (HTTP 400); the server said: "invalid reasoning value: "none""

"#]])
        .run();
    chat.verify().await;
}

/// `structured` per step: Ollama Cloud's shape (json_schema accepted, prose back: `ignored`),
/// a rejection (`rejected`), a pass (`enforced`), the plain prompt (`null`).
#[tokio::test]
async fn smk_035_structured_output_in_three_words() {
    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 200, "openai/json-prose.json", 1)
        .await;
    chat.on(
        Step::JsonObject,
        400,
        "openai/error-openai-json-schema.json",
        1,
    )
    .await;
    chat.on(Step::Plain, 200, "openai/json-ok.json", 1).await;
    let run = chat
        .smoke()
        .args(["--check", "json_response", "--format", "json"])
        .exits(0)
        .stdout_checked_elsewhere("one JSON document, its steps read below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    let doc = run.stdout_json();
    let steps = &doc["checks"][0]["steps"];
    assert_eq!(steps[0]["structured"], "ignored", "{doc:#}");
    assert_eq!(steps[1]["structured"], "rejected", "{doc:#}");
    assert!(steps[2]["structured"].is_null(), "{doc:#}");
    chat.verify().await;

    // The same words on the text line (`structured=`, after `steps=`; the plain prompt tells
    // nothing and is left out) and in JUnit (the passing case's system-out holds the line).
    for format in ["text", "junit"] {
        let chat = Chat::start().await;
        chat.on(Step::JsonSchema, 200, "openai/json-prose.json", 1)
            .await;
        chat.on(
            Step::JsonObject,
            400,
            "openai/error-openai-json-schema.json",
            1,
        )
        .await;
        chat.on(Step::Plain, 200, "openai/json-ok.json", 1).await;
        let run = chat
            .smoke()
            .args(["--check", "json_response", "--format", format])
            .exits(0)
            .stdout_checked_elsewhere("the text line or the JUnit system-out, read below")
            .stderr(CONTEXT)
            .run();
        let want = "json_response=pass json_mode=plain_prompt fallback=rejected \
                    steps=json_schema:ignored,json_object:rejected,plain_prompt:pass \
                    structured=json_schema:ignored,json_object:rejected";
        if format == "text" {
            assert_eq!(line(&run), want);
        } else {
            // the JUnit document carries a run time (`time="…"`) no placeholder stands for
            run.stdout_has(&format!("<system-out>{want} latency_ms="));
        }
        chat.verify().await;
    }

    // A failing check in JUnit carries the word in its failure's tokens.
    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 200, "openai/json-missing-keys.json", 1)
        .await;
    let _ = chat
        .smoke()
        .args(["--check", "json_response", "--format", "junit"])
        .exits(1)
        // the JUnit document carries a run time (`time="…"`) no placeholder stands for
        .stdout_contains("response_format=json_schema structured=json_schema:ignored latency_ms=")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
json_response: the JSON object lacks the asked keys and types: "capital" (string), "letters" (integer)

"#]])
        .run();
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 200, "openai/json-ok.json", 1)
        .await;
    let run = chat
        .smoke()
        .args(["--check", "json_response", "--format", "json"])
        .exits(0)
        .stdout_checked_elsewhere("one JSON document, its first step read below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .run();
    assert_eq!(
        run.stdout_json()["checks"][0]["steps"][0]["structured"],
        "enforced"
    );
    chat.verify().await;

    let chat = Chat::start().await;
    chat.on(Step::JsonSchema, 200, "openai/json-missing-keys.json", 1)
        .await;
    let run = chat
        .smoke()
        .args(["--check", "json_response", "--format", "json"])
        .exits(1)
        .stdout_checked_elsewhere("one JSON document, its first step read below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
json_response: the JSON object lacks the asked keys and types: "capital" (string), "letters" (integer)

"#]])
        .run();
    assert_eq!(
        run.stdout_json()["checks"][0]["steps"][0]["structured"],
        "ignored"
    );
    chat.verify().await;
}

/// Reasoning diagnosed: a truncated answer with its text in `reasoning_content` and
/// `usage.completion_tokens_details.reasoning_tokens` gives all four tokens, in every check
/// that reads a non-streamed answer; without `reasoning_tokens` in `usage` there is no such
/// token (never a guess); content that is there and not truncated, or a pass, gives none.
#[tokio::test]
async fn smk_036_reasoning_diagnosed() {
    let full = "reasoning_chars=54 reasoning_field=reasoning_content finish_reason=length \
                reasoning_tokens=16";
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-reasoning-truncated.json", 1)
        .await;
    chat.on(Step::Tool, 200, "openai/chat-reasoning-truncated.json", 1)
        .await;
    chat.on(
        Step::JsonSchema,
        200,
        "openai/chat-reasoning-truncated.json",
        1,
    )
    .await;
    chat.never(Step::JsonObject).await;
    let run = chat
        .smoke()
        .exits(1)
        .stdout_checked_elsewhere("the three lines, compared whole below")
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the content is empty and the text is in reasoning (a known gemma4 behaviour): raise --max-tokens (now 1024)
json_response: the answer was cut at --max-tokens 1024 (finish_reason: length): raise --max-tokens
tool_call: the answer was cut at --max-tokens 1024 (finish_reason: length): raise --max-tokens

"#]])
        .run();
    assert_eq!(
        lines(&run),
        [
            format!("chat_completion=fail reason=reasoning_only hint=--max-tokens {full}"),
            format!(
                "json_response=fail reason=truncated hint=--max-tokens {full} \
                 json_mode=response_format response_format=json_schema"
            ),
            format!("tool_call=fail reason=truncated hint=--max-tokens {full}"),
        ]
    );
    chat.verify().await;

    // No `reasoning_tokens` in `usage` (Ollama's `Usage` never has it): no such token.
    let chat = Chat::start().await;
    chat.on(Step::Tool, 200, "openai/chat-reasoning-only.json", 1)
        .await;
    let _ = chat
        .smoke()
        .args(["--check", "tool_call"])
        .exits(1)
        .stdout(str![[r#"
tool_call=fail reason=no_tool_call reasoning_chars=61 reasoning_field=reasoning finish_reason=stop latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
tool_call: the model answered without calling get_weather

"#]])
        .run();
    chat.verify().await;

    // Content present and not truncated: nothing to diagnose, even with reasoning; and a pass
    // with reasoning beside its content carries none of the tokens.
    for (check, step, content, reasoning, exit, expected, explained) in [
        (
            "tool_call",
            Step::Tool,
            "It is sunny.",
            "No tool needed.",
            1,
            "tool_call=fail reason=no_tool_call",
            "tool_call: the model answered without calling get_weather\n",
        ),
        (
            "chat_completion",
            Step::Chat,
            "pong",
            "One word.",
            0,
            "chat_completion=pass",
            "",
        ),
    ] {
        let chat = Chat::start().await;
        let answer = serde_json::json!({"choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": content, "reasoning": reasoning}}]});
        let body = wiremock::ResponseTemplate::new(200).set_body_json(answer);
        chat.on_with(step, body, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", check])
            .exits(exit)
            .stdout(format!("{expected} latency_ms=[MS]\n"))
            .stderr(format!("{CONTEXT}{explained}"))
            .run();
        chat.verify().await;
    }
}

/// An error event inside a 200 stream, and a 200 `text/event-stream` body without any event:
/// `reason=bad_response`, exit 1, and stderr quotes the event's message or the body's start.
#[tokio::test]
async fn smk_037_broken_stream_says_what_the_server_sent() {
    for (body, quoted) in [
        (
            "data: {\"error\":{\"message\":\"synthetic stream failure\",\"type\":\"server_error\"}}\n\n",
            "synthetic stream failure",
        ),
        (
            "synthetic words, not events\n",
            // the body's start is quoted with its newline escaped
            r"synthetic words, not events\n",
        ),
    ] {
        let chat = Chat::start().await;
        let stream = ResponseTemplate::new(200).set_body_raw(body, "text/event-stream");
        chat.on_with(Step::StreamChat, stream, 1).await;
        let _ = chat
            .smoke()
            .args(["--check", "stream_chat"])
            .exits(1)
            .stdout("stream_chat=fail reason=bad_response latency_ms=[MS]\n")
            .stderr(format!(
                "{CONTEXT}stream_chat: the answer is not a chat completion (no \
                 choices[0].message); {quoted}\n"
            ))
            .run();
        chat.verify().await;
    }
}

/// systemd's credential: `$CREDENTIALS_DIRECTORY/ollama-api-key` is the key sent, before
/// `$OLLAMA_CLOUD_API_KEY` (a stand-in that accepts only the credential's key passes all
/// three checks); `--api-key-file` wins over it (that key is refused: exit 3).
#[tokio::test]
async fn smk_046_api_key_from_systemd_credentials_directory() {
    let cred_key = "synthetic-systemd-ollama-key-Ss4Tt5";
    let chat = Chat::builder().passing().only_key(cred_key).start().await;
    let wd = crate::support::Workdir::new();
    let creds = wd.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let key_file = creds.join("ollama-api-key");
    std::fs::write(&key_file, cred_key).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o400),
    )
    .unwrap();
    let _ = chat
        .smoke()
        .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
        .secret(cred_key)
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(CONTEXT)
        .run();
    let other = wd.credential_file("other-key", "synthetic-other-key-Uu6Vv7", 0o600);
    let _ = chat
        .smoke()
        .arg("--api-key-file")
        .path_arg(&other)
        .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
        .secret(cred_key)
        .secret("synthetic-other-key-Uu6Vv7")
        .exits(3)
        .stdout(str![[r#"
chat_completion=fail reason=auth status=401 auth=bearer latency_ms=[MS]
json_response=fail reason=auth status=401 auth=bearer json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=auth status=401 auth=bearer latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the server refused the API key (HTTP 401); the server said: "unauthorized"
json_response: the server refused the API key (HTTP 401); the server said: "unauthorized"
tool_call: the server refused the API key (HTTP 401); the server said: "unauthorized"

"#]])
        .tmp(wd.path())
        .run();
}

/// Every string in a JSON document (its path, for the message) that reads as a decimal
/// number.
fn numeric_strings(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::String(s)
            if s.parse::<f64>().is_ok() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            out.push(format!("{at} = {s:?}"));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                numeric_strings(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                numeric_strings(item, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The JSON report's sizes, counts, latencies and waits are numbers: the reasoning
/// diagnosis (`reasoning_chars` 54, `reasoning_tokens` 16), a stream's `ttft_ms`, a 429's
/// `retry_after_s` 7; and no string of any of these documents reads as a number.
#[tokio::test]
async fn smk_038_json_report_numbers_are_numbers() {
    use crate::support::chat::answer;
    for (check, step, response, exit, want, explained) in [
        (
            "chat_completion",
            Step::Chat,
            reply(200, "openai/chat-reasoning-truncated.json"),
            1,
            &[
                ("/details/reasoning_chars", Some(54)),
                ("/details/reasoning_tokens", Some(16)),
                ("/passes", Some(0)),
                ("/runs", Some(1)),
            ][..],
            "chat_completion: the content is empty and the text is in reasoning (a known gemma4 \
             behaviour): raise --max-tokens (now 1024)\n",
        ),
        (
            "stream_chat",
            Step::StreamChat,
            answer(200, "openai/stream-ollama-chat.sse"),
            0,
            &[("/details/ttft_ms", None), ("/latency_ms", None)][..],
            "",
        ),
        (
            "chat_completion",
            Step::Chat,
            reply(429, "openai/error-429.json").insert_header("retry-after", "7"),
            5,
            &[("/retry_after_s", Some(7)), ("/status", Some(429))][..],
            "chat_completion: the endpoint is rate-limiting requests (HTTP 429): it asks to wait \
             7s (Retry-After); the server said: \"Rate limit reached for requests\"\n",
        ),
    ] {
        let chat = Chat::start().await;
        chat.on_with(step, response, 1).await;
        let run = chat
            .smoke()
            .args(["--check", check, "--format", "json", "--repeat", "1"])
            .exits(exit)
            .stdout_checked_elsewhere("the JSON document, read below")
            .stderr(format!("{CONTEXT}{explained}"))
            .run();
        let doc = run.stdout_json();
        let c = &doc["checks"][0];
        for (pointer, value) in want {
            let got = c.pointer(pointer).unwrap_or(&Value::Null);
            assert!(got.is_u64(), "{check} {pointer}: {got} is not a number");
            if let Some(n) = value {
                assert_eq!(got.as_u64(), Some(*n), "{check} {pointer}");
            }
        }
        assert!(doc["timeout_s"].is_number() && doc["repeat"].is_u64());
        let mut strings = Vec::new();
        numeric_strings(&doc, "", &mut strings);
        assert!(strings.is_empty(), "numbers as strings: {strings:?}");
        chat.verify().await;
    }
}

/// `ollama-compat-smoke --help`, each line without its trailing blanks.
pub(crate) const SMOKE_HELP: &str = r#"Check an OpenAI-compatible chat endpoint for chat completion, JSON output and tool calls, never
printing the API key.

The key is read from the file given by --api-key-file, else $CREDENTIALS_DIRECTORY/ollama-api-key
(systemd's LoadCredential=), else $OLLAMA_CLOUD_API_KEY; or, with --api-key-env VAR, from that
variable; never from a flag value. Every other flag an operator sets in a unit can also be given by
the environment variable named in [env: …]; a flag wins over its variable. Without a key, no
Authorization header is sent (auth=none). Exit codes: 0 all pass, 1 a check failed, 2 usage, 3
refused (401/403), 4 not found, 5 unavailable or timed out.

Usage: ollama-compat-smoke [OPTIONS]

Options:
      --base-url <URL>
          Base URL of the OpenAI-compatible API (requests go to <URL>/chat/completions); plain
          http:// only to loopback

          [env: OLLAMA_BASE_URL=]
          [default: https://ollama.com/v1]

      --model <NAME>
          Model name sent in every request

          [env: OLLAMA_MODEL=]
          [default: gemma4:31b-cloud]

      --api-key-env <VAR>
          Read the API key from the environment variable named VAR (it must be set) [default:
          OLLAMA_CLOUD_API_KEY, optional]

          [env: OLLAMA_COMPAT_SMOKE_API_KEY_ENV]

      --api-key-file <F>
          Read the API key from file F (refused when other users can read it)

          [env: OLLAMA_COMPAT_SMOKE_API_KEY_FILE]

      --check <CHECK>
          A check to run; repeat the flag for several; `all` runs every check (the stream checks and
          tool_choice only run when named or with `all`)

          [env: OLLAMA_COMPAT_SMOKE_CHECK]
          [default: chat_completion json_response tool_call]
          [possible values: chat_completion, json_response, tool_call, stream_chat,
          stream_tool_call, tool_choice, all]

      --json-mode <MODE>
          JSON mode: auto falls back json_schema -> json_object -> plain_prompt on format errors
          only; any other value pins one step and never falls back

          [env: OLLAMA_COMPAT_SMOKE_JSON_MODE]
          [default: auto]
          [possible values: auto, json_schema, json_object, plain_prompt]

      --repeat <N>
          Run each check N times and report passes=k/N; a check passes only at N/N

          [env: OLLAMA_COMPAT_SMOKE_REPEAT]
          [default: 1]

      --timeout <SECS>
          Total time allowed for one request, in seconds (fractions allowed, e.g. 0.5)

          [env: OLLAMA_COMPAT_SMOKE_TIMEOUT]
          [default: 60]

      --max-tokens <N>
          max_tokens sent in every request (thinking models need room for their reasoning)

          [env: OLLAMA_COMPAT_SMOKE_MAX_TOKENS]
          [default: 1024]

      --format <FORMAT>
          Output format on stdout

          [env: OLLAMA_COMPAT_SMOKE_FORMAT]
          [default: text]
          [possible values: text, json, junit]

      --allow-insecure-http
          Allow plain http:// to a host that is not loopback (prints a warning)

          [env: OLLAMA_COMPAT_SMOKE_ALLOW_INSECURE_HTTP]

      --no-model-list
          Do not ask <URL>/models which models the endpoint lists

          [env: OLLAMA_COMPAT_SMOKE_NO_MODEL_LIST]

      --reasoning-effort <EFFORT>
          reasoning_effort sent in every request (not sent when not given)

          [env: OLLAMA_COMPAT_SMOKE_REASONING_EFFORT]
          [possible values: none, low, medium, high]

      --output <FILE>
          Also write the report (in --format) atomically to FILE; stdout keeps the text lines

          [env: OLLAMA_COMPAT_SMOKE_OUTPUT]

      --metrics-file <FILE>
          Also write this run's Prometheus metrics (text format, mode 0644) atomically to FILE on
          every run, success or failure, e.g. a *.prom file in node_exporter's textfile directory

          [env: OLLAMA_COMPAT_SMOKE_METRICS_FILE]

  -h, --help
          Print help (see a summary with '-h')

  -V, --version
          Print version
"#;

/// A tool-call stream that answers in prose without naming the tool: `reason=no_tool_call`
/// and no `call_as_text=` (that token is only for a call written out as text, SMK-029).
#[tokio::test]
async fn smk_029_prose_without_the_tool_is_not_call_as_text() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"It is sunny in Paris.\"},\"finish_reason\":null}]}\n\n\
                data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                data: [DONE]\n\n";
    new_check(
        "stream_tool_call",
        vec![(
            Step::StreamTool,
            ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"),
        )],
        1,
        "stream_tool_call=fail reason=no_tool_call ttft_ms=[MS]",
        "stream_tool_call: the model answered without calling get_weather\n",
    )
    .await;
}

/// A stream the connection cuts after its first event (a chunked body never ended):
/// `reason=stream_incomplete missing=finish_reason,done`, exit 1, and stderr says how the
/// connection ended (SMK-027).
#[test]
fn smk_027_stream_cut_by_the_connection_says_so() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        // A request that never ends would block here; the suite's watchdog bounds the binary.
        let mut buf = [0u8; 4096];
        // The request's head and its JSON body (it ends with `}`).
        while !seen.ends_with(b"}") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the request ended early");
            seen.extend_from_slice(&buf[..n]);
        }
        let event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"pong\"},\"finish_reason\":null}]}\n\n";
        write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
            event.len()
        )
        .unwrap();
        // Closed here, without the last chunk.
    });
    let _ = Cli::smoke()
        .args(["--check", "stream_chat", "--no-model-list", "--base-url"])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .secret_env("OLLAMA_CLOUD_API_KEY", crate::support::chat::KEY)
        .exits(1)
        .stdout("stream_chat=fail reason=stream_incomplete missing=finish_reason,done ttft_ms=[MS] latency_ms=[MS]\n")
        .stderr(format!("{CONTEXT}stream_chat: the stream ended before its finish_reason and \"data: [DONE]\" (see missing=); connection failed: unexpected EOF during chunk size line\n"))
        .run();
    // Not joined: a binary that never connected would leave it in accept() for ever; the
    // run's whole output is the check.
    drop(server);
}
