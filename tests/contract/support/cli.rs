//! The CLI runner for the two binaries: expect, then run.
//!
//! A test states what a run must show **before** it runs it, and the run compares it whole
//! (just's `tests/test.rs`, cargo-test-support's `Execs`):
//!
//! ```ignore
//! chat.smoke()
//!     .args(["--check", "chat_completion"])
//!     .exits(1)                                           // the exact exit code
//!     .stdout("chat_completion=fail reason=empty latency_ms=[MS]\n")
//!     .stderr("")                                         // the default: empty
//!     .run();
//! ```
//!
//! - [`Cli::exits`] starts the expectations ([`Expect`]); stdout and stderr default to
//!   **empty** and are compared whole, with the screens' placeholders (`[TMP]` once
//!   [`Expect::tmp`] names the directory, `[PORT]`, `[MS]`, `[UID]`, `[GID]`: see
//!   [`super::screen`]); every registered secret is looked for in every encoding
//!   ([`super::leak`]).
//! - A stream whose whole text another assertion states (a JSON document parsed, the report
//!   lines read by [`super::runs::lines`], a screen file) is declared
//!   [`Expect::stdout_checked_elsewhere`] / [`Expect::stderr_checked_elsewhere`] with the
//!   reason; the returned [`Run`] must then be read, or its drop fails the test.
//! - A substring check ([`Expect::stderr_contains`]) is for output that cannot be stated
//!   whole (a message of the OS or of a library that differs between machines); each use says
//!   why in a comment.
//!
//! The older style — [`Cli::run`], then `.code(n)`, `.stderr_has(..)`, … on the [`Run`] — still
//! works (other branches use it), but a `Run` that nothing ever looked at fails the test when
//! dropped.
//!
//! Every failure prints the command, the environment (secret values shown as `[SECRET]`), the
//! working directory, the exit code or the signal that killed the run, stdout, stderr, and a
//! listing (`ls -l` style: mode, owner, size) of the folders the run wrote to, so a red test
//! explains itself (ripgrep's `tests/util.rs`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use snapbox::{Assert, Data, IntoData};

use super::{leak, screen};

/// The longest any one run of a binary may take before it is killed (a hang is a failure).
/// A run that is asked for more (the peer tier's real model) says so with [`Cli::watchdog`].
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A command line to run, built fluently; nothing happens until [`Cli::run`] or, after
/// [`Cli::exits`], [`Expect::run`].
#[must_use = "a Cli does nothing until .run()"]
#[derive(Clone)]
pub struct Cli {
    bin: &'static str,
    args: Vec<OsString>,
    env: Vec<(String, String, bool)>,
    cwd: Option<PathBuf>,
    umask: Option<u32>,
    secrets: Vec<String>,
    watchdog: Duration,
}

impl Cli {
    /// `write-canary-env`.
    pub fn canary() -> Self {
        Self::new("write-canary-env")
    }

    /// `ollama-compat-smoke`.
    pub fn smoke() -> Self {
        Self::new("ollama-compat-smoke")
    }

    fn new(bin: &'static str) -> Self {
        Cli {
            bin,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            umask: None,
            secrets: Vec::new(),
            watchdog: RUN_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// A path argument (saves `.display().to_string()` at every call site).
    pub fn path_arg(self, path: impl AsRef<Path>) -> Self {
        self.arg(path.as_ref().as_os_str().to_owned())
    }

    /// A non-secret environment variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into(), false));
        self
    }

    /// An environment variable holding a secret: shown as `[SECRET]` in failure reports and
    /// registered for the leak check.
    pub fn secret_env(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        self.secrets.push(value.clone());
        self.env.push((key.to_owned(), value, true));
        self
    }

    /// Registers a secret that must never appear in the output (a value the server holds, a
    /// token in a file).
    pub fn secret(mut self, value: impl Into<String>) -> Self {
        self.secrets.push(value.into());
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The umask the child starts with.
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// How long the run may take before it is killed (default [`RUN_TIMEOUT`]). Only for a run
    /// whose own budget is stated and larger (the peer tier's real model, PEER-055).
    pub fn watchdog(mut self, limit: Duration) -> Self {
        self.watchdog = limit;
        self
    }

    /// The command and its environment, secrets masked, for reports.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (k, v, secret) in &self.env {
            let shown = if *secret {
                "[SECRET]".to_owned()
            } else {
                shell_quote(v)
            };
            let _ = write!(out, "{k}={shown} ");
        }
        if let Some(mask) = self.umask {
            let _ = write!(out, "(umask {mask:03o}) ");
        }
        out.push_str(self.bin);
        for a in &self.args {
            let _ = write!(out, " {}", shell_quote(&a.to_string_lossy()));
        }
        out
    }

