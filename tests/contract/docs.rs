//! Proves `contracts/docs.md`: every runnable block of `docs/` runs as written against
//! in-process stand-ins, and every link from `docs/` into the repository resolves.
//!
//! In the style of just's `tests/readme.rs`: the blocks are extracted from the Markdown and run
//! with `bash -euo pipefail`, one temporary working directory per document, `PATH` led by the
//! built binaries. The document's `sh values` block names the operator's real values; the test
//! replaces each one that points outside (a path, a URL, a user or group) with a stand-in's:
//! an absolute path `/x/y` becomes `<tmp>/root/x/y`, the Infisical and chat URLs become the
//! wiremock stand-ins below, `*_USER`/`*_OWNER` and `*_GROUP` become the test's own user and
//! primary group.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::chat::Step;
use crate::support::fixtures::fixture_json;
use crate::support::leak;
use crate::support::trace::root;

// ---------------------------------------------------------------------------------------------
// Extraction

/// One fenced block of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    /// The file, relative to the repository root.
    file: String,
    /// The 1-based line of the opening fence.
    line: usize,
    lang: String,
    markers: Vec<String>,
    body: String,
}

impl Block {
    fn runnable(&self) -> bool {
        self.markers.iter().any(|m| m == "runnable")
    }

    fn values(&self) -> bool {
        self.markers.iter().any(|m| m == "values")
    }

    /// The exit code the doc promises: `exit=N`, else 0.
    fn expected_exit(&self) -> i32 {
        self.markers
            .iter()
            .find_map(|m| m.strip_prefix("exit=")?.parse().ok())
            .unwrap_or(0)
    }

    /// What stdout must hold: every `stdout=TEXT`.
    fn expected_stdout(&self) -> Vec<&str> {
        self.markers
            .iter()
            .filter_map(|m| m.strip_prefix("stdout="))
            .collect()
    }

    fn place(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

static EXIT_MARKER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^exit=\d{1,3}$").unwrap());

/// Every fenced block of `text`, and the problems found on the way (unknown marker words, a
/// marker on a language that cannot run, an unclosed fence).
fn parse_blocks(file: &str, text: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        let fence_char = trimmed.chars().next();
        let fence_len = trimmed
            .chars()
            .take_while(|c| Some(*c) == fence_char)
            .count();
        if indent > 3 || !matches!(fence_char, Some('`' | '~')) || fence_len < 3 {
            i += 1;
            continue;
        }
        let fence = &trimmed[..fence_len];
        let mut words = trimmed[fence_len..].split_whitespace();
        let lang = words.next().unwrap_or("").to_owned();
        let markers: Vec<String> = words.map(str::to_owned).collect();
        let start = i + 1;
        let mut end = start;
        while end < lines.len() {
            let t = lines[end].trim();
            if t.starts_with(fence) && t.chars().all(|c| Some(c) == fence_char) {
                break;
            }
            end += 1;
        }
        if end == lines.len() {
            problems.push(format!("{file}:{start}: a fence is never closed"));
        }
        for m in &markers {
            let stdout = m.strip_prefix("stdout=").is_some_and(|t| !t.is_empty());
            if m != "runnable" && m != "values" && !EXIT_MARKER.is_match(m) && !stdout {
                problems.push(format!(
                    "{file}:{start}: unknown marker {m:?} in the info string (known: runnable, values, exit=N, stdout=TEXT)"
                ));
            }
        }
        let block = Block {
            file: file.to_owned(),
            line: start,
            lang,
            markers,
            body: lines[start..end.min(lines.len())]
                .iter()
                .map(|l| {
                    let strip = l.len() - l.trim_start().len();
                    &l[strip.min(indent)..]
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n",
        };
        if block.runnable() && !matches!(block.lang.as_str(), "sh" | "bash" | "yaml") {
            problems.push(format!(
                "{}: a runnable block must be sh, bash or yaml, not {:?}",
                block.place(),
                block.lang
            ));
        }
        if block.runnable() && block.values() {
            problems.push(format!(
                "{}: a block is runnable or values, not both",
                block.place()
            ));
        }
        if block.lang == "yaml"
            && (block.expected_exit() != 0 || !block.expected_stdout().is_empty())
        {
            problems.push(format!(
                "{}: a workflow block runs to success; exit=N and stdout=TEXT are for sh blocks",
                block.place()
            ));
        }
        blocks.push(block);
        i = end + 1;
    }
    (blocks, problems)
}

static VALUE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)"#).unwrap()
});

