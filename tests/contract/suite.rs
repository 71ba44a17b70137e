//! Proves `contracts/suite.md`: the traceability rules, run over synthetic contracts and tests,
//! and then over the repository itself.

use crate::support::cli::Run;
use crate::support::trace::{self, Level};
use crate::support::{Cli, Workdir, fixtures};

/// A synthetic test source citing `id` (built at run time, so that this file does not itself
/// cite the synthetic IDs).
fn test_citing(id: &str, rest: &str) -> String {
    format!(
        "#[test]\nfn {}_{rest}() {{}}\n",
        id.to_lowercase().replace('-', "_")
    )
}

fn problems(contract: &str, tests: &str) -> Vec<String> {
    let (clauses, mut problems) = trace::parse_contract("contracts/x.md", contract);
    let citations = trace::parse_citations("tests/x.rs", tests);
    problems.extend(trace::check(&clauses, &citations));
    problems
}

const ONE_MUST: &str = "# X\n\n### ABC-001 — A rule\n\n**MUST** — do it.\n";

/// A duplicate ID is reported with both places.
#[test]
fn suite_001_duplicate_id_fails() {
    let contract = format!("{ONE_MUST}\n### ABC-001 — Again\n\n**SHOULD** — also.\n");
    let p = problems(&contract, &test_citing("ABC-001", "x"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("duplicate clause ID ABC-001"), "{p:?}");
    assert!(
        p[0].contains("contracts/x.md:3") && p[0].contains("contracts/x.md:7"),
        "{p:?}"
    );
}

/// A test citing an undefined ID is reported, naming the ID and the test.
#[test]
fn suite_002_unknown_citation_fails() {
    let tests = test_citing("ABC-001", "ok") + &test_citing("XYZ-999", "orphan");
    let p = problems(ONE_MUST, &tests);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("XYZ-999") && p[0].contains("orphan"), "{p:?}");
}

/// An uncited MUST clause is reported with the test name to add; an uncited SHOULD is not.
#[test]
fn suite_003_uncited_must_fails_and_should_does_not() {
    let contract = format!(
        "{ONE_MUST}\n### XYZ-999 — New\n\n**MUST** — new rule.\n\n### XYZ-998 — Nice\n\n**SHOULD** — nice.\n"
    );
    let p = problems(&contract, &test_citing("ABC-001", "x"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("XYZ-999") && p[0].contains("xyz_999_"),
        "{p:?}"
    );
    assert!(problems(ONE_MUST, "").iter().any(|p| p.contains("ABC-001")));
}

/// Chained prefixes cite every clause in the chain.
#[test]
fn suite_003_chained_prefixes_cite_each_clause() {
    let contract = format!("{ONE_MUST}\n### DEF-002 — Two\n\n**MUST** — two.\n");
    let chained = format!("fn {}_{}_both() {{}}", "abc_001", "def_002");
    assert_eq!(problems(&contract, &chained), Vec::<String>::new());
    let ids: Vec<String> = trace::parse_citations("t.rs", &chained)
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["ABC-001", "DEF-002"]);
}

/// Citing a withdrawn clause is reported.
#[test]
fn suite_004_citing_withdrawn_fails() {
    let contract = "### ABC-001 — Old\n\n**WITHDRAWN** — replaced by ABC-002.\n";
    let p = problems(contract, &test_citing("ABC-001", "x"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("ABC-001") && p[0].contains("withdrawn"),
        "{p:?}"
    );
}

/// A clause without a level is reported.
#[test]
fn suite_005_clause_without_level_fails() {
    let (clauses, p) = trace::parse_contract("c.md", "### ABC-001 — Vague\n\nDo it, maybe.\n");
    assert!(clauses.is_empty());
    assert_eq!(p.len(), 1);
    assert!(p[0].contains("ABC-001"), "{p:?}");
    let (clauses, p) = trace::parse_contract("c.md", ONE_MUST);
    assert!(p.is_empty());
    assert_eq!(clauses[0].level, Level::Must);
    assert_eq!(clauses[0].title, "A rule");
}

/// The repository itself: no parse problem, no traceability problem, and a fresh index.
/// Set `PB_UPDATE_INDEX=1` (what `scripts/update-index` does) to rewrite the index.
#[test]
fn suite_006_repository_is_traceable_and_index_fresh() {
    let (clauses, citations, mut problems) = trace::load_repo();
    problems.extend(trace::check(&clauses, &citations));
    let index = trace::render_index(&clauses, &citations);
    let coverage = index.lines().last().unwrap_or_default();
    println!("{index}");
    assert!(
        problems.is_empty(),
        "traceability problems:\n  {}\n{coverage}",
        problems.join("\n  ")
    );
    let path = trace::root().join("contracts/INDEX.md");
    if std::env::var_os("PB_UPDATE_INDEX").is_some() {
        std::fs::write(&path, &index).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == index,
        "contracts/INDEX.md is stale: regenerate it with `scripts/update-index` and commit it"
    );
}

fn walk_json<'a>(v: &'a serde_json::Value, key: &str, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    if let Some(s) = v.as_str() {
                        out.push(s);
                    }
                }
                walk_json(v, key, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk_json(v, key, out)),
        _ => {}
    }
}

