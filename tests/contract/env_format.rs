//! Proves `contracts/env-format.md`: the portable dotenv rule, checked on the binary's files and
//! read back with the `dotenvy` crate and with bash.

use std::path::Path;

use proptest::prelude::*;
use provider_bridge::dotenv::{self, Header, RenderError};
use wiremock::ResponseTemplate;

use crate::support::cli::Run;
use crate::support::fixture_json;
use crate::support::infisical::*;
use crate::support::{Cli, Workdir, canary, skip};

/// Every `(key, value)` of a dotenv file, as dotenvy reads it.
fn dotenvy_pairs(text: &str) -> Vec<(String, String)> {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.unwrap_or_else(|e| panic!("dotenvy cannot read the file: {e}\n{text}")))
        .collect()
}

/// Serves `secrets` at `/` and runs the binary into `out`, every value registered as secret;
/// `run` states what the run must show and runs it (`|c| c.exits(0).stdout(..).run()`).
async fn run_with(secrets: &[(&str, &str)], out: &Path, run: impl FnOnce(Cli) -> Run) -> Run {
    let inf = Infisical::start().await;
    inf.respond(
        ResponseTemplate::new(200).set_body_json(list_answer("/", secrets)),
        1,
    )
    .await;
    let mut cli = canary(&inf.url(), out);
    for (_, v) in secrets {
        cli = cli.secret(*v);
    }
    run(cli)
}

/// A successful write of `keys` (in the file's order) into `out`: exit 0, the write report
/// on stdout (`[TMP]` the folder of `out`), nothing on stderr.
pub(crate) fn writes(out: &Path, keys: &[&str]) -> impl FnOnce(Cli) -> Run {
    writes_mode(out, "0600", keys)
}

/// The same with the file's `mode` as the report prints it (`0640`).
pub(crate) fn writes_mode(out: &Path, mode: &str, keys: &[&str]) -> impl FnOnce(Cli) -> Run {
    let mode = mode.to_owned();
    let folder = out.parent().expect("a folder").to_owned();
    let file = out
        .file_name()
        .expect("a file")
        .to_string_lossy()
        .into_owned();
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    move |cli| {
        cli.exits(0)
            .stdout(written(&file, &mode, &keys))
            .tmp(folder)
            .run()
    }
}

/// What `write-canary-env` prints after writing `file` in `[TMP]` with `mode` and `keys`.
fn written(file: &str, mode: &str, keys: &[String]) -> String {
    let n = keys.len();
    let mut out = format!(
        "written: [TMP]/{file} (mode {mode}, owner [UID]:[GID]) with {n} key{} from project \
         {PROJECT}, environment {ENV}, paths /\n",
        if n == 1 { "" } else { "s" }
    );
    for key in keys {
        out.push_str(&format!("  {key}\n"));
    }
    out
}

fn lines_of(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A kept key that is not an env name is exit 7 naming it; nothing written; `--key` with a
/// bad name is exit 2.
#[tokio::test]
async fn fmt_001_bad_key_is_invalid_data() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/secrets-bad-key.json")),
        2,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .secret("synthetic-bad-key-value-Jj5")
        .secret("synthetic-good-key-value-Kk6")
        .exits(7)
        .stderr(
            "write-canary-env: error: key \"bad-key.name\" is not a valid env name \
             ([A-Za-z_][A-Za-z0-9_]*)\n",
        )
        .run();
    assert!(!wd.output().exists());
    // Not kept: not a problem.
    let _ = writes(&wd.output(), &["GOOD_KEY"])(
        canary(&inf.url(), &wd.output())
            .args(["--key", "GOOD_KEY"])
            .secret("synthetic-bad-key-value-Jj5")
            .secret("synthetic-good-key-value-Kk6"),
    );
    let _ = canary(&inf.url(), &wd.output())
        .args(["--key", "not-a-name"])
        .exits(2)
        .stderr(
            "write-canary-env: error: --key \"not-a-name\" is not a valid env name \
             ([A-Za-z_][A-Za-z0-9_]*)\n",
        )
        .run();
    for key in ["A", "_", "a_1", "OLLAMA_CLOUD_API_KEY"] {
        assert!(dotenv::valid_key(key), "{key}");
    }
    for key in ["", "1A", "A-B", "A B", "A.B", "É", "A=", "A\n"] {
        assert!(!dotenv::valid_key(key), "{key:?}");
    }
}

/// Values without `'`, `\`, `${` or CR are single-quoted verbatim, newlines literal.
#[tokio::test]
async fn fmt_002_single_quotes_when_they_suffice() {
    let wd = Workdir::new();
    let value = "synthetic a b#c=d $HOME \"q\" `x`\nsecond line é 🙂";
    run_with(&[("K", value)], &wd.output(), writes(&wd.output(), &["K"])).await;
    let text = std::fs::read_to_string(wd.output()).unwrap();
    assert!(text.ends_with(&format!("K='{value}'\n")), "{text}");
}

