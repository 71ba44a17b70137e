//! Proves the crash-safety clauses of `contracts/env-file.md` (FILE-018 – FILE-024), of
//! `contracts/cli.md` (CLI-007, CLI-008) and of `contracts/secret-hygiene.md` (SEC-004,
//! SEC-005, SEC-041): signals and faults injected for real at the system calls of the write
//! (strace's `-e inject`, `RLIMIT_FSIZE`), leftovers of a SIGKILL, broken output streams, the
//! hardened process seen from outside, and readers under load. No sleeps: every wait is on an event.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use regex::Regex;
use wiremock::ResponseTemplate;

use crate::support::cli::{RUN_TIMEOUT, Run};
use crate::support::fixture_json;
use crate::support::infisical::*;
use crate::support::signal::{Silent, smoke_command};
use crate::support::{Workdir, canary, is_root, mode_of, skip};

const OLD: &str = "OLD_KEY='synthetic-old-value-0001'\n";
const OLD_MODE: u32 = 0o600;
const NEW_MODE: u32 = 0o640;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("write-canary-env")
}

/// A stand-in answering the providers fixture any number of times.
async fn serving() -> Infisical {
    let inf = Infisical::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(SECRETS_RAW))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture_json("infisical/secrets-providers.json")),
        )
        .mount(&inf.server)
        .await;
    inf
}

/// Whether strace can trace here; where it cannot, the test says it is skipped (a failure
/// under `PB_NO_SKIP=1`).
fn strace_usable(test: &str) -> bool {
    let ok = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(test, "strace is missing or ptrace is not permitted here");
    }
    ok
}