/// Every file below `fixtures/`, sub-folders included.
fn fixture_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![fixtures::dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Every secret-bearing field in every JSON fixture is visibly synthetic.
#[test]
fn suite_007_fixture_secrets_are_synthetic() {
    let mut checked = 0;
    for path in fixture_files() {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(json) =
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).unwrap())
        else {
            continue; // deliberately broken fixtures (truncated JSON) hold no secrets
        };
        for key in ["secretValue", "accessToken", "clientSecret"] {
            let mut values = Vec::new();
            walk_json(&json, key, &mut values);
            for v in values {
                checked += 1;
                assert!(
                    v.to_lowercase().contains("synthetic") || v == "<hidden-by-infisical>",
                    "{}: a {key} is not marked synthetic",
                    path.display()
                );
            }
        }
    }
    assert!(checked > 0, "no fixture secret found: the walk is broken");
}

/// The failure report shows the command, the masked environment, the code and both streams.
#[test]
fn suite_008_failure_report_masks_secrets() {
    let secret = "synthetic-report-secret-0001";
    let cli = Cli::canary()
        .secret_env("INFISICAL_TOKEN", secret)
        .env("INFISICAL_PROJECT_ID", "proj-1")
        .arg("--version");
    let described = cli.describe();
    assert_eq!(
        described,
        "INFISICAL_TOKEN=[SECRET] INFISICAL_PROJECT_ID=proj-1 write-canary-env --version"
    );
    let msg = panic_of(|| {
        let _ = cli.exits(9).stdout(VERSION.as_str()).run();
    });
    for part in [
        "expected exit code 9, got 0\n",
        "command: INFISICAL_TOKEN=[SECRET] INFISICAL_PROJECT_ID=proj-1 write-canary-env --version\n",
        "exit code: 0\n",
        &format!("--- stdout ---\n{}\n--- stderr ---\n\n", *VERSION),
    ] {
        assert!(msg.contains(part), "missing {part:?} in:\n{msg}");
    }
    assert!(!msg.contains(secret), "{msg}");
}

/// `write-canary-env --version`'s whole stdout.
static VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("write-canary-env {}\n", env!("CARGO_PKG_VERSION")));

