//! Running a document like an operator: the stage (the stand-ins, a temporary root, the
//! environment built from the document's values block), the variable check, and the runner
//! that pipes each runnable block (or each workflow step) through `bash -euo pipefail` and
//! reports a block that exits other than its doc says or prints a secret.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;

use regex::Regex;

use super::chat::{Chat, MODEL};
use super::infisical::{Infisical, PROJECT, PROVIDER_KEY, PROVIDERS_FIXTURE, Routes};
use super::leak;
use super::markdown::{Block, parse_values};
use super::workflow::{github_env_exports, parse_workflow};

// ---------------------------------------------------------------------------------------------
// The variable check (DOC-003, DOC-004)

static EXPANSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{?([A-Z_][A-Z0-9_]*)").unwrap());
static ASSIGNMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?:^|[\s;(&|"])([A-Z_][A-Z0-9_]*)="#).unwrap());
static READ: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bread\s+(?:-\S+\s+)*([A-Z_][A-Z0-9_]*)").unwrap());

/// Variables the runner (or the shell) provides, never set by a doc.
const PROVIDED: &[&str] = &["GITHUB_ENV", "HOME", "PATH"];

/// Every problem with the variables of one document's runnable blocks.
pub fn check_variables(blocks: &[Block]) -> Vec<String> {
    let mut problems = Vec::new();
    let values: Vec<&Block> = blocks.iter().filter(|b| b.values()).collect();
    if values.len() > 1 {
        problems.push(format!("{}: more than one values block", values[1].place()));
    }
    let set: BTreeSet<String> = values
        .iter()
        .flat_map(|b| parse_values(b))
        .map(|(k, _)| k)
        .collect();
    for block in blocks.iter().filter(|b| b.runnable()) {
        let mut scripts = vec![block.body.clone()];
        if block.lang == "yaml" {
            let (steps, env_keys) = parse_workflow(block);
            if steps.is_empty() {
                problems.push(format!(
                    "{}: a workflow block with no `run: |` script",
                    block.place()
                ));
            }
            for k in env_keys {
                if !set.contains(&k) {
                    problems.push(format!(
                        "{}: the workflow's env: names {k}, which the values block does not set",
                        block.place()
                    ));
                }
            }
            for s in &steps {
                if s.script.contains("${{") {
                    problems.push(format!(
                        "{}:{}: a run script holds a ${{{{ … }}}} expression; put it in env:",
                        block.file, s.line
                    ));
                }
            }
            scripts = steps.into_iter().map(|s| s.script).collect();
        }
        let all = scripts.join("\n");
        let mut local: BTreeSet<String> = ASSIGNMENT
            .captures_iter(&all)
            .map(|c| c[1].to_owned())
            .collect();
        local.extend(READ.captures_iter(&all).map(|c| c[1].to_owned()));
        for c in EXPANSION.captures_iter(&all) {
            let name = &c[1];
            if !set.contains(name) && !local.contains(name) && !PROVIDED.contains(&name) {
                problems.push(format!(
                    "{}: the block reads ${name}, which the values block does not set",
                    block.place()
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

// ---------------------------------------------------------------------------------------------
// The stand-ins and the environment

/// The Token Auth token of the docs: the runbooks' operator pastes it (stdin) or keeps it in
/// `$TOKEN_FILE`.
pub const TOKEN: &str = "synthetic-docs-identity-token-0001";

/// The values the Infisical stand-in serves the docs, by key.
pub fn served() -> BTreeMap<String, String> {
    super::fixtures::values(PROVIDERS_FIXTURE)
}

/// Infisical as the docs meet it, answering as a current server does: the list route answers
/// the route table (`/home-platform/providers` is the providers fixture; a folder it does not
/// name is a 404 `SecretPathNotFound`) to exactly `Bearer <TOKEN>`; anything else is a 401.
pub async fn infisical() -> Infisical {
    Infisical::builder()
        .routes(Routes::load())
        .only_token(TOKEN)
        .start()
        .await
}

/// The chat endpoint, as Ollama Cloud would answer the docs: only the key Infisical serves is
/// accepted (else 401), only [`MODEL`] exists (else 404), and each check gets a passing answer.
pub async fn chat() -> Chat {
    Chat::builder()
        .passing()
        .only_key(&served()[PROVIDER_KEY])
        .only_model(MODEL)
        .start()
        .await
}

/// Where a document runs: the stand-ins, the temporary directory, the environment.
pub struct Stage {
    pub infisical: String,
    pub chat: String,
    pub dir: tempfile::TempDir,
}

impl Stage {
    /// A fresh stage and its two stand-ins (keep them alive while the stage is used).
    pub async fn new() -> (Stage, Infisical, Chat) {
        let i = infisical().await;
        let c = chat().await;
        let stage = Stage {
            infisical: i.url(),
            chat: c.base_url(),
            dir: tempfile::tempdir().unwrap(),
        };
        (stage, i, c)
    }

    /// `/x/y` as seen by the blocks: `<tmp>/root/x/y`.
    pub fn rooted(&self, abs: &str) -> PathBuf {
        self.dir
            .path()
            .join("root")
            .join(abs.trim_start_matches('/'))
    }

    pub fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }

    /// The stand-in for one value of the values block, or why there is none.
    pub fn stand_in(&self, name: &str, value: &str) -> Result<String, String> {
        let user = || {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name)
        };
        let group = || {
            nix::unistd::Group::from_gid(nix::unistd::getgid())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::getgid().to_string(), |g| g.name)
        };
        Ok(match name {
            "INFISICAL_API_URL" | "INFISICAL_DOMAIN" => self.infisical.clone(),
            "OLLAMA_BASE_URL" => self.chat.clone(),
            "INFISICAL_PROJECT_ID" => PROJECT.to_owned(),
            n if n.ends_with("_USER") || n.ends_with("_OWNER") => user(),
            n if n.ends_with("_GROUP") => group(),
            _ if value.starts_with('/') => self.rooted(value).display().to_string(),
            _ if value.contains("://") => {
                return Err(format!(
                    "{name}={value} is a URL the test has no stand-in for: add one in docs.rs"
                ));
            }
            _ => value.to_owned(),
        })
    }

    /// The environment every block of a document starts with.
    pub fn env(&self, values: &[(String, String)]) -> Result<BTreeMap<String, String>, String> {
        let bins = assert_cmd::cargo::cargo_bin("write-canary-env");
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_owned(),
            format!(
                "{}:{}",
                bins.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        env.insert("HOME".to_owned(), self.work().display().to_string());
        for (k, v) in values {
            env.insert(k.clone(), self.stand_in(k, v)?);
        }
        Ok(env)
    }
}

/// What the operator's machine holds before a runbook starts.
pub fn given(file: &str, env: &BTreeMap<String, String>) {
    // The switch runbook assumes the host already holds its token (the runner runbook makes one).
    if file.ends_with("honcho-ollama-gemma-switch.md") {
        let token_file = PathBuf::from(&env["TOKEN_FILE"]);
        std::fs::create_dir_all(token_file.parent().unwrap()).unwrap();
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Running

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs one script like an operator pasting it: `bash -euo pipefail`, stdin holding the token
/// they would paste.
pub fn run_script(script: &str, env: &BTreeMap<String, String>, cwd: &Path) -> Outcome {
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash starts");
    // A block that does not read stdin may exit before the write: ignore a broken pipe.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{TOKEN}\n").as_bytes());
    let out = child.wait_with_output().expect("bash finishes");
    let out = Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // `PB_DOCS_SHOW=1 cargo test --test contract docs:: -- --nocapture` shows every block's
    // output, for writing the "expect …" lines of a doc.
    if std::env::var_os("PB_DOCS_SHOW").is_some() {
        println!(
            "$ {}\n[exit {:?}]\n{}{}",
            script.trim_end().replace('\n', "\n$ "),
            out.code,
            out.stdout,
            out.stderr
        );
    }
    out
}

/// The report of a block that did not exit as its doc says (DOC-006).
pub fn report(place: &str, why: &str, script: &str, out: &Outcome) -> String {
    format!(
        "{place}: {why}\n--- script ---\n{script}--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        out.stdout, out.stderr
    )
}

/// Why a block's exit code is not the one its doc says, if it is not.
pub fn wrong_exit(expected: i32, out: &Outcome) -> Option<String> {
    (out.code != Some(expected)).then(|| {
        format!(
            "the block exited {}, the doc says {expected}",
            out.code.map_or("by a signal".to_owned(), |c| c.to_string())
        )
    })
}

/// What a document's run showed, for the assertions that follow it.
#[derive(Default)]
pub struct Ran {
    /// Blocks (or workflow steps) run.
    pub blocks: usize,
    /// `PLATFORMCTL_COMPOSE_ENV_FILE` as a workflow exported it, with the file's mode right
    /// after the step that exported it, and whether it still exists at the end.
    pub compose_env: Option<(PathBuf, Option<u32>, bool)>,
}

/// Runs every runnable block of one document, in order; `Err` is the failure report.
pub fn run_document(
    stage: &Stage,
    file: &str,
    blocks: &[Block],
    secrets: &[&str],
) -> Result<Ran, String> {
    let values: Vec<(String, String)> = blocks
        .iter()
        .filter(|b| b.values())
        .flat_map(parse_values)
        .collect();
    let env = stage.env(&values).map_err(|e| format!("{file}: {e}"))?;
    given(file, &env);
    let cwd = stage.work();
    let mut ran = Ran::default();
    for block in blocks.iter().filter(|b| b.runnable()) {
        if block.lang == "yaml" {
            let github_env = stage.dir.path().join(format!("github-env-{}", block.line));
            std::fs::write(&github_env, "").unwrap();
            let mut env = env.clone();
            env.insert("GITHUB_ENV".to_owned(), github_env.display().to_string());
            let (steps, _) = parse_workflow(block);
            for step in &steps {
                let out = run_script(&step.script, &env, &cwd);
                let place = format!("{file}:{}", step.line);
                check_output(&place, &step.script, &out, secrets)?;
                if let Some(why) = wrong_exit(0, &out) {
                    return Err(report(&place, &why, &step.script, &out));
                }
                ran.blocks += 1;
                env.extend(github_env_exports(
                    &std::fs::read_to_string(&github_env).unwrap(),
                ));
                if let Some(p) = env.get("PLATFORMCTL_COMPOSE_ENV_FILE") {
                    let p = PathBuf::from(p);
                    if ran.compose_env.is_none() {
                        let mode = std::fs::metadata(&p)
                            .ok()
                            .map(|m| m.permissions().mode() & 0o7777);
                        ran.compose_env = Some((p, mode, true));
                    }
                }
            }
            if let Some((p, _, exists)) = &mut ran.compose_env {
                *exists = p.exists();
            }
        } else {
            let out = run_script(&block.body, &env, &cwd);
            check_output(&block.place(), &block.body, &out, secrets)?;
            if let Some(why) = wrong_exit(block.expected_exit(), &out) {
                return Err(report(&block.place(), &why, &block.body, &out));
            }
            if let Some(text) = block
                .expected_stdout()
                .into_iter()
                .find(|t| !out.stdout.contains(t))
            {
                let why = format!("stdout lacks {text:?}, which the doc says it prints");
                return Err(report(&block.place(), &why, &block.body, &out));
            }
            ran.blocks += 1;
        }
    }
    Ok(ran)
}

/// DOC-002: no secret in either stream, in any form the leak detector knows.
pub fn check_output(
    place: &str,
    script: &str,
    out: &Outcome,
    secrets: &[&str],
) -> Result<(), String> {
    let leaks = leak::find_leaks(&[("stdout", &out.stdout), ("stderr", &out.stderr)], secrets);
    if leaks.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = leaks.iter().map(ToString::to_string).collect();
    Err(format!(
        "{place}: a block printed a secret:\n  {}\n--- script ---\n{script}--------------",
        list.join("\n  ")
    ))
}

/// Every secret a block must not print: the token and every value Infisical serves.
pub fn secrets() -> Vec<String> {
    let mut s = vec![TOKEN.to_owned()];
    s.extend(served().into_values());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: Option<i32>, stdout: &str) -> Outcome {
        Outcome {
            code,
            stdout: stdout.to_owned(),
            stderr: String::new(),
        }
    }

    #[test]
    fn exit_codes_and_reports() {
        assert_eq!(wrong_exit(0, &outcome(Some(0), "")), None);
        let why = wrong_exit(2, &outcome(None, "")).unwrap();
        assert_eq!(why, "the block exited by a signal, the doc says 2");
        let r = report("docs/x.md:3", &why, "false\n", &outcome(Some(1), "out"));
        assert!(
            r.starts_with("docs/x.md:3: the block exited by a signal"),
            "{r}"
        );
        assert!(
            r.contains("--- script ---\nfalse\n--- stdout ---\nout\n"),
            "{r}"
        );
    }

    #[test]
    fn printed_secrets_are_reported_never_shown() {
        let out = outcome(Some(0), "synthetic-runbook-secret-1");
        let err = check_output(
            "docs/x.md:1",
            "echo\n",
            &out,
            &["synthetic-runbook-secret-1"],
        )
        .unwrap_err();
        assert!(
            err.contains("docs/x.md:1: a block printed a secret"),
            "{err}"
        );
        assert!(check_output("p", "s", &outcome(Some(0), "clean"), &["synthetic-x-2"]).is_ok());
    }

    #[test]
    fn stage_replaces_paths_urls_and_users() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stage, _i, _c) = rt.block_on(Stage::new());
        assert_eq!(
            stage.stand_in("INFISICAL_API_URL", "https://x").unwrap(),
            stage.infisical
        );
        assert_eq!(
            stage.stand_in("OLLAMA_BASE_URL", "https://x").unwrap(),
            stage.chat
        );
        assert_eq!(
            stage.stand_in("INFISICAL_PROJECT_ID", "p").unwrap(),
            PROJECT
        );
        assert_eq!(stage.stand_in("LEVEL", "3").unwrap(), "3");
        assert!(stage.stand_in("OTHER_URL", "https://x").is_err());
    }
}
