//! The report: one text line per check (`<check>=pass|fail` then `key=value` tokens), one JSON
//! document, or JUnit XML; plus the diagnostics for stderr. Every byte leaves through the
//! redactor, and server words are quoted only through `Redactor::quote` with a cap.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::checks::{RunOutcome, StepOutcome};
use super::classify::{Failure, Hint, JSON_KEYS, Reason, TOOL_NAME};
use super::config::{Check, Config, JsonStep, ReportFormat, Settings};
use super::models::{ModelList, closest};
use crate::envfile::{self, FileError, Target};
use crate::exit::Exit;
use crate::secret::{Redactor, xml_escape};

/// The cap on a quoted server message, in characters.
pub(crate) const QUOTE_CAP: usize = 300;

/// All runs of one check.
#[derive(Debug, Clone)]
pub(crate) struct CheckReport {
    pub(crate) check: Check,
    pub(crate) runs: Vec<RunOutcome>,
}

fn run_exit(run: &RunOutcome) -> Exit {
    match &run.result {
        Ok(()) => Exit::Success,
        Err(failure) => failure.reason.exit(),
    }
}

impl CheckReport {
    /// How many runs passed.
    pub(crate) fn passes(&self) -> usize {
        self.runs.iter().filter(|r| r.result.is_ok()).count()
    }

    /// A check passes only when every run passed.
    pub(crate) fn passed(&self) -> bool {
        !self.runs.is_empty() && self.passes() == self.runs.len()
    }

    /// The root cause over all runs (0 when all passed).
    pub(crate) fn exit(&self) -> Exit {
        Exit::worst(self.runs.iter().map(run_exit))
    }

    /// The run the report describes: the first failing run with the root-cause exit code, or
    /// the first run when all passed.
    pub(crate) fn representative(&self) -> Option<&RunOutcome> {
        let worst = self.exit();
        self.runs
            .iter()
            .find(|r| r.result.is_err() && run_exit(r) == worst)
            .or_else(|| self.runs.first())
    }

    fn failure(&self) -> Option<&Failure> {
        self.representative().and_then(|r| r.result.as_ref().err())
    }

    /// The slowest run, in whole milliseconds.
    pub(crate) fn latency_ms(&self) -> u128 {
        self.runs
            .iter()
            .map(|r| r.latency.as_millis())
            .max()
            .unwrap_or(0)
    }
}

/// The JSON ladder's summary of one run: the mode of the last step, and the fallback when the
/// ladder moved down.
struct Ladder {
    json_mode: &'static str,
    response_format: Option<&'static str>,
    fallback: Option<&'static str>,
    steps: Option<String>,
    /// `step:enforced|ignored|rejected,…` for each `response_format` step that told (SMK-035).
    structured: Option<String>,
}

fn ladder(run: &RunOutcome) -> Option<Ladder> {
    let (last, _) = run.steps.last()?;
    let fallback = (run.steps.len() > 1).then(|| run.steps[run.steps.len() - 2].1.as_str());
    Some(Ladder {
        json_mode: match last {
            JsonStep::PlainPrompt => "plain_prompt",
            _ => "response_format",
        },
        response_format: (*last != JsonStep::PlainPrompt).then(|| last.as_str()),
        fallback,
        steps: (run.steps.len() > 1).then(|| {
            run.steps
                .iter()
                .map(|(s, o)| format!("{}:{}", s.as_str(), o.as_str()))
                .collect::<Vec<_>>()
                .join(",")
        }),
        structured: {
            let words: Vec<String> = run
                .steps
                .iter()
                .filter_map(|(s, o)| structured(*s, *o).map(|w| format!("{}:{w}", s.as_str())))
                .collect();
            (!words.is_empty()).then(|| words.join(","))
        },
    })
}

/// The finished smoke: what was asked, what each check did, and the redactor.
#[derive(Debug)]
pub struct Report {
    /// What was asked.
    pub(crate) settings: Settings,
    /// Whether a key was sent.
    pub(crate) has_key: bool,
    /// Every check that ran, in report order.
    pub(crate) checks: Vec<CheckReport>,
    /// The whole run's wall time.
    pub(crate) elapsed: Duration,
    /// What `GET /models` said.
    pub(crate) models: ModelList,
    redactor: Redactor,
}