/// The arguments of one write of `out` (mode 0640, owner and group the test's own, so that
/// `fchown` is called).
fn write_args(url: &str, out: &Path) -> Vec<OsString> {
    let uid = nix::unistd::geteuid().as_raw().to_string();
    let gid = nix::unistd::getegid().as_raw().to_string();
    let mut args: Vec<OsString> = [
        "--project-id",
        PROJECT,
        "--env",
        ENV,
        "--api-url",
        url,
        "--timeout",
        "5",
        "--output-mode",
        "0640",
        "--owner",
        &uid,
        "--group",
        &gid,
        "--output",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(out.as_os_str().to_owned());
    args
}

/// Runs `prefix… write-canary-env args…` with a clean environment, the token in
/// `INFISICAL_TOKEN`, and the suite's watchdog.
fn run_wrapped(
    prefix: &[OsString],
    args: &[OsString],
    pre: Option<fn() -> std::io::Result<()>>,
) -> Run {
    let (program, rest) = match prefix.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (bin().into_os_string(), Vec::new()),
    };
    let mut cmd = Command::new(&program);
    cmd.args(&rest);
    if !prefix.is_empty() {
        cmd.arg(bin());
    }
    cmd.args(args).env_clear().env("INFISICAL_TOKEN", TOKEN);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.stdin(Stdio::null());
    if let Some(pre) = pre {
        // SAFETY: the hooks below only call setrlimit(2).
        unsafe { cmd.pre_exec(pre) };
    }
    let describe = format!(
        "INFISICAL_TOKEN=[SECRET] {} {}",
        prefix
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(RUN_TIMEOUT);
    let output = cmd.output().expect("the command starts");
    Run::from_output(
        describe,
        &output,
        vec![TOKEN.to_owned(), PROVIDER_VALUE.to_owned()],
    )
}

fn strace(filters: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = [
        "strace",
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "signal=none",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    for f in filters {
        v.push("-e".into());
        v.push((*f).into());
    }
    v
}

/// `dir/out.env` holding the old version with the old mode.
fn old_target(dir: &Path) -> PathBuf {
    let out = dir.join("out.env");
    std::fs::write(&out, OLD).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(OLD_MODE)).unwrap();
    out
}

/// One write of `out` under `strace -f -qq <flags> -o <log> -e <inject>`: the run and the
/// trace it left.
fn run_injected(flags: &[&str], inject: &str, url: &str, out: &Path) -> (Run, String) {
    let logs = Workdir::new();
    let log = logs.join("trace.log");
    let prefix: Vec<OsString> = ["strace", "-f", "-qq"]
        .iter()
        .chain(flags)
        .chain(&["-o"])
        .map(OsString::from)
        .chain([log.as_os_str().to_owned(), "-e".into(), inject.into()])
        .collect();
    let run = run_wrapped(&prefix, &write_args(url, out), None);
    (run, std::fs::read_to_string(&log).unwrap())
}

/// What a strace test starts from: the stand-in, its URL and one clean write's trace.
struct Traced {
    _inf: Infisical,
    url: String,
    scratch: Workdir,
    lines: Vec<String>,
}

/// `None` (the test says it is skipped) where strace cannot trace here.
async fn traced(test: &str) -> Option<Traced> {
    if !strace_usable(test) {
        return None;
    }
    let inf = serving().await;
    let url = inf.url();
    let scratch = Workdir::new();
    let lines = clean_trace(&url, scratch.path(), &[]);
    Some(Traced {
        _inf: inf,
        url,
        scratch,
        lines,
    })
}

/// `args` and then `extra`.
fn with(mut args: Vec<OsString>, extra: &[&str]) -> Vec<OsString> {
    args.extend(extra.iter().map(OsString::from));
    args
}

/// The system calls of one clean write, one line each (`<pid> <call>(…) = …`, paths decoded),
/// given `extra` arguments beside `write_args`.
fn clean_trace(url: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
    let out = old_target(dir);
    let log = dir.join("trace.log");
    let prefix: Vec<OsString> = ["strace", "-f", "-qq", "-y", "-s", "0", "-o"]
        .iter()
        .map(OsString::from)
        .chain([log.as_os_str().to_owned()])
        .collect();
    // stdout: the write report, whose keys are the stand-in's (1 or 2,000); the callers
    // compare what the trace shows
    run_wrapped(&prefix, &with(write_args(url, &out), extra), None)
        .success()
        .stderr_is("")
        .no_leak();
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_file(&out).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// Whether a trace line is a call of `syscall` (with `-f`, lines start with the pid).
fn is_call(line: &str, syscall: &str) -> bool {
    line.trim_start()
        .split_once(' ')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with(&format!("{syscall}(")))
}

/// The 1-based number of the first call of `syscall` matching `pred`.
fn nth_call(lines: &[String], syscall: &str, pred: impl Fn(&str) -> bool) -> usize {
    let calls: Vec<&String> = lines.iter().filter(|l| is_call(l, syscall)).collect();
    calls
        .iter()
        .position(|l| pred(l))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no matching {syscall}:\n{}", lines.join("\n")))
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The bytes and mode of the file a clean run writes (rendered once, for comparisons).
fn new_version(url: &str) -> Vec<u8> {
    new_version_with(url, &[])
}

/// [`new_version`] of a run given `extra` arguments beside `write_args`.
fn new_version_with(url: &str, extra: &[&str]) -> Vec<u8> {
    let wd = Workdir::new();
    let out = wd.output();
    // stdout: the write report, whose keys are the stand-in's (1 or 2,000); the bytes are
    // what the callers compare
    run_wrapped(&[], &with(write_args(url, &out), extra), None)
        .success()
        .stderr_is("")
        .no_leak();
    std::fs::read(&out).unwrap()
}

/// The text report of a run that put the providers' key into `out` with `write_args`'s mode
/// and owner: `verb` (`written`, `unchanged`, `would-change`), then `tail`. These runs start
/// under strace, outside the runner: their screens are stated whole after the run, with the
/// real path and ids.
fn report(out: &Path, verb: &str, tail: &str) -> String {
    format!(
        "{verb}: {} (mode {NEW_MODE:04o}, owner {}:{}) with 1 key from project {PROJECT}, \
         environment {ENV}, paths /\n  {PROVIDER_KEY}\n{tail}",
        out.display(),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    )
}

/// What the target is after an interrupted run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    Old,
    New,
}

/// SIGTERM, SIGINT and SIGHUP delivered at every call of every system call of the write path
/// (each `write`, `fchown`, `fchmod`, `fsync` and `rename` the process makes, counted in a
/// clean trace): the exit code is 128 + the signal, the target is the old file with its mode
/// when the call came before the rename and the complete new file with the output mode at or
/// after it, and the directory holds exactly the target.
#[tokio::test]
async fn file_018_cli_007_signal_at_every_system_call_of_the_write() {
    crate::support::signal::deliverable();
    let Some(t) = traced("file_018_cli_007_signal_at_every_system_call_of_the_write").await else {
        return;
    };
    let (url, lines) = (t.url.clone(), t.lines.clone());
    let new = new_version(&url);
    // Before main installs the handler, the default disposition applies (nothing is on disk
    // yet): the matrix starts at the first call after the SIGHUP handler is in place.
    let installed_at = lines
        .iter()
        .position(|l| is_call(l, "rt_sigaction") && l.contains("(SIGHUP, {sa_handler=0x"))
        .unwrap_or_else(|| panic!("no handler installed:\n{}", lines.join("\n")));
    let rename_at = lines
        .iter()
        .position(|l| is_call(l, "rename") && l.contains(".out.env.tmp-"))
        .unwrap_or_else(|| panic!("no rename:\n{}", lines.join("\n")));
    // Every (syscall, n) of the trace with what it must leave.
    let mut cases = Vec::new();
    for syscall in [
        "openat", "flock", "write", "fchown", "fchmod", "fsync", "rename", "close",
    ] {
        let mut n = 0;
        for (i, l) in lines.iter().enumerate() {
            if is_call(l, syscall) {
                n += 1;
                if i < installed_at {
                    continue;
                }
                let left = if i < rename_at { Left::Old } else { Left::New };
                cases.push((syscall, n, left, l.clone()));
            }
        }
    }
    for (syscall, path_part) in [
        ("openat", ".out.env.tmp-"),
        ("flock", ".out.env.tmp-"),
        ("write", ".out.env.tmp-"),
        ("fchown", ".out.env.tmp-"),
        ("fchmod", ".out.env.tmp-"),
        ("fsync", ".out.env.tmp-"),
        ("rename", ".out.env.tmp-"),
        ("fsync", ">)"),
    ] {
        assert!(
            cases
                .iter()
                .any(|(s, _, _, l)| *s == syscall && l.contains(path_part)),
            "the trace has no {syscall} on {path_part}:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        cases.len() >= 7,
        "too few calls traced:\n{}",
        lines.join("\n")
    );
    let signals = [("TERM", 143), ("INT", 130), ("HUP", 129)];
    let mut all = Vec::new();
    for (sig, code) in signals {
        for case in &cases {
            all.push((sig, code, case.clone()));
        }
    }
    let outcomes = std::sync::Mutex::new(Vec::new());
    for chunk in all.chunks(4) {
        std::thread::scope(|s| {
            for (sig, code, (syscall, n, left, line)) in chunk {
                let outcomes = &outcomes;
                let url = url.clone();
                let new = new.clone();
                s.spawn(move || {
                    let wd = Workdir::new();
                    let out = old_target(wd.path());
                    let inject = format!("inject={syscall}:signal={sig}:when={n}");
                    let (run, trace) = run_injected(&["-y", "-s", "0"], &inject, &url, &out);
                    let trace: Vec<String> = trace.lines().map(str::to_owned).collect();
                    let what = format!("SIG{sig} at {syscall} #{n} ({line})");
                    run.no_leak();
                    if run.code != Some(*code) {
                        run.fail(&format!("{what}: expected exit {code}"));
                    }
                    // The signal came right after the call it was injected at.
                    let delivered = trace
                        .iter()
                        .position(|l| l.contains(&format!("--- SIG{sig} ")))
                        .unwrap_or_else(|| run.fail(&format!("{what}: no signal in the trace")));
                    if delivered == 0 || !is_call(&trace[delivered - 1], syscall) {
                        run.fail(&format!(
                            "{what}: the signal did not follow a {syscall}:\n{}",
                            trace.join("\n")
                        ));
                    }
                    // What the file must be follows from whether the rename had happened.
                    let renamed = trace.iter().any(|l| {
                        is_call(l, "rename") && l.contains(".out.env.tmp-") && l.ends_with("= 0")
                    });
                    let (bytes, mode) = (std::fs::read(&out).unwrap(), mode_of(&out));
                    if renamed {
                        if bytes != new || mode != NEW_MODE {
                            run.fail(&format!(
                                "{what}: not the complete new file (mode {mode:o})"
                            ));
                        }
                    } else if bytes != OLD.as_bytes() || mode != OLD_MODE {
                        run.fail(&format!("{what}: the old file changed (mode {mode:o})"));
                    }
                    outcomes
                        .lock()
                        .unwrap()
                        .push((*left, if renamed { Left::New } else { Left::Old }));
                    let names = listing(wd.path());
                    if names != ["out.env"] {
                        run.fail(&format!("{what}: the directory holds {names:?}"));
                    }
                });
            }
        });
    }
    // Both sides of the rename were hit, and (timing aside) where the clean trace said.
    let outcomes = outcomes.into_inner().unwrap();
    for side in [Left::Old, Left::New] {
        assert!(
            outcomes.iter().any(|(_, got)| *got == side),
            "{side:?} never seen"
        );
    }
    let agree = outcomes.iter().filter(|(want, got)| want == got).count();
    assert!(
        agree * 10 >= outcomes.len() * 9,
        "the runs differ from the clean trace: {outcomes:?}"
    );
}

/// A run killed with SIGKILL at its rename leaves its temporary file; a dry run removes
/// nothing; the next run removes it, names it on stderr (line for line) and leaves exactly
/// the target. Also when the target is already up to date (`unchanged`).
#[tokio::test]
async fn file_019_sigkill_leftover_removed_by_the_next_run() {
    if !strace_usable("file_019_sigkill_leftover_removed_by_the_next_run") {
        return;
    }
    let inf = serving().await;
    let url = inf.url();
    let new = new_version(&url);
    let pattern = Regex::new(r"^\.out\.env\.tmp-[0-9]+-[0-9a-f]{8}-[0-9]+$").unwrap();
    for already_new in [false, true] {
        let wd = Workdir::new();
        let out = wd.output();
        if already_new {
            run_wrapped(&[], &write_args(&url, &out), None)
                .success()
                .stdout_is(&report(&out, "written", ""))
                .stderr_is("")
                .no_leak();
        } else {
            std::fs::write(&out, OLD).unwrap();
        }
        let before = std::fs::read(&out).unwrap();
        // The killed run writes another mode, so it rewrites even an up-to-date file.
        let mut killed_args = write_args(&url, &out);
        killed_args.extend(["--output-mode".into(), "0600".into()]);
        let killed = run_wrapped(
            &strace(&["inject=rename:signal=KILL:when=1"]),
            &killed_args,
            None,
        );
        assert_eq!(killed.code, None, "SIGKILL: {}", killed.report());
        assert_eq!(std::fs::read(&out).unwrap(), before, "the target changed");
        let left: Vec<String> = listing(wd.path())
            .into_iter()
            .filter(|n| n != "out.env")
            .collect();
        assert!(
            left.len() == 1 && pattern.is_match(&left[0]),
            "one leftover expected: {left:?}"
        );
        let leftover = wd.join(&left[0]);
        let mut dry = write_args(&url, &out);
        dry.push("--dry-run".into());
        // a dry run sweeps nothing and says nothing about the leftover
        let dry_report = if already_new {
            report(&out, "unchanged", "keys: unchanged\n")
        } else {
            report(
                &out,
                "would-change",
                "the file on disk is not one write-canary-env wrote in this format (it does not \
                 start with the header write-canary-env writes): it counts as changed whole\nkeys \
                 changed: OLLAMA_CLOUD_API_KEY\n",
            )
        };
        run_wrapped(&[], &dry, None)
            .success()
            .stdout_is(&dry_report)
            .stderr_is("")
            .no_leak();
        assert!(leftover.exists(), "a dry run removed the leftover");
        let run = run_wrapped(&[], &write_args(&url, &out), None);
        run.success()
            .stderr_is(&format!(
                "write-canary-env: removed {}, a temporary file left by an interrupted run\n",
                leftover.display()
            ))
            .stdout_is(&report(
                &out,
                if already_new { "unchanged" } else { "written" },
                "",
            ))
            .no_leak();
        assert_eq!(listing(wd.path()), ["out.env"]);
        assert_eq!(std::fs::read(&out).unwrap(), new);
    }
}

/// A temporary file of a live writer (its lock held by this test), a symlink and a
/// directory with our exact pattern, and names that only look like ours are all left exactly
/// as they were; nothing is said about them.
#[tokio::test]
async fn file_020_live_and_foreign_files_are_left_alone() {
    let inf = serving().await;
    let url = inf.url();
    let wd = Workdir::new();
    let out = wd.output();
    std::fs::write(&out, OLD).unwrap();
    let elsewhere = Workdir::new();
    let victim = elsewhere.join("victim");
    std::fs::write(&victim, "synthetic-victim-content").unwrap();
    let live = wd.join(".out.env.tmp-4242-0000abcd-0");
    std::fs::write(&live, "synthetic-live-writer-content").unwrap();
    let held = std::fs::File::open(&live).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { nix::libc::flock(held.as_raw_fd(), nix::libc::LOCK_EX | nix::libc::LOCK_NB) },
        0
    );
    std::os::unix::fs::symlink(&victim, wd.join(".out.env.tmp-4243-0000abcd-0")).unwrap();
    std::fs::create_dir(wd.join(".out.env.tmp-4244-0000abcd-0")).unwrap();
    let lookalikes = [
        ".out.env.tmp-4245-0000abcd-0.bak",
        ".out.env.tmp-4245-abcd-0",
        ".out.env.tmp-4245-0000ABCD-0",
        ".out.env.tmp-x-0000abcd-0",
        ".out.env.tmp-4245-0000abcd-",
        ".other.env.tmp-4245-0000abcd-0",
        "out.env.tmp-4245-0000abcd-0",
        ".out.env.tmp-4245-0000abcd-0-1",
    ];
    for name in lookalikes {
        std::fs::write(wd.join(name), "synthetic-lookalike-content").unwrap();
    }
    let before = listing(wd.path());
    let run = run_wrapped(&[], &write_args(&url, &out), None);
    run.success()
        .stdout_is(&report(&out, "written", ""))
        .stderr_is("")
        .no_leak();
    assert_eq!(listing(wd.path()), before);
    assert_eq!(
        std::fs::read_to_string(&live).unwrap(),
        "synthetic-live-writer-content"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "synthetic-victim-content"
    );
    for name in lookalikes {
        assert_eq!(
            std::fs::read_to_string(wd.join(name)).unwrap(),
            "synthetic-lookalike-content",
            "{name}"
        );
    }
    // Once the live writer is gone, its file is provably dead and is swept.
    drop(held);
    run_wrapped(&[], &write_args(&url, &out), None)
        .success()
        .stdout_is(&report(&out, "unchanged", ""))
        .stderr_is(&format!(
            "write-canary-env: removed {}, a temporary file left by an interrupted run\n",
            live.display()
        ))
        .no_leak();
}

/// One injected fault: the injection, whether the target's parent is missing, and the
/// message expected on stderr (a regex; `TMP` stands for the temporary file, `OUT` for the
/// target, `DIR` for the directory).
struct FsFault {
    name: &'static str,
    inject: Option<String>,
    fsize: bool,
    missing_parent: bool,
    message: String,
}

fn set_fsize() -> std::io::Result<()> {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, 64, 64)
        .map_err(std::io::Error::from)
}

