//! Proves `contracts/cli.md`: the exit-code table and what both binaries share.

use provider_bridge::exit::Exit;

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
    for cli in [Cli::canary, Cli::smoke] {
        let help = cli().arg("--help").run();
        help.success().stdout_has("Usage:").stderr_is("");
        let version = cli().arg("--version").run();
        version.success().stderr_is("");
        let bin = version
            .stdout
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        version.stdout_is(&format!("{bin} {}\n", env!("CARGO_PKG_VERSION")));
        assert!(["write-canary-env", "ollama-compat-smoke"].contains(&bin.as_str()));
    }
}

/// An unknown flag is exit 2, named on stderr, nothing on stdout.
#[test]
fn cli_003_unknown_flag_is_usage_error() {
    for cli in [Cli::canary, Cli::smoke] {
        cli()
            .arg("--no-such-flag")
            .run()
            .code(2)
            .stdout_is("")
            .stderr_has("--no-such-flag");
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
