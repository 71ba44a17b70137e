//! Proves `contracts/docs.md` (DOC-001 to DOC-008): every runnable block of `docs/` runs as
//! written against the stand-ins and prints no secret, every variable it reads is set by its
//! doc, the runner runbook's workflow runs step by step like a runner, every runbook holds
//! runnable blocks with known markers, a failing block explains itself, and every link from
//! `docs/` into the repository resolves (anchors and clause IDs included).
//!
//! In the style of just's `tests/readme.rs`: the blocks are extracted from the Markdown and run
//! with `bash -euo pipefail`, one temporary working directory per document, `PATH` led by the
//! built binaries. The document's `sh values` block names the operator's real values; the stage
//! replaces each one that points outside (a path, a URL, a user or group) with a stand-in's:
//! an absolute path `/x/y` becomes `<tmp>/root/x/y`, the Infisical and chat URLs become the
//! `pb-stand-ins` servers, `*_USER`/`*_OWNER` and `*_GROUP` become the test's own user and
//! primary group.
//!
//! The machinery is support code with unit tests of its own: the fence parser
//! (`support/markdown.rs`), the workflow interpreter (`support/workflow.rs`), the stage and the
//! runner (`support/runbook.rs`) and the link checker (`support/links.rs`). This module holds
//! only the DOC tests.

use regex::Regex;

use crate::support::links::{LINK, broken_links, slug};
use crate::support::markdown::{Block, docs, parse_blocks, prose};
use crate::support::runbook::{Stage, check_variables, run_document, secrets};
use crate::support::trace::root;
use crate::support::workflow::parse_workflow;

/// Every runnable block of every doc runs against the stand-ins and exits as its doc says
/// (DOC-001), printing no secret (DOC-002); before that, every variable a block reads is set
/// by its doc's values block and every path and URL in it is replaced (DOC-003); the
/// workflow block runs step by step like a runner, hands `PLATFORMCTL_COMPOSE_ENV_FILE` on,
/// and cleans up (DOC-004).
#[tokio::test]
async fn doc_001_doc_002_doc_003_doc_004_runnable_blocks_run_as_written() {
    let secrets = secrets();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let mut problems = Vec::new();
    let mut total = 0;
    let mut compose = Vec::new();
    for (file, text) in docs() {
        let (blocks, p) = parse_blocks(&file, &text);
        problems.extend(p);
        problems.extend(check_variables(&blocks));
        if !problems.is_empty() || !blocks.iter().any(Block::runnable) {
            continue;
        }
        let (stage, _infisical, _chat) = Stage::new().await;
        match run_document(&stage, &file, &blocks, &secrets) {
            Ok(ran) => {
                total += ran.blocks;
                if let Some(c) = ran.compose_env {
                    compose.push((file.clone(), c));
                }
            }
            Err(report) => problems.push(report),
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
    assert!(
        total >= 10,
        "only {total} runnable blocks ran: the extraction is broken"
    );
    // DOC-004: the runner runbook's workflow hands the env file on and cleans up.
    let (file, (path, mode, exists)) = compose
        .iter()
        .find(|(f, _)| f.ends_with("forgejo-actions-runner.md"))
        .expect("the runner runbook's workflow exports PLATFORMCTL_COMPOSE_ENV_FILE");
    assert_eq!(
        *mode,
        Some(0o600),
        "{file}: {} should have been mode 0600 after the render step",
        path.display()
    );
    assert!(
        !exists,
        "{file}: {} is still there after the workflow's last step",
        path.display()
    );
}

/// The variable check sees a variable no values block sets, accepts ones the block assigns or
/// reads itself, and refuses a path or URL the test cannot replace (DOC-003).
#[tokio::test]
async fn doc_003_unset_variables_and_unreplaceable_values_are_caught() {
    let doc = "```sh values\nexport A_DIR=/etc/x\n```\n\n```sh runnable\n\
               IFS= read -rs TOKEN\nLOCAL=1\necho \"$A_DIR $LOCAL $TOKEN ${MISSING:-} $HOME\"\n```\n";
    let (blocks, p) = parse_blocks("docs/x.md", doc);
    assert!(p.is_empty(), "{p:?}");
    let problems = check_variables(&blocks);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("docs/x.md:5") && problems[0].contains("$MISSING"),
        "{problems:?}"
    );

    let (stage, _i, _c) = Stage::new().await;
    let env = stage
        .env(&[("A_DIR".to_owned(), "/etc/x".to_owned())])
        .unwrap();
    assert_eq!(
        env["A_DIR"],
        stage.dir.path().join("root/etc/x").display().to_string()
    );
    let err = stage
        .env(&[("ELSEWHERE".to_owned(), "https://example.invalid".to_owned())])
        .unwrap_err();
    assert!(err.contains("ELSEWHERE"), "{err}");
}

/// A workflow block: `run: |` scripts are extracted in order and dedented, `env:` names must
/// be in the values block, and an expression inside a script is refused (DOC-004).
#[test]
fn doc_004_workflow_scripts_and_env_are_checked() {
    let doc = "```sh values\nexport KNOWN=1\n```\n\n```yaml runnable\njobs:\n  j:\n    env:\n      KNOWN: ${{ vars.KNOWN }}\n      UNKNOWN: x\n    steps:\n      - name: one\n        run: |\n          echo \"$KNOWN\"\n\n          echo two\n      - run: |\n          echo ${{ github.sha }}\n```\n";
    let (blocks, p) = parse_blocks("docs/w.md", doc);
    assert!(p.is_empty(), "{p:?}");
    let (steps, env) = parse_workflow(&blocks[1]);
    assert_eq!(env, ["KNOWN", "UNKNOWN"]);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].script, "echo \"$KNOWN\"\n\necho two\n");
    assert_eq!(steps[0].line, 13);
    let problems = check_variables(&blocks);
    assert!(
        problems.iter().any(|p| p.contains("UNKNOWN")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("docs/w.md:17") && p.contains("expression")),
        "{problems:?}"
    );
}