/// The exact mode of the `--output` file, whatever the umask: readable by all, as the report
/// holds no secret (every byte is redacted) and a CI's collector often reads it as another
/// user; 0644 is also what the file had under the usual umask 022 before the mode was exact.
pub(crate) const REPORT_MODE: u32 = 0o644;

/// Why `--output FILE` could not be written: exit 6, naming the file, never a value.
#[derive(Debug)]
pub struct OutputError {
    /// The file.
    pub(crate) path: PathBuf,
    /// What failed.
    pub(crate) cause: OutputCause,
}

/// What failed in writing `--output FILE`.
#[derive(Debug)]
pub(crate) enum OutputCause {
    /// FILE's directory cannot be used (the smoke never creates it).
    Dir(std::io::Error),
    /// The atomic write itself ([`envfile::apply`]).
    Write(FileError),
}

impl std::fmt::Display for OutputCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputCause::Dir(e) => write!(f, "{e}"),
            OutputCause::Write(e) => write!(f, "{e}"),
        }
    }
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot write the report to {} (--output): {}",
            self.path.display(),
            self.cause
        )
    }
}

impl OutputError {
    /// The file could not be written safely.
    pub const fn exit(&self) -> Exit {
        Exit::UnsafeWrite
    }
}

impl Report {
    /// The report of `config`'s run.
    pub(crate) fn new(
        config: &Config,
        checks: Vec<CheckReport>,
        models: ModelList,
        elapsed: Duration,
    ) -> Report {
        Report {
            settings: config.settings.clone(),
            has_key: config.has_key,
            checks,
            elapsed,
            models,
            redactor: config.redactor.clone(),
        }
    }

    /// The listed names closest to the asked model, when the endpoint lists models and not
    /// this one.
    pub(crate) fn closest_models(&self) -> Option<Vec<String>> {
        match (&self.models, self.models.lists(&self.settings.model)) {
            (ModelList::Listed(ids), Some(false)) => Some(closest(&self.settings.model, ids)),
            _ => None,
        }
    }

    /// stdout: the report in `--format`, or the text lines when `--output` takes the report.
    pub fn stdout(&self) -> String {
        if self.settings.output.is_some() {
            self.redactor.redact(&self.text())
        } else {
            self.render()
        }
    }

    /// With `--output FILE`: the report in `--format`, written by the project's one atomic
    /// writer ([`envfile::apply`]: a temporary file in the same directory, removed on a
    /// signal, mode [`REPORT_MODE`] exactly, synced, renamed over FILE, the directory synced;
    /// a symlink at FILE refused). FILE's directory must exist: it is never created.
    pub fn write_output(&self) -> Result<(), OutputError> {
        let Some(path) = &self.settings.output else {
            return Ok(());
        };
        let fail = |cause| OutputError {
            path: path.clone(),
            cause,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::metadata(dir).map_err(|e| fail(OutputCause::Dir(e)))?;
        let target = Target {
            path: path.clone(),
            mode: REPORT_MODE,
            parent_mode: 0o700, // unused: the directory exists
            uid: None,
            gid: None,
        };
        envfile::apply(&target, self.render().as_bytes(), false)
            .map(drop)
            .map_err(|e| fail(OutputCause::Write(e)))
    }

    /// `bearer` when a key was sent, `none` otherwise.
    pub(crate) fn auth(&self) -> &'static str {
        if self.has_key { "bearer" } else { "none" }
    }

    /// 0 when every check passed every run; else the root cause (3, 4, 5), else 1.
    pub fn exit(&self) -> Exit {
        Exit::worst(self.checks.iter().map(CheckReport::exit))
    }

    /// stdout, in the chosen format, redacted.
    pub(crate) fn render(&self) -> String {
        let out = match self.settings.format {
            ReportFormat::Text => self.text(),
            ReportFormat::Json => self.json(),
            ReportFormat::Junit => self.junit(),
        };
        self.redactor.redact(&out)
    }