/// The fault matrix of FILE-021, each injected for real; each case's failure prints the
/// command, the exit code, stdout and stderr.
#[tokio::test]
async fn file_021_system_call_faults_exit_6_naming_the_operation() {
    let Some(t) = traced("file_021_system_call_faults_exit_6_naming_the_operation").await else {
        return;
    };
    let (url, lines) = (t.url.clone(), t.lines.clone());
    let data_write = nth_call(&lines, "write", |l| l.contains(".out.env.tmp-"));
    let file_fsync = nth_call(&lines, "fsync", |l| l.contains(".out.env.tmp-"));
    let prefix = "write-canary-env: error: cannot";
    let tmp = r"DIR/\.out\.env\.tmp-[0-9]+-[0-9a-f]{8}-[0-9]+";
    let mut faults = Vec::new();
    for (errno, text) in [
        ("ENOSPC", "No space left on device"),
        ("EDQUOT", "Disk quota exceeded"),
    ] {
        faults.push(FsFault {
            name: "data write",
            inject: Some(format!("inject=write:error={errno}:when={data_write}")),
            fsize: false,
            missing_parent: false,
            message: format!(r"{prefix} write {tmp}: {text} \({errno}\)"),
        });
    }
    faults.push(FsFault {
        name: "data write over RLIMIT_FSIZE",
        inject: None,
        fsize: true,
        missing_parent: false,
        message: format!(r"{prefix} write {tmp}: File too large \(EFBIG\)"),
    });
    faults.push(FsFault {
        name: "fsync of the file",
        inject: Some(format!("inject=fsync:error=EIO:when={file_fsync}")),
        fsize: false,
        missing_parent: false,
        message: format!(r"{prefix} fsync {tmp}: Input/output error \(EIO\)"),
    });
    for (errno, text) in [
        ("EXDEV", "Invalid cross-device link"),
        ("EACCES", "Permission denied"),
        ("EBUSY", "Device or resource busy"),
        ("EROFS", "Read-only file system"),
    ] {
        faults.push(FsFault {
            name: "rename",
            inject: Some(format!("inject=rename:error={errno}")),
            fsize: false,
            missing_parent: false,
            message: format!(r"{prefix} rename over OUT: {text} \({errno}\)"),
        });
    }
    for (call, op) in [("fchown", "chown"), ("fchmod", "chmod")] {
        faults.push(FsFault {
            name: call,
            inject: Some(format!("inject={call}:error=EPERM")),
            fsize: false,
            missing_parent: false,
            message: format!(r"{prefix} {op} {tmp}: Operation not permitted \(EPERM\)"),
        });
    }
    for (errno, text) in [
        ("ENOSPC", "No space left on device"),
        ("EROFS", "Read-only file system"),
    ] {
        faults.push(FsFault {
            name: "mkdir of a parent",
            inject: Some(format!("inject=mkdir,mkdirat:error={errno}")),
            fsize: false,
            missing_parent: true,
            message: format!(r"{prefix} create directory DIR: {text} \({errno}\)"),
        });
    }
    std::thread::scope(|s| {
        for f in &faults {
            let url = url.clone();
            s.spawn(move || {
                let wd = Workdir::new();
                let dir = if f.missing_parent {
                    wd.join("missing")
                } else {
                    wd.path().to_owned()
                };
                let out = dir.join("out.env");
                if !f.missing_parent {
                    std::fs::write(&out, OLD).unwrap();
                    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(OLD_MODE))
                        .unwrap();
                }
                let before = listing(wd.path());
                let prefix = match &f.inject {
                    Some(i) => strace(&[i]),
                    None => Vec::new(),
                };
                let pre: Option<fn() -> std::io::Result<()>> =
                    if f.fsize { Some(set_fsize) } else { None };
                let run = run_wrapped(&prefix, &write_args(&url, &out), pre);
                let what = format!("{} ({:?})", f.name, f.inject);
                run.no_leak();
                if run.code != Some(6) {
                    run.fail(&format!("{what}: expected exit 6"));
                }
                let expected = format!(
                    "^{}\n$",
                    f.message
                        .replace("OUT", &regex::escape(&out.display().to_string()))
                        .replace("DIR", &regex::escape(&dir.display().to_string()))
                );
                if !Regex::new(&expected).unwrap().is_match(&run.stderr) {
                    run.fail(&format!("{what}: stderr is not {expected:?}"));
                }
                if !run.stdout.is_empty() {
                    run.fail(&format!("{what}: stdout is not empty"));
                }
                if listing(wd.path()) != before {
                    run.fail(&format!(
                        "{what}: the directory holds {:?}",
                        listing(wd.path())
                    ));
                }
                if !f.missing_parent
                    && (std::fs::read(&out).unwrap() != OLD.as_bytes() || mode_of(&out) != OLD_MODE)
                {
                    run.fail(&format!("{what}: the old file changed"));
                }
            });
        }
    });
}

