//! Proves `contracts/metrics.md`: `--metrics-file` on both binaries — the series, whole; the
//! last success carried over by failed runs; the file's mode and atomic write; a metrics file
//! that cannot be written; escaping; and Prometheus's own `promtool check metrics`.
//!
//! Each expected file is stated whole before it is compared; only the values that change from
//! run to run are placeholders: `[TS]` (a Unix timestamp, checked to lie within the run) and
//! `[SECS]` (a duration or latency in seconds).

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use snapbox::str;

use crate::cli::help_of;
use crate::infisical::CANARY_HELP;
use crate::smoke_report::SMOKE_HELP;
use crate::support::chat::Chat;
use crate::support::cli::Run;
use crate::support::infisical::*;
use crate::support::{
    Cli, Smoke as _, Workdir, assert_no_secret, canary, mode_of, refused_url, written_one_key,
};

/// The whole file `write-canary-env` writes, before its placeholders are filled.
const CANARY: &str = r#"# HELP write_canary_env_last_run_timestamp_seconds Unix time the last run for this output ended, whatever its result.
# TYPE write_canary_env_last_run_timestamp_seconds gauge
write_canary_env_last_run_timestamp_seconds{output="[OUTPUT]"} [TS]
# HELP write_canary_env_last_success_timestamp_seconds Unix time of the last run for this output that exited 0 and was not a dry run (carried over by failed runs; 0 before any).
# TYPE write_canary_env_last_success_timestamp_seconds gauge
write_canary_env_last_success_timestamp_seconds{output="[OUTPUT]"} [LAST_SUCCESS]
# HELP write_canary_env_exit_code Exit code of the last run for this output (see write-canary-env --help).
# TYPE write_canary_env_exit_code gauge
write_canary_env_exit_code{output="[OUTPUT]"} [EXIT]
# HELP write_canary_env_keys Number of keys in the file at the last success (carried over by failed runs and dry runs; 0 before any).
# TYPE write_canary_env_keys gauge
write_canary_env_keys{output="[OUTPUT]"} [KEYS]
# HELP write_canary_env_changed 1 when the last run created the file or changed its bytes, else 0.
# TYPE write_canary_env_changed gauge
write_canary_env_changed{output="[OUTPUT]"} [CHANGED]
# HELP write_canary_env_reload_owed 1 when an --on-change command is owed for this output (its marker exists), else 0.
# TYPE write_canary_env_reload_owed gauge
write_canary_env_reload_owed{output="[OUTPUT]"} [OWED]
# HELP write_canary_env_duration_seconds Wall time of the last run for this output, in seconds.
# TYPE write_canary_env_duration_seconds gauge
write_canary_env_duration_seconds{output="[OUTPUT]"} [SECS]
"#;

/// What one `write-canary-env` metrics file should say.
struct Expect<'a> {
    /// The `output` label, escaped as written.
    output: &'a str,
    /// `[TS]` for a timestamp of this run, or a literal (`0.0`, a carried value).
    last_success: &'a str,
    exit: u8,
    keys: usize,
    changed: u8,
    owed: u8,
}

impl Expect<'_> {
    fn text(&self) -> String {
        CANARY
            .replace("[OUTPUT]", self.output)
            .replace("[LAST_SUCCESS]", self.last_success)
            .replace("[EXIT]", &self.exit.to_string())
            .replace("[KEYS]", &self.keys.to_string())
            .replace("[CHANGED]", &self.changed.to_string())
            .replace("[OWED]", &self.owed.to_string())
    }
}

/// The current time as the binaries write it (seconds, millisecond precision).
fn now() -> f64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    ms as f64 / 1000.0
}

/// The metrics file, read whole.
#[track_caller]
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of the sample line `<series> <value>` in `text` (exactly one such line).
#[track_caller]
fn value(text: &str, series: &str) -> String {
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "one sample {series} in:\n{text}");
    found[0].to_owned()
}

/// `text` with each run's timestamps as `[TS]` (after checking that they lie in
/// `[from, to]`) and each duration or latency as `[SECS]`; a last success of `0.0` and every
/// other value are kept.
#[track_caller]
fn masked(text: &str, from: f64, to: f64) -> String {
    masked_carrying(text, from, to, None)
}

