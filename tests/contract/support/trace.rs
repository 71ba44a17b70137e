//! Traceability: clause IDs in `contracts/*.md` against the IDs that tests cite.
//!
//! **Clauses.** A clause is a level-3 heading `### AREA-NNN — Title` in a contract file,
//! followed (before the next heading) by its level: `**MUST**`, `**SHOULD**` or
//! `**WITHDRAWN**`.
//!
//! **Citations.** A test cites a clause by the prefix of its function name: the ID lowercased
//! with `_` for `-`, e.g. `fn sec_001_leak_helper_catches_base64()`. A test that proves several
//! clauses chains the prefixes: `fn fb_001_fb_004_no_fallback_on_401()`. Every `.rs` file under
//! `tests/` is read, so the peer tier's tests count like the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Must,
    Should,
    Withdrawn,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Withdrawn => "WITHDRAWN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub id: String,
    pub title: String,
    pub level: Level,
    pub file: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Citation {
    pub id: String,
    pub test: String,
    pub file: String,
}

static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^###\s+([A-Z][A-Z0-9]*-\d{3})\b\s*(?:[—–:-]\s*)?(.*)$").unwrap());
static ANY_HEADING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^#{1,6}\s").unwrap());
static LEVEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\*\*(MUST|SHOULD|WITHDRAWN)\*\*").unwrap());
static TEST_FN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bfn\s+((?:[a-z][a-z0-9]*_\d{3}_)+)[a-z0-9_]*\s*\(").unwrap());
static ID_PART: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([a-z][a-z0-9]*)_(\d{3})_").unwrap());

/// Parses one contract file. Problems (a clause without a level) are returned beside the
/// clauses so that one run reports them all.
pub fn parse_contract(file: &str, text: &str) -> (Vec<Clause>, Vec<String>) {
    let mut clauses = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(cap) = HEADING.captures(line) else {
            continue;
        };
        let id = cap[1].to_owned();
        let body = lines[i + 1..]
            .iter()
            .take_while(|l| !ANY_HEADING.is_match(l))
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        match LEVEL.captures(&body) {
            Some(level) => clauses.push(Clause {
                id,
                title: cap[2].trim().to_owned(),
                level: match &level[1] {
                    "MUST" => Level::Must,
                    "SHOULD" => Level::Should,
                    _ => Level::Withdrawn,
                },
                file: file.to_owned(),
                line: i + 1,
            }),
            None => problems.push(format!(
                "{file}:{}: clause {id} states no level (**MUST**, **SHOULD** or **WITHDRAWN**)",
                i + 1
            )),
        }
    }
    (clauses, problems)
}

/// The clause IDs cited by test function names in one Rust file.
pub fn parse_citations(file: &str, text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    // Comments (doc comments included) may show example names; only code cites.
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for cap in TEST_FN.captures_iter(&code) {
        let full = cap.get(0).unwrap().as_str();
        let name = full
            .trim_start_matches("fn")
            .trim()
            .trim_end_matches('(')
            .trim()
            .to_owned();
        for part in ID_PART.captures_iter(&cap[1]) {
            out.push(Citation {
                id: format!("{}-{}", part[1].to_uppercase(), &part[2]),
                test: name.clone(),
                file: file.to_owned(),
            });
        }
    }
    out
}