/// EIO on the directory's fsync after the rename: exit 6, the whole message saying the new
/// file is in place but not proven durable; the target is the complete new file.
#[tokio::test]
async fn file_022_directory_fsync_fault_after_the_rename() {
    let Some(t) = traced("file_022_directory_fsync_fault_after_the_rename").await else {
        return;
    };
    let (url, lines) = (t.url.clone(), t.lines.clone());
    let scratch = &t.scratch;
    let new = new_version(&url);
    let dir_text = scratch.path().display().to_string();
    let dir_fsync = nth_call(&lines, "fsync", |l| l.contains(&format!("<{dir_text}>)")));
    let wd = Workdir::new();
    let out = wd.output();
    std::fs::write(&out, OLD).unwrap();
    let inject = format!("inject=fsync:error=EIO:when={dir_fsync}");
    let run = run_wrapped(&strace(&[&inject]), &write_args(&url, &out), None);
    run.code(6)
        .stdout_is("")
        .stderr_is(&format!(
            "write-canary-env: error: {} is written and in place, but its durability is not proven: cannot fsync directory {}: Input/output error (EIO)\n",
            out.display(),
            wd.path().display()
        ))
        .no_leak();
    assert_eq!(std::fs::read(&out).unwrap(), new);
    assert_eq!(mode_of(&out), NEW_MODE);
    assert_eq!(listing(wd.path()), ["out.env"]);
}

/// EINTR on the data write: retried, the run succeeds with the complete file.
#[tokio::test]
async fn file_023_interrupted_write_is_retried() {
    let Some(t) = traced("file_023_interrupted_write_is_retried").await else {
        return;
    };
    let (url, lines) = (t.url.clone(), t.lines.clone());
    let new = new_version(&url);
    let data_write = nth_call(&lines, "write", |l| l.contains(".out.env.tmp-"));
    let wd = Workdir::new();
    let out = wd.output();
    std::fs::write(&out, OLD).unwrap();
    let inject = format!("inject=write:error=EINTR:when={data_write}");
    run_wrapped(&strace(&[&inject]), &write_args(&url, &out), None)
        .success()
        .stdout_is(&report(&out, "written", ""))
        .stderr_is("")
        .no_leak();

    assert_eq!(std::fs::read(&out).unwrap(), new);
    assert_eq!(listing(wd.path()), ["out.env"]);
}

