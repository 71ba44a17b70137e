//! Proves `contracts/sanity.md`: each rule of `scripts/sanity` catches a bad commit in a
//! throwaway git repository.
//!
//! The throwaway repository is a tiny cargo project whose contract test runs this suite's own
//! traceability checker (`support/trace.rs`) over the throwaway contracts, so the `trace` rule
//! is exercised for real. It is built once and cloned per test.
//!
//! These tests take seconds, not milliseconds, so plain `cargo test` lists them as ignored and
//! `scripts/ci` runs them in a step of their own (`-- --ignored`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tempfile::TempDir;

use crate::support::trace::root;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn target_dir() -> PathBuf {
    root().join("target").join("sanity-selftest")
}

/// The template repository, built once per test run.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = TempDir::new().unwrap();
            let p = dir.path();
            let trace = root().join("tests/contract/support/trace.rs");
            std::fs::create_dir_all(p.join("src")).unwrap();
            std::fs::create_dir_all(p.join("tests/contract")).unwrap();
            std::fs::create_dir_all(p.join("contracts")).unwrap();
            std::fs::write(
                p.join("Cargo.toml"),
                "[package]\nname = \"throwaway\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [lib]\nname = \"throwaway\"\npath = \"src/lib.rs\"\n\n\
                 [[test]]\nname = \"contract\"\npath = \"tests/contract/main.rs\"\n\n\
                 [dev-dependencies]\nregex = \"1\"\n",
            )
            .unwrap();
            std::fs::write(p.join("src/lib.rs"), "pub fn answer() -> u32 {\n    42\n}\n").unwrap();
            std::fs::write(
                p.join("contracts/a.md"),
                "# A\n\n### ABC-001 — The answer\n\n**MUST** — The answer is 42.\n",
            )
            .unwrap();
            std::fs::write(
                p.join("tests/contract/main.rs"),
                format!(
                    "#![allow(dead_code)]\n#[path = {trace:?}]\nmod trace;\n\n\
                     #[test]\nfn {}_answer() {{\n    assert_eq!(throwaway::answer(), 42);\n}}\n\n\
                     mod suite {{\n    #[test]\n    fn traceable() {{\n        \
                     let (c, t, mut p) = crate::trace::load_repo();\n        \
                     p.extend(crate::trace::check(&c, &t));\n        \
                     assert!(p.is_empty(), \"traceability problems:\\n  {{}}\", p.join(\"\\n  \"));\n    }}\n}}\n",
                    "abc_001"
                ),
            )
            .unwrap();
            std::fs::write(p.join(".gitignore"), "/target\n").unwrap();
            let lock = Command::new("cargo")
                .args(["generate-lockfile", "--offline"])
                .current_dir(p)
                .output()
                .unwrap();
            assert!(lock.status.success(), "{}", String::from_utf8_lossy(&lock.stderr));
            git(p, &["init", "-q", "-b", "main"]);
            git(p, &["add", "-A"]);
            git(p, &["commit", "-q", "-m", "base"]);
            dir
        })
        .path()
}

/// A fresh clone of the template, with `base` naming its first commit.
struct Repo {
    dir: TempDir,
}

impl Repo {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        git(
            dir.path(),
            &["clone", "-q", template().to_str().unwrap(), "."],
        );
        // Cargo names a path package's artifacts by its name and version, not its location:
        // give each clone its own package name so that clones sharing the target directory
        // never run each other's test binary. Folded into the base commit.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for file in ["Cargo.toml", "Cargo.lock"] {
            let path = dir.path().join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let renamed = text.replace(
                "name = \"throwaway\"\nversion",
                &format!("name = \"throwaway-{n}\"\nversion"),
            );
            assert_ne!(text, renamed, "{file} names the package");
            std::fs::write(path, renamed).unwrap();
        }
        git(dir.path(), &["commit", "-q", "-a", "--amend", "--no-edit"]);
        Repo { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    fn commit(&self, message: &str) -> &Self {
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "-m", message]);
        self
    }

    /// Runs `scripts/sanity main` inside the repository.
    fn sanity(&self, base: &str) -> (i32, String) {
        // One run at a time: the runs share a target directory and would only queue on its lock.
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new(root().join("scripts/sanity"))
            .arg(base)
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let report = format!(
            "{stdout}--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), report)
    }
}

/// The status word of one check's line.
fn status<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{check}=")))
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .unwrap_or_else(|| panic!("no {check}= line in:\n{report}"))
}

/// One check's whole line. Its detail after the status quotes other tools (`git diff
/// --check`, detect-secrets, rustc) in their own wording, which changes with their versions:
/// the tests check it for the file, kind or clause it must name, not whole.
fn line<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(&format!("{check}=")))
        .unwrap()
}

