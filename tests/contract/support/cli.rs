//! A fluent runner for the two binaries (assert_cmd underneath).
//!
//! Every failed expectation prints the command, the environment (secret values shown as
//! `[SECRET]`), the exit code, stdout and stderr, so a red test explains itself.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::leak;

/// The longest any one run of a binary may take before it is killed (a hang is a failure).
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A command line to run, built fluently; nothing happens until [`Cli::run`].
#[must_use = "a Cli does nothing until .run()"]
#[derive(Clone)]
pub struct Cli {
    bin: &'static str,
    args: Vec<OsString>,
    env: Vec<(String, String, bool)>,
    cwd: Option<PathBuf>,
    umask: Option<u32>,
    secrets: Vec<String>,
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
    /// registered for [`Run::no_leak`].
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

    /// Runs the command to completion with a clean environment (only `PATH` is inherited, so a
    /// developer's `INFISICAL_*` or `OLLAMA_*` variables cannot change a test).
    pub fn run(self) -> Run {
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
        // instead of stalling the suite.
        let mut cmd = assert_cmd::Command::from_std(cmd);
        cmd.timeout(RUN_TIMEOUT);
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        Run {
            command: self.describe(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            secrets: self.secrets,
        }
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

/// A finished run. Expectations return `&Self` so they chain; each failure prints the report.
pub struct Run {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    secrets: Vec<String>,
}

impl Run {
    /// The full report: command, environment, exit code, stdout, stderr.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.command,
            self.code
                .map_or("killed by a signal".to_owned(), |c| c.to_string()),
            self.stdout,
            self.stderr
        )
    }

    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\n{}", self.report())
    }

    /// Expects exactly this exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        if self.code != Some(expected) {
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
            command,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            secrets,
        }
    }
}