/// [`masked`], a last success equal to `carried` shown as `[CARRIED]`.
#[track_caller]
fn masked_carrying(text: &str, from: f64, to: f64, carried: Option<&str>) -> String {
    let ts = regex::Regex::new(r"^\d{10}(\.\d{1,3})?$").unwrap();
    let secs = regex::Regex::new(r"^\d+(\.\d+)?(e-?\d+)?$").unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let masked_line = match line.rsplit_once(' ') {
            Some((series, v)) if !line.starts_with('#') => {
                let name = series.split('{').next().unwrap_or(series);
                if name.ends_with("_last_success_timestamp_seconds") && Some(v) == carried {
                    format!("{series} [CARRIED]")
                } else if name.ends_with("_timestamp_seconds") && v != "0.0" {
                    assert!(ts.is_match(v), "not a timestamp: {line}");
                    let t: f64 = v.parse().unwrap();
                    assert!(
                        (from - 0.001..=to + 0.001).contains(&t),
                        "{line}: not within the run ({from} .. {to})"
                    );
                    format!("{series} [TS]")
                } else if name.ends_with("_duration_seconds") || name.ends_with("_latency_seconds")
                {
                    assert!(secs.is_match(v), "not seconds: {line}");
                    format!("{series} [SECS]")
                } else {
                    line.to_owned()
                }
            }
            _ => line.to_owned(),
        };
        out.push_str(&masked_line);
        out.push('\n');
    }
    out
}

/// Runs a command stated before it runs (compared whole by the runner); the clock read before
/// and after it.
fn timed(expect: crate::support::cli::Expect) -> (f64, f64) {
    let from = now();
    let _ = expect.run();
    (from, now())
}

/// `write-canary-env` against `url`, writing `out`, its metrics to `metrics`.
fn canary_with_metrics(url: &str, out: &Path, metrics: &Path) -> Cli {
    canary(url, out)
        .secret(PROVIDER_VALUE)
        .arg("--metrics-file")
        .path_arg(metrics)
}

/// A stand-in serving the providers fixture (one key) any number of times.
async fn providers() -> Infisical {
    Infisical::builder().list(PROVIDERS_FIXTURE).start().await
}

/// `--help` names both variables; a variable alone writes the file it names; the flag wins
/// over its variable; without either, nothing but the env file is written.
#[tokio::test]
async fn met_001_metrics_file_flag_and_variable_on_both_binaries() {
    for (cli, whole, var) in [
        (Cli::canary(), CANARY_HELP, "WRITE_CANARY_ENV_METRICS_FILE"),
        (Cli::smoke(), SMOKE_HELP, "OLLAMA_COMPAT_SMOKE_METRICS_FILE"),
    ] {
        // The whole help (cli_002's texts), and this clause's two lines in it.
        let help = help_of(cli);
        assert_eq!(help, whole);
        for line in ["--metrics-file <FILE>".to_owned(), format!("[env: {var}]")] {
            assert!(help.contains(&line), "--help does not show {line}");
        }
    }

    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let by_var = wd.join("by-var.prom");
    let by_flag = wd.join("by-flag.prom");
    let _ = canary(&inf.url(), &out)
        .env(
            "WRITE_CANARY_ENV_METRICS_FILE",
            by_var.display().to_string(),
        )
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    assert!(read(&by_var).contains("write_canary_env_exit_code{"));
    std::fs::remove_file(&by_var).unwrap();
    let _ = canary(&inf.url(), &out)
        .env(
            "WRITE_CANARY_ENV_METRICS_FILE",
            by_var.display().to_string(),
        )
        .arg("--metrics-file")
        .path_arg(&by_flag)
        .exits(0)
        .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert!(read(&by_flag).contains("write_canary_env_exit_code{"));
    assert!(!by_var.exists(), "the flag wins over its variable");
    std::fs::remove_file(&by_flag).unwrap();
    let _ = canary(&inf.url(), &out)
        .exits(0)
        .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let mut left: Vec<String> = std::fs::read_dir(wd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["out.env"], "no metrics file without the flag");

    let chat = Chat::builder().passing().start().await;
    let smoke_metrics = wd.join("smoke.prom");
    let _ = chat.smoke()
        .env(
            "OLLAMA_COMPAT_SMOKE_METRICS_FILE",
            smoke_metrics.display().to_string(),
        )
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]])
        .tmp(wd.path())
        .run();
    assert!(read(&smoke_metrics).contains("ollama_compat_smoke_exit_code{"));
}

