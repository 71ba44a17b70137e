//! Proves `contracts/suite.md`: the traceability rules, run over synthetic contracts and tests,
//! and then over the repository itself.

use crate::support::fixtures;
use crate::support::trace::{self, Level};

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
    let cli = crate::support::Cli::canary()
        .secret_env("INFISICAL_TOKEN", secret)
        .env("INFISICAL_PROJECT_ID", "proj-1")
        .arg("--version");
    let described = cli.describe();
    assert!(
        described.contains("INFISICAL_TOKEN=[SECRET]"),
        "{described}"
    );
    assert!(
        described.contains("INFISICAL_PROJECT_ID=proj-1"),
        "{described}"
    );
    assert!(!described.contains(secret));
    let run = cli.run();
    let report = run.report();
    for part in [
        "command: INFISICAL_TOKEN=[SECRET]",
        "exit code: 0",
        "--- stdout ---\nwrite-canary-env",
        "--- stderr ---",
    ] {
        assert!(report.contains(part), "missing {part:?} in:\n{report}");
    }
    let failed = std::panic::catch_unwind(|| {
        run.code(9);
    })
    .expect_err("a wrong exit code must fail");
    let msg = failed.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("expected exit code 9") && msg.contains("[SECRET]") && !msg.contains(secret),
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