/// Each runbook holds runnable blocks, no doc has an unknown marker, and a misspelt marker
/// is named with its file and line (DOC-005).
#[test]
fn doc_005_runbooks_have_runnable_blocks_and_markers_are_known() {
    let mut runbooks = 0;
    for (file, text) in docs() {
        let (blocks, problems) = parse_blocks(&file, &text);
        assert!(problems.is_empty(), "{problems:?}");
        if file.starts_with("docs/runbooks/") {
            runbooks += 1;
            assert!(
                blocks.iter().any(Block::runnable),
                "{file} holds no runnable block"
            );
        }
    }
    assert!(runbooks >= 2, "the runbooks were not found");

    let typo = "text\n\n```sh runable\necho hi\n```\n\n```sh runnable exit=x\nfalse\n```\n";
    let (_, problems) = parse_blocks("docs/t.md", typo);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("docs/t.md:3") && problems[0].contains("runable"));
    assert!(problems[1].contains("docs/t.md:7") && problems[1].contains("exit=x"));
}

/// A block that exits other than its doc says is reported with its place, both codes, the
/// script and both streams; an `exit=N` block passes on N (DOC-006).
#[tokio::test]
async fn doc_006_failing_block_explains_itself() {
    let doc = "```sh runnable\necho to-stdout; echo to-stderr >&2; exit 3\n```\n\n```sh runnable exit=3\nexit 3\n```\n";
    let (blocks, _) = parse_blocks("docs/f.md", doc);
    let (stage, _i, _c) = Stage::new().await;
    let err = run_document(&stage, "docs/f.md", &blocks, &[])
        .err()
        .expect("the first block fails");
    for part in [
        "docs/f.md:1",
        "exited 3, the doc says 0",
        "echo to-stdout; echo to-stderr >&2; exit 3",
        "--- stdout ---\nto-stdout",
        "--- stderr ---\nto-stderr",
    ] {
        assert!(err.contains(part), "missing {part:?} in:\n{err}");
    }
    let ran = run_document(&stage, "docs/f.md", &blocks[1..], &[]).unwrap();
    assert_eq!(ran.blocks, 1);
    // stdout=TEXT: the block's stdout must hold TEXT.
    let (said, _) = parse_blocks(
        "docs/s.md",
        "```sh runnable stdout=reason=auth stdout=auth=none\necho reason=auth auth=bearer\n```\n",
    );
    assert_eq!(said[0].expected_stdout(), ["reason=auth", "auth=none"]);
    let err = run_document(&stage, "docs/s.md", &said, &[])
        .err()
        .expect("a missing stdout text fails");
    assert!(
        err.contains("docs/s.md:1: stdout lacks \"auth=none\"") && err.contains("auth=bearer"),
        "{err}"
    );
    // DOC-002 in the same runner: a printed secret fails the block even when it exits 0.
    let (leaky, _) = parse_blocks(
        "docs/l.md",
        "```sh runnable\necho \"$HOME\" synthetic-x-1\n```\n",
    );
    let err = run_document(&stage, "docs/l.md", &leaky, &["synthetic-x-1"])
        .err()
        .expect("a leak fails");
    assert!(err.contains("printed a secret"), "{err}");
}

