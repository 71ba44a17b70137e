//! Proves `contracts/cli.md`: the exit-code table and what both binaries share.

use provider_bridge::exit::Exit;

use snapbox::str;

use crate::infisical::CANARY_HELP;
use crate::smoke_report::SMOKE_HELP;
use crate::support::Cli;
use crate::support::trace::root;

/// Reads the `| code | meaning |` rows of the first exit-code table in a markdown file.
fn exit_table(markdown: &str) -> Vec<(u8, String)> {
    markdown
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("| code | meaning |"))
        .skip(2)
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            (
                cells[0].parse().expect("code cell is a number"),
                cells[1].to_owned(),
            )
        })
        .collect()
}

/// The contract's table, the README's table and the `Exit` enum agree code for code.
#[test]
fn cli_001_one_exit_code_table_in_contract_readme_and_code() {
    let from_code: Vec<(u8, String)> = Exit::ALL
        .iter()
        .map(|e| (e.code(), e.meaning().to_owned()))
        .collect();
    for file in ["contracts/cli.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert_eq!(
            exit_table(&text),
            from_code,
            "the exit-code table in {file} differs from src/exit.rs"
        );
    }
}

/// `--help` and `--version` answer on stdout with exit 0, naming the binary and version.
#[test]
fn cli_002_help_and_version() {
    for (cli, bin, whole) in [
        (Cli::canary as fn() -> Cli, "write-canary-env", CANARY_HELP),
        (Cli::smoke, "ollama-compat-smoke", SMOKE_HELP),
    ] {
        assert_eq!(help_of(cli()), whole);
        let _ = cli()
            .arg("--version")
            .exits(0)
            .stdout(format!("{bin} {}\n", env!("CARGO_PKG_VERSION")))
            .run();
    }
}

/// The whole `--help` of `cli` (exit 0, nothing on stderr), each line's trailing blanks
/// trimmed: clap pads the blank lines between a flag and its values with spaces.
pub(crate) fn help_of(cli: Cli) -> String {
    let help = cli
        .arg("--help")
        .exits(0)
        .stdout_checked_elsewhere("the help, returned trimmed for a whole comparison")
        .run();
    help.stdout
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

/// An unknown flag is exit 2, named on stderr, nothing on stdout.
#[test]
fn cli_003_unknown_flag_is_usage_error() {
    let more = "\n\nFor more information, try '--help'.\n";
    for (cli, stderr) in [
        (
            Cli::canary as fn() -> Cli,
            // clap names the closest flag it knows, and shows it in the usage line
            format!(
                "write-canary-env: error: unexpected argument '--no-such-flag' found\n\n  tip: a \
                 similar argument exists: '--on-change'\n\nUsage: write-canary-env --project-id \
                 <ID> --env <SLUG> --output <FILE> --on-change <CMD>{more}"
            ),
        ),
        (
            Cli::smoke,
            format!(
                "ollama-compat-smoke: error: unexpected argument '--no-such-flag' found\n\nUsage: \
                 ollama-compat-smoke [OPTIONS]{more}"
            ),
        ),
    ] {
        let _ = cli().arg("--no-such-flag").exits(2).stderr(stderr).run();
    }
}

/// The root cause wins: 3 before 4 before 5, and 1 only when none of them applies.
#[test]
fn cli_004_root_cause_wins() {
    use Exit::*;
    assert_eq!(
        Exit::worst([CheckFailed, Unavailable, NotFound, Refused]),
        Refused
    );
    assert_eq!(Exit::worst([Unavailable, CheckFailed, NotFound]), NotFound);
    assert_eq!(Exit::worst([CheckFailed, Unavailable]), Unavailable);
    assert_eq!(Exit::worst([Success, CheckFailed, Success]), CheckFailed);
    assert_eq!(Exit::worst([Success, Success]), Success);
}

/// The README's first two commands are the demo and the gate, and every path its layout table
/// names exists.
#[test]
fn cli_005_readme_commands_and_layout_are_true() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .take(2)
        .map(|block| block.split("```").next().unwrap().trim())
        .collect();
    assert_eq!(commands, ["scripts/demo", "scripts/ci"]);
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "scripts/ci"),
        ".ci/run must call the README's test command"
    );
    let layout = readme
        .split("## Layout")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut checked = 0;
    for row in layout.lines().filter(|l| l.starts_with("| `")) {
        let path = row.trim_start_matches("| `").split('`').next().unwrap();
        assert!(
            root().join(path).exists(),
            "README layout names {path}, which does not exist"
        );
        checked += 1;
    }
    assert!(checked >= 10, "the layout table was not read");
}

