//! The consumers of `--format` (PEER-014 … PEER-019): each format written by
//! `write-canary-env` from the Infisical stand-in, holding the tricky values of
//! `fixtures/peers/infisical/` (those the dotenv rule refuses and the control characters of
//! `secrets-control.json` included), read by its real reader — the docker CLI against a
//! recording stand-in daemon, Debian's systemd env-file tokenizer, dash and bash, python's
//! json. Both directions: the values a format refuses are refused by our tool (exit 7 naming
//! key and format), every other value is read back identical.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::peer::{PROJECT, Values, assert_same, path_in, peers, route_str, run_ok, tempdir};
use crate::support::{Cli, fixture_json};

/// Every folder of the stand-in holding the tricky values, and the fixture it serves.
const FOLDERS: [(&str, &str); 7] = [
    ("/peers/tricky", "secrets-tricky"),
    ("/peers/refused/cr", "secrets-refused-cr"),
    (
        "/peers/refused/dollar-brace",
        "secrets-refused-dollar-brace",
    ),
    (
        "/peers/refused/quote-dollar",
        "secrets-refused-quote-dollar",
    ),
    (
        "/peers/refused/backslash-backtick",
        "secrets-refused-backslash-backtick",
    ),
    ("/peers/refused/nul", "secrets-refused-nul"),
    ("/peers/control", "secrets-control"),
];

/// The consumer peers `scripts/peers` provides, beside those of [`peers`].
struct Consumers {
    docker: PathBuf,
    docker_host: String,
    docker_log: PathBuf,
    systemd_analyze: PathBuf,
    dash: PathBuf,
}

fn consumers() -> Consumers {
    let _ = peers(); // the loud PB_PEERS=1 check first
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: the peer tier runs through scripts/peers")
        })
    };
    Consumers {
        docker: var("PB_PEERS_DOCKER").into(),
        docker_host: var("PB_PEERS_DOCKER_HOST"),
        docker_log: var("PB_PEERS_DOCKER_LOG").into(),
        systemd_analyze: var("PB_PEERS_SYSTEMD_ANALYZE").into(),
        dash: var("PB_PEERS_DASH").into(),
    }
}

/// key -> value of every folder's fixture.
fn all_values() -> Values {
    let mut all = Values::new();
    for (_, fixture) in FOLDERS {
        for s in fixture_json(&format!("peers/infisical/{fixture}.json"))["secrets"]
            .as_array()
            .unwrap()
        {
            let key = s["secretKey"].as_str().unwrap().to_owned();
            let value = s["secretValue"].as_str().unwrap().to_owned();
            assert!(
                all.insert(key, value).is_none(),
                "duplicate key in fixtures"
            );
        }
    }
    all
}

/// `write-canary-env --format FORMAT` over every folder, Token Auth, into `output`.
fn canary(format: &str, output: &str) -> Cli {
    let mut cli = Cli::canary()
        .args(["--project-id", PROJECT, "--env", "prod", "--format", format])
        .args(["--output", output])
        .args(["--api-url", &peers().infisical_url])
        .secret_env("INFISICAL_TOKEN", route_str("tokenAuthToken"));
    for (folder, _) in FOLDERS {
        cli = cli.args(["--path", folder]);
    }
    cli
}