/// The slug rule on the headings this repository has, then every link of every doc (DOC-007).
#[test]
fn doc_007_links_and_clause_anchors_resolve() {
    for (heading, anchor) in [
        (
            "FILE-003 — Owner and group before the file is visible",
            "file-003--owner-and-group-before-the-file-is-visible",
        ),
        (
            "FILE-001 — The file gets exactly --output-mode",
            "file-001--the-file-gets-exactly---output-mode",
        ),
        (
            "FILE-002 — \"Other\" bits need --allow-world-readable",
            "file-002--other-bits-need---allow-world-readable",
        ),
        (
            "SEC-030 — The key comes from OLLAMA_CLOUD_API_KEY by default",
            "sec-030--the-key-comes-from-ollama_cloud_api_key-by-default",
        ),
        (
            "1. The identity and its permissions",
            "1-the-identity-and-its-permissions",
        ),
    ] {
        assert_eq!(slug(heading), anchor, "{heading}");
    }

    let mut problems = Vec::new();
    let mut links = 0;
    for (file, text) in docs() {
        links += LINK.captures_iter(&prose(&text)).count();
        problems.extend(broken_links(&root(), &file, &text));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(
        links >= 40,
        "only {links} links found: the link scan is broken"
    );

    // The checker itself: a wrong anchor, a clause label on another clause's anchor, a
    // missing file.
    let bad = "[FILE-003](../../contracts/env-file.md#file-003--owner)\n\
               [FILE-004](../../contracts/env-file.md#file-003--owner-and-group-before-the-file-is-visible)\n\
               [x](../../contracts/nope.md)\n";
    let problems = broken_links(&root(), "docs/ci/x.md", bad);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("no heading generates"), "{problems:?}");
    assert!(
        problems[1].contains("FILE-004's heading is"),
        "{problems:?}"
    );
    assert!(problems[2].contains("no such file"), "{problems:?}");
}

/// Every promise row of the runner contract links a clause (DOC-008).
#[test]
fn doc_008_every_runner_contract_row_links_a_clause() {
    let file = "docs/ci/runner-contract.md";
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let clause_link = Regex::new(r"\]\(\.\./\.\./contracts/[a-z-]+\.md#[a-z0-9_-]+\)").unwrap();
    let mut rows = 0;
    for (i, l) in lines.iter().enumerate() {
        let is_row = l.starts_with('|');
        let is_rule = l.starts_with("|---") || l.starts_with("| ---");
        let is_header = lines.get(i + 1).is_some_and(|n| n.starts_with("|---"));
        if !is_row || is_rule || is_header {
            continue;
        }
        rows += 1;
        assert!(
            clause_link.is_match(l),
            "{file}:{}: this promise links no clause:\n{l}",
            i + 1
        );
    }
    assert!(rows >= 20, "only {rows} promise rows found");
}

/// The rows of the table of `## <heading>` in `doc`: each row's cells, trimmed.
fn table_rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    doc.lines()
        .skip_while(|l| l.strip_prefix("## ") != Some(heading))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| ") && !l.starts_with("|---"))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Each message that says more than its status is in the failure table with what to do, in
/// the binary's own words: each phrase is on the whole screen of its test and in a row.
#[test]
fn doc_020_failure_table_lists_every_message_with_what_to_do() {
    let doc = std::fs::read_to_string(root().join("docs/write-canary-env.md")).unwrap();
    let rows = table_rows(
        &doc,
        "Failures: what the server said, what you read, what to do",
    );
    assert!(
        rows.len() >= 10,
        "the failure table has {} rows",
        rows.len()
    );
    for (screen, phrase) in [
        (
            "inf_039_canary_exit_3_role_not_covering_the_path",
            "the credentials worked, but the identity's role does not allow reading secrets at",
        ),
        (
            "inf_040_canary_exit_3_token_error",
            "the access token is malformed, expired or not issued by this instance: check the token file (or variable) and that --api-url names the instance that issued it",
        ),
        (
            "inf_041_canary_exit_3_not_a_member",
            "the identity is not a member of project",
        ),
        (
            "inf_042_canary_exit_3_unknown_client_id",
            "refused with status 404 (the client ID is unknown to this instance:",
        ),
        (
            "inf_043_canary_exit_2_older_validation_failure",
            "the request was rejected with status 401 (check --project-id, --env and --path); the server said: ValidationFailure:",
        ),
        (
            "inf_044_canary_exit_3_read_value_other_wording",
            "but lacks the read-value permission there (readValue)",
        ),
        (
            "inf_045_canary_exit_4_secret_path_not_found_without_path",
            "not found (status 404: no folder",
        ),
        ("inf_015_canary_exit_4_empty", "no secrets found at"),
        (
            "inf_014_canary_exit_4_missing_key",
            "key not found in any path:",
        ),
        (
            "inf_046_canary_exit_5_rate_limit_waits_said",
            "the server's rate limit (429, retry-after); then attempt",
        ),
        ("inf_046_canary_exit_5_rate_limit_waits_said", "(gave up:"),
    ] {
        let shown =
            std::fs::read_to_string(root().join(format!("tests/contract/screens/{screen}.txt")))
                .unwrap();
        assert!(shown.contains(phrase), "{screen} does not show {phrase:?}");
        let row = rows.iter().find(|r| r.iter().any(|c| c.contains(phrase)));
        let Some(row) = row else {
            panic!("docs/write-canary-env.md: no failure-table row quotes {phrase:?}");
        };
        assert!(
            row.len() == 3 && row.iter().all(|c| !c.is_empty()),
            "the row of {phrase:?} needs what the server said, the message and what to do"
        );
    }
}

