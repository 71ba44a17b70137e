//! PEER-080..082: the metrics files of `--metrics-file` read by Prometheus's own software —
//! Debian's node_exporter (`prometheus-node-exporter`, only its textfile collector, on a free
//! loopback port, one per test, stopped by its PID) and `promtool check metrics` on what it
//! serves. `write-canary-env` runs against the Infisical stand-in, the smoke against the
//! tools-capable llama-server.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::peer::{PROJECT, peers, route_str, tempdir};
use crate::support::{Cli, refused_url};

/// A sample's identity: its name and its labels (sorted: node_exporter sorts them).
type Series = (String, BTreeMap<String, String>);

/// Every sample of a text exposition, by series. Timestamps are not expected (neither we nor
/// node_exporter write any).
#[track_caller]
fn samples(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("not a value: {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels(rest.strip_suffix('}').expect("labels end"))),
            None => (series, BTreeMap::new()),
        };
        out.insert((name.to_owned(), labels), value);
    }
    out
}

/// `k="v",k2="v2"` with the exposition format's escapes (`\\`, `\"`, `\n`) undone.
#[track_caller]
fn labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(
            chars.next(),
            Some('"'),
            "label {key} has no quoted value: {text}"
        );
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("dangling escape: {text}"),
                },
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// node_exporter with only the textfile collector, reading `dir`, on a free loopback port;
/// stopped (by its PID) when dropped.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    fn start(dir: &Path) -> NodeExporter {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&peers().node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--collector.disable-defaults", "--collector.textfile"])
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter starts");
        let mut exporter = NodeExporter { child, port };
        // Ready when it accepts a connection (bounded: 10 s).
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return exporter;
            }
            if let Ok(Some(status)) = exporter.child.try_wait() {
                panic!("node_exporter exited ({status})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node_exporter never listened on {port}");
    }

    /// `GET /metrics`: the body of a 200.
    fn scrape(&self) -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        body.to_owned()
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `write-canary-env` reading the providers folder from the stand-in (or from `api_url`).
fn canary(api_url: &str, output: &Path, metrics: &Path) -> Cli {
    Cli::canary()
        .args(["--project-id", PROJECT, "--env", "prod"])
        .args(["--path", "/home-platform/providers", "--api-url", api_url])
        .arg("--output")
        .path_arg(output)
        .arg("--metrics-file")
        .path_arg(metrics)
        .args(["--timeout", "5"])
        .secret_env("INFISICAL_TOKEN", route_str("tokenAuthToken"))
}

/// The smoke's `chat_completion` against the tools-capable llama-server.
fn smoke(metrics: &Path) -> Cli {
    let p = peers();
    Cli::smoke()
        .args(["--base-url", &p.llm_tools_url, "--model", "smollm2"])
        .args(["--check", "chat_completion", "--timeout", "120"])
        .arg("--metrics-file")
        .path_arg(metrics)
        .secret_env("OLLAMA_CLOUD_API_KEY", &p.llm_key)
}

/// Every sample of `file` is served by node_exporter with the same value.
#[track_caller]
fn served(scrape: &BTreeMap<Series, f64>, file: &Path) {
    let written = samples(&std::fs::read_to_string(file).unwrap());
    assert!(!written.is_empty(), "{} holds no sample", file.display());
    for (series, value) in &written {
        assert_eq!(
            scrape.get(series),
            Some(value),
            "node_exporter serves {series:?} from {}",
            file.display()
        );
    }
}

/// The names of `scrape` with `prefix`.
fn names(scrape: &BTreeMap<Series, f64>, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = scrape
        .keys()
        .map(|(n, _)| n.clone())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.dedup();
    names
}