    /// Starts the expectations: the run must exit with exactly `code`; stdout and stderr
    /// default to empty (see [`Expect`]).
    pub fn exits(self, code: i32) -> Expect {
        Expect {
            cli: Some(self),
            code,
            stdout: Stream::Whole(Data::text("")),
            stderr: Stream::Whole(Data::text("")),
            tmp: None,
        }
    }

    /// Runs the command with nothing declared; the returned [`Run`] is to be checked after
    /// (`.code(n)`, `.stderr_is(..)`, …). Prefer [`Cli::exits`], which states it all first.
    #[must_use = "a run that is never checked proves nothing (and fails when dropped)"]
    pub fn run(self) -> Run {
        self.execute(Vec::new())
    }

    /// Runs the command to completion with a clean environment (only `PATH` is inherited, so a
    /// developer's `INFISICAL_*` or `OLLAMA_*` variables cannot change a test).
    fn execute(self, folders: Vec<PathBuf>) -> Run {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin(self.bin));
        cmd.args(&self.args).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v, _) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(mask) = self.umask {
            // SAFETY: umask(2) is async-signal-safe and touches no memory.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
                    Ok(())
                });
            }
        }
        cmd.stdin(std::process::Stdio::null());
        // A watchdog: a binary that hangs (a blocking open, a lost timeout) fails its test
        // instead of stalling the suite (assert_cmd kills it with SIGKILL).
        let mut cmd = assert_cmd::Command::from_std(cmd);
        cmd.timeout(self.watchdog);
        let started = Instant::now();
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        let took = started.elapsed();
        let mut run = Run::from_output(self.describe(), &output, self.secrets.clone());
        run.watchdog = (output.status.signal() == Some(nix::libc::SIGKILL)
            && took >= self.watchdog)
            .then_some(self.watchdog);
        run.cwd = self.cwd.clone();
        run.folders = folders;
        if let Some(dir) = &self.cwd {
            run.folders.push(dir.clone());
        }
        // the folders of the paths the command names (an `--output`, a `--token-file`)
        for arg in &self.args {
            let path = Path::new(arg);
            if path.is_absolute()
                && let Some(parent) = path.parent()
                && parent != Path::new("/")
            {
                run.folders.push(parent.to_owned());
            }
        }
        run.folders.dedup();
        run
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What one stream must be.
enum Stream {
    /// The whole text, placeholders allowed.
    Whole(Data),
    /// Only these substrings (output that cannot be stated whole; each use says why).
    Contains(Vec<String>),
    /// Stated by another assertion after the run; the reason says which.
    Elsewhere(&'static str),
}

/// A command with its expected exit code, stdout and stderr, declared before it runs
/// (started by [`Cli::exits`]). [`Expect::run`] runs it and compares everything at once.
#[must_use = "expectations do nothing until .run()"]
pub struct Expect {
    cli: Option<Cli>,
    code: i32,
    stdout: Stream,
    stderr: Stream,
    tmp: Option<PathBuf>,
}

impl Expect {
    /// The whole stdout (default: empty). Placeholders as in [`super::screen`].
    pub fn stdout(mut self, expected: impl IntoData) -> Self {
        self.stdout = Stream::Whole(expected.into_data());
        self
    }

    /// The whole stderr (default: empty). Placeholders as in [`super::screen`].
    pub fn stderr(mut self, expected: impl IntoData) -> Self {
        self.stderr = Stream::Whole(expected.into_data());
        self
    }

    /// stdout is stated by another assertion after the run (`why` names it); the returned
    /// [`Run`] must be read.
    pub fn stdout_checked_elsewhere(mut self, why: &'static str) -> Self {
        self.stdout = Stream::Elsewhere(why);
        self
    }

    /// stderr is stated by another assertion after the run (`why` names it); the returned
    /// [`Run`] must be read.
    pub fn stderr_checked_elsewhere(mut self, why: &'static str) -> Self {
        self.stderr = Stream::Elsewhere(why);
        self
    }

    /// stdout must contain `needle` (repeatable). Only where the whole stdout cannot be
    /// stated; say why in a comment.
    pub fn stdout_contains(mut self, needle: impl Into<String>) -> Self {
        push_needle(&mut self.stdout, needle.into());
        self
    }

    /// stderr must contain `needle` (repeatable). Only where the whole stderr cannot be
    /// stated; say why in a comment.
    pub fn stderr_contains(mut self, needle: impl Into<String>) -> Self {
        push_needle(&mut self.stderr, needle.into());
        self
    }