    /// The `key=value` tokens after `<check>=pass|fail`.
    fn tokens(&self, c: &CheckReport) -> Vec<String> {
        let mut t = Vec::new();
        if c.runs.len() > 1 {
            t.push(format!("passes={}/{}", c.passes(), c.runs.len()));
        }
        if let Some(f) = c.failure() {
            t.push(format!("reason={}", f.reason.as_str()));
            if let Some(status) = f.status {
                t.push(format!("status={status}"));
            }
            if let Some(what) = f.unsupported {
                t.push(format!("unsupported={what}"));
            }
            if f.reason == Reason::Auth {
                t.push(format!("auth={}", self.auth()));
            }
            if f.reason.wants_more_tokens() {
                t.push("hint=--max-tokens".to_owned());
            } else if let Some(hint) = f.hint {
                t.push(format!("hint={}", hint.as_str()));
            }
            if let Some(secs) = f.retry_after {
                t.push(format!("retry_after={secs}"));
            }
            if f.reason == Reason::NotFound {
                if let Some(near) = self.closest_models().filter(|n| !n.is_empty()) {
                    t.push(format!("closest={}", near.join(",")));
                }
            }
        }
        if let Some(run) = c.representative() {
            for (key, value) in &run.extra {
                t.push(format!("{key}={value}"));
            }
        }
        if let Some(l) = c.representative().and_then(ladder) {
            t.push(format!("json_mode={}", l.json_mode));
            if let Some(rf) = l.response_format {
                t.push(format!("response_format={rf}"));
            }
            if let Some(fb) = l.fallback {
                t.push(format!("fallback={fb}"));
            }
            if let Some(steps) = l.steps {
                t.push(format!("steps={steps}"));
            }
            if let Some(words) = l.structured {
                t.push(format!("structured={words}"));
            }
        }
        t.push(format!("latency_ms={}", c.latency_ms()));
        t
    }

    fn line(&self, c: &CheckReport) -> String {
        let verdict = if c.passed() { "pass" } else { "fail" };
        let mut line = format!("{}={verdict}", c.check.as_str());
        for token in self.tokens(c) {
            line.push(' ');
            line.push_str(&token);
        }
        line
    }

    fn text(&self) -> String {
        self.checks
            .iter()
            .map(|c| self.line(c) + "\n")
            .collect::<String>()
    }