/// The panic message of `f`, which must panic.
#[track_caller]
fn panic_of(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .expect_err("expected a failure, the block passed");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Expectations come first and are compared whole: the exact stdout passes; a missing line, an
/// extra stderr (the default is empty) or another exit code fails naming the stream; the
/// placeholders stand for a temporary directory and a port; a registered secret in the output
/// fails even when the text was expected.
#[test]
fn suite_012_expectations_are_stated_first_and_compared_whole() {
    let _ = Cli::canary()
        .arg("--version")
        .exits(0)
        .stdout(VERSION.as_str())
        .run();

    let msg = panic_of(|| {
        let _ = Cli::canary().arg("--version").exits(0).run();
    });
    assert!(msg.starts_with("stdout differs:\n"), "{msg}");

    let msg = panic_of(|| {
        let _ = Cli::canary()
            .arg("--version")
            .exits(0)
            .stdout("write-canary-env\n")
            .run();
    });
    assert!(msg.starts_with("stdout differs:\n"), "{msg}");

    let msg = panic_of(|| {
        let _ = Cli::canary().arg("--no-such-flag").exits(0).run();
    });
    assert!(
        msg.starts_with("expected exit code 0, got 2\nstderr differs:\n"),
        "{msg}"
    );

    // [TMP], [PORT], [MS]: what changes from run to run
    let tmp = Workdir::new();
    let _ = Cli::smoke()
        .args(["--base-url", "http://127.0.0.1:9/v1", "--api-key-file"])
        .path_arg(tmp.join("key"))
        .exits(2)
        .stderr(
            "ollama-compat-smoke: error: cannot read credential file [TMP]/key: entity not found\n",
        )
        .tmp(tmp.path())
        .run();
    let _ = Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/v1", crate::support::refused_url()))
        .args(["--check", "chat_completion"])
        .exits(5)
        .stdout("chat_completion=fail reason=unavailable latency_ms=[MS]\n")
        .stderr(
            "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud \
             auth=none\nchat_completion: the endpoint is unavailable; cannot connect: Connection \
             refused (os error 111)\n",
        )
        .run();

    // a secret in the output fails the run even where the text says so
    let msg = panic_of(|| {
        let _ = Cli::canary()
            .arg("--version")
            .secret("write-canary-env")
            .exits(0)
            .stdout(VERSION.as_str())
            .run();
    });
    assert!(msg.starts_with("secret leaked:"), "{msg}");
}

/// A run nothing looked at fails when dropped; one checked after the run (the older style)
/// does not; a stream declared checked elsewhere must be read; expectations must run.
#[test]
fn suite_013_a_run_nobody_checked_fails() {
    let msg = panic_of(|| drop(Cli::canary().arg("--version").run()));
    assert_eq!(
        msg,
        "the run of `write-canary-env --version` was never checked: nothing compared its exit \
         code or output"
    );
    Cli::canary()
        .arg("--version")
        .run()
        .code(0)
        .stdout_is(&VERSION);

    let msg = panic_of(|| {
        drop(
            Cli::canary()
                .arg("--version")
                .exits(0)
                .stdout_checked_elsewhere("the version line, parsed")
                .run(),
        )
    });
    assert_eq!(
        msg,
        "the run of `write-canary-env --version` was never checked: stdout (the version line, \
         parsed) said to be checked elsewhere, never read"
    );
    let run = Cli::canary()
        .arg("--version")
        .exits(0)
        .stdout_checked_elsewhere("the version line, parsed")
        .run();
    assert!(run.stdout.starts_with("write-canary-env "));

    let msg = panic_of(|| drop(Cli::canary().arg("--version").exits(0)));
    assert_eq!(
        msg,
        "expectations declared for `write-canary-env --version` but the command never ran (.run() \
         is missing)"
    );
}

/// A failure report names the working directory and lists it with modes and owners; a run
/// killed by a signal names it, and says when the watchdog sent it.
#[test]
fn suite_014_report_lists_the_folder_and_names_the_signal() {
    let tmp = Workdir::new();
    let file = tmp.credential_file("token", "synthetic-suite-014", 0o600);
    let owner = crate::support::cli::listing(&file);
    let msg = panic_of(|| {
        let _ = Cli::canary()
            .current_dir(tmp.path())
            .arg("--version")
            .exits(3)
            .run();
    });
    assert!(
        msg.contains(&format!("\nworking directory: {}\n", tmp.path().display())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("--- {} ---\ndrwx", tmp.path().display())),
        "{msg}"
    );
    // the one file, as `ls -l` shows it: mode, owner, group, size, name
    let line = owner.lines().next().unwrap().replace(" .", " ./token");
    assert!(line.starts_with("-rw------- "), "{line}");
    assert!(line.ends_with(" 19 ./token"), "{line}");
    assert!(msg.contains(&line), "no {line:?} in:\n{msg}");

    // a signal is named
    use std::os::unix::process::ExitStatusExt as _;
    let output = std::process::Output {
        status: std::process::ExitStatus::from_raw(nix::libc::SIGTERM),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let run = Run::from_output("write-canary-env".into(), &output, Vec::new());
    assert_eq!(run.exit_text(), "killed by SIGTERM");
    assert!(run.report().contains("\nexit code: killed by SIGTERM\n"));

    // the watchdog's kill says so: a server that accepts and never answers
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", silent.local_addr().unwrap());
    let msg = panic_of(|| {
        let _ = Cli::smoke()
            .args([
                "--base-url",
                &url,
                "--check",
                "chat_completion",
                "--timeout",
                "600",
            ])
            .watchdog(std::time::Duration::from_secs(1))
            .exits(0)
            .stderr_checked_elsewhere("the run is killed")
            .run();
    });
    assert!(
        msg.starts_with(
            "expected exit code 0, got killed by SIGKILL (the 1 s watchdog: the run took longer)"
        ),
        "{msg}"
    );
}

/// `contracts/README.md` lists exactly the contract files that exist.
#[test]
fn suite_009_contract_readme_lists_every_contract() {
    let readme = std::fs::read_to_string(trace::root().join("contracts/README.md")).unwrap();
    let listed: std::collections::BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| ["))
        .filter_map(|l| l.split(']').next())
        .map(str::to_owned)
        .collect();
    let present: std::collections::BTreeSet<String> = trace::contract_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        listed, present,
        "contracts/README.md's table and contracts/*.md differ"
    );
}

/// The exit codes of `binary` that have an expected screen among `names` (the stems of
/// `tests/contract/screens/*.txt`, named `<clause>_<binary>_exit_<code>_<situation>`).
fn screened_codes<'a>(
    names: impl IntoIterator<Item = &'a str>,
    binary: &str,
) -> std::collections::BTreeSet<u8> {
    let marker = format!("_{binary}_exit_");
    names
        .into_iter()
        .filter_map(|name| name.split_once(&marker))
        .filter_map(|(_, rest)| rest.split('_').next()?.parse().ok())
        .collect()
}

/// Every exit code each binary can end with has an expected whole screen, every screen file is
/// compared by a test in `screens.rs`, and every screen a test names exists.
#[test]
fn suite_010_every_exit_code_has_a_whole_screen_test() {
    let dir = trace::root().join("tests/contract/screens");
    let files: std::collections::BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".txt").map(str::to_owned))
        .collect();
    assert_eq!(
        screened_codes(files.iter().map(String::as_str), "canary"),
        [0, 2, 3, 4, 5, 6, 7, 8, 143].into(),
        "write-canary-env exit codes without a whole screen in {}",
        dir.display()
    );
    assert_eq!(
        screened_codes(files.iter().map(String::as_str), "smoke"),
        [0, 1, 2, 3, 4, 5, 143].into(),
        "ollama-compat-smoke exit codes without a whole screen in {}",
        dir.display()
    );
    let source = std::fs::read_to_string(trace::root().join("tests/contract/screens.rs")).unwrap();
    let named: std::collections::BTreeSet<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains("_canary_exit_") || s.contains("_smoke_exit_"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        named,
        files,
        "the screens tests/contract/screens.rs names and the files in {} differ",
        dir.display()
    );
    // The checker itself: a name without an exit code does not count.
    assert!(screened_codes(["inf_001_canary_exit_x_y"], "canary").is_empty());
}