/// The `NAME=value` assignments of a values block, in order.
fn parse_values(block: &Block) -> Vec<(String, String)> {
    block
        .body
        .lines()
        .filter_map(|l| VALUE_LINE.captures(l))
        .map(|c| {
            let v = c[2].trim_matches(|ch| ch == '"' || ch == '\'').to_owned();
            (c[1].to_owned(), v)
        })
        .collect()
}

/// One `run: |` script of a workflow block.
#[derive(Debug, Clone)]
struct YamlStep {
    /// The 1-based line of `run:` in the Markdown file.
    line: usize,
    script: String,
}

/// The `run: |` scripts and the names of every `env:` map of a workflow block.
fn parse_workflow(block: &Block) -> (Vec<YamlStep>, Vec<String>) {
    let lines: Vec<&str> = block.body.lines().collect();
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let mut steps = Vec::new();
    let mut env_keys = Vec::new();
    let key = Regex::new(r"^\s*([A-Za-z_][A-Za-z0-9_]*):").unwrap();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        let own = indent_of(lines[i]);
        let run = t
            .strip_prefix("- ")
            .unwrap_or(t)
            .strip_prefix("run:")
            .map(str::trim);
        if matches!(run, Some("|" | "|-")) {
            let mut body = Vec::new();
            let mut j = i + 1;
            while j < lines.len() && (lines[j].trim().is_empty() || indent_of(lines[j]) > own) {
                body.push(lines[j]);
                j += 1;
            }
            while body.last().is_some_and(|l| l.trim().is_empty()) {
                body.pop();
            }
            let cut = body
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| indent_of(l))
                .min()
                .unwrap_or(0);
            let script = body
                .iter()
                .map(|l| if l.len() >= cut { &l[cut..] } else { "" })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            steps.push(YamlStep {
                line: block.line + 1 + i,
                script,
            });
            i = j;
            continue;
        }
        if t == "env:" {
            let mut j = i + 1;
            while j < lines.len() && (lines[j].trim().is_empty() || indent_of(lines[j]) > own) {
                if let Some(c) = key.captures(lines[j]) {
                    env_keys.push(c[1].to_owned());
                }
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    (steps, env_keys)
}

// ---------------------------------------------------------------------------------------------
// Static checks (DOC-003, DOC-004, DOC-005)

static EXPANSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{?([A-Z_][A-Z0-9_]*)").unwrap());
static ASSIGNMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?:^|[\s;(&|"])([A-Z_][A-Z0-9_]*)="#).unwrap());
static READ: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bread\s+(?:-\S+\s+)*([A-Z_][A-Z0-9_]*)").unwrap());

/// Variables the runner (or the shell) provides, never set by a doc.
const PROVIDED: &[&str] = &["GITHUB_ENV", "HOME", "PATH"];

/// Every problem with the variables of one document's runnable blocks.
fn check_variables(blocks: &[Block]) -> Vec<String> {
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

const TOKEN: &str = "synthetic-docs-identity-token-0001";
const PROJECT_ID: &str = "proj-synthetic-0001";
const MODEL: &str = "gemma4:31b-cloud";

/// The values the Infisical stand-in serves, by key.
fn served() -> BTreeMap<String, String> {
    let json = fixture_json("infisical/secrets-providers.json");
    json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["secretKey"].as_str().unwrap().to_owned(),
                s["secretValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Infisical: the list route answers the fixture to exactly `Bearer <TOKEN>`, anything else
/// is a 401.
async fn infisical() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(crate::support::infisical::SECRETS_RAW))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture_json("infisical/secrets-providers.json")),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(fixture_json("infisical/error-401-token-missing.json")),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The chat endpoint, as Ollama Cloud would answer: only the key Infisical serves is accepted
/// (else 401), only [`MODEL`] exists (else 404), and each check gets a passing answer.
async fn chat() -> MockServer {
    let server = MockServer::start().await;
    let key = served()["OLLAMA_CLOUD_API_KEY"].clone();
    let bearer = format!("Bearer {key}");
    let model_is = |want: bool| {
        move |req: &Request| {
            serde_json::from_slice::<Value>(&req.body).is_ok_and(|b| (b["model"] == MODEL) == want)
        }
    };
    Mock::given(method("POST"))
        .and(path(crate::support::chat::CHAT))
        .and(header("authorization", bearer.as_str()))
        .and(model_is(true))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let fixture = match Step::of(&body) {
                Some(Step::Tool) => "openai/tool-ok.json",
                Some(Step::Chat) => "openai/chat-ok.json",
                _ => "openai/json-ok.json",
            };
            ResponseTemplate::new(200).set_body_json(fixture_json(fixture))
        })
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(crate::support::chat::CHAT))
        .and(header("authorization", bearer.as_str()))
        .and(model_is(false))
        .respond_with(|req: &Request| {
            // The fixture's shape, naming the model that was asked for, as Ollama does.
            let asked = serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null);
            let mut body = fixture_json("openai/error-ollama-404-model.json");
            body["error"]["message"] = format!(
                "model '{}' not found",
                asked["model"].as_str().unwrap_or("")
            )
            .into();
            ResponseTemplate::new(404).set_body_json(body)
        })
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401).set_body_json(fixture_json("openai/error-ollama-401.json")),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// Where a document runs: the stand-ins, the temporary directory, the environment.
struct Stage {
    infisical: String,
    chat: String,
    dir: tempfile::TempDir,
}

impl Stage {
    async fn new() -> (Stage, MockServer, MockServer) {
        let i = infisical().await;
        let c = chat().await;
        let stage = Stage {
            infisical: i.uri(),
            chat: format!("{}/v1", c.uri()),
            dir: tempfile::tempdir().unwrap(),
        };
        (stage, i, c)
    }

    /// `/x/y` as seen by the blocks: `<tmp>/root/x/y`.
    fn rooted(&self, abs: &str) -> PathBuf {
        self.dir
            .path()
            .join("root")
            .join(abs.trim_start_matches('/'))
    }

    fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }

    /// The stand-in for one value of the values block, or why there is none.
    fn stand_in(&self, name: &str, value: &str) -> Result<String, String> {
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
            "INFISICAL_PROJECT_ID" => PROJECT_ID.to_owned(),
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
    fn env(&self, values: &[(String, String)]) -> Result<BTreeMap<String, String>, String> {
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
fn given(file: &str, env: &BTreeMap<String, String>) {
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

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs one script like an operator pasting it: `bash -euo pipefail`, stdin holding the token
/// they would paste.
fn run_script(script: &str, env: &BTreeMap<String, String>, cwd: &Path) -> Outcome {
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
fn report(place: &str, why: &str, script: &str, out: &Outcome) -> String {
    format!(
        "{place}: {why}\n--- script ---\n{script}--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        out.stdout, out.stderr
    )
}

/// Why a block's exit code is not the one its doc says, if it is not.
fn wrong_exit(expected: i32, out: &Outcome) -> Option<String> {
    (out.code != Some(expected)).then(|| {
        format!(
            "the block exited {}, the doc says {expected}",
            out.code.map_or("by a signal".to_owned(), |c| c.to_string())
        )
    })
}

/// What a document's run showed, for the assertions that follow it.
#[derive(Default)]
struct Ran {
    /// Blocks (or workflow steps) run.
    blocks: usize,
    /// `PLATFORMCTL_COMPOSE_ENV_FILE` as a workflow exported it, with the file's mode right
    /// after the step that exported it, and whether it still exists at the end.
    compose_env: Option<(PathBuf, Option<u32>, bool)>,
}

/// Runs every runnable block of one document, in order; `Err` is the failure report.
fn run_document(
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
                for line in std::fs::read_to_string(&github_env).unwrap().lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        env.insert(k.to_owned(), v.to_owned());
                    }
                }
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
fn check_output(place: &str, script: &str, out: &Outcome, secrets: &[&str]) -> Result<(), String> {
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

// ---------------------------------------------------------------------------------------------
// The documents

/// Every Markdown file under `docs/`: (path relative to the root, text).
fn docs() -> Vec<(String, String)> {
    crate::support::trace::files_with_ext(&root().join("docs"), "md")
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap().display().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            (rel, text)
        })
        .collect()
}

/// Every secret a block must not print: the token and every value Infisical serves.
fn secrets() -> Vec<String> {
    let mut s = vec![TOKEN.to_owned()];
    s.extend(served().into_values());
    s
}

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

// ---------------------------------------------------------------------------------------------
// Links (DOC-007, DOC-008)

/// The anchor GitHub and Forgejo generate for a heading's text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text outside fenced blocks, lines kept (so line numbers stay right).
fn prose(text: &str) -> String {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    for l in text.lines() {
        let t = l.trim_start();
        match &fence {
            Some(f) if t.starts_with(f.as_str()) => {
                fence = None;
                out.push("");
            }
            Some(_) => out.push(""),
            None if t.starts_with("```") || t.starts_with("~~~") => {
                fence = Some(t.chars().take_while(|c| *c == '`' || *c == '~').collect());
                out.push("");
            }
            None => out.push(l),
        }
    }
    out.join("\n")
}

/// Every heading anchor of a Markdown text, with GitHub's `-1`, `-2` for repeats, and the
/// anchor of each clause heading by clause ID.
fn anchors(text: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let heading = Regex::new(r"^#{1,6}\s+(.*?)\s*#*\s*$").unwrap();
    let clause = Regex::new(r"^([A-Z][A-Z0-9]*-\d{3})\b").unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut all = BTreeSet::new();
    let mut clauses = BTreeMap::new();
    for l in prose(text).lines() {
        let Some(c) = heading.captures(l) else {
            continue;
        };
        let base = slug(&c[1].replace('`', ""));
        let n = seen.entry(base.clone()).or_insert(0);
        let anchor = if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        *n += 1;
        if let Some(id) = clause.captures(&c[1]) {
            clauses.insert(id[1].to_owned(), anchor.clone());
        }
        all.insert(anchor);
    }
    (all, clauses)
}

static LINK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[([^\]]*)\]\(([^)\s]+)\)").unwrap());
static CLAUSE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9]*-\d{3}$").unwrap());