    /// Why a failed check failed, in a sentence, with the server's words redacted and capped.
    pub(crate) fn explain(&self, c: &CheckReport) -> Option<String> {
        let f = c.failure()?;
        let status = f.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
        let keys: Vec<String> = JSON_KEYS
            .iter()
            .map(|(k, t)| format!("\"{k}\" ({t})"))
            .collect();
        let what = match f.reason {
            Reason::Auth if f.hint == Some(Hint::CloudDisabled) => format!(
                "this Ollama server has cloud models disabled{status}, so it will not forward \
                 the request to ollama.com (the key was not refused): enable cloud access in that \
                 Ollama, or use a local model or --base-url https://ollama.com/v1"
            ),
            Reason::Auth if self.has_key => format!("the server refused the API key{status}"),
            Reason::Auth => format!(
                "the server refused the request{status}: no API key was sent (auth=none); set \
                 OLLAMA_CLOUD_API_KEY, --api-key-env or --api-key-file"
            ),
            Reason::NotFound => match self.closest_models() {
                Some(near) if !near.is_empty() => format!(
                    "not found{status}: check --model and --base-url; the endpoint does not list \
                     {} but lists {}",
                    self.settings.model,
                    near.join(", ")
                ),
                Some(_) => format!(
                    "not found{status}: check --model and --base-url; the endpoint does not list \
                     {} nor a close name",
                    self.settings.model
                ),
                None => format!("not found{status}: check --model and --base-url"),
            },
            Reason::Timeout if f.status.is_some() => format!("the server timed out{status}"),
            Reason::Timeout => format!(
                "no answer within {}s (--timeout)",
                self.settings.timeout.as_secs_f64()
            ),
            Reason::Unavailable if f.hint == Some(Hint::Loading) => format!(
                "the server is up but still loading the model{status}: wait until it has loaded \
                 and run again"
            ),
            Reason::Unavailable => format!("the endpoint is unavailable{status}"),
            Reason::Quota => format!(
                "the account's usage limit is reached{status}: a quota, not an outage; wait for \
                 the limit to reset or raise the plan, retrying sooner will not help"
            ),
            Reason::RateLimited => match f.retry_after {
                Some(secs) => format!(
                    "the endpoint is rate-limiting requests{status}: it asks to wait {secs}s \
                     (Retry-After)"
                ),
                None => {
                    format!("the endpoint is rate-limiting requests{status}: wait and run again")
                }
            },
            Reason::Unsupported if f.hint == Some(Hint::Jinja) => format!(
                "the server cannot do {}{status}: llama-server takes tools only when started \
                 with --jinja (and a chat template that knows tools)",
                f.unsupported.unwrap_or("tools")
            ),
            Reason::Unsupported => format!(
                "the model cannot do {}{status}: choose a model that supports it",
                f.unsupported.unwrap_or("this")
            ),
            Reason::BadRequest => format!("the server rejected the request{status}"),
            Reason::Redirect => format!(
                "the base URL redirects{status}; redirects are not followed: give the final URL \
                 in --base-url"
            ),
            Reason::BadResponse => {
                format!("the answer is not a chat completion (no choices[0].message){status}")
            }
            Reason::Truncated => format!(
                "the answer was cut at --max-tokens {} (finish_reason: length): raise \
                 --max-tokens",
                self.settings.max_tokens
            ),
            Reason::Schema => format!(
                "the JSON object lacks the asked keys and types: {}",
                keys.join(", ")
            ),
            Reason::Rejected => format!("the endpoint rejected the response format{status}"),
            Reason::NotJson => "the content is not a JSON object".to_owned(),
            Reason::Fenced => "the content is JSON wrapped in a markdown fence".to_owned(),
            Reason::Empty => "the content is empty".to_owned(),
            Reason::ReasoningOnly => format!(
                "the content is empty and the text is in reasoning (a known gemma4 behaviour): \
                 raise --max-tokens (now {})",
                self.settings.max_tokens
            ),
            Reason::NoToolCall => {
                format!("the model answered without calling {TOOL_NAME}")
            }
            Reason::WrongFunction => {
                format!("tool_calls[0] names another function than {TOOL_NAME}")
            }
            Reason::BadArguments => format!(
                "the arguments of {TOOL_NAME} are not a JSON string of an object with a string \
                 \"city\""
            ),
            Reason::NotStreamed => "the server ignored \"stream\": true and answered one JSON \
                                    body instead of Server-Sent Events"
                .to_owned(),
            Reason::StreamIncomplete => "the stream ended before its finish_reason and \
                                         \"data: [DONE]\" (see missing=)"
                .to_owned(),
            Reason::NoCallId => format!("the streamed call of {TOOL_NAME} carries no id"),
            Reason::NoCallIndex => {
                format!("a streamed tool-call delta of {TOOL_NAME} carries no index")
            }
            Reason::WrongFinishReason => format!(
                "the stream called {TOOL_NAME} but did not finish with finish_reason \
                 \"tool_calls\""
            ),
            Reason::IgnoredToolChoice => {
                let which = c
                    .representative()
                    .and_then(|r| r.extra.iter().find(|(k, _)| *k == "ignored"))
                    .map_or("", |(_, v)| v.as_str());
                let mut parts = Vec::new();
                if which.contains("forced") {
                    parts.push(format!(
                        "a forced {TOOL_NAME} (tool_choice {{\"type\":\"function\",...}}) came \
                         back without calling it"
                    ));
                }
                if which.contains("none") {
                    parts.push(format!(
                        "tool_choice \"none\" came back calling {TOOL_NAME}"
                    ));
                }
                format!("the server ignored tool_choice: {}", parts.join("; "))
            }
        };
        let said = self.quoted(f).map_or_else(String::new, |q| {
            if f.status.is_some() {
                format!("; the server said: \"{q}\"")
            } else {
                format!("; {q}")
            }
        });
        Some(format!("{}: {what}{said}", c.check.as_str()))
    }

    /// The server's words of a failure, redacted then capped; `None` when there are none.
    fn quoted(&self, f: &Failure) -> Option<String> {
        f.message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .map(|m| self.redactor.quote(m, QUOTE_CAP))
    }