/// 20 writers render 20 versions to one file while a reader opens and reads it in a tight
/// loop: every read is a complete version (parsed, equal to one written) and every opened
/// file has mode 0600. The loop ends when the writers are done (bounded by a count).
#[tokio::test]
async fn file_024_readers_under_load_see_only_complete_versions() {
    const WRITERS: usize = 20;
    let wd = Workdir::new();
    let out = wd.output();
    let mut servers = Vec::new();
    let mut versions: Vec<Vec<(String, String)>> = Vec::new();
    for w in 0..=WRITERS {
        let inf = Infisical::start().await;
        // Different lengths too: a torn read of a longer version would show.
        let values: Vec<(String, String)> = (0..(3 + w % 5))
            .map(|k| {
                (
                    format!("KEY_{k}"),
                    format!("synthetic-writer{w}-key{k}-{}", "v".repeat(w * 7)),
                )
            })
            .collect();
        inf.serve_values(&values, 1).await;
        servers.push(inf);
        versions.push(values);
    }
    // The report of writer `w` (3 + w % 5 keys), with the real path and ids.
    let report = |w: usize| {
        let n = 3 + w % 5;
        let mut text = format!(
            "written: {} (mode 0600, owner {}:{}) with {n} keys from project {PROJECT}, \
             environment {ENV}, paths /\n",
            out.display(),
            nix::unistd::geteuid(),
            nix::unistd::getegid()
        );
        for k in 0..n {
            text.push_str(&format!("  KEY_{k}\n"));
        }
        text
    };
    let waited = format!(
        "write-canary-env: waiting for another run writing into {} (one run at a time per \
         directory)\n",
        wd.path().display()
    );
    // Version 0 first, so the reader always finds a file.
    let run = canary(&servers[0].url(), &out)
        .exits(0)
        .stdout_checked_elsewhere("the whole report with the owner's numbers, compared below")
        .run();
    assert_eq!(run.stdout, report(0), "{}", run.report());
    let done = std::sync::atomic::AtomicBool::new(false);
    let (reads, seen) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0u64;
            let mut seen = std::collections::BTreeSet::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) && reads < 5_000_000 {
                let mut f = std::fs::File::open(&out).expect("the file is always there");
                let mode = f.metadata().unwrap().mode() & 0o7777;
                assert_eq!(mode, 0o600, "read #{reads}: mode {mode:o}");
                let mut text = String::new();
                f.read_to_string(&mut text).unwrap();
                let pairs: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|e| panic!("read #{reads} does not parse ({e}):\n{text}"));
                let which = versions
                    .iter()
                    .position(|v| *v == pairs)
                    .unwrap_or_else(|| panic!("read #{reads} is no version:\n{text}"));
                seen.insert(which);
                reads += 1;
            }
            (reads, seen)
        });
        std::thread::scope(|w| {
            for (i, inf) in servers.iter().enumerate().skip(1) {
                let url = inf.url();
                let out = out.clone();
                let (report, waited) = (&report, &waited);
                w.spawn(move || {
                    // Which writers wait for another's lock is the race's: stderr is empty
                    // or the one waiting line. The report names the owner by number (the
                    // runner's placeholders would hide it), so it is compared raw.
                    let run = canary(&url, &out)
                        .exits(0)
                        .stdout_checked_elsewhere("the writer's whole report, compared below")
                        .stderr_checked_elsewhere("empty, or the waiting line, compared below")
                        .run();
                    if run.stdout != report(i) || !["", waited.as_str()].contains(&&*run.stderr) {
                        run.fail(&format!("not writer {i}'s whole report and stderr"));
                    }
                });
            }
        });
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap()
    });
    assert!(reads > 0 && !seen.is_empty());
    assert_eq!(listing(wd.path()), ["out.env"]);
    let final_text = std::fs::read_to_string(&out).unwrap();
    let pairs: Vec<(String, String)> = dotenvy::from_read_iter(final_text.as_bytes())
        .map(Result::unwrap)
        .collect();
    assert!(
        versions[1..].contains(&pairs),
        "the last version is no writer's"
    );
}

/// How stdout or stderr is broken for one run.
#[derive(Debug, Clone, Copy)]
enum Broken {
    Closed,
    Epipe,
    FullNonBlocking,
}

/// A pipe whose write end is returned, broken as asked; the read end (kept open for a full
/// pipe) is returned beside it.
fn broken_pipe(how: Broken) -> (Option<OwnedFd>, Option<OwnedFd>) {
    match how {
        Broken::Closed => (None, None),
        Broken::Epipe => {
            let (r, w) = nix::unistd::pipe().unwrap();
            drop(r);
            (Some(w), None)
        }
        Broken::FullNonBlocking => {
            let (r, w) = nix::unistd::pipe().unwrap();
            let flags = nix::fcntl::fcntl(w.as_raw_fd(), nix::fcntl::F_GETFL).unwrap();
            nix::fcntl::fcntl(
                w.as_raw_fd(),
                nix::fcntl::F_SETFL(
                    nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
                ),
            )
            .unwrap();
            let mut file = std::fs::File::from(w);
            let chunk = [b'x'; 4096];
            // Bounded: a pipe holds at most 1 MiB by default limits.
            for _ in 0..1024 {
                match file.write(&chunk) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("filling the pipe: {e}"),
                }
            }
            assert_eq!(
                file.write(b"x").unwrap_err().kind(),
                std::io::ErrorKind::WouldBlock
            );
            (Some(OwnedFd::from(file)), Some(r))
        }
    }
}

/// Runs `cmd` with stdout (`fd` 1) or stderr (`fd` 2) broken as asked; the other stream is
/// captured. Returns the exit code (None: killed by a signal) and the captured stream.
fn run_broken(mut cmd: Command, fd: i32, how: Broken) -> (Option<i32>, String) {
    let (end, _keep_read_end) = broken_pipe(how);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match end {
        Some(w) if fd == 1 => {
            cmd.stdout(Stdio::from(w));
        }
        Some(w) => {
            cmd.stderr(Stdio::from(w));
        }
        None => {
            // SAFETY: close(2) is async-signal-safe; it runs after the streams are set up.
            unsafe {
                cmd.pre_exec(move || {
                    nix::libc::close(fd);
                    Ok(())
                });
            }
        }
    }
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(RUN_TIMEOUT);
    let output = cmd.output().expect("the command starts");
    let other = if fd == 1 {
        output.stderr
    } else {
        output.stdout
    };
    (
        output.status.code(),
        String::from_utf8_lossy(&other).into_owned(),
    )
}