/// No script hard-codes `target/`, and `scripts/target-dir` answers what cargo says, following
/// `CARGO_TARGET_DIR` (CLI-006).
#[test]
fn cli_006_scripts_ask_cargo_where_it_builds() {
    let bare = regex::Regex::new(r"(?:^|[^A-Za-z0-9_.-])target/").unwrap();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(root().join(".ci/run"));
    files.sort();
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if bare.is_match(line) {
                let rel = file.strip_prefix(root()).unwrap().display().to_string();
                found.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(files.len() >= 8, "the scripts were not read: {files:?}");
    assert!(
        found.is_empty(),
        "these lines assume ./target; ask scripts/target-dir instead:\n  {}",
        found.join("\n  ")
    );
    assert!(
        bare.is_match("bin=\"$root/target/release\"") && !bare.is_match("\"$work/cold-target\""),
        "the pattern itself"
    );

    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let out = std::process::Command::new(root().join("scripts/target-dir"))
        .env("CARGO_TARGET_DIR", &elsewhere)
        .output()
        .expect("scripts/target-dir runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        elsewhere.display().to_string()
    );
}

/// A usage error (clap's), a configuration error and a failed run all print
/// `<binary>: error: …`, the same for both binaries; the usage error keeps clap's hint.
#[test]
fn cli_013_one_failure_prefix_for_both_binaries() {
    let _ = Cli::canary()
        .arg("--nope")
        .exits(2)
        .stderr("write-canary-env: error: unexpected argument '--nope' found\n\nUsage: write-canary-env [OPTIONS] --project-id <ID> --env <SLUG> --output <FILE>\n\nFor more information, try '--help'.\n")
        .run();
    let _ = Cli::smoke()
        .arg("--nope")
        .exits(2)
        .stderr("ollama-compat-smoke: error: unexpected argument '--nope' found\n\nUsage: ollama-compat-smoke [OPTIONS]\n\nFor more information, try '--help'.\n")
        .run();
    let _ = Cli::canary()
        .args(["--project-id", "p", "--env", "prod", "--output", "/nonexistent/x.env"])
        .exits(2)
        .stderr("write-canary-env: error: missing credential: set $INFISICAL_TOKEN or pass --token-file\n")
        .run();
    let _ = Cli::smoke()
        .args(["--api-key-env", "sk-not-a-name!"])
        .exits(2)
        .stderr("ollama-compat-smoke: error: --api-key-env takes the NAME of an environment variable (letters, digits and _, not starting with a digit), never the key itself\n")
        .run();
}

/// The variables `--help` names for the flags an operator sets in a unit (CLI-014).
const CANARY_FLAG_VARIABLES: [&str; 22] = [
    "INFISICAL_PROJECT_ID",
    "INFISICAL_ENVIRONMENT",
    "INFISICAL_SECRET_PATH",
    "INFISICAL_AUTH_METHOD",
    "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID",
    "WRITE_CANARY_ENV_KEYS",
    "WRITE_CANARY_ENV_OUTPUT",
    "WRITE_CANARY_ENV_TOKEN_FILE",
    "WRITE_CANARY_ENV_CLIENT_SECRET_FILE",
    "WRITE_CANARY_ENV_INCLUDE_IMPORTS",
    "WRITE_CANARY_ENV_RECURSIVE",
    "WRITE_CANARY_ENV_OUTPUT_MODE",
    "WRITE_CANARY_ENV_PARENT_MODE",
    "WRITE_CANARY_ENV_OWNER",
    "WRITE_CANARY_ENV_GROUP",
    "WRITE_CANARY_ENV_ALLOW_EMPTY",
    "WRITE_CANARY_ENV_TIMEOUT",
    "WRITE_CANARY_ENV_FORMAT",
    "WRITE_CANARY_ENV_MAX_RETRY_WAIT",
    "WRITE_CANARY_ENV_ON_CHANGE",
    "WRITE_CANARY_ENV_ON_CHANGE_TIMEOUT",
    "WRITE_CANARY_ENV_METRICS_FILE",
];

/// The smoke's: every flag but `--help`/`--version` has one.
const SMOKE_FLAG_VARIABLES: [&str; 14] = [
    "OLLAMA_BASE_URL",
    "OLLAMA_MODEL",
    "OLLAMA_COMPAT_SMOKE_API_KEY_ENV",
    "OLLAMA_COMPAT_SMOKE_API_KEY_FILE",
    "OLLAMA_COMPAT_SMOKE_CHECK",
    "OLLAMA_COMPAT_SMOKE_JSON_MODE",
    "OLLAMA_COMPAT_SMOKE_REPEAT",
    "OLLAMA_COMPAT_SMOKE_TIMEOUT",
    "OLLAMA_COMPAT_SMOKE_MAX_TOKENS",
    "OLLAMA_COMPAT_SMOKE_FORMAT",
    "OLLAMA_COMPAT_SMOKE_ALLOW_INSECURE_HTTP",
    "OLLAMA_COMPAT_SMOKE_NO_MODEL_LIST",
    "OLLAMA_COMPAT_SMOKE_REASONING_EFFORT",
    "OLLAMA_COMPAT_SMOKE_METRICS_FILE",
];

/// `--help` names a variable for every operator flag; a whole instance configured by variables
/// alone writes the file its variables describe (mode, parent mode, format, keys); a flag wins
/// over its variable; a boolean variable that is not a boolean is exit 2 naming the flag.
#[tokio::test]
async fn cli_014_every_operator_flag_has_a_variable() {
    for (cli, vars) in [
        (Cli::canary(), &CANARY_FLAG_VARIABLES[..]),
        (Cli::smoke(), &SMOKE_FLAG_VARIABLES[..]),
    ] {
        // The whole help is cli_002's; here, the clause's list in it.
        let help = help_of(cli);
        for var in vars {
            // `[env: VAR]`, or `[env: VAR=<value>]` for the two the smoke shows.
            assert!(help.contains(&format!("[env: {var}")), "no [env: {var}");
        }
    }
    use crate::support::Workdir;
    use crate::support::infisical::{ENV, Infisical, PROJECT, TOKEN, list_answer};
    use std::os::unix::fs::PermissionsExt as _;
    let inf = Infisical::start().await;
    let values = [
        ("A_KEY", "synthetic-a-Cc1Dd2"),
        ("B_KEY", "synthetic-b-Ee3Ff4"),
        ("C_KEY", "synthetic-c-Gg5Hh6"),
    ];
    inf.serve_folder("/providers", TOKEN, list_answer("/providers", &values), 2)
        .await;
    let wd = Workdir::new();
    let out = wd.join("nested/instance.env");
    let unit = || {
        let mut cli = Cli::canary()
            .env("INFISICAL_PROJECT_ID", PROJECT)
            .env("INFISICAL_ENVIRONMENT", ENV)
            .env("INFISICAL_SECRET_PATH", "/providers")
            .env("INFISICAL_DOMAIN", inf.url())
            .env("WRITE_CANARY_ENV_OUTPUT", out.display().to_string())
            .env("WRITE_CANARY_ENV_OUTPUT_MODE", "0640")
            .env("WRITE_CANARY_ENV_PARENT_MODE", "0750")
            .env("WRITE_CANARY_ENV_FORMAT", "docker")
            .env("WRITE_CANARY_ENV_KEYS", "A_KEY,C_KEY")
            .env("WRITE_CANARY_ENV_TIMEOUT", "2")
            .secret_env("INFISICAL_TOKEN", TOKEN);
        for (_, v) in values {
            cli = cli.secret(v);
        }
        cli
    };
    let _ = unit()
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/nested/instance.env (mode 0640, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /providers
created directory [TMP]/nested
  A_KEY
  C_KEY

"#]])
        .tmp(wd.path())
        .run();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&out), 0o640);
    assert_eq!(mode(&wd.join("nested")), 0o750);
    let text = std::fs::read_to_string(&out).unwrap();
    let entries: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        entries,
        ["A_KEY=synthetic-a-Cc1Dd2", "C_KEY=synthetic-c-Gg5Hh6"],
        "docker format, only the keys the variable names"
    );
    // The flag wins over its variable.
    let _ = unit()
        .args(["--output-mode", "0600"])
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/nested/instance.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /providers
  A_KEY
  C_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(mode(&out), 0o600);
    let _ = unit()
        .env("WRITE_CANARY_ENV_ALLOW_EMPTY", "maybe")
        .exits(2)
        .stderr("write-canary-env: error: invalid value 'maybe' for '--allow-empty': value was not a boolean\n\nFor more information, try '--help'.\n")
        .run();
}