    /// stderr: the context line, then one line per failed check; redacted.
    pub fn diagnostics(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "ollama-compat-smoke: endpoint={} model={} auth={}",
            crate::output::one_line(&self.settings.base_url.to_string()),
            crate::output::one_line(&self.settings.model),
            self.auth()
        )];
        if let ModelList::NoList(status) = self.models {
            lines.push(format!(
                "ollama-compat-smoke: the endpoint has no model list (GET /models: HTTP \
                 {status}); the checks do not need one"
            ));
        }
        lines.extend(self.checks.iter().filter_map(|c| self.explain(c)));
        lines.iter().map(|l| self.redactor.redact(l)).collect()
    }

    fn json(&self) -> String {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                let f = c.failure();
                let mut v = json!({
                    "check": c.check.as_str(),
                    "result": if c.passed() { "pass" } else { "fail" },
                    "passes": c.passes(),
                    "runs": c.runs.len(),
                    "reason": f.map(|f| f.reason.as_str()),
                    "status": f.and_then(|f| f.status),
                    "unsupported": f.and_then(|f| f.unsupported),
                    "hint": f.and_then(|f| if f.reason.wants_more_tokens() {
                        Some("--max-tokens")
                    } else {
                        f.hint.map(Hint::as_str)
                    }),
                    "retry_after_s": f.and_then(|f| f.retry_after),
                    "message": f.and_then(|f| self.quoted(f)),
                    "explanation": self.explain(c),
                    "latency_ms": c.latency_ms() as u64,
                    "latencies_ms": c.runs.iter().map(|r| r.latency.as_millis() as u64)
                        .collect::<Vec<_>>(),
                    "details": c.representative().map(|r| r.extra.iter()
                        .map(|(k, v)| ((*k).to_owned(), detail_value(k, v)))
                        .collect::<serde_json::Map<_, _>>()).unwrap_or_default(),
                    "closest_models": if f.is_some_and(|f| f.reason == Reason::NotFound) {
                        self.closest_models()
                    } else {
                        None
                    },
                });
                if c.check == Check::JsonResponse {
                    let run = c.representative();
                    let l = run.and_then(ladder);
                    let extra = json!({
                        "json_mode": l.as_ref().map(|l| l.json_mode),
                        "response_format": l.as_ref().and_then(|l| l.response_format),
                        "fallback": l.as_ref().and_then(|l| l.fallback),
                        "steps": run.map(|r| r.steps.iter().map(|(s, o)| json!({
                            "step": s.as_str(),
                            "outcome": o.as_str(),
                            "structured": structured(*s, *o),
                        })).collect::<Vec<_>>()).unwrap_or_default(),
                    });
                    if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                        v.extend(extra);
                    }
                }
                v
            })
            .collect();
        let doc = json!({
            "tool": "ollama-compat-smoke",
            "version": env!("CARGO_PKG_VERSION"),
            "endpoint": self.settings.base_url,
            "model": self.settings.model,
            "auth": self.auth(),
            "json_mode": self.settings.json_mode.as_str(),
            "repeat": self.settings.repeat,
            "timeout_s": self.settings.timeout.as_secs_f64(),
            "max_tokens": self.settings.max_tokens,
            "models": match &self.models {
                ModelList::Skipped => json!({"asked": false}),
                ModelList::Listed(ids) => json!({"asked": true, "listed": ids,
                    "lists_model": ids.contains(&self.settings.model)}),
                ModelList::NoList(status) => json!({"asked": true, "status": status}),
                ModelList::Unknown(why) => json!({"asked": true, "unknown": why}),
            },
            "reasoning_effort": self.settings.reasoning_effort.map(|e| e.as_str()),
            "passed": self.exit() == Exit::Success,
            "exit_code": self.exit().code(),
            "checks": checks,
        });
        serde_json::to_string_pretty(&doc).expect("a JSON value always serializes") + "\n"
    }

    fn junit(&self) -> String {
        let errors = self
            .checks
            .iter()
            .filter(|c| !c.passed() && could_not_run(c))
            .count();
        let failures = self.checks.iter().filter(|c| !c.passed()).count() - errors;
        let secs = |d: Duration| format!("{:.3}", d.as_secs_f64());
        let head = format!(
            "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\"",
            self.checks.len(),
            secs(self.elapsed)
        );
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<testsuites name=\"ollama-compat-smoke\" {head}>\n  <testsuite \
             name=\"ollama-compat-smoke\" {head}>\n    <properties>\n"
        ));
        for (name, value) in [
            ("endpoint", self.settings.base_url.as_str()),
            ("model", self.settings.model.as_str()),
            ("auth", self.auth()),
            ("json_mode", self.settings.json_mode.as_str()),
            ("repeat", &self.settings.repeat.to_string()),
        ] {
            x.push_str(&format!(
                "      <property name=\"{name}\" value=\"{}\"/>\n",
                xml_text(value)
            ));
        }
        x.push_str("    </properties>\n");
        for c in &self.checks {
            let time = c.runs.iter().map(|r| r.latency).sum::<Duration>();
            let open = format!(
                "    <testcase classname=\"ollama-compat-smoke\" name=\"{}\" time=\"{}\"",
                c.check.as_str(),
                secs(time)
            );
            let tokens = self.tokens(c).join(" ");
            match c.failure() {
                None if c.passed() => {
                    x.push_str(&format!(
                        "{open}>\n      <system-out>{}</system-out>\n    </testcase>\n",
                        xml_text(&self.line(c))
                    ));
                }
                failure => {
                    let kind = failure.map_or("fail", |f| f.reason.as_str());
                    let body = self.explain(c).unwrap_or_default();
                    let element = if could_not_run(c) { "error" } else { "failure" };
                    x.push_str(&format!(
                        "{open}>\n      <{element} type=\"{kind}\" message=\"{}\">{}</{element}>\n    \
                         </testcase>\n",
                        xml_text(&tokens),
                        xml_text(&body)
                    ));
                }
            }
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

/// What a `response_format` step says about structured output: `enforced` (the answer
/// satisfied the asked keys and types), `ignored` (a 2xx that did not honour it: not JSON, or
/// JSON without the asked keys), `rejected` (refused); `None` for the plain prompt and for a
/// step that failed for another reason (nothing learnt about the format).
pub(crate) fn structured(step: JsonStep, outcome: StepOutcome) -> Option<&'static str> {
    if step == JsonStep::PlainPrompt {
        return None;
    }
    match outcome {
        StepOutcome::Pass => Some("enforced"),
        StepOutcome::Ignored | StepOutcome::Failed(Reason::Schema) => Some("ignored"),
        StepOutcome::Rejected => Some("rejected"),
        StepOutcome::Failed(_) => None,
    }
}