/// stdout or stderr closed, a reader gone (EPIPE) or a full non-blocking pipe: the canary
/// writes the same file and exits as with a terminal (0 on success, 4 on a 404), the smoke
/// exits 0 with every check passing, and neither panics.
#[tokio::test]
async fn cli_008_broken_output_streams_never_panic() {
    let inf = serving().await;
    let url = inf.url();
    let new = new_version(&url);
    let missing = Infisical::start().await;
    missing
        .respond(
            ResponseTemplate::new(404)
                .set_body_json(fixture_json("infisical/error-404-environment.json")),
            12,
        )
        .await;
    let chat = crate::support::chat::Chat::start().await;
    chat.answer(200, "openai/chat-ok.json", 6).await;
    for fd in [1, 2] {
        for how in [Broken::Closed, Broken::Epipe, Broken::FullNonBlocking] {
            for json in [false, true] {
                let what = format!("fd {fd} {how:?} json={json}");
                let wd = Workdir::new();
                let out = wd.output();
                std::fs::write(&out, OLD).unwrap();
                let mut cmd = Command::new(bin());
                cmd.args(write_args(&url, &out))
                    .env_clear()
                    .env("INFISICAL_TOKEN", TOKEN);
                if json {
                    cmd.arg("--json");
                }
                let (code, other) = run_broken(cmd, fd, how);
                assert_eq!(code, Some(0), "{what}: {other}");
                assert_eq!(std::fs::read(&out).unwrap(), new, "{what}");
                assert_eq!(mode_of(&out), NEW_MODE, "{what}");
                assert_eq!(listing(wd.path()), ["out.env"], "{what}");
                assert!(!other.contains("panicked"), "{what}: {other}");

                let mut cmd = Command::new(bin());
                cmd.args(write_args(&missing.url(), &out))
                    .env_clear()
                    .env("INFISICAL_TOKEN", TOKEN);
                if json {
                    cmd.arg("--json");
                }
                let (code, other) = run_broken(cmd, fd, how);
                assert_eq!(code, Some(4), "{what}, 404: {other}");
                assert_eq!(std::fs::read(&out).unwrap(), new, "{what}, 404");
            }
            let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ollama-compat-smoke"));
            cmd.arg("--base-url")
                .arg(chat.base_url())
                .args(["--check", "chat_completion"])
                .env_clear()
                .env("OLLAMA_CLOUD_API_KEY", crate::support::chat::KEY);
            let (code, other) = run_broken(cmd, fd, how);
            assert_eq!(code, Some(0), "smoke, fd {fd} {how:?}: {other}");
            assert!(
                !other.contains("panicked"),
                "smoke, fd {fd} {how:?}: {other}"
            );
        }
    }
    chat.verify().await;
}

/// A copy of a binary that `nobody` may execute (the build tree may not be reachable).
fn executable_copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(assert_cmd::cargo::cargo_bin(name), &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    to
}

/// Starts `cmd` as `nobody` (uid and gid 65534).
fn spawn_as_nobody(mut cmd: Command) -> std::process::Child {
    cmd.uid(65534).gid(65534);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().expect("spawn as nobody")
}

/// The owner of `/proc/<pid>/status`.
fn proc_owner(pid: u32) -> u32 {
    std::fs::metadata(format!("/proc/{pid}/status"))
        .unwrap()
        .uid()
}

/// Both binaries, run as `nobody` and caught while they wait for their server (the test's
/// listener has accepted their connection and does not answer): `Max core file size 0 0`,
/// `/proc/<pid>/status` owned by root (not dumpable; a plain process of `nobody` shows 65534),
/// no secret in `/proc/<pid>/cmdline`, no child process.
#[test]
fn sec_004_sec_005_hardened_process_seen_from_outside() {
    if !is_root() {
        skip(
            "sec_004_sec_005_hardened_process_seen_from_outside",
            "running as another user needs root",
        );
        return;
    }
    let bins = tempfile::tempdir().unwrap();
    let canary_bin = executable_copy(bins.path(), "write-canary-env");
    let smoke_bin = executable_copy(bins.path(), "ollama-compat-smoke");
    // The control: a plain process of nobody owns its /proc files.
    let mut control_cmd = Command::new("cat");
    control_cmd.uid(65534).gid(65534);
    let mut control = control_cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(proc_owner(control.id()), 65534, "the control is dumpable");
    drop(control.stdin.take());
    control.wait().unwrap();

    for which in ["write-canary-env", "ollama-compat-smoke"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut cmd;
        if which == "write-canary-env" {
            cmd = Command::new(&canary_bin);
            cmd.args(["--project-id", PROJECT, "--env", ENV, "--api-url", &url])
                .args(["--output", "/nonexistent/out.env", "--timeout", "20"])
                .env_clear()
                .env("INFISICAL_TOKEN", TOKEN);
        } else {
            cmd = Command::new(&smoke_bin);
            cmd.args([
                "--base-url",
                &format!("{url}/v1"),
                "--check",
                "chat_completion",
            ])
            .args(["--timeout", "20"])
            .env_clear()
            .env("OLLAMA_CLOUD_API_KEY", crate::support::chat::KEY);
        }
        let mut child = spawn_as_nobody(cmd);
        let pid = child.id();
        // The process is now waiting for an answer: it has long been hardened.
        let (conn, _) = listener.accept().unwrap();
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let core: Vec<&str> = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(core[4..6], ["0", "0"], "{which}: {limits}");
        assert_eq!(
            proc_owner(pid),
            0,
            "{which}: /proc/{pid}/status is not root's"
        );
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline);
        for secret in [TOKEN, crate::support::chat::KEY] {
            assert!(!cmdline.contains(secret), "{which}: argv holds a secret");
        }
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let children = std::fs::read_to_string(task.unwrap().path().join("children")).unwrap();
            assert_eq!(children.trim(), "", "{which}: a child process");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        drop(conn);
    }
}

/// Every readable mapping of a stopped process searched for `needle`; the names of the
/// mappings holding it.
fn memory_holding(pid: u32, needle: &[u8]) -> Vec<String> {
    use std::os::unix::fs::FileExt as _;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut found = Vec::new();
    let mut scanned = 0usize;
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !fields[1].starts_with('r') {
            continue;
        }
        let (start, end) = fields[0].split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut data = vec![0u8; (end - start) as usize];
        // [vvar] and the like cannot be read: skipped.
        let Ok(n) = mem.read_at(&mut data, start) else {
            continue;
        };
        scanned += n;
        if data[..n].windows(needle.len()).any(|w| w == needle) {
            found.push(fields.get(5).copied().unwrap_or("[anonymous]").to_owned());
        }
    }
    assert!(scanned > 0, "nothing of /proc/{pid}/mem could be read");
    found
}

/// The process stopped (strace injects SIGSTOP) at its first write to stdout, after the
/// file is written and everything holding secrets is dropped: no byte sequence of the fetched
/// value is left anywhere in its memory (heap, stack, mappings) — every freed buffer was
/// wiped. (The token stays in the environment block the process was started with.)
#[tokio::test]
async fn sec_004_no_fetched_value_left_in_memory_after_the_write() {
    let Some(t) = traced("sec_004_no_fetched_value_left_in_memory_after_the_write").await else {
        return;
    };
    assert_no_value_left(&t.url, &t.lines, &[PROVIDER_VALUE], &[]);
}