/// A first run creates the file: the seven gauges whole, `changed` 1, one key, mode 0644 under
/// umask 077 with a created parent 0755, no temporary file, no secret and no key name. A
/// second run finds the env file unchanged: `changed` 0, the last success advanced.
#[tokio::test]
async fn met_002_met_003_met_008_canary_series_whole_mode_and_changed() {
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let metrics = wd.join("textfile/canary.prom");
    let (from, to) = timed(
        canary_with_metrics(&inf.url(), &out, &metrics)
            .umask(0o077)
            .exits(0)
            .stdout(written_one_key())
            .tmp(wd.path()),
    );
    let text = read(&metrics);
    let output = out.display().to_string();
    assert_eq!(
        masked(&text, from, to),
        Expect {
            output: &output,
            last_success: "[TS]",
            exit: 0,
            keys: 1,
            changed: 1,
            owed: 0,
        }
        .text()
    );
    let series = format!("{{output=\"{output}\"}}");
    assert_eq!(
        value(
            &text,
            &format!("write_canary_env_last_run_timestamp_seconds{series}")
        ),
        value(
            &text,
            &format!("write_canary_env_last_success_timestamp_seconds{series}")
        ),
        "a success is the last run and the last success"
    );
    assert_eq!(mode_of(&metrics), 0o644);
    assert_eq!(mode_of(&wd.join("textfile")), 0o755);
    Workdir::assert_no_temp(&wd.join("textfile"));
    assert_no_secret(&text, &[PROVIDER_VALUE, TOKEN]);
    assert!(!text.contains(PROVIDER_KEY), "no key name in the metrics");

    let first = value(
        &text,
        &format!("write_canary_env_last_success_timestamp_seconds{series}"),
    );
    let (from, to) = timed(
        canary_with_metrics(&inf.url(), &out, &metrics)
            .exits(0)
            .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
            .tmp(wd.path()),
    );
    let text = read(&metrics);
    assert_eq!(
        masked(&text, from, to),
        Expect {
            output: &output,
            last_success: "[TS]",
            exit: 0,
            keys: 1,
            changed: 0,
            owed: 0,
        }
        .text()
    );
    let second = value(
        &text,
        &format!("write_canary_env_last_success_timestamp_seconds{series}"),
    );
    assert!(second.parse::<f64>().unwrap() >= first.parse::<f64>().unwrap());
    assert_eq!(mode_of(&metrics), 0o644);
    Workdir::assert_no_temp(&wd.join("textfile"));
}

/// With the server down before any success: exit 5, last success 0, keys 0. After a success,
/// the server down again: exit 5, `changed` 0, the last success and the key count carried over
/// byte for byte.
#[tokio::test]
async fn met_004_met_005_last_success_survives_a_failed_run() {
    let inf = providers().await;
    let down = refused_url();
    let wd = Workdir::new();
    let out = wd.output();
    let metrics = wd.join("canary.prom");
    let output = out.display().to_string();
    let series = format!("{{output=\"{output}\"}}");

    let (from, to) = timed(
        canary_with_metrics(&down, &out, &metrics)
            .exits(5)
            .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the connection failed, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: the connection failed, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)

"#]])
            .tmp(wd.path()),
    );
    assert_eq!(
        masked(&read(&metrics), from, to),
        Expect {
            output: &output,
            last_success: "0.0",
            exit: 5,
            keys: 0,
            changed: 0,
            owed: 0,
        }
        .text()
    );

    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let success = value(
        &read(&metrics),
        &format!("write_canary_env_last_success_timestamp_seconds{series}"),
    );

    let (from, to) = timed(
        canary_with_metrics(&down, &out, &metrics)
            .exits(5)
            .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the connection failed, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: the connection failed, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)

"#]])
            .tmp(wd.path()),
    );
    let text = read(&metrics);
    assert_eq!(
        masked_carrying(&text, from, to, Some(&success)),
        Expect {
            output: &output,
            last_success: "[CARRIED]",
            exit: 5,
            keys: 1,
            changed: 0,
            owed: 0,
        }
        .text(),
        "the last success ({success}) is carried over"
    );
    assert_eq!(
        value(
            &text,
            &format!("write_canary_env_last_success_timestamp_seconds{series}")
        ),
        success
    );
}