    /// The test's temporary directory, written `[TMP]` in the expected texts (and listed in a
    /// failure report).
    pub fn tmp(mut self, dir: impl AsRef<Path>) -> Self {
        self.tmp = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the command and compares the exit code, stdout, stderr and the absence of every
    /// secret; one failure report names every difference. The returned [`Run`] is for the
    /// checks stated elsewhere (report lines, JSON, files).
    #[track_caller]
    pub fn run(mut self) -> Run {
        let cli = self.cli.take().expect("an Expect runs once");
        let folders = self.tmp.iter().cloned().collect();
        let run = cli.execute(folders);
        let assert = Assert::new()
            .action_env("SNAPSHOTS")
            .palette(snapbox::report::Palette::plain())
            // a backslash is a byte of the output, not a Windows path separator
            .normalize_paths(false)
            .redact_with(screen::redactions(self.tmp.as_deref()));
        let mut failures = Vec::new();
        if run.out.code != Some(self.code) {
            failures.push(format!(
                "expected exit code {}, got {}",
                self.code,
                run.exit_text()
            ));
        }
        let mut read_later = Vec::new();
        for (name, stream, actual) in [
            ("stdout", &self.stdout, &run.out.stdout),
            ("stderr", &self.stderr, &run.out.stderr),
        ] {
            match stream {
                Stream::Whole(expected) => {
                    if let Err(e) =
                        assert.try_eq(Some(&name), Data::text(actual.clone()), expected.clone())
                    {
                        failures.push(format!("{name} differs:\n{e}"));
                    }
                }
                Stream::Contains(needles) => {
                    for needle in needles.iter().filter(|n| !actual.contains(n.as_str())) {
                        failures.push(format!("expected {name} to contain {needle:?}"));
                    }
                }
                Stream::Elsewhere(why) => read_later.push(format!("{name} ({why})")),
            }
        }
        let secrets: Vec<&str> = run.secrets.iter().map(String::as_str).collect();
        let leaks = leak::find_leaks(
            &[("stdout", &run.out.stdout), ("stderr", &run.out.stderr)],
            &secrets,
        );
        if !leaks.is_empty() {
            let list: Vec<String> = leaks.iter().map(ToString::to_string).collect();
            failures.push(format!("secret leaked:\n  {}", list.join("\n  ")));
        }
        if !failures.is_empty() {
            run.fail(&failures.join("\n"));
        }
        // a run with a stream stated elsewhere must still be read (its drop checks)
        run.looked.store(read_later.is_empty(), Ordering::Relaxed);
        *run.pending.lock().expect("pending") = read_later;
        run
    }
}

impl Drop for Expect {
    fn drop(&mut self) {
        if let Some(cli) = &self.cli
            && !std::thread::panicking()
        {
            panic!(
                "expectations declared for `{}` but the command never ran (.run() is missing)",
                cli.describe()
            );
        }
    }
}

fn push_needle(stream: &mut Stream, needle: String) {
    match stream {
        Stream::Contains(needles) => needles.push(needle),
        other => *other = Stream::Contains(vec![needle]),
    }
}

/// What a run printed: read through a [`Run`] (`run.code`, `run.stdout`, `run.stderr`).
pub struct Output {
    pub command: String,
    /// The exit code; `None` when a signal ended the run (the report names it).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A finished run. Its fields are read through [`Output`]; the checks return `&Self` so they
/// chain, and each failure prints the report. A run that nothing compared or read fails the
/// test when it is dropped.
pub struct Run {
    out: Output,
    signal: Option<i32>,
    watchdog: Option<Duration>,
    cwd: Option<PathBuf>,
    folders: Vec<PathBuf>,
    secrets: Vec<String>,
    /// Nothing compared or read yet: the streams still to look at (empty once read).
    pending: Mutex<Vec<String>>,
    looked: AtomicBool,
}

impl std::ops::Deref for Run {
    type Target = Output;

    fn deref(&self) -> &Output {
        self.looked.store(true, Ordering::Relaxed);
        &self.out
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::thread::panicking() || self.looked.load(Ordering::Relaxed) {
            return;
        }
        let pending = self.pending.lock().map(|p| p.clone()).unwrap_or_default();
        let what = if pending.is_empty() {
            "nothing compared its exit code or output".to_owned()
        } else {
            format!(
                "{} said to be checked elsewhere, never read",
                pending.join(", ")
            )
        };
        panic!(
            "the run of `{}` was never checked: {what}",
            self.out.command
        );
    }
}

impl Run {
    /// How the run ended: the exit code, or the signal that killed it.
    pub fn exit_text(&self) -> String {
        match (self.out.code, self.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(sig)) => {
                let name = nix::sys::signal::Signal::try_from(sig)
                    .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned());
                match self.watchdog {
                    Some(limit) => format!(
                        "killed by {name} (the {} s watchdog: the run took longer)",
                        limit.as_secs()
                    ),
                    None => format!("killed by {name}"),
                }
            }
            (None, None) => "killed by a signal".to_owned(),
        }
    }