/// The same scan after a large answer (2,000 generated secrets, about 1 MB): the body, the
/// buffers it is read and unescaped into and the rendered file are all larger than the
/// allocator's small-block limit, so they are mappings of their own, unmapped when freed
/// rather than wiped. Neither a plain value (borrowed from the body while parsing) nor a line
/// of a multi-line PEM-like value (unescaped from `\n`) is left anywhere.
#[tokio::test]
async fn sec_041_no_fetched_value_left_in_memory_after_a_large_answer() {
    large_answers_leave_nothing(
        "sec_041_no_fetched_value_left_in_memory_after_a_large_answer",
        &[],
    )
    .await;
}

/// The same scan after two such answers (two paths, each answered with the 2,000 secrets),
/// which are read at once, one on a second thread: nothing that thread read is left either.
#[tokio::test]
async fn sec_041_no_fetched_value_left_in_memory_after_two_answers_read_at_once() {
    large_answers_leave_nothing(
        "sec_041_no_fetched_value_left_in_memory_after_two_answers_read_at_once",
        &["--path", "/", "--path", "/more"],
    )
    .await;
}

/// The memory scan of a write given `extra` arguments, against a stand-in answering every list
/// with 2,000 generated secrets.
async fn large_answers_leave_nothing(test: &str, extra: &[&str]) {
    if !strace_usable(test) {
        return;
    }
    let answer = pb_stand_ins::infisical::generated(2000, "/");
    let body = serde_json::to_vec(&answer).unwrap();
    assert!(
        body.len() > 512 * 1024,
        "the answer is not large: {}",
        body.len()
    );
    let value = |i: usize| {
        answer["secrets"][i]["secretValue"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let plain = value(7);
    let pem = value(49);
    let pem_line = pem.lines().nth(5).unwrap().to_owned();
    assert!(
        plain.len() >= 40 && pem_line.len() == 64,
        "{plain:?} {pem_line:?}"
    );
    let inf = Infisical::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(SECRETS_RAW))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&inf.server)
        .await;
    let url = inf.url();
    let scratch = Workdir::new();
    let lines = clean_trace(&url, scratch.path(), extra);
    assert_no_value_left(&url, &lines, &[&plain, &pem_line], extra);
}

/// Runs one write against `url` under strace, stopped at its first write to stdout (found in
/// the clean trace `lines`), and asserts that none of `values` is in the stopped process's
/// memory while the token (the control: it sits in the environment block) is.
fn assert_no_value_left(url: &str, lines: &[String], values: &[&str], extra: &[&str]) {
    let report_write = nth_call(lines, "write", |l| l.contains("write(1<"));
    let wd = Workdir::new();
    let out = wd.output();
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=write"])
        .arg("-e")
        .arg(format!("inject=write:signal=STOP:when={report_write}"))
        .arg(bin())
        .args(with(write_args(url, &out), extra))
        .env_clear()
        .env("INFISICAL_TOKEN", TOKEN)
        .stdin(Stdio::null())
        // The report is not read: a pipe could fill up with a long key list and block it.
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut strace = cmd.spawn().unwrap();
    let log = std::io::BufReader::new(strace.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut pid = None;
    // strace's own log says when the process is stopped (no waiting on a clock).
    let mut log_lines = std::io::BufRead::lines(log);
    for line in log_lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("--- stopped by SIGSTOP ---") {
            // The traced process is strace's only child.
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.id()))
                    .unwrap();
            pid = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u32>().ok());
            break;
        }
    }
    let Some(pid) = pid else {
        let _ = strace.kill();
        panic!("the process never stopped:\n{}", seen.join("\n"));
    };
    assert_eq!(
        std::fs::read(&out).unwrap(),
        new_version_with(url, extra),
        "not written yet"
    );
    let holding: Vec<(usize, Vec<String>)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i, memory_holding(pid, v.as_bytes())))
        .filter(|(_, found)| !found.is_empty())
        .collect();
    let control = memory_holding(pid, TOKEN.as_bytes());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    // Read strace's log to its end, so strace never writes into a closed pipe.
    log_lines.for_each(drop);
    let status = strace.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        holding.is_empty(),
        "a fetched value (by its index among the values sought) is still in memory: {holding:?}"
    );
    // The search works: the token, which sits in the environment block, is found.
    assert!(
        !control.is_empty(),
        "the token was not found: the scan is blind"
    );
}

/// Both binaries, caught while they wait for their server (the test's listener accepted the
/// connection and does not answer), end with 143, 130 and 129 on SIGTERM, SIGINT and SIGHUP;
/// `write-canary-env`'s old file is untouched and its directory holds only it.
#[test]
fn cli_007_signal_while_waiting_for_the_server_both_binaries() {
    crate::support::signal::deliverable();
    for (sig, code) in [
        (nix::sys::signal::Signal::SIGTERM, 143),
        (nix::sys::signal::Signal::SIGINT, 130),
        (nix::sys::signal::Signal::SIGHUP, 129),
    ] {
        for which in ["write-canary-env", "ollama-compat-smoke"] {
            let silent = Silent::new();
            let url = &silent.url;
            let wd = Workdir::new();
            let out = wd.output();
            std::fs::write(&out, OLD).unwrap();
            let cmd = if which == "write-canary-env" {
                let mut cmd = Command::new(bin());
                cmd.args(write_args(url, &out))
                    .env_clear()
                    .env("INFISICAL_TOKEN", TOKEN);
                cmd
            } else {
                smoke_command(url)
            };
            let output = silent.signal(cmd, sig);
            assert_eq!(
                output.status.code(),
                Some(code),
                "{which} {sig:?}: {output:?}"
            );
            assert_eq!(
                std::fs::read(&out).unwrap(),
                OLD.as_bytes(),
                "{which} {sig:?}"
            );
            assert_eq!(listing(wd.path()), ["out.env"], "{which} {sig:?}");
        }
    }
}

