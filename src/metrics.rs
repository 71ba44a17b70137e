//! `--metrics-file`: the Prometheus text exposition (format 0.0.4, the format node_exporter's
//! textfile collector reads) of one run of either binary (`contracts/metrics.md`).
//!
//! Pure rendering ([`Exposition`], [`canary_exposition`], [`smoke_exposition`]), reading back
//! the values a failed run carries over from the previous file ([`previous_value`]), and the
//! write, through the one atomic writer ([`crate::envfile`]) with mode 0644: the file holds
//! no secret and no key name, only counts, codes, times and the labels `output`, `model` and
//! `check`. The text itself is encoded by `prometheus-client`'s Prometheus-text encoder (HELP
//! and label-value escaping, number formatting); this module only decides the series, their
//! order and their values.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::envfile::{self, FileError, Target};
use crate::exit::Exit;

/// The metrics file's exact mode: readable by node_exporter, whoever runs it.
pub const MODE: u32 = 0o644;
/// The exact mode of a directory the write creates for the metrics file.
pub const PARENT_MODE: u32 = 0o755;
/// At most this much of the previous metrics file is read back.
const READ_CAP: u64 = 1 << 20;

/// One sample's value: an integer (codes, counts, 0/1) or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

/// One sample: its labels (in this order) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

/// One gauge family: its name, its `# HELP` text, its samples in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<Sample>,
}

/// A whole metrics file: gauge families in a fixed order (a family without samples is left
/// out, its `# HELP` and `# TYPE` lines too).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub gauges: Vec<Gauge>,
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for gauge in self.gauges.iter().filter(|g| !g.samples.is_empty()) {
            let mut family =
                encoder.encode_descriptor(gauge.name, gauge.help, None, MetricType::Gauge)?;
            for sample in &gauge.samples {
                let mut metric = family.encode_family(&sample.labels)?;
                match sample.value {
                    Value::Int(v) => metric.encode_gauge(&v)?,
                    Value::Float(v) => metric.encode_gauge(&v)?,
                }
            }
        }
        Ok(())
    }
}

impl Exposition {
    /// The Prometheus text exposition (format 0.0.4): `# HELP`, `# TYPE`, then the samples,
    /// family by family.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// `name{labels}` exactly as [`Exposition::render`] writes it: how a sample is found again in
/// a previous file.
fn series(name: &'static str, labels: &[(&'static str, String)]) -> Option<String> {
    let one = Exposition {
        gauges: vec![Gauge {
            name,
            help: "",
            samples: vec![Sample {
                labels: labels.to_vec(),
                value: Value::Int(0),
            }],
        }],
    };
    let text = one.render().ok()?;
    let line = text.lines().find(|l| !l.starts_with('#'))?;
    line.strip_suffix(" 0").map(str::to_owned)
}

/// The value of the sample `name{labels}` in the metrics file at `path` as an earlier run
/// wrote it: `None` when the file is missing or unreadable, or holds no such sample, or its
/// value is not a finite number at least 0.
pub fn previous_value(
    path: &Path,
    name: &'static str,
    labels: &[(&'static str, String)],
) -> Option<f64> {
    value_in(&read_previous(path)?, name, labels)
}

/// The previous metrics file at `path` (its first MiB), when there is a readable one.
fn read_previous(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(READ_CAP)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The value of the sample `name{labels}` in the exposition `text` (see [`previous_value`]).
fn value_in(text: &str, name: &'static str, labels: &[(&'static str, String)]) -> Option<f64> {
    let key = series(name, labels)?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key.as_str())?.strip_prefix(' ')?;
        let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
        (value.is_finite() && value >= 0.0).then_some(value)
    })
}

/// Unix time in seconds, to the millisecond.
pub fn unix_seconds(t: SystemTime) -> f64 {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    ms as f64 / 1000.0
}

/// Writes `exposition` to `path` atomically with mode 0644 (missing parents 0755), through
/// [`envfile::apply`].
pub fn write(path: &Path, exposition: &Exposition) -> Result<(), WriteError> {
    let text = exposition.render().map_err(|_| WriteError::Render)?;
    let target = Target {
        path: path.to_owned(),
        mode: MODE,
        parent_mode: PARENT_MODE,
        uid: None,
        gid: None,
    };
    envfile::apply(&target, text.as_bytes(), false).map_err(WriteError::File)?;
    Ok(())
}