/// `fixtures/README.md`'s table of files (its section "Fixture files") lists exactly the files under `fixtures/` (but the
/// README itself), each row with a source and a verdict.
#[test]
fn suite_011_fixture_provenance_table_is_complete() {
    let readme = std::fs::read_to_string(fixtures::dir().join("README.md")).unwrap();
    let mut listed = std::collections::BTreeSet::new();
    let section = readme
        .lines()
        .skip_while(|l| *l != "## Fixture files")
        .skip(1)
        .take_while(|l| !l.starts_with("## "));
    for line in section {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((file, rest)) = rest.split_once('`') else {
            continue;
        };
        let cells: Vec<&str> = rest.split(" | ").collect();
        assert!(
            cells.len() >= 4 && cells.iter().skip(1).all(|c| !c.trim().is_empty()),
            "fixtures/README.md: the row of {file} needs what it stands for, a source and a verdict"
        );
        assert!(listed.insert(file.to_owned()), "{file} is listed twice");
    }
    let mut present = std::collections::BTreeSet::new();
    for path in fixture_files() {
        let rel = path.strip_prefix(fixtures::dir()).unwrap();
        let rel = rel.to_string_lossy().into_owned();
        if rel != "README.md" {
            present.insert(rel);
        }
    }
    let unlisted: Vec<_> = present.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&present).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "fixtures/README.md: files without a row: {unlisted:?}; rows without a file: {missing:?}"
    );
}

/// The "known by" column of `fixtures/README.md`'s table of files: one word of the
/// vocabulary per row; the recording at 593bda8b known as recorded; a recorded row says where.
#[test]
fn suite_020_provenance_table_says_how_each_answer_is_known() {
    let readme = std::fs::read_to_string(fixtures::dir().join("README.md")).unwrap();
    let known_words = [
        "recorded",
        "read in source",
        "public report",
        "synthetic",
        "input",
    ];
    let mut rows = 0;
    let mut seen = std::collections::BTreeSet::new();
    let section = readme
        .lines()
        .skip_while(|l| *l != "## Fixture files")
        .skip(1)
        .take_while(|l| !l.starts_with("## "));
    for line in section {
        if line.starts_with("| file ") {
            assert_eq!(
                line, "| file | stands for | source | known by | verdict |",
                "fixtures/README.md: the table's columns"
            );
            continue;
        }
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let (file, rest) = rest.split_once('`').unwrap();
        let cells: Vec<&str> = rest.split(" | ").map(str::trim).collect();
        let (source, known) = (cells[2], cells[3]);
        assert!(
            known_words.contains(&known),
            "fixtures/README.md: {file} is known by {known:?}, not one of {known_words:?}"
        );
        if file.starts_with("infisical/593bda8b/") {
            assert_eq!(known, "recorded", "{file} was recorded at 593bda8b");
        }
        if known == "recorded" {
            assert!(
                source.contains("REC") || source.contains("recorded"),
                "fixtures/README.md: {file} is recorded but its source does not say where"
            );
        }
        seen.insert(known);
        rows += 1;
    }
    assert!(rows > 100, "only {rows} rows read: the walk is broken");
    assert!(
        ["recorded", "read in source", "public report"]
            .iter()
            .all(|k| seen.contains(k)),
        "{seen:?}"
    );
}