    /// The full report: command, environment, working directory, exit code or signal,
    /// stdout, stderr, and the listing of the folders the run wrote to.
    pub fn report(&self) -> String {
        self.looked.store(true, Ordering::Relaxed);
        let cwd = match &self.cwd {
            Some(dir) => dir.display().to_string(),
            None => std::env::current_dir().map_or_else(
                |e| format!("(the test's: {e})"),
                |d| format!("{} (the test's)", d.display()),
            ),
        };
        let mut out = format!(
            "command: {}\nworking directory: {cwd}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.out.command,
            self.exit_text(),
            self.out.stdout,
            self.out.stderr
        );
        for dir in &self.folders {
            let _ = writeln!(out, "--- {} ---", dir.display());
            out.push_str(&listing(dir));
        }
        out.push_str("--------------");
        out
    }

    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\n{}", self.report())
    }

    /// Expects exactly this exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        self.looked.store(true, Ordering::Relaxed);
        if self.out.code != Some(expected) {
            self.fail(&format!("expected exit code {expected}"));
        }
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) {
            self.fail(&format!("expected stdout to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        if !self.stderr.contains(needle) {
            self.fail(&format!("expected stderr to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        if self.stdout.contains(needle) {
            self.fail(&format!("expected stdout not to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        if self.stderr.contains(needle) {
            self.fail(&format!("expected stderr not to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, expected: &str) -> &Self {
        if self.stdout != expected {
            self.fail(&format!("expected stdout to be exactly {expected:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_is(&self, expected: &str) -> &Self {
        if self.stderr != expected {
            self.fail(&format!("expected stderr to be exactly {expected:?}"));
        }
        self
    }

    /// No registered secret appears in stdout or stderr in any form [`leak`] knows.
    #[track_caller]
    pub fn no_leak(&self) -> &Self {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        self.no_leak_of(&secrets)
    }

    /// None of `secrets` appears in stdout or stderr in any form [`leak`] knows.
    #[track_caller]
    pub fn no_leak_of(&self, secrets: &[&str]) -> &Self {
        let leaks = leak::find_leaks(
            &[("stdout", &self.stdout), ("stderr", &self.stderr)],
            secrets,
        );
        if !leaks.is_empty() {
            let list: Vec<String> = leaks.iter().map(ToString::to_string).collect();
            self.fail(&format!("secret leaked:\n  {}", list.join("\n  ")));
        }
        self
    }

    /// Parses stdout as one JSON document.
    #[track_caller]
    pub fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| self.fail(&format!("stdout is not one JSON document: {e}")))
    }

    /// A `Run` from a process started some other way (e.g. under `strace`), with the secrets
    /// that [`Run::no_leak`] must look for.
    pub fn from_output(
        command: String,
        output: &std::process::Output,
        secrets: Vec<String>,
    ) -> Run {
        Run {
            out: Output {
                command,
                code: output.status.code(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            },
            signal: output.status.signal(),
            watchdog: None,
            cwd: None,
            folders: Vec::new(),
            secrets,
            pending: Mutex::new(Vec::new()),
            looked: AtomicBool::new(false),
        }
    }
}

/// `dir` and what it holds, two levels deep, `ls -l` style: type and permission bits (with
/// set-id and sticky), owner and group (names where known), size, name; symlinks with their
/// target.
pub fn listing(dir: &Path) -> String {
    let mut out = String::new();
    list_into(&mut out, dir, Path::new("."), 0);
    out
}

fn list_into(out: &mut String, root: &Path, rel: &Path, depth: usize) {
    let path = if rel == Path::new(".") {
        root.to_owned()
    } else {
        root.join(rel)
    };
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(out, "{}: {e}", rel.display());
            return;
        }
    };
    let target = if meta.file_type().is_symlink() {
        std::fs::read_link(&path)
            .map(|t| format!(" -> {}", t.display()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} {:>8} {:>8} {:>8} {}{target}",
        mode_string(meta.mode()),
        user_name(meta.uid()),
        group_name(meta.gid()),
        meta.len(),
        rel.display()
    );
    if !meta.is_dir() || depth >= 2 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(&path) else {
        return;
    };
    let mut names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    let shown = names.len().min(50);
    for name in &names[..shown] {
        list_into(out, root, &rel.join(name), depth + 1);
    }
    if names.len() > shown {
        let _ = writeln!(
            out,
            "… and {} more in {}",
            names.len() - shown,
            rel.display()
        );
    }
}

/// `ls -l`'s first column: `-rw-------`, `drwx--x--T`, …
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut s = String::from(kind);
    for (i, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> i) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (mode & special != 0, bits & 1 != 0) {
            (true, true) => lower,
            (true, false) => upper,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}