/// A configuration error found after parsing (no credential: exit 2) writes the metrics with
/// exit code 2, in both binaries (the smoke without check series); a command line clap
/// refuses writes none.
#[tokio::test]
async fn met_006_config_error_writes_metrics_usage_error_does_not() {
    let wd = Workdir::new();
    let out = wd.output();
    let metrics = wd.join("canary.prom");
    let output = out.display().to_string();
    let (from, to) = timed(
        Cli::canary()
            .args([
                "--project-id",
                PROJECT,
                "--env",
                ENV,
                "--api-url",
                &refused_url(),
            ])
            .arg("--output")
            .path_arg(&out)
            .arg("--metrics-file")
            .path_arg(&metrics)
            .exits(2)
            .stderr(str![[r#"
write-canary-env: error: missing credential: set $INFISICAL_TOKEN or pass --token-file

"#]])
            .tmp(wd.path()),
    );
    assert_eq!(
        masked(&read(&metrics), from, to),
        Expect {
            output: &output,
            last_success: "0.0",
            exit: 2,
            keys: 0,
            changed: 0,
            owed: 0,
        }
        .text()
    );

    let smoke_metrics = wd.join("smoke.prom");
    let (from, to) = timed(
        Cli::smoke()
            .args(["--base-url", "http://127.0.0.1:9/v1", "--model", "m1"])
            .args(["--api-key-env", "1NOT-A-NAME"])
            .arg("--metrics-file")
            .path_arg(&smoke_metrics)
            .exits(2)
            .stderr(str![[r#"
ollama-compat-smoke: error: --api-key-env takes the NAME of an environment variable (letters, digits and _, not starting with a digit), never the key itself

"#]])
            .tmp(wd.path()),
    );
    assert_eq!(
        masked(&read(&smoke_metrics), from, to),
        r#"# HELP ollama_compat_smoke_exit_code Exit code of the last smoke of this model (see ollama-compat-smoke --help).
# TYPE ollama_compat_smoke_exit_code gauge
ollama_compat_smoke_exit_code{model="m1"} 2
# HELP ollama_compat_smoke_last_run_timestamp_seconds Unix time the last smoke of this model ended, whatever its result.
# TYPE ollama_compat_smoke_last_run_timestamp_seconds gauge
ollama_compat_smoke_last_run_timestamp_seconds{model="m1"} [TS]
# HELP ollama_compat_smoke_last_success_timestamp_seconds Unix time of the last smoke of this model that exited 0 (carried over by failed runs; 0 before any).
# TYPE ollama_compat_smoke_last_success_timestamp_seconds gauge
ollama_compat_smoke_last_success_timestamp_seconds{model="m1"} 0.0
"#
    );

    let usage = wd.join("usage.prom");
    let _ = canary(&refused_url(), &out)
        .args(["--output-mode", "9999", "--metrics-file"])
        .path_arg(&usage)
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: invalid value '9999' for '--output-mode <OCTAL>': "9999" is not an octal mode such as 0600

For more information, try '--help'.

"#]])
        .tmp(wd.path())
        .run();
    let _ = Cli::smoke()
        .args(["--repeat", "0", "--metrics-file"])
        .path_arg(&usage)
        .exits(2)
        .stderr(str![[r#"
ollama-compat-smoke: error: invalid value '0' for '--repeat <N>': 0 is not in 1..=1000

For more information, try '--help'.

"#]])
        .tmp(wd.path())
        .run();
    assert!(!usage.exists(), "a usage error writes no metrics file");
}

/// The marker `.out.env.on-change-owed` beside the output: `reload_owed` 1; removed: 0.
#[tokio::test]
async fn met_007_reload_owed_follows_the_marker() {
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let metrics = wd.join("canary.prom");
    let series = format!(
        "write_canary_env_reload_owed{{output=\"{}\"}}",
        out.display()
    );
    let marker = wd.join(".out.env.on-change-owed");
    std::fs::write(&marker, "").unwrap();
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    assert_eq!(value(&read(&metrics), &series), "1");
    std::fs::remove_file(&marker).unwrap();
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(value(&read(&metrics), &series), "0");
}

/// A metrics path whose directory is a regular file: the run's exit code stands (0 after a
/// success, 5 with the server down, 0 for the smoke) and one warning names the file and why.
#[tokio::test]
async fn met_009_unwritable_metrics_file_warns_and_keeps_the_exit_code() {
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let plain = wd.join("plain");
    std::fs::write(&plain, "a file, not a directory\n").unwrap();
    let metrics = plain.join("canary.prom");
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(written_one_key())
        .stderr(str![[r#"
write-canary-env: warning: cannot write metrics file [TMP]/plain/canary.prom: [TMP]/plain exists and is not a directory

"#]])
        .tmp(wd.path())
        .run();
    // The waits before the retries (INF-046) come first; then the error, then the warning.
    let _ = canary_with_metrics(&refused_url(), &out, &metrics)
        .exits(5)
        .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the connection failed, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: the connection failed, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)
write-canary-env: warning: cannot write metrics file [TMP]/plain/canary.prom: [TMP]/plain exists and is not a directory

"#]])
        .tmp(wd.path())
        .run();

    let chat = Chat::builder().passing().start().await;
    let smoke_metrics = plain.join("smoke.prom");
    let _ = chat
        .smoke()
        .args(["--model", "m1", "--metrics-file"])
        .path_arg(&smoke_metrics)
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=m1 auth=bearer
ollama-compat-smoke: warning: cannot write metrics file [TMP]/plain/smoke.prom: [TMP]/plain exists and is not a directory

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(read(&plain), "a file, not a directory\n");
}

/// The smoke's series after every check passed, whole; then a failed check (exit 1): its
/// `check_passed` 0 and the last success carried over.
#[tokio::test]
async fn met_010_smoke_series_whole() {
    let chat = Chat::builder().passing().start().await;
    let wd = Workdir::new();
    let metrics = wd.join("smoke.prom");
    let (from, to) = timed(
        chat.smoke()
            .args([
                "--model",
                "m1",
                "--check",
                "chat_completion",
                "--check",
                "tool_call",
            ])
            .arg("--metrics-file")
            .path_arg(&metrics)
            .exits(0)
            .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
            .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=m1 auth=bearer

"#]])
            .tmp(wd.path()),
    );
    let text = read(&metrics);
    assert_eq!(
        masked(&text, from, to),
        r#"# HELP ollama_compat_smoke_check_passed 1 when every run of the check passed in the last smoke of this model, else 0.
# TYPE ollama_compat_smoke_check_passed gauge
ollama_compat_smoke_check_passed{model="m1",check="chat_completion"} 1
ollama_compat_smoke_check_passed{model="m1",check="tool_call"} 1
# HELP ollama_compat_smoke_check_latency_seconds Latency of the check's slowest run in the last smoke of this model, in seconds.
# TYPE ollama_compat_smoke_check_latency_seconds gauge
ollama_compat_smoke_check_latency_seconds{model="m1",check="chat_completion"} [SECS]
ollama_compat_smoke_check_latency_seconds{model="m1",check="tool_call"} [SECS]
# HELP ollama_compat_smoke_exit_code Exit code of the last smoke of this model (see ollama-compat-smoke --help).
# TYPE ollama_compat_smoke_exit_code gauge
ollama_compat_smoke_exit_code{model="m1"} 0
# HELP ollama_compat_smoke_last_run_timestamp_seconds Unix time the last smoke of this model ended, whatever its result.
# TYPE ollama_compat_smoke_last_run_timestamp_seconds gauge
ollama_compat_smoke_last_run_timestamp_seconds{model="m1"} [TS]
# HELP ollama_compat_smoke_last_success_timestamp_seconds Unix time of the last smoke of this model that exited 0 (carried over by failed runs; 0 before any).
# TYPE ollama_compat_smoke_last_success_timestamp_seconds gauge
ollama_compat_smoke_last_success_timestamp_seconds{model="m1"} [TS]
"#
    );
    assert_eq!(mode_of(&metrics), 0o644);
    assert_no_secret(&text, &[crate::support::chat::KEY]);
}

/// A smoke that passed, then the endpoint down: exit 5, every check 0, the last success
/// carried over byte for byte.
#[tokio::test]
async fn met_011_smoke_last_success_survives_a_failed_run() {
    let chat = Chat::builder().passing().start().await;
    let wd = Workdir::new();
    let metrics = wd.join("smoke.prom");
    let smoke = |base: String| {
        Cli::smoke()
            .args(["--base-url", &base, "--model", "m1", "--timeout", "5"])
            .args(["--check", "chat_completion", "--metrics-file"])
            .path_arg(&metrics)
    };
    let _ = smoke(chat.base_url())
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=m1 auth=none

"#]])
        .tmp(wd.path())
        .run();
    let series = r#"ollama_compat_smoke_last_success_timestamp_seconds{model="m1"}"#;
    let success = value(&read(&metrics), series);
    let (from, to) = timed(
        smoke(format!("{}/v1", refused_url()))
            .exits(5)
            .stdout(str![[r#"
chat_completion=fail reason=unavailable latency_ms=[MS]

"#]])
            .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=m1 auth=none
chat_completion: the endpoint is unavailable; cannot connect: Connection refused (os error 111)

"#]])
            .tmp(wd.path()),
    );
    assert_eq!(
        masked_carrying(&read(&metrics), from, to, Some(&success)),
        format!(
            r#"# HELP ollama_compat_smoke_check_passed 1 when every run of the check passed in the last smoke of this model, else 0.
# TYPE ollama_compat_smoke_check_passed gauge
ollama_compat_smoke_check_passed{{model="m1",check="chat_completion"}} 0
# HELP ollama_compat_smoke_check_latency_seconds Latency of the check's slowest run in the last smoke of this model, in seconds.
# TYPE ollama_compat_smoke_check_latency_seconds gauge
ollama_compat_smoke_check_latency_seconds{{model="m1",check="chat_completion"}} [SECS]
# HELP ollama_compat_smoke_exit_code Exit code of the last smoke of this model (see ollama-compat-smoke --help).
# TYPE ollama_compat_smoke_exit_code gauge
ollama_compat_smoke_exit_code{{model="m1"}} 5
# HELP ollama_compat_smoke_last_run_timestamp_seconds Unix time the last smoke of this model ended, whatever its result.
# TYPE ollama_compat_smoke_last_run_timestamp_seconds gauge
ollama_compat_smoke_last_run_timestamp_seconds{{model="m1"}} [TS]
# HELP ollama_compat_smoke_last_success_timestamp_seconds Unix time of the last smoke of this model that exited 0 (carried over by failed runs; 0 before any).
# TYPE ollama_compat_smoke_last_success_timestamp_seconds gauge
{series} [CARRIED]
"#
        ),
        "the last success ({success}) is carried over"
    );
    assert_eq!(value(&read(&metrics), series), success);
}

/// An output path and a model holding `\`, `"` and a newline: written escaped, and a failed
/// run finds the last success again under the escaped label.
#[tokio::test]
async fn met_012_cli_016_label_values_escaped_and_carried() {
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.join("odd\\name\"\nfile.env");
    let metrics = wd.join("canary.prom");
    // The text report shows the newline escaped, the rest of the name as given (CLI-016).
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(format!(
            "written: [TMP]/odd\\name\"\\nfile.env (mode 0600, owner [UID]:[GID]) with 1 key \
             from project {PROJECT}, environment {ENV}, paths /\n  {PROVIDER_KEY}\n"
        ))
        .tmp(wd.path())
        .run();
    let escaped = format!("{}/odd\\\\name\\\"\\nfile.env", wd.path().display());
    let series = format!("write_canary_env_last_success_timestamp_seconds{{output=\"{escaped}\"}}");
    let text = read(&metrics);
    let success = value(&text, &series);
    assert_ne!(success, "0.0");
    let _ = canary_with_metrics(&refused_url(), &out, &metrics)
        .exits(5)
        .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the connection failed, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: the connection failed, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(value(&read(&metrics), &series), success);

    let chat = Chat::builder().passing().start().await;
    let smoke_metrics = wd.join("smoke.prom");
    let _ = chat
        .smoke()
        .args([
            "--model",
            "odd\\model\"\nname",
            "--check",
            "chat_completion",
        ])
        .arg("--metrics-file")
        .path_arg(&smoke_metrics)
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        // the newline shown escaped, the rest as given (CLI-016)
        .stderr(
            "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=odd\\model\"\\nname \
             auth=bearer\n",
        )
        .tmp(wd.path())
        .run();
    assert_eq!(
        value(
            &read(&smoke_metrics),
            r#"ollama_compat_smoke_check_passed{model="odd\\model\"\nname",check="chat_completion"}"#
        ),
        "1"
    );
}

/// After a dry run: its exit code, `changed` 0, the last success and the key count carried.
#[tokio::test]
async fn met_014_dry_run_carries_the_last_success() {
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let metrics = wd.join("canary.prom");
    let output = out.display().to_string();
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let series = format!("write_canary_env_last_success_timestamp_seconds{{output=\"{output}\"}}");
    let success = value(&read(&metrics), &series);
    std::fs::remove_file(&out).unwrap();
    let (from, to) = timed(
        canary_with_metrics(&inf.url(), &out, &metrics)
            .arg("--dry-run")
            .exits(0)
            .stdout(str![[r#"
would-change: [TMP]/out.env (mode 0600, owner [UID]:-) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY
keys added: OLLAMA_CLOUD_API_KEY

"#]])
            .tmp(wd.path()),
    );
    assert!(!out.exists(), "a dry run writes no env file");
    assert_eq!(
        masked_carrying(&read(&metrics), from, to, Some(&success)),
        Expect {
            output: &output,
            last_success: "[CARRIED]",
            exit: 0,
            keys: 1,
            changed: 0,
            owed: 0,
        }
        .text()
    );
}

/// `--metrics-file` naming the `--output` file (by another spelling): a warning, exit 0, and
/// the env file holds the secrets, not metrics; the same for the smoke's report file.
#[tokio::test]
async fn met_015_metrics_file_that_is_the_output_is_refused() {
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let same = wd.path().join(".").join("out.env");
    let _ = canary_with_metrics(&inf.url(), &out, &same)
        .exits(0)
        .stdout(written_one_key())
        .stderr(str![[r#"
write-canary-env: warning: cannot write metrics file [TMP]/./out.env: it is the --output file

"#]])
        .tmp(wd.path())
        .run();
    let text = read(&out);
    assert!(text.contains(&format!("{PROVIDER_KEY}=")), "{text:?}");
    assert!(!text.contains("write_canary_env"));

    let chat = Chat::builder().passing().start().await;
    let report = wd.join("smoke.json");
    let _ = chat
        .smoke()
        .args([
            "--model",
            "m1",
            "--check",
            "chat_completion",
            "--format",
            "json",
        ])
        .arg("--output")
        .path_arg(&report)
        .arg("--metrics-file")
        .path_arg(&report)
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=m1 auth=bearer
ollama-compat-smoke: warning: cannot write metrics file [TMP]/smoke.json: it is the --output file

"#]])
        .tmp(wd.path())
        .run();
    assert!(
        read(&report).starts_with('{'),
        "the report stays the report"
    );
}

/// The `promtool` binary, or a loud skip (a failure under `PB_NO_SKIP=1`: `.ci/run` installs
/// Debian's `prometheus` package).
fn promtool() -> Option<PathBuf> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        crate::support::skip("met_013", "promtool is missing (Debian package prometheus)");
        return None;
    }
    Some(PathBuf::from("promtool"))
}

/// `promtool check metrics` on every file both binaries wrote here — success, failure, a
/// configuration error, escaped labels, several checks — exits 0 and prints nothing.
#[tokio::test]
async fn met_013_promtool_finds_no_problem() {
    let Some(promtool) = promtool() else {
        return;
    };
    let inf = providers().await;
    let chat = Chat::builder().passing().start().await;
    let wd = Workdir::new();
    let mut files = Vec::new();
    let mut next = |name: &str| {
        let p = wd.join(name);
        files.push(p.clone());
        p
    };
    let out = wd.output();
    let ok = next("canary-ok.prom");
    let _ = canary_with_metrics(&inf.url(), &out, &ok)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let failed = next("canary-failed.prom");
    std::fs::copy(&ok, &failed).unwrap();
    let _ = canary_with_metrics(&refused_url(), &out, &failed)
        .exits(5)
        .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the connection failed, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: the connection failed, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)

"#]])
        .tmp(wd.path())
        .run();
    let odd = next("canary-odd.prom");
    // a path with a newline: shown escaped on its line (CLI-016)
    let _ = canary_with_metrics(&inf.url(), &wd.join("odd\\\"\n.env"), &odd)
        .exits(0)
        .stdout(format!(
            "written: [TMP]/odd\\\"\\n.env (mode 0600, owner [UID]:[GID]) with 1 key from \
             project {PROJECT}, environment {ENV}, paths /\n  {PROVIDER_KEY}\n"
        ))
        .tmp(wd.path())
        .run();
    let config = next("canary-config.prom");
    let _ = Cli::canary()
        .args(["--project-id", PROJECT, "--env", ENV, "--output"])
        .path_arg(&out)
        .arg("--metrics-file")
        .path_arg(&config)
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: missing credential: set $INFISICAL_TOKEN or pass --token-file

"#]])
        .tmp(wd.path())
        .run();
    let smoke_ok = next("smoke-ok.prom");
    // a model with a newline: shown escaped on the context line (CLI-016)
    let _ = chat
        .smoke()
        .args(["--model", "odd\\\"\nmodel", "--metrics-file"])
        .path_arg(&smoke_ok)
        .exits(0)
        .stdout(str![[r#"
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema structured=json_schema:enforced latency_ms=[MS]
tool_call=pass latency_ms=[MS]

"#]])
        .stderr(
            "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=odd\\\"\\nmodel \
             auth=bearer\n",
        )
        .tmp(wd.path())
        .run();
    let smoke_down = next("smoke-down.prom");
    let _ = Cli::smoke()
        .args([
            "--base-url",
            &format!("{}/v1", refused_url()),
            "--metrics-file",
        ])
        .path_arg(&smoke_down)
        .exits(5)
        .stdout(str![[r#"
chat_completion=fail reason=unavailable latency_ms=[MS]
json_response=fail reason=unavailable json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=unavailable latency_ms=[MS]

"#]])
        .stderr(str![[r#"
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=none
chat_completion: the endpoint is unavailable; cannot connect: Connection refused (os error 111)
json_response: the endpoint is unavailable; cannot connect: Connection refused (os error 111)
tool_call: the endpoint is unavailable; cannot connect: Connection refused (os error 111)

"#]])
        .tmp(wd.path())
        .run();
    for file in &files {
        let text = read(file);
        let checked = std::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(file).unwrap())
            .output()
            .unwrap();
        assert!(
            checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
            "promtool check metrics on {}: {}\n--- stdout\n{}--- stderr\n{}--- file\n{text}",
            file.display(),
            checked.status,
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

/// Whether strace can trace here; a loud skip otherwise (a failure under `PB_NO_SKIP=1`).
fn strace_usable(test: &str) -> bool {
    let ok = std::process::Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        crate::support::skip(test, "strace is missing or ptrace is not permitted here");
    }
    ok
}

/// A real fault: strace makes the rename over the metrics file fail with `EROFS` (the run's
/// only rename: the env file is found unchanged, which the report confirms). The run exits
/// 0, the warning names the file and the failed call, the previous metrics file is
/// byte-identical with its mode, and no temporary file is left beside it.
#[tokio::test]
async fn met_016_failed_metrics_write_keeps_the_previous_file() {
    if !strace_usable("met_016") {
        return;
    }
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let dir = wd.join("textfile");
    let metrics = dir.join("canary.prom");
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let before = read(&metrics);
    let bin = assert_cmd::cargo::cargo_bin("write-canary-env");
    let output = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null"])
        .args(["-e", "trace=rename,renameat,renameat2"])
        .args(["-e", "inject=rename,renameat,renameat2:error=EROFS:when=1"])
        .arg(&bin)
        .args([
            "--project-id",
            PROJECT,
            "--env",
            ENV,
            "--api-url",
            &inf.url(),
        ])
        .args(["--timeout", "5", "--output"])
        .arg(&out)
        .arg("--metrics-file")
        .arg(&metrics)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("INFISICAL_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let run = Run::from_output(
        format!(
            "strace -e inject=rename:error=EROFS:when=1 write-canary-env … --metrics-file {}",
            metrics.display()
        ),
        &output,
        vec![TOKEN.to_owned(), PROVIDER_VALUE.to_owned()],
    );
    // started under strace, not through the runner: stated whole after the run
    run.success()
        .no_leak()
        .stdout_is(&format!(
            "unchanged: {} (mode 0600, owner {}:{}) with 1 key from project {PROJECT}, \
             environment {ENV}, paths /\n  {PROVIDER_KEY}\n",
            out.display(),
            nix::unistd::geteuid(),
            std::fs::metadata(&out).unwrap().gid()
        ))
        .stderr_is(&format!(
        "write-canary-env: warning: cannot write metrics file {0}: cannot rename over {0}: Read-only file system (EROFS)\n",
        metrics.display()
    ));
    assert_eq!(read(&metrics), before, "the previous metrics file is whole");
    assert_eq!(mode_of(&metrics), 0o644);
    Workdir::assert_no_temp(&dir);
}

/// A run ended by SIGTERM (exit 143; the handler ends the process at once, doing only what
/// is async-signal-safe) writes no metrics: the previous metrics file is byte-identical and no
/// temporary file is left; the stale `last_run` is what an alert sees.
#[tokio::test]
async fn met_017_run_ended_by_a_signal_leaves_the_previous_file() {
    use crate::support::signal::Silent;
    let inf = providers().await;
    let wd = Workdir::new();
    let out = wd.output();
    let dir = wd.join("textfile");
    let metrics = dir.join("canary.prom");
    let _ = canary_with_metrics(&inf.url(), &out, &metrics)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let before = read(&metrics);
    let silent = Silent::new();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("write-canary-env"));
    cmd.args([
        "--project-id",
        PROJECT,
        "--env",
        ENV,
        "--api-url",
        &silent.url,
    ])
    .args(["--timeout", "60", "--output"])
    .arg(&out)
    .arg("--metrics-file")
    .arg(&metrics)
    .env_clear()
    .env("INFISICAL_TOKEN", TOKEN);
    let output = silent.signal(cmd, nix::sys::signal::Signal::SIGTERM);
    let run = Run::from_output(
        "write-canary-env (SIGTERM while waiting)".to_owned(),
        &output,
        vec![TOKEN.to_owned(), PROVIDER_VALUE.to_owned()],
    );
    // started with a signal on its way, not through the runner: stated whole after the run
    run.code(143).stdout_is("").stderr_is("").no_leak();
    assert_eq!(
        read(&metrics),
        before,
        "the previous metrics file is untouched"
    );
    Workdir::assert_no_temp(&dir);
}