/// Whether a failed check could not run at all — refused (3), not found (4), unavailable, rate
/// limited, over quota or timed out (5): a JUnit `<error>`; a check that ran and failed (1) is
/// a `<failure>`.
fn could_not_run(c: &CheckReport) -> bool {
    matches!(c.exit(), Exit::Refused | Exit::NotFound | Exit::Unavailable)
}

/// Text fit for an XML attribute or element: characters XML 1.0 cannot hold (control
/// characters other than tab, newline and carriage return, U+FFFE, U+FFFF) become U+FFFD, then
/// the one escaper of [`crate::secret::xml_escape`] applies.
pub(crate) fn xml_text(text: &str) -> String {
    let legal: String = text
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect();
    xml_escape(&legal, "&apos;")
}

/// The extra tokens that are sizes, counts or latencies: a JSON number in the JSON report
/// (SMK-038), as `latency_ms` and `retry_after_s` are.
const NUMERIC_DETAILS: [&str; 3] = ["reasoning_chars", "reasoning_tokens", "ttft_ms"];

/// One extra token of a check as the JSON report shows it: a number for the keys of
/// [`NUMERIC_DETAILS`], the text for every other.
fn detail_value(key: &str, value: &str) -> Value {
    match value.parse::<u64>() {
        Ok(n) if NUMERIC_DETAILS.contains(&key) => Value::from(n),
        _ => Value::from(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes, counts and latencies are numbers; every other token stays text.
    #[test]
    fn detail_numbers_are_numbers() {
        assert_eq!(detail_value("reasoning_chars", "560"), Value::from(560));
        assert_eq!(detail_value("reasoning_tokens", "16"), Value::from(16));
        assert_eq!(detail_value("ttft_ms", "0"), Value::from(0));
        assert_eq!(
            detail_value("finish_reason", "length"),
            Value::from("length")
        );
        assert_eq!(
            detail_value("missing", "finish,done"),
            Value::from("finish,done")
        );
        assert_eq!(detail_value("call_as_text", "true"), Value::from("true"));
    }
}