/// Both directions of a format's rule through the binary: over every value it exits 7 naming
/// exactly `refused` (by key and format, never a value) and writes nothing; with `--key` for
/// every other key it writes the file. Returns the file and the values it must hold.
fn written(dir: &Path, format: &str, refused: &[&str]) -> (String, Values) {
    let all = all_values();
    let secrets: Vec<&str> = all.values().map(String::as_str).collect();
    let out = path_in(dir, &format!("app.{format}"));
    if !refused.is_empty() {
        let run = canary(format, &out).run();
        run.code(7).no_leak_of(&secrets);
        for key in all.keys() {
            let named = format!("the value of {key} cannot be written in the {format} format");
            if refused.contains(&key.as_str()) {
                run.stderr_has(&named);
            } else {
                run.stderr_lacks(&named);
            }
        }
        assert!(!Path::new(&out).exists(), "{format}: a refused run wrote");
        let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
        assert!(left.is_empty(), "{format}: files left behind: {left:?}");
    }
    let carried: Values = all
        .iter()
        .filter(|(k, _)| !refused.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut cli = canary(format, &out);
    for key in carried.keys() {
        cli = cli.args(["--key", key]);
    }
    cli.run().success().no_leak_of(&secrets);
    (out, carried)
}

// ------------------------------------------------------------------------------------ docker

/// `docker run --env-file FILE` against the stand-in daemon: the CLI's exit status and
/// stderr, and the `Env` the daemon recorded for this run (None when no create arrived).
fn docker_run(env_file: &str, tag: &str) -> (Output, Option<Vec<String>>) {
    let c = consumers();
    let config = tempdir();
    let name = format!("pb-peer-{}-{tag}", std::process::id());
    let out = Command::new(&c.docker)
        .args(["run", "--name", &name, "--env-file", env_file])
        .arg("pb-peer/none:0")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", config.path())
        .env("DOCKER_CONFIG", config.path())
        .env("DOCKER_HOST", &c.docker_host)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot start the docker CLI");
    let log = std::fs::read_to_string(&c.docker_log).expect("the stand-in's log");
    let env = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("log line"))
        .find(|r| r["name"] == name.as_str())
        .map(|r| {
            r["env"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        });
    (out, env)
}

/// The docker keys the format refuses: the multi-line values, CR-LF and NUL.
const DOCKER_REFUSED: [&str; 6] = [
    "CRLF_VALUE",
    "EXPORT_LINE",
    "MULTI_BLANK",
    "NUL_VALUE",
    "PEM_PRIVATE_KEY",
    "SYNTHETIC_QUOTE_BACKSLASH_NEWLINE",
];

/// The real docker CLI (`docker run --env-file`) sends the stand-in daemon exactly the carried
/// values, and nothing else.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_014_docker_cli_reads_carried_values_identical() {
    let dir = tempdir();
    let (file, expected) = written(dir.path(), "docker", &DOCKER_REFUSED);
    let (out, env) = docker_run(&file, "carried");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "docker run: {stderr}");
    assert!(stderr.contains("create recorded"), "docker run: {stderr}");
    let env = env.unwrap_or_else(|| panic!("no create reached the stand-in: {stderr}"));
    let read: Values = env
        .iter()
        .map(|e| {
            let (k, v) = e.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(read.len(), env.len(), "a key came twice: {env:?}");
    assert_same("docker run --env-file", &expected, &read);
}

/// What the docker format refuses, docker would change: each refused value written raw as
/// `KEY=value` by hand fails the CLI or reaches the daemon as something else — except NUL,
/// which the CLI passes on and no process can receive (`execve`). A 65,535-byte line passes,
/// a 65,536-byte line fails the whole file (`token too long`).
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_015_docker_refusals_are_values_docker_would_change() {
    let dir = tempdir();
    written(dir.path(), "docker", &DOCKER_REFUSED);
    let all = all_values();
    for key in DOCKER_REFUSED {
        let raw = path_in(dir.path(), &format!("raw-{key}"));
        std::fs::write(&raw, format!("{key}={}\n", all[key])).unwrap();
        let (out, env) = docker_run(&raw, key);
        let exact = vec![format!("{key}={}", all[key])];
        if key == "NUL_VALUE" {
            assert_eq!(env.as_ref(), Some(&exact), "the CLI passes a NUL on");
        } else {
            assert!(
                env.as_ref() != Some(&exact),
                "{key}: docker carried a value the format refuses: {out:?}"
            );
        }
    }
    for (len, ok) in [(65_535, true), (65_536, false)] {
        let raw = path_in(dir.path(), &format!("line-{len}"));
        let value = "x".repeat(len - "LONG=".len());
        std::fs::write(&raw, format!("LONG={value}\n")).unwrap();
        let (out, env) = docker_run(&raw, &format!("line-{len}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if ok {
            assert_eq!(env, Some(vec![format!("LONG={value}")]), "{stderr}");
        } else {
            assert!(env.is_none(), "a {len}-byte line reached the daemon");
            assert!(stderr.contains("token too long"), "{stderr}");
        }
    }
}

// ----------------------------------------------------------------------------------- systemd

/// An fnmatch pattern matching exactly `value`, quoted for systemd's `extract_first_word`
/// and with `%` doubled for the unit-file specifier expansion: `*?[]\` escaped, a leading
/// white-space character written as a bracket expression (the condition refuses a value that
/// starts with white space).
fn exact_pattern(value: &str) -> String {
    let mut pat = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == 0 && matches!(c, ' ' | '\t' | '\n' | '\r') {
            pat.push('[');
            pat.push(c);
            pat.push(']');
        } else {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pat.push('\\');
            }
            pat.push(c);
        }
    }
    let pat = pat.replace('%', "%%");
    format!("\"{}\"", pat.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether systemd, reading `file` as os-release, holds `condition` (`KEY$=…` or `KEY=…`).
fn systemd_holds(file: &str, condition: &str) -> bool {
    let out = Command::new(&consumers().systemd_analyze)
        .args(["condition", &format!("ConditionOSRelease={condition}")])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SYSTEMD_OS_RELEASE", file)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot start systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => true,
        Some(1) if !stderr.contains("Couldn't determine") => false,
        _ => panic!("systemd-analyze could not evaluate {condition:?}: {out:?}"),
    }
}

/// The systemd keys the format refuses: CR-LF, NUL and the other control characters.
const SYSTEMD_REFUSED: [&str; 3] = ["CRLF_VALUE", "NUL_VALUE", "SYNTHETIC_CONTROL_CHARS"];

/// Debian's systemd, through `parse_env_file_internal` (the tokenizer `EnvironmentFile=`
/// uses), reads every carried value exactly: the condition holds for the value and fails for
/// the value with one byte more; the lines inside a multi-line value set no key.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_016_systemd_tokenizer_reads_carried_values_identical() {
    let dir = tempdir();
    let (file, expected) = written(dir.path(), "systemd", &SYSTEMD_REFUSED);
    for (key, value) in &expected {
        assert!(
            systemd_holds(&file, &format!("{key}$={}", exact_pattern(value))),
            "systemd did not read {key} as {value:?}"
        );
        assert!(
            !systemd_holds(
                &file,
                &format!("{key}$={}", exact_pattern(&format!("{value}x")))
            ),
            "systemd's comparison of {key} is not exact"
        );
    }
    for injected in ["INJECTED=1", "OTHER=2"] {
        assert!(!systemd_holds(&file, injected), "{injected} was set");
    }
}