/// Otherwise double quotes, escaping only `\` and `"`.
#[tokio::test]
async fn fmt_003_double_quotes_escape_only_backslash_and_quote() {
    let wd = Workdir::new();
    let value = "synthetic it's \"x\" \\ y\\n #=\ttab";
    run_with(&[("K", value)], &wd.output(), writes(&wd.output(), &["K"])).await;
    assert_eq!(
        lines_of(&wd.output()),
        ["K=\"synthetic it's \\\"x\\\" \\\\ y\\\\n #=\ttab\""]
    );
}

/// Values no quoting carries are exit 7 naming the key (never the value); nothing written;
/// an old file stays as it was.
#[tokio::test]
async fn fmt_004_unrepresentable_value_refused_by_key() {
    let wd = Workdir::new();
    std::fs::write(wd.output(), "OLD=1\n").unwrap();
    let not_portable = |why: &str| {
        format!(
            "write-canary-env: error: the value of TRICKY_KEY cannot be written portably in a \
             dotenv file: it contains {why}\n"
        )
    };
    let quote_and_dollar = not_portable("a quote or backslash together with `$` or a backtick");
    for (why, value, said) in [
        (
            "carriage return",
            "synthetic-line\r\nnext",
            not_portable("a carriage return"),
        ),
        (
            "interpolation",
            "synthetic-${HOME}-value",
            "write-canary-env: error: unresolved secret reference in TRICKY_KEY: the value still \
             holds a ${...} reference after the server's expansion (the secret it names does not \
             exist, or is empty): fix or remove the reference in Infisical\n"
                .to_owned(),
        ),
        (
            "quote and dollar",
            "synthetic-it's-$5",
            quote_and_dollar.clone(),
        ),
        (
            "backslash and backtick",
            "synthetic-\\-`id`",
            quote_and_dollar.clone(),
        ),
        ("nul", "synthetic-nul-\0-value", not_portable("a NUL byte")),
    ] {
        // the message names TRICKY_KEY, never FINE_KEY
        run_with(
            &[("FINE_KEY", "synthetic-fine-0001"), ("TRICKY_KEY", value)],
            &wd.output(),
            |cli| cli.exits(7).stderr(said).run(),
        )
        .await;
        assert_eq!(
            std::fs::read_to_string(wd.output()).unwrap(),
            "OLD=1\n",
            "{why}"
        );
        Workdir::assert_no_temp(wd.path());
    }
}

/// One line per key, keys in byte order.
#[tokio::test]
async fn fmt_005_keys_sorted_one_line_each() {
    let wd = Workdir::new();
    run_with(
        &[
            ("Z_KEY", "synthetic-z-0001"),
            ("a_key", "synthetic-a-0001"),
            ("M_KEY", "synthetic-m-0001"),
            ("_KEY", "synthetic-u-0001"),
            ("A_KEY", "synthetic-A-0001"),
        ],
        &wd.output(),
        writes(&wd.output(), &["A_KEY", "M_KEY", "Z_KEY", "_KEY", "a_key"]),
    )
    .await;
    let keys: Vec<String> = lines_of(&wd.output())
        .iter()
        .map(|l| l.split('=').next().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["A_KEY", "M_KEY", "Z_KEY", "_KEY", "a_key"]);
}

/// The header names project, environment and paths, holds no value and no time; two runs
/// give byte-identical files.
#[tokio::test]
async fn fmt_006_header_and_byte_identical_output() {
    let wd = Workdir::new();
    let secrets = [("B_KEY", "synthetic-b-0001"), ("A_KEY", "synthetic-a-0001")];
    for file in ["one.env", "two.env"] {
        let out = wd.join(file);
        run_with(&secrets, &out, writes(&out, &["A_KEY", "B_KEY"])).await;
    }
    let one = std::fs::read(wd.join("one.env")).unwrap();
    let two = std::fs::read(wd.join("two.env")).unwrap();
    assert_eq!(one, two);
    let text = String::from_utf8(one).unwrap();
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let header = header.join("\n");
    for part in [PROJECT, ENV, "/"] {
        assert!(header.contains(part), "{header}");
    }
    for (_, value) in secrets {
        assert!(!header.contains(value), "{header}");
    }
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}").unwrap();
    assert!(!time.is_match(&header), "{header}");
}