/// A clean change passes every check with exit 0, one line per check in order; a bad BASE is
/// a usage error.
#[test]
#[ignore = "slow (builds throwaway repos): scripts/ci runs it with --ignored"]
fn san_001_clean_change_passes_with_one_line_per_check() {
    let repo = Repo::new();
    repo.write("src/lib.rs", "pub fn answer() -> u32 {\n    40 + 2\n}\n")
        .write("tests/contract/notes.rs", "// the answer is computed now\n")
        .commit("compute the answer");
    let (code, report) = repo.sanity("main~1");
    let checks: Vec<&str> = report
        .lines()
        .take(4)
        .map(|l| l.split('=').next().unwrap())
        .collect();
    assert_eq!(
        checks,
        ["whitespace", "secrets", "trace", "behaviour"],
        "{report}"
    );
    for check in checks {
        assert_eq!(status(&report, check), "pass", "{report}");
    }
    assert_eq!(code, 0, "{report}");
    assert_eq!(repo.sanity("no-such-ref").0, 2);
}

/// Trailing whitespace fails `whitespace`, naming the file, and the gate exits 1.
#[test]
#[ignore = "slow (builds throwaway repos): scripts/ci runs it with --ignored"]
fn san_001_san_002_trailing_whitespace_is_caught() {
    let repo = Repo::new();
    repo.write("docs/note.md", "a line with trailing space \n")
        .commit("note");
    let (code, report) = repo.sanity("main~1");
    assert_eq!(status(&report, "whitespace"), "fail", "{report}");
    assert!(
        line(&report, "whitespace").contains("docs/note.md"),
        "{report}"
    );
    assert_eq!(status(&report, "secrets"), "pass", "{report}");
    assert_eq!(code, 1, "{report}");
}

/// A real-looking AWS key and a password assignment fail `secrets`, naming the file and kind.
#[test]
#[ignore = "slow (builds throwaway repos): scripts/ci runs it with --ignored"]
fn san_003_secret_shaped_strings_are_caught() {
    let repo = Repo::new();
    repo.write(
        "deploy/settings.py",
        &format!(
            "AWS_KEY = \"{}\"\npassword = \"{}\"\n",
            "AKIA".to_owned() + "IOSFODNN7EXAMPLE",
            "hunter2-Real-Pass-77"
        ),
    )
    .commit("settings");
    let (code, report) = repo.sanity("main~1");
    let secrets = line(&report, "secrets");
    assert!(secrets.starts_with("secrets=fail"), "{report}");
    assert!(
        secrets.contains("deploy/settings.py:AWS-Access-Key"),
        "{report}"
    );
    assert!(
        secrets.contains("deploy/settings.py:Secret-Keyword"),
        "{report}"
    );
    assert_eq!(code, 1, "{report}");
}

/// Synthetic fixture values are allow-listed; a secret already on BASE is not re-reported.
#[test]
#[ignore = "slow (builds throwaway repos): scripts/ci runs it with --ignored"]
fn san_003_synthetic_values_and_old_lines_pass() {
    let repo = Repo::new();
    repo.write(
        "old.py",
        &format!("password = \"{}\"\n", "hunter2-Old-Pass-55"),
    )
    .commit("old");
    repo.write(
        "fixtures/x.json",
        "{\"secretValue\": \"synthetic-ollama-key-7Qm2Vx9Lp4Rt\", \"password\": \"synthetic-pass-1\"}\n",
    )
    .write("old.py", &format!("password = \"{}\"\n# more\n", "hunter2-Old-Pass-55"))
    .commit("fixture");
    let (_, report) = repo.sanity("main~1");
    assert_eq!(status(&report, "secrets"), "pass", "{report}");
}

/// An uncited MUST clause fails `trace`, naming the clause.
#[test]
#[ignore = "slow (builds throwaway repos): scripts/ci runs it with --ignored"]
fn san_004_broken_traceability_is_caught() {
    let repo = Repo::new();
    repo.write(
        "contracts/a.md",
        "# A\n\n### ABC-001 — The answer\n\n**MUST** — The answer is 42.\n\n\
         ### XYZ-999 — New\n\n**MUST** — An unproven promise.\n",
    )
    .commit("promise more");
    let (code, report) = repo.sanity("main~1");
    assert_eq!(status(&report, "trace"), "fail", "{report}");
    assert!(line(&report, "trace").contains("XYZ-999"), "{report}");
    assert_eq!(code, 1, "{report}");
}

/// A `src/` change alone fails `behaviour`; the trailer `Behaviour-Change: none` waives it.
#[test]
#[ignore = "slow (builds throwaway repos): scripts/ci runs it with --ignored"]
fn san_005_src_change_needs_proof_or_trailer() {
    let repo = Repo::new();
    repo.write("src/lib.rs", "pub fn answer() -> u32 {\n    6 * 7\n}\n")
        .commit("refactor");
    let (code, report) = repo.sanity("main~1");
    assert_eq!(status(&report, "behaviour"), "fail", "{report}");
    assert!(
        line(&report, "behaviour").contains("src/lib.rs"),
        "{report}"
    );
    assert_eq!(code, 1, "{report}");

    repo.write("src/lib.rs", "pub fn answer() -> u32 {\n    7 * 6\n}\n")
        .commit("refactor again\n\nBehaviour-Change: none");
    let (code, report) = repo.sanity("main~2");
    assert_eq!(status(&report, "behaviour"), "pass", "{report}");
    assert_eq!(code, 0, "{report}");
}