/// SIGUSR1, SIGUSR2 and SIGALRM — signals whose default action ends the process and that
/// are not in the exit-code table — delivered at each call on the temporary file (its
/// creation, lock, chown, chmod, data write, fsync, the rename) and at the directory's fsync:
/// the process is still killed by that signal, but the directory holds exactly the target,
/// which is the old file before the rename and the complete new one after it.
#[tokio::test]
async fn file_025_other_fatal_signals_remove_the_temporary_file_too() {
    crate::support::signal::deliverable();
    let Some(t) = traced("file_025_other_fatal_signals_remove_the_temporary_file_too").await else {
        return;
    };
    let (url, lines) = (t.url.clone(), t.lines.clone());
    let scratch = &t.scratch;
    let new = new_version(&url);
    let dir_text = format!("<{}>)", scratch.path().display());
    let mut calls = Vec::new();
    for syscall in [
        "openat", "flock", "fchown", "fchmod", "write", "fsync", "rename",
    ] {
        let on_temp = |l: &str| l.contains(".out.env.tmp-");
        calls.push((syscall, nth_call(&lines, syscall, on_temp)));
    }
    calls.push((
        "fsync",
        nth_call(&lines, "fsync", |l| l.contains(&dir_text)),
    ));
    let mut cases = Vec::new();
    for sig in ["USR1", "USR2", "ALRM"] {
        for &(syscall, n) in &calls {
            cases.push((sig, syscall, n));
        }
    }
    for chunk in cases.chunks(4) {
        std::thread::scope(|s| {
            for &(sig, syscall, n) in chunk {
                let (url, new) = (url.clone(), new.clone());
                s.spawn(move || {
                    let wd = Workdir::new();
                    let out = old_target(wd.path());
                    let inject = format!("inject={syscall}:signal={sig}:when={n}");
                    let (run, trace) = run_injected(&[], &inject, &url, &out);
                    let what = format!("SIG{sig} at {syscall} #{n}");
                    run.no_leak();
                    if run.code.is_some() || !trace.contains(&format!("+++ killed by SIG{sig} +++"))
                    {
                        run.fail(&format!("{what}: not killed by SIG{sig}:\n{trace}"));
                    }
                    let renamed = trace.lines().any(|l| {
                        is_call(l, "rename") && l.contains(".out.env.tmp-") && l.ends_with("= 0")
                    });
                    let bytes = std::fs::read(&out).unwrap();
                    let want: &[u8] = if renamed { &new } else { OLD.as_bytes() };
                    if bytes != want {
                        run.fail(&format!(
                            "{what}: the target is neither intact nor complete"
                        ));
                    }
                    let names = listing(wd.path());
                    if names != ["out.env"] {
                        run.fail(&format!("{what}: the directory holds {names:?}"));
                    }
                });
            }
        });
    }
}

/// The opens of paths under `root` in a trace made with `-e trace=openat -s 4096`, in order:
/// the path below `root` (a temporary name's pid, random part and counter as placeholders)
/// and the flags, sorted (`O_RDONLY|O_CLOEXEC|O_DIRECTORY` → `O_CLOEXEC|O_DIRECTORY|O_RDONLY`),
/// one line each.
fn opens_below(trace: &str, root: &Path) -> Vec<String> {
    let root = format!("\"{}/", root.display());
    let temp = Regex::new(r"\.tmp-[0-9]+-[0-9a-f]{8}-[0-9]+$").unwrap();
    trace
        .lines()
        .filter(|l| is_call(l, "openat"))
        .filter_map(|l| {
            let start = l.find(&root)? + root.len();
            let rest = &l[start..];
            let (path, rest) = rest.split_once('"')?;
            let flags = rest.trim_start_matches(", ");
            let flags = flags.split([',', ')']).next()?;
            let mut flags: Vec<&str> = flags.split('|').collect();
            flags.sort_unstable();
            let path = temp.replace_all(path, ".tmp-[PID]-[HEX]-[N]");
            Some(format!("{path} {}", flags.join("|")))
        })
        .collect()
}

/// Every path the writer opens, seen in its system calls: the target without following a
/// link or waiting on a FIFO, the temporary file created exclusively, each directory it
/// creates reopened refusing a link, the directory locked and synced, a dead run's leftover
/// inspected without following a link; every descriptor close-on-exec.
#[tokio::test]
async fn file_026_no_open_follows_a_link_or_waits_on_a_fifo() {
    if !strace_usable("file_026_no_open_follows_a_link_or_waits_on_a_fifo") {
        return;
    }
    let inf = serving().await;
    let url = inf.url();
    let wd = Workdir::new();
    let out = wd.join("a/b/out.env");
    let trace_of = |args: &[OsString], stdout: &str, stderr: &str| {
        let logs = Workdir::new();
        let log = logs.join("trace.log");
        let prefix: Vec<OsString> = [
            "strace",
            "-f",
            "-qq",
            "-s",
            "4096",
            "-e",
            "trace=openat",
            "-o",
        ]
        .iter()
        .map(OsString::from)
        .chain([log.as_os_str().to_owned()])
        .collect();
        run_wrapped(&prefix, args, None)
            .success()
            .stdout_is(stdout)
            .stderr_is(stderr)
            .no_leak();
        opens_below(&std::fs::read_to_string(&log).unwrap(), wd.path())
    };
    // Created a/ and a/b/ (reopened to set owner and mode), locked a/b/, listed it for
    // leftovers, looked at the target, created the temporary file, synced a/b/.
    let created = format!(
        "created directory {a}\ncreated directory {a}/b\n",
        a = wd.join("a").display()
    );
    let first_report = report(&out, "written", "").replacen("\n", &format!("\n{created}"), 1);
    let first = trace_of(&write_args(&url, &out), &first_report, "");
    assert_eq!(
        first.join("\n"),
        "a O_CLOEXEC|O_DIRECTORY|O_NOFOLLOW|O_RDONLY
a/b O_CLOEXEC|O_DIRECTORY|O_NOFOLLOW|O_RDONLY
a/b O_CLOEXEC|O_DIRECTORY|O_RDONLY
a/b O_CLOEXEC|O_DIRECTORY|O_NONBLOCK|O_RDONLY
a/b/out.env O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK|O_RDONLY
a/b/.out.env.tmp-[PID]-[HEX]-[N] O_CLOEXEC|O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY
a/b O_CLOEXEC|O_DIRECTORY|O_RDONLY"
    );
    // A dead run's leftover is inspected (then removed) before the target is looked at.
    let leftover = wd.join("a/b/.out.env.tmp-999999-0123abcd-1");
    std::fs::write(&leftover, "left").unwrap();
    std::fs::remove_file(&out).unwrap();
    let second = trace_of(
        &write_args(&url, &out),
        &report(&out, "written", ""),
        &format!(
            "write-canary-env: removed {}, a temporary file left by an interrupted run\n",
            leftover.display()
        ),
    );
    assert_eq!(
        second.join("\n"),
        "a/b O_CLOEXEC|O_DIRECTORY|O_RDONLY
a/b O_CLOEXEC|O_DIRECTORY|O_NONBLOCK|O_RDONLY
a/b/.out.env.tmp-[PID]-[HEX]-[N] O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK|O_RDONLY
a/b/out.env O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK|O_RDONLY
a/b/.out.env.tmp-[PID]-[HEX]-[N] O_CLOEXEC|O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY
a/b O_CLOEXEC|O_DIRECTORY|O_RDONLY"
    );
    assert!(!leftover.exists(), "the leftover was not removed");
}