/// Why the metrics file was not written (the run's own exit code stands; a warning says
/// this).
#[derive(Debug)]
pub enum WriteError {
    /// The exposition could not be rendered.
    Render,
    /// The file could not be written safely.
    File(FileError),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Render => f.write_str("the exposition could not be rendered"),
            WriteError::File(e) => write!(f, "{e}"),
        }
    }
}

/// Writes `exposition` to `path`; on failure prints
/// `<binary>: warning: cannot write metrics file <path>: <reason>` on stderr.
fn write_or_warn(binary: &str, path: &Path, exposition: &Exposition) {
    if let Err(e) = write(path, exposition) {
        crate::output::errln(&format!(
            "{binary}: warning: cannot write metrics file {}: {e}",
            path.display()
        ));
    }
}

/// Whether `a` and `b` name one file: the same path (made absolute), or the same existing
/// inode.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let absolute = |p: &Path| std::path::absolute(p).ok();
    a == b
        || absolute(a).is_some_and(|x| Some(x) == absolute(b))
        || match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
}

/// Whether a reload is owed for `output`: the on-change marker exists beside it
/// ([`crate::onchange::owed`]).
pub fn reload_owed(output: &Path) -> bool {
    crate::onchange::owed(output)
}

// ------------------------------------------------------------------------ write-canary-env

// The gauges' names stand where each is defined (`canary_exposition`); these two are also read
// back from the previous file, to be carried over by a failed run.

/// `write_canary_env_last_success_timestamp_seconds`.
pub const CANARY_LAST_SUCCESS: &str = "write_canary_env_last_success_timestamp_seconds";
/// `write_canary_env_keys`.
pub const CANARY_KEYS: &str = "write_canary_env_keys";

/// What one `write-canary-env` run contributes to its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryOutcome {
    /// The run's exit code.
    pub exit: Exit,
    /// The keys of the file this run wrote or found unchanged (`None`: a failed run, or a dry
    /// run, which leaves the file as it was).
    pub keys: Option<usize>,
    /// This run put new bytes in place (created or changed the file).
    pub changed: bool,
    /// This run exited 0 and was not a dry run: the file is as fresh as the server.
    pub success: bool,
    /// A reload is owed for the output (its marker exists).
    pub reload_owed: bool,
    /// When the run ended.
    pub ended: SystemTime,
    /// How long it took, from the end of argument parsing.
    pub duration: Duration,
}

/// What a failed run carries over from the previous metrics file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Carried {
    /// The last success's timestamp (0: none recorded).
    pub last_success: f64,
    /// The number of keys at the last success (0: none recorded).
    pub keys: i64,
}

fn int(b: bool) -> Value {
    Value::Int(i64::from(b))
}

/// The seven `write-canary-env` gauges for `output`, in the documented order.
pub fn canary_exposition(output: &str, run: &CanaryOutcome, carried: Carried) -> Exposition {
    let labels = vec![("output", output.to_owned())];
    let one = |name, help, value| Gauge {
        name,
        help,
        samples: vec![Sample {
            labels: labels.clone(),
            value,
        }],
    };
    let last_success = if run.success {
        unix_seconds(run.ended)
    } else {
        carried.last_success
    };
    let keys = match run.keys {
        Some(n) => Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
        None => Value::Int(carried.keys),
    };
    Exposition {
        gauges: vec![
            one(
                "write_canary_env_last_run_timestamp_seconds",
                "Unix time the last run for this output ended, whatever its result.",
                Value::Float(unix_seconds(run.ended)),
            ),
            one(
                CANARY_LAST_SUCCESS,
                "Unix time of the last run for this output that exited 0 and was not a dry run (carried over by failed runs; 0 before any).",
                Value::Float(last_success),
            ),
            one(
                "write_canary_env_exit_code",
                "Exit code of the last run for this output (see write-canary-env --help).",
                Value::Int(i64::from(run.exit.code())),
            ),
            one(
                CANARY_KEYS,
                "Number of keys in the file at the last success (carried over by failed runs and dry runs; 0 before any).",
                keys,
            ),
            one(
                "write_canary_env_changed",
                "1 when the last run created the file or changed its bytes, else 0.",
                int(run.changed),
            ),
            one(
                "write_canary_env_reload_owed",
                "1 when an --on-change command is owed for this output (its marker exists), else 0.",
                int(run.reload_owed),
            ),
            one(
                "write_canary_env_duration_seconds",
                "Wall time of the last run for this output, in seconds.",
                Value::Float(run.duration.as_secs_f64()),
            ),
        ],
    }
}