/// Every broken relative link of one doc: a missing file, an anchor no heading generates, a
/// clause-ID link text whose anchor is not that clause's heading.
fn broken_links(root: &Path, file: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let dir = root.join(file).parent().unwrap().to_owned();
    let body = prose(text);
    for (n, line) in body.lines().enumerate() {
        for c in LINK.captures_iter(line) {
            let (label, target) = (c[1].trim_matches('`'), &c[2]);
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target, None),
            };
            let place = format!("{file}:{}: [{label}]({target})", n + 1);
            let resolved = if path.is_empty() {
                root.join(file)
            } else {
                dir.join(path)
            };
            if !resolved.exists() {
                problems.push(format!("{place}: no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let Ok(target_text) = std::fs::read_to_string(&resolved) else {
                problems.push(format!(
                    "{place}: an anchor into something that is not a file"
                ));
                continue;
            };
            let (all, clauses) = anchors(&target_text);
            if !all.contains(anchor) {
                problems.push(format!("{place}: no heading generates #{anchor}"));
                continue;
            }
            if CLAUSE_ID.is_match(label) {
                match clauses.get(label) {
                    Some(a) if a == anchor => {}
                    Some(a) => {
                        problems.push(format!("{place}: {label}'s heading is #{a}, not #{anchor}"))
                    }
                    None => problems.push(format!("{place}: no clause {label} in that file")),
                }
            }
        }
    }
    problems
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