/// A runtime the kernel refuses (strace makes `epoll_create1` fail with `EMFILE`): exit 5 in
/// both binaries, one line naming the reason, nothing written.
#[test]
fn cli_015_runtime_that_cannot_start_is_exit_5() {
    let usable = std::process::Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        crate::support::skip(
            "cli_015",
            "strace is missing or ptrace is not permitted here",
        );
        return;
    }
    let wd = crate::support::Workdir::new();
    let out = wd.join("never.env");
    let cases: [(&str, Vec<String>); 2] = [
        (
            env!("CARGO_BIN_EXE_write-canary-env"),
            [
                "--project-id",
                "p",
                "--env",
                "prod",
                "--api-url",
                "http://127.0.0.1:9",
                "--output",
            ]
            .iter()
            .map(ToString::to_string)
            .chain([out.display().to_string()])
            .collect(),
        ),
        (
            env!("CARGO_BIN_EXE_ollama-compat-smoke"),
            vec!["--base-url".into(), "http://127.0.0.1:9/v1".into()],
        ),
    ];
    for (bin, args) in cases {
        let name = std::path::Path::new(bin)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let output = std::process::Command::new("strace")
            .args([
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                "inject=epoll_create1:error=EMFILE",
            ])
            .arg(bin)
            .args(&args)
            .env("INFISICAL_TOKEN", "synthetic-token-Ii7Jj8")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(5), "{name}: {output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{name}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "{name}: error: cannot start the async runtime: Too many open files (EMFILE)\n"
            )
        );
    }
    assert!(!out.exists(), "nothing written");
}