/// What a binary's settings write to `--metrics-file` after a run ([`crate::main`]): on every
/// run past argument parsing, success or failure.
pub trait Recorder {
    /// What a run that got far enough reports.
    type Report;

    /// Writes the metrics of a run with these settings that took `duration` and ended with
    /// `exit` (and `report`, when it got that far) when `--metrics-file` was given; a file that
    /// cannot be written, or that is the `--output` file, is a warning on stderr, never a
    /// change of the exit code.
    fn record(&self, binary: &str, duration: Duration, exit: Exit, report: Option<&Self::Report>);
}

/// The `--metrics-file` to write, if one was given and it is not the `--output` file (never
/// overwritten by the metrics: a warning then).
fn metrics_path<'s>(
    binary: &str,
    metrics_file: Option<&'s Path>,
    output: Option<&Path>,
) -> Option<&'s Path> {
    let path = metrics_file?;
    if output.is_some_and(|output| same_file(path, output)) {
        crate::output::errln(&format!(
            "{binary}: warning: cannot write metrics file {}: it is the --output file",
            path.display()
        ));
        return None;
    }
    Some(path)
}

impl Recorder for crate::canary::Settings {
    type Report = crate::canary::Report;

    fn record(&self, binary: &str, duration: Duration, exit: Exit, report: Option<&Self::Report>) {
        let Some(path) = metrics_path(binary, self.metrics_file.as_deref(), Some(&self.output))
        else {
            return;
        };
        let output = self.output.display().to_string();
        let labels = [("output", output.clone())];
        let previous = read_previous(path).unwrap_or_default();
        let carried = Carried {
            last_success: value_in(&previous, CANARY_LAST_SUCCESS, &labels).unwrap_or(0.0),
            keys: value_in(&previous, CANARY_KEYS, &labels).map_or(0, |k| k as i64),
        };
        let refreshed = report.filter(|r| !r.dry_run);
        let run = CanaryOutcome {
            exit,
            keys: refreshed.map(|r| r.keys.len()),
            changed: report.is_some_and(|r| r.status == envfile::Status::Written),
            success: exit == Exit::Success && refreshed.is_some(),
            reload_owed: reload_owed(&self.output),
            ended: SystemTime::now(),
            duration,
        };
        write_or_warn(binary, path, &canary_exposition(&output, &run, carried));
    }
}

// ------------------------------------------------------------------------ ollama-compat-smoke

// The gauges' names stand where each is defined (`smoke_exposition`); this one is also read
// back from the previous file, to be carried over by a failed run.

/// `ollama_compat_smoke_last_success_timestamp_seconds`.
pub const SMOKE_LAST_SUCCESS: &str = "ollama_compat_smoke_last_success_timestamp_seconds";

/// One check's result, as the metrics show it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// The check's name (`chat_completion`, …).
    pub check: &'static str,
    /// Every run of it passed.
    pub passed: bool,
    /// Its slowest run.
    pub latency: Duration,
}

/// What one `ollama-compat-smoke` run contributes to its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeOutcome {
    /// The run's exit code.
    pub exit: Exit,
    /// Every check that ran, in report order (none when the run ended before the checks).
    pub checks: Vec<CheckOutcome>,
    /// When the run ended.
    pub ended: SystemTime,
}

/// The `ollama-compat-smoke` gauges for `model`, in the documented order; `last_success` is
/// carried over from the previous file unless this run exited 0.
pub fn smoke_exposition(model: &str, run: &SmokeOutcome, carried_last_success: f64) -> Exposition {
    let model_only = vec![("model", model.to_owned())];
    let per_check = |value: fn(&CheckOutcome) -> Value| {
        run.checks
            .iter()
            .map(|c| Sample {
                labels: vec![("model", model.to_owned()), ("check", c.check.to_owned())],
                value: value(c),
            })
            .collect()
    };
    let one = |name, help, value| Gauge {
        name,
        help,
        samples: vec![Sample {
            labels: model_only.clone(),
            value,
        }],
    };
    let last_success = if run.exit == Exit::Success {
        unix_seconds(run.ended)
    } else {
        carried_last_success
    };
    Exposition {
        gauges: vec![
            Gauge {
                name: "ollama_compat_smoke_check_passed",
                help: "1 when every run of the check passed in the last smoke of this model, else 0.",
                samples: per_check(|c| int(c.passed)),
            },
            Gauge {
                name: "ollama_compat_smoke_check_latency_seconds",
                help: "Latency of the check's slowest run in the last smoke of this model, in seconds.",
                samples: per_check(|c| Value::Float(c.latency.as_secs_f64())),
            },
            one(
                "ollama_compat_smoke_exit_code",
                "Exit code of the last smoke of this model (see ollama-compat-smoke --help).",
                Value::Int(i64::from(run.exit.code())),
            ),
            one(
                "ollama_compat_smoke_last_run_timestamp_seconds",
                "Unix time the last smoke of this model ended, whatever its result.",
                Value::Float(unix_seconds(run.ended)),
            ),
            one(
                SMOKE_LAST_SUCCESS,
                "Unix time of the last smoke of this model that exited 0 (carried over by failed runs; 0 before any).",
                Value::Float(last_success),
            ),
        ],
    }
}