/// The request counts the doc states hold: Universal Auth with three paths is four
/// requests; one retried answer is one more; and the doc says so, with the shared limit.
#[tokio::test]
async fn doc_021_requests_per_run_documented_and_true() {
    use crate::support::infisical::*;
    use crate::support::{Workdir, canary, fixture_json};
    use wiremock::ResponseTemplate;
    let doc = std::fs::read_to_string(root().join("docs/write-canary-env.md")).unwrap();
    let section: String = doc
        .lines()
        .skip_while(|l| *l != "## Requests per run")
        .take_while(|l| *l == "## Requests per run" || !l.starts_with("## "))
        .collect::<Vec<_>>()
        .join("\n");
    for said in [
        "1 per `--path`",
        "`P + 1` with Universal Auth",
        "3 attempts in all",
        "**40 secrets requests a minute per client IP**",
        "shares the same 40",
    ] {
        assert!(section.contains(said), "the section does not say {said:?}");
    }
    for retried in [false, true] {
        let inf = Infisical::start().await;
        let wd = Workdir::new();
        inf.login(
            ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
            1,
        )
        .await;
        if retried {
            inf.respond_first(ResponseTemplate::new(503), 1).await;
        }
        inf.respond(
            ResponseTemplate::new(200).set_body_json(list_answer("/", &[])),
            3,
        )
        .await;
        // Which path meets the 503 is the race's (the three are fetched together): stderr is
        // that path's wait, if any, then the warning, compared below.
        let run = canary(&inf.url(), &wd.output())
            .args([
                "--path",
                "/a",
                "--path",
                "/b",
                "--path",
                "/c",
                "--allow-empty",
            ])
            .args(["--auth", "universal-auth", "--client-id", "client-0001"])
            .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "synthetic-cs-Pp5")
            .exits(0)
            .stdout(format!(
                "written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 0 keys from project \
                 {PROJECT}, environment {ENV}, paths /a /b /c\n"
            ))
            .stderr_checked_elsewhere("a wait (when retried), then the warning, compared below")
            .tmp(wd.path())
            .run();
        let warning = format!(
            "write-canary-env: warning: no secrets found at /a, /b, /c in environment {ENV}; \
             writing a file with only the header because --allow-empty was given (an empty \
             answer can also mean a missing folder or an identity not allowed to see it)\n"
        );
        let waits: Vec<String> = if retried {
            ["/a", "/b", "/c"]
                .iter()
                .map(|p| {
                    format!(
                        "write-canary-env: waiting 0.1 s: the server is unavailable (503), \
                         backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path {p}\n"
                    )
                })
                .collect()
        } else {
            vec![String::new()]
        };
        assert!(
            waits.iter().any(|w| run.stderr == format!("{w}{warning}")),
            "{}",
            run.report()
        );
        assert_eq!(inf.requests().await.len(), 4 + usize::from(retried));
    }
}

/// The instance files of the "Run it from systemd" sections: every variable they set is one
/// the binary's `--help` names (an `EnvironmentFile=` line the binary ignores would be silent).
#[test]
fn doc_025_instance_files_name_only_variables_the_binary_reads() {
    for (doc, bin) in [
        ("docs/write-canary-env.md", "write-canary-env"),
        ("docs/ollama-compat-smoke.md", "ollama-compat-smoke"),
        (
            "docs/runbooks/honcho-ollama-gemma-switch.md",
            "write-canary-env",
        ),
    ] {
        let help = std::process::Command::new(assert_cmd::cargo::cargo_bin(bin))
            .arg("--help")
            .output()
            .expect("--help");
        let help = String::from_utf8(help.stdout).unwrap();
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        let (blocks, problems) = parse_blocks(doc, &text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut names = 0;
        for block in blocks.iter().filter(|b| b.lang == "ini") {
            for line in block.body.lines().map(str::trim) {
                let Some((name, _)) = line.split_once('=') else {
                    continue;
                };
                if line.starts_with('#')
                    || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                {
                    continue;
                }
                names += 1;
                assert!(
                    help.contains(name),
                    "{doc}:{}: {name} is not a variable `{bin} --help` names",
                    block.line
                );
            }
        }
        assert!(names >= 3, "{doc}: only {names} instance variables found");
    }
}