/// What the systemd format refuses is refused by our tool; a file holding a NUL written by hand
/// is refused whole by systemd (`Bad message`: not even the key before it is read), and the
/// values the dotenv rule refuses (`'` with `$`, `\` with a backtick, `${`) are carried.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_017_systemd_refusals() {
    let dir = tempdir();
    let (_, carried) = written(dir.path(), "systemd", &SYSTEMD_REFUSED);
    for key in ["QUOTE_AND_DOLLAR", "BACKSLASH_AND_BACKTICK", "INTERPOLATED"] {
        assert!(carried.contains_key(key), "{key}");
    }
    let raw = path_in(dir.path(), "raw-nul");
    std::fs::write(
        &raw,
        "BEFORE='synthetic-before'\nNUL_VALUE='synthetic\0nul'\nAFTER='synthetic-after'\n",
    )
    .unwrap();
    let out = Command::new(&consumers().systemd_analyze)
        .args(["condition", "ConditionOSRelease=BEFORE=synthetic-before"])
        .env_clear()
        .env("SYSTEMD_OS_RELEASE", &raw)
        .output()
        .expect("cannot start systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Couldn't determine result") && stderr.contains("Bad message"),
        "{stderr}"
    );
}

// ------------------------------------------------------------------------------------- shell

/// Sources `file` with `shell` in an empty environment (cwd `dir`) and returns the
/// environment its child (`env -0`, coreutils) sees, as key -> value.
fn sourced(shell: &[&str], file: &str, dir: &Path) -> Values {
    let out = run_ok(
        shell[0],
        Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", r#". "$1"; exec /usr/bin/env -0"#, "sh", file])
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin"),
    );
    out.stdout
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = String::from_utf8(e.to_vec()).expect("UTF-8 from the environment");
            let (k, v) = e.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .filter(|(k, _)| !["PATH", "PWD", "OLDPWD", "SHLVL", "_"].contains(&k.as_str()))
        .collect()
}

/// dash, bash and `bash --posix` sourcing the shell file export every value identical (read
/// from a child's environment), set nothing else and run nothing; NUL alone is refused.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_018_dash_and_bash_source_shell_values_identical() {
    let dir = tempdir();
    let (file, expected) = written(dir.path(), "shell", &["NUL_VALUE"]);
    let run_dir = tempdir();
    let dash = consumers().dash.display().to_string();
    for shell in [
        vec![dash.as_str()],
        vec!["bash", "--noprofile", "--norc"],
        vec!["bash", "--posix", "--noprofile", "--norc"],
    ] {
        let read = sourced(&shell, &file, run_dir.path());
        assert_same(&shell.join(" "), &expected, &read);
        let left: Vec<_> = std::fs::read_dir(run_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{shell:?} ran a command: {left:?}");
    }
}

// -------------------------------------------------------------------------------------- json

/// python's `json.load` reads the file as one object holding every value identical, NUL
/// included.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_019_python_json_reads_every_value_identical() {
    let dir = tempdir();
    let (file, expected) = written(dir.path(), "json", &[]);
    assert!(expected.contains_key("NUL_VALUE"));
    let out = run_ok(
        "python json",
        Command::new(&peers().python)
            .args([
                "-c",
                "import json, sys\nd = json.load(open(sys.argv[1], encoding='utf-8'))\n\
                 assert isinstance(d, dict)\nprint(json.dumps(d))",
            ])
            .arg(&file)
            .env_clear(),
    );
    let read: Values = serde_json::from_slice(&out.stdout).expect("python's JSON");
    assert_same("python json", &expected, &read);
}