impl Recorder for crate::smoke::Settings {
    type Report = crate::smoke::Report;

    fn record(&self, binary: &str, _: Duration, exit: Exit, report: Option<&Self::Report>) {
        let Some(path) = metrics_path(binary, self.metrics_file.as_deref(), self.output.as_deref())
        else {
            return;
        };
        let labels = [("model", self.model.clone())];
        let carried = previous_value(path, SMOKE_LAST_SUCCESS, &labels).unwrap_or(0.0);
        let checks = report.map_or_else(Vec::new, |r| {
            r.checks
                .iter()
                .map(|c| CheckOutcome {
                    check: c.check.as_str(),
                    passed: c.passed(),
                    latency: c.runs.iter().map(|r| r.latency).max().unwrap_or_default(),
                })
                .collect()
        });
        let run = SmokeOutcome {
            exit,
            checks,
            ended: SystemTime::now(),
        };
        write_or_warn(binary, path, &smoke_exposition(&self.model, &run, carried));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn at(secs: u64, ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms)
    }

    /// MET-002: the seven gauges of a written run, whole.
    #[test]
    fn met_002_canary_exposition_whole() {
        let run = CanaryOutcome {
            exit: Exit::Success,
            keys: Some(3),
            changed: true,
            success: true,
            reload_owed: false,
            ended: at(1_764_780_000, 123),
            duration: Duration::from_millis(250),
        };
        let text = canary_exposition("/run/app/a.env", &run, Carried::default())
            .render()
            .unwrap();
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "write_canary_env_last_run_timestamp_seconds{output=\"/run/app/a.env\"} 1764780000.123",
                "write_canary_env_last_success_timestamp_seconds{output=\"/run/app/a.env\"} 1764780000.123",
                "write_canary_env_exit_code{output=\"/run/app/a.env\"} 0",
                "write_canary_env_keys{output=\"/run/app/a.env\"} 3",
                "write_canary_env_changed{output=\"/run/app/a.env\"} 1",
                "write_canary_env_reload_owed{output=\"/run/app/a.env\"} 0",
                "write_canary_env_duration_seconds{output=\"/run/app/a.env\"} 0.25",
            ]
        );
    }

    /// MET-012: label values are escaped (backslash, double quote, newline) and found again.
    #[test]
    fn met_012_label_values_escaped_and_found_again() {
        let labels = [("output", "/tmp/a\\b\"c\nd.env".to_owned())];
        let key = series(CANARY_KEYS, &labels).unwrap();
        assert_eq!(
            key,
            r#"write_canary_env_keys{output="/tmp/a\\b\"c\nd.env"}"#
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        std::fs::write(&path, format!("# HELP x y\n{key} 7\n")).unwrap();
        assert_eq!(previous_value(&path, CANARY_KEYS, &labels), Some(7.0));
        assert_eq!(previous_value(&path, CANARY_LAST_SUCCESS, &labels), None);
        let other = [("output", "/tmp/other.env".to_owned())];
        assert_eq!(previous_value(&path, CANARY_KEYS, &other), None);
    }

    /// MET-007: the marker's name beside the output, the one the on-change run leaves.
    #[test]
    fn met_007_owed_marker_name() {
        assert_eq!(
            crate::onchange::marker_path(Path::new("/run/app/a.env")),
            PathBuf::from("/run/app/.a.env.on-change-owed")
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.env");
        assert!(!reload_owed(&out));
        std::fs::write(crate::onchange::marker_path(&out), "change=changed\n").unwrap();
        assert!(reload_owed(&out));
    }
}