/// A value of random characters, at least 8 long, rich in the characters that matter.
fn tricky_value() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\'', '"', '\\', '$', '#', '=', '`', '{', '}', ' ', '\t', '\n', '\r', 'é', '🙂', '!', '*',
        ';',
    ]);
    let ch = prop_oneof![
        4 => prop::char::range('a', 'z'),
        3 => special,
        1 => any::<char>(),
    ];
    prop::collection::vec(ch, 8..40).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// In process: every random value either renders and reads back through dotenvy exactly,
    /// or is refused naming the key and not the value.
    #[test]
    fn fmt_007_random_values_round_trip_with_dotenvy(value in tricky_value()) {
        let paths = vec!["/".to_owned()];
        let header = Header { project_id: PROJECT, environment: ENV, paths: &paths };
        match dotenv::render(&header, [("RANDOM_KEY", value.as_str())]) {
            Ok(text) => {
                prop_assert_eq!(
                    dotenvy_pairs(&text),
                    vec![("RANDOM_KEY".to_owned(), value.clone())]
                );
            }
            Err(errors) => {
                prop_assert_eq!(errors.len(), 1);
                let refused_key = matches!(&errors[0], RenderError::Unrepresentable { key, .. } if key == "RANDOM_KEY");
                prop_assert!(refused_key, "refused for another reason");
                let msg = errors[0].to_string();
                prop_assert!(msg.contains("RANDOM_KEY"));
                crate::support::assert_no_secret(&msg, &[value.as_str()]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Through the binary: a random value is written and read back by dotenvy, or refused with
    /// exit 7 naming the key; never leaked either way.
    #[test]
    fn fmt_007_binary_round_trip_or_exit_7(value in tricky_value()) {
        let value = format!("synthetic-rt-{value}");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let wd = Workdir::new();
        // the random value decides between exit 0 and 7, so the outcome is read after the run
        let run = rt.block_on(run_with(&[("RANDOM_KEY", value.as_str())], &wd.output(), Cli::run));
        run.no_leak();
        match run.code {
            Some(0) => {
                let uid = nix::unistd::getuid();
                let gid = nix::unistd::getgid();
                run.stderr_is("").stdout_is(&format!(
                    "written: {} (mode 0600, owner {uid}:{gid}) with 1 key from project {PROJECT}, \
                     environment {ENV}, paths /\n  RANDOM_KEY\n",
                    wd.output().display()
                ));
                let text = std::fs::read_to_string(wd.output()).unwrap();
                prop_assert_eq!(dotenvy_pairs(&text), vec![("RANDOM_KEY".to_owned(), value.clone())]);
            }
            Some(7) => {
                // which refused byte (or `${`) the random value holds decides the wording
                run.stdout_is("")
                    .stderr_has("write-canary-env: error: ")
                    .stderr_has("RANDOM_KEY");
                prop_assert!(!wd.output().exists());
            }
            _ => run.fail("expected exit 0 or 7"),
        }
    }
}

/// Sourced by bash with `set -a`, every written value comes back exactly and nothing runs.
#[tokio::test]
async fn fmt_008_bash_reads_values_back() {
    let wd = Workdir::new();
    let marker = wd.join("ran");
    let values = [
        ("V1", "synthetic plain words # not a comment".to_owned()),
        (
            "V2",
            format!(
                "synthetic $(touch {}) `touch {}` $HOME",
                marker.display(),
                marker.display()
            ),
        ),
        ("V3", "synthetic it's \"quoted\" \\ back".to_owned()),
        (
            "V4",
            "synthetic-first\nmulti-second\nline-third\n".to_owned(),
        ),
        ("V5", "synthetic-é-🙂-=-\t-!-*".to_owned()),
    ];
    let secrets: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_with(
        &secrets,
        &wd.output(),
        writes(&wd.output(), &["V1", "V2", "V3", "V4", "V5"]),
    )
    .await;
    for (key, value) in &values {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("set -a; . \"$1\"; printf %s \"${key}\""))
            .arg("bash")
            .arg(wd.output())
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), *value, "{key}");
    }
    assert!(!marker.exists(), "sourcing the file ran a command");
}

/// python-dotenv, interpolation on, reads every written value back exactly.
#[tokio::test]
async fn fmt_009_python_dotenv_reads_values_back() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import dotenv"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip(
            "fmt_009_python_dotenv_reads_values_back",
            "python3 with python-dotenv is not installed",
        );
        return;
    }
    let wd = Workdir::new();
    let values = [
        ("V1", "synthetic plain # not a comment = sign"),
        ("V2", "synthetic $HOME $(id) `id` {braces}"),
        ("V3", "synthetic it's \"quoted\" \\ back \\n \\t"),
        ("V4", "synthetic-first\nmulti-second\nline-third\n"),
        ("V5", "synthetic-é-🙂-\t-!-*-'single'"),
        (
            "V6",
            "-----BEGIN SYNTHETIC KEY-----\nMIIBsyntheticAAAA+/=\n-----END SYNTHETIC KEY-----\n",
        ),
    ];
    run_with(
        &values,
        &wd.output(),
        writes(&wd.output(), &["V1", "V2", "V3", "V4", "V5", "V6"]),
    )
    .await;
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom dotenv import dotenv_values\nprint(json.dumps(dotenv_values(sys.argv[1])))",
        ])
        .arg(wd.output())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (key, value) in values {
        assert_eq!(read[key], value, "{key}");
    }
    assert_eq!(read.as_object().unwrap().len(), values.len());
}