/// The files of a successful `write-canary-env` run and a passing smoke, in one textfile
/// directory: node_exporter serves every sample of both with its value, no other series of
/// ours, and no textfile scrape error.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_080_node_exporter_serves_every_series_of_both_binaries() {
    let dir = tempdir();
    let textfile = dir.path().join("textfile");
    let canary_prom = textfile.join("write-canary-env.prom");
    let smoke_prom = textfile.join("ollama-compat-smoke.prom");
    canary(
        &peers().infisical_url,
        &dir.path().join("app.env"),
        &canary_prom,
    )
    .run()
    .success()
    .no_leak();
    smoke(&smoke_prom).run().success().no_leak();
    let exporter = NodeExporter::start(&textfile);
    let scrape = samples(&exporter.scrape());
    served(&scrape, &canary_prom);
    served(&scrape, &smoke_prom);
    assert_eq!(
        names(&scrape, "write_canary_env_"),
        [
            "write_canary_env_changed",
            "write_canary_env_duration_seconds",
            "write_canary_env_exit_code",
            "write_canary_env_keys",
            "write_canary_env_last_run_timestamp_seconds",
            "write_canary_env_last_success_timestamp_seconds",
            "write_canary_env_reload_owed",
        ]
    );
    assert_eq!(
        names(&scrape, "ollama_compat_smoke_"),
        [
            "ollama_compat_smoke_check_latency_seconds",
            "ollama_compat_smoke_check_passed",
            "ollama_compat_smoke_exit_code",
            "ollama_compat_smoke_last_run_timestamp_seconds",
            "ollama_compat_smoke_last_success_timestamp_seconds",
        ]
    );
    assert_eq!(
        scrape.get(&("node_textfile_scrape_error".to_owned(), BTreeMap::new())),
        Some(&0.0)
    );
}

/// A success, then the server down (exit 5): node_exporter serves exit code 5, a last run
/// after the last success, and the last success of the first run — the staleness an alert on
/// `time() - write_canary_env_last_success_timestamp_seconds` measures.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_081_node_exporter_serves_a_stale_file_as_stale() {
    let dir = tempdir();
    let textfile = dir.path().join("textfile");
    let prom = textfile.join("write-canary-env.prom");
    let output = dir.path().join("app.env");
    canary(&peers().infisical_url, &output, &prom)
        .run()
        .success()
        .no_leak();
    let label = BTreeMap::from([("output".to_owned(), output.display().to_string())]);
    let series = |name: &str| (name.to_owned(), label.clone());
    let first = samples(&std::fs::read_to_string(&prom).unwrap());
    let success = first[&series("write_canary_env_last_success_timestamp_seconds")];
    canary(&refused_url(), &output, &prom)
        .run()
        .code(5)
        .no_leak();
    let exporter = NodeExporter::start(&textfile);
    let scrape = samples(&exporter.scrape());
    assert_eq!(scrape[&series("write_canary_env_exit_code")], 5.0);
    assert_eq!(
        scrape[&series("write_canary_env_last_success_timestamp_seconds")],
        success
    );
    assert!(scrape[&series("write_canary_env_last_run_timestamp_seconds")] >= success);
    assert_eq!(scrape[&series("write_canary_env_keys")], 1.0);
    assert_eq!(scrape[&series("write_canary_env_changed")], 0.0);
}

/// `promtool check metrics` on node_exporter's whole answer, our files in it: exit 0, nothing
/// printed.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_082_promtool_passes_what_node_exporter_serves() {
    let dir = tempdir();
    let textfile = dir.path().join("textfile");
    canary(
        &peers().infisical_url,
        &dir.path().join("app.env"),
        &textfile.join("write-canary-env.prom"),
    )
    .run()
    .success();
    smoke(&textfile.join("ollama-compat-smoke.prom"))
        .run()
        .success();
    let exporter = NodeExporter::start(&textfile);
    let scrape = exporter.scrape();
    assert!(scrape.contains("\nwrite_canary_env_exit_code{"), "{scrape}");
    let mut child = Command::new(&peers().promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n--- scrape\n{scrape}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The exposition parser of this file: labels sorted, escapes undone, node_exporter's
/// exponent form read as the same number. (Needs no peer; ignored like every tier test.)
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn samples_parse_both_spellings() {
    let ours = samples("# HELP x y\nx{output=\"/a\\\\b\\\"c\\nd\",k=\"v\"} 1796316021.066\n");
    let theirs = samples("x{k=\"v\",output=\"/a\\\\b\\\"c\\nd\"} 1.796316021066e+09\n");
    assert_eq!(ours, theirs);
    let labels = &ours.keys().next().unwrap().1;
    assert_eq!(labels["output"], "/a\\b\"c\nd");
}