/// Every rule violation: duplicate IDs, citations of unknown or withdrawn clauses, MUST
/// clauses that no test cites.
pub fn check(clauses: &[Clause], citations: &[Citation]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, &Clause> = BTreeMap::new();
    for c in clauses {
        if let Some(first) = seen.insert(&c.id, c) {
            problems.push(format!(
                "duplicate clause ID {}: {}:{} and {}:{}",
                c.id, first.file, first.line, c.file, c.line
            ));
        }
    }
    for cite in citations {
        match seen.get(cite.id.as_str()) {
            None => problems.push(format!(
                "test {} in {} cites {}, which no contract defines",
                cite.test, cite.file, cite.id
            )),
            Some(c) if c.level == Level::Withdrawn => problems.push(format!(
                "test {} in {} cites {}, which is withdrawn",
                cite.test, cite.file, cite.id
            )),
            Some(_) => {}
        }
    }
    let cited: BTreeSet<&str> = citations.iter().map(|c| c.id.as_str()).collect();
    for c in clauses {
        if c.level == Level::Must && !cited.contains(c.id.as_str()) {
            problems.push(format!(
                "MUST clause {} ({}:{}) is not cited by any test: add a test named `fn {}_...`",
                c.id,
                c.file,
                c.line,
                c.id.to_lowercase().replace('-', "_")
            ));
        }
    }
    problems
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively, sorted) whose name ends in `.{ext}`.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, ext, &mut out);
    out
}

/// Contract files: every `contracts/*.md` but `README.md` and `INDEX.md`.
pub fn contract_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("contracts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name != "README.md" && name != "INDEX.md"
        })
        .collect();
    files.sort();
    files
}

/// All clauses, all citations and all parse problems of the repository.
pub fn load_repo() -> (Vec<Clause>, Vec<Citation>, Vec<String>) {
    let root = root();
    let mut clauses = Vec::new();
    let mut problems = Vec::new();
    for path in contract_files() {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        let (c, p) = parse_contract(&rel, &std::fs::read_to_string(&path).unwrap());
        clauses.extend(c);
        problems.extend(p);
    }
    let files = files_with_ext(&root.join("tests"), "rs");
    let mut citations = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        citations.extend(parse_citations(
            &rel,
            &std::fs::read_to_string(&path).unwrap(),
        ));
    }
    citations.sort();
    citations.dedup();
    (clauses, citations, problems)
}

/// The generated `contracts/INDEX.md`: each clause beside the tests that prove it.
pub fn render_index(clauses: &[Clause], citations: &[Citation]) -> String {
    let mut by_id: BTreeMap<&str, Vec<&Citation>> = BTreeMap::new();
    for c in citations {
        by_id.entry(&c.id).or_default().push(c);
    }
    let mut out = String::from(
        "# Contract index\n\n\
         Generated by `scripts/update-index` from `contracts/*.md` and the test names under \
         `tests/`. Do not edit by hand: `cargo test` fails when this file is stale.\n",
    );
    let mut files: Vec<&str> = clauses.iter().map(|c| c.file.as_str()).collect();
    files.dedup();
    let (mut must, mut must_cov, mut should, mut should_cov) = (0, 0, 0, 0);
    for file in &files {
        let name = file.trim_start_matches("contracts/");
        out.push_str(&format!("\n## [{name}]({name})\n\n"));
        out.push_str("| Clause | Level | Title | Proven by |\n|---|---|---|---|\n");
        for c in clauses.iter().filter(|c| c.file == *file) {
            let tests = by_id.get(c.id.as_str()).map_or_else(
                || "—".to_owned(),
                |v| {
                    v.iter()
                        .map(|t| format!("`{}` ({})", t.test, t.file.trim_start_matches("tests/")))
                        .collect::<Vec<_>>()
                        .join("<br>")
                },
            );
            let covered = by_id.contains_key(c.id.as_str());
            match c.level {
                Level::Must => {
                    must += 1;
                    must_cov += usize::from(covered);
                }
                Level::Should => {
                    should += 1;
                    should_cov += usize::from(covered);
                }
                Level::Withdrawn => {}
            }
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                c.id,
                c.level.as_str(),
                c.title.replace('|', "\\|"),
                tests
            ));
        }
    }
    out.push_str(&format!(
        "\n## Coverage\n\nMUST: {must_cov}/{must} cited · SHOULD: {should_cov}/{should} cited · \
         tests citing clauses: {}\n",
        citations
            .iter()
            .map(|c| &c.test)
            .collect::<BTreeSet<_>>()
            .len()
    ));
    out
}
