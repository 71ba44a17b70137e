//! Proves `contracts/rotation.md`: the on-change command — when it runs, the marker that keeps
//! a reload owed across failures and crashes, its environment and output, its timeout, signals,
//! concurrent runs — and the dry run's key diff.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use snapbox::str;

use crate::support::infisical::{ENV, Infisical, PROJECT, TOKEN, barrier_server};
use crate::support::{Cli, Workdir, canary};

/// Serves `values` in `/` for exactly `times` list requests.
async fn serving(values: &[(&str, &str)], times: u64) -> Infisical {
    let inf = Infisical::start().await;
    let owned: Vec<(String, String)> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    inf.serve_values(&owned, times).await;
    inf
}

/// An on-change command that appends `<PB_CHANGE> <added>|<changed>|<removed>` to `log`.
fn logging_command(log: &Path) -> String {
    format!(
        "sh -c 'printf \"%s %s|%s|%s\\n\" \"$PB_CHANGE\" \"$PB_KEYS_ADDED\" \"$PB_KEYS_CHANGED\" \"$PB_KEYS_REMOVED\" >> {}'",
        log.display()
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A run of `write-canary-env` on `out` against `inf`, with `--on-change cmd`, the values
/// registered as secrets.
fn run_with(inf: &Infisical, out: &Path, cmd: &str, values: &[(&str, &str)]) -> Cli {
    let mut cli = canary(&inf.url(), out).args(["--on-change", cmd]);
    for (_, v) in values {
        cli = cli.secret(*v);
    }
    cli
}

/// The text report of a run on `out` in the test's folder (`[TMP]`), mode 0600, owned by
/// `[UID]:[GID]` (a dry run that would change the file does not know its group yet: `-`,
/// which `[GID]` stands for too).
fn report(out: &Path, status: &str, keys: &[&str], tail: &str) -> String {
    let mut text = format!(
        "{status}: [TMP]/{} (mode 0600, owner [UID]:[GID]) with {} key{} from project {PROJECT}, environment {ENV}, paths /\n",
        out.file_name().expect("a file").to_string_lossy(),
        keys.len(),
        if keys.len() == 1 { "" } else { "s" },
    );
    for k in keys {
        text.push_str(&format!("  {k}\n"));
    }
    text.push_str(tail);
    text
}

const V1: [(&str, &str); 2] = [
    ("ALPHA_KEY", "synthetic-alpha-one-Aa1"),
    ("BETA_KEY", "synthetic-beta-one-Bb2"),
];
const V2: [(&str, &str); 2] = [
    ("ALPHA_KEY", "synthetic-alpha-two-Cc3"),
    ("GAMMA_KEY", "synthetic-gamma-two-Dd4"),
];

/// Created: runs once (`created`, every key added); unchanged: does not run; a dry run never
/// runs it and says whether it would.
#[tokio::test]
async fn rot_001_runs_after_a_created_or_changed_file_only() {
    let wd = Workdir::new();
    let out = wd.output();
    let log = wd.join("reloads.log");
    let cmd = logging_command(&log);
    let inf = serving(&V1, 3).await;
    let _ = run_with(&inf, &out, &cmd, &V1)
        .exits(0)
        .stdout(report(
            &out,
            "written",
            &["ALPHA_KEY", "BETA_KEY"],
            "on-change: ran (created)\n",
        ))
        .tmp(wd.path())
        .run();
    assert_eq!(read(&log), "created ALPHA_KEY,BETA_KEY||\n");
    let _ = run_with(&inf, &out, &cmd, &V1)
        .exits(0)
        .stdout(report(&out, "unchanged", &["ALPHA_KEY", "BETA_KEY"], ""))
        .tmp(wd.path())
        .run();
    let _ = run_with(&inf, &out, &cmd, &V1)
        .arg("--dry-run")
        .exits(0)
        .stdout(report(
            &out,
            "unchanged",
            &["ALPHA_KEY", "BETA_KEY"],
            "keys: unchanged\non-change: would not run (nothing changed, nothing owed)\n",
        ))
        .tmp(wd.path())
        .run();
    assert_eq!(
        read(&log),
        "created ALPHA_KEY,BETA_KEY||\n",
        "ran once only"
    );
    Workdir::assert_no_temp(wd.path());

    let changed = serving(&V2, 2).await;
    let _ = run_with(&changed, &out, &cmd, &V2)
        .arg("--dry-run")
        .exits(0)
        .stdout(str![[r#"
would-change: [TMP]/out.env (mode 0600, owner [UID]:-) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  GAMMA_KEY
keys added: GAMMA_KEY
keys changed: ALPHA_KEY
keys removed: BETA_KEY
on-change: would run (changed)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(
        read(&log),
        "created ALPHA_KEY,BETA_KEY||\n",
        "a dry run runs nothing"
    );
    let _ = run_with(&changed, &out, &cmd, &V2)
        .exits(0)
        .stdout(report(
            &out,
            "written",
            &["ALPHA_KEY", "GAMMA_KEY"],
            "on-change: ran (changed)\n",
        ))
        .tmp(wd.path())
        .run();
    let lines: Vec<String> = read(&log).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].starts_with("changed "), "{lines:?}");
    Workdir::assert_no_temp(wd.path());
}

/// Quotes and escapes as systemd splits them; `$VAR` reaches the program unexpanded.
#[tokio::test]
async fn rot_002_words_reach_the_program_as_systemd_splits_them() {
    let wd = Workdir::new();
    let out = wd.output();
    let args = wd.join("args");
    let inf = serving(&V1, 1).await;
    let cmd = format!(
        r#"sh -c 'for a in "$@"; do printf "[%s]\n" "$a"; done > {}' argv0 "two words" \x41\tb '$PB_CHANGE' a"b c"d"#,
        args.display()
    );
    let _ = run_with(&inf, &out, &cmd, &V1)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (created)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(read(&args), "[two words]\n[A\tb]\n[$PB_CHANGE]\n[ab cd]\n");
}

/// Empty, an unbalanced quote, a missing program: exit 2, no request.
#[tokio::test]
async fn rot_003_bad_command_is_usage_error_before_any_request() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    for (cmd, message) in [
        ("   ", "--on-change is empty: name a program to run"),
        (
            "sh -c 'echo",
            "--on-change has an unbalanced ' quote (its words are split like systemd's ExecStart=)",
        ),
        ("reload-x \\", "--on-change ends with a lone backslash"),
        (
            "no-such-program-xq7 --reload",
            "--on-change: program no-such-program-xq7 not found on PATH",
        ),
        (
            "./not/here --reload",
            "--on-change: ./not/here is not an executable file",
        ),
    ] {
        let _ = canary(&inf.url(), &wd.output())
            .args(["--on-change", cmd])
            .exits(2)
            .stderr(format!("write-canary-env: error: {message}\n"))
            .tmp(wd.path())
            .run();
    }
    assert_eq!(inf.requests().await.len(), 0, "nothing fetched");
    assert!(!wd.output().exists());
}

/// A failing command: exit 8 naming it, the file in place, the marker left (key names only);
/// the next run on the unchanged file pays it (`owed`, the marker's keys) and removes it.
#[tokio::test]
async fn rot_004_rot_006_failed_command_stays_owed_and_next_run_pays_it() {
    let wd = Workdir::new();
    let out = wd.output();
    let log = wd.join("reloads.log");
    let inf = serving(&V1, 2).await;
    let failing = "sh -c 'exit 3'";
    let _ = run_with(&inf, &out, failing, &V1)
        .exits(8)
        .stdout(report(
            &out,
            "written",
            &["ALPHA_KEY", "BETA_KEY"],
            "on-change: failed (created); it stays owed\n",
        ))
        .stderr(
            "write-canary-env: error: the on-change command sh exited with status 3; [TMP]/out.env is written and in place, and the reload stays owed for the next run\n",
        )
        .tmp(wd.path())
        .run();
    assert!(read(&out).contains("ALPHA_KEY="), "the file is in place");
    let marker = wd.join(".out.env.on-change-owed");
    assert_eq!(
        read(&marker),
        "change=created\nadded=ALPHA_KEY,BETA_KEY\nchanged=\nremoved=\n"
    );
    assert_eq!(crate::support::workdir::mode_of(&marker), 0o600);
    let _ = run_with(&inf, &out, &logging_command(&log), &V1)
        .exits(0)
        .stdout(report(
            &out,
            "unchanged",
            &["ALPHA_KEY", "BETA_KEY"],
            "on-change: ran (owed)\n",
        ))
        .tmp(wd.path())
        .run();
    assert_eq!(read(&log), "owed ALPHA_KEY,BETA_KEY||\n");
    assert!(!marker.exists(), "paid: the marker is gone");
}

/// The writer killed with SIGKILL while its command runs (the command kills it), and right
/// after the rename (strace delivers SIGKILL at the directory's fsync): the next run pays.
#[tokio::test]
async fn rot_005_sigkill_after_the_rename_leaves_the_obligation() {
    let wd = Workdir::new();
    let out = wd.output();
    let log = wd.join("reloads.log");
    let inf = serving(&V1, 2).await;
    let run = run_with(&inf, &out, "sh -c 'kill -KILL $PPID; exec sleep 5'", &V1).run();
    assert_eq!(run.code, None, "killed by a signal:\n{}", run.report());
    run.no_leak();
    assert!(read(&out).contains("BETA_KEY="), "the new file is in place");
    assert!(wd.join(".out.env.on-change-owed").exists());
    let _ = run_with(&inf, &out, &logging_command(&log), &V1)
        .exits(0)
        .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (owed)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(read(&log), "owed ALPHA_KEY,BETA_KEY||\n");

    if !strace_usable() {
        crate::support::skip(
            "rot_005 (strace)",
            "strace is missing or ptrace is not permitted here",
        );
        return;
    }
    // fsyncs of a changing run: the staged file, the marker, the marker's directory, then —
    // after the rename — the directory again: SIGKILL there.
    let wd = Workdir::new();
    let out = wd.output();
    let log = wd.join("reloads.log");
    let inf = serving(&V1, 2).await;
    let status = traced_run(
        &inf.url(),
        &out,
        &logging_command(&log),
        "inject=fsync:signal=KILL:when=4",
    );
    assert!(!status.success(), "killed: {status:?}");
    assert!(read(&out).contains("ALPHA_KEY="), "renamed before the kill");
    assert!(
        wd.join(".out.env.on-change-owed").exists(),
        "the obligation stays"
    );
    assert_eq!(read(&log), "", "the command never ran");
    let _ = run_with(&inf, &out, &logging_command(&log), &V1)
        .exits(0)
        .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (owed)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(read(&log), "owed ALPHA_KEY,BETA_KEY||\n");
}

fn strace_usable() -> bool {
    Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `write-canary-env` writing `out` from `url` with `--on-change cmd`, the token in its
/// environment, stdin from /dev/null; under `strace -f -qq -e <inject>` when given.
fn writer_command(url: &str, out: &Path, cmd: &str, inject: Option<&str>) -> Command {
    let bin = env!("CARGO_BIN_EXE_write-canary-env");
    let mut command = match inject {
        Some(inject) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o", "/dev/null", "-e", inject])
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    command
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url", url])
        .args(["--timeout", "5"])
        .arg("--output")
        .arg(out)
        .args(["--on-change", cmd])
        .env("INFISICAL_TOKEN", TOKEN)
        .stdin(Stdio::null());
    command
}

/// One write of `out` with `--on-change cmd` under `strace -f -qq -e <inject>`.
fn traced_run(url: &str, out: &Path, cmd: &str, inject: &str) -> std::process::ExitStatus {
    writer_command(url, out, cmd, Some(inject))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

/// The marker's write or sync failing (EIO, ENOSPC): exit 6, the old file untouched, no
/// marker, no temporary file.
#[tokio::test]
async fn rot_007_marker_fault_leaves_the_old_file() {
    if !strace_usable() {
        crate::support::skip(
            "rot_007",
            "strace is missing or ptrace is not permitted here",
        );
        return;
    }
    // fsync 1 is the staged file's, fsync 2 the marker's.
    for (inject, op) in [
        ("inject=fsync:error=EIO:when=2", "fsync"),
        ("inject=fsync:error=ENOSPC:when=2", "fsync"),
    ] {
        let wd = Workdir::new();
        let out = wd.output();
        std::fs::write(&out, "OLD=1\n").unwrap();
        std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let inf = serving(&V1, 1).await;
        let output = writer_command(&inf.url(), &out, "true", Some(inject))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(6), "{inject}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "write-canary-env: error: cannot {op} {}",
                wd.path().join("..out.env.on-change-owed.tmp-").display()
            )),
            "{inject}: {stderr}"
        );
        assert_eq!(read(&out), "OLD=1\n", "{inject}: the old file");
        Workdir::assert_no_temp(wd.path());
    }
}

/// The environment: no credential variable, the `PB_*` variables, stdin from /dev/null.
#[tokio::test]
async fn rot_008_environment_holds_no_credential() {
    let wd = Workdir::new();
    let out = wd.output();
    let dump = wd.join("env.dump");
    let stdin = wd.join("stdin.dump");
    let inf = serving(&V1, 1).await;
    let creds = wd.join("creds");
    std::fs::create_dir(&creds).unwrap();
    let _ = run_with(
        &inf,
        &out,
        &format!(
            "sh -c 'env > {}; cat > {}'",
            dump.display(),
            stdin.display()
        ),
        &V1,
    )
    .secret_env(
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
        "synthetic-cs-Ee5Ff6",
    )
    .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
    .env("SOME_OPERATOR_SETTING", "kept")
    .exits(0)
    .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (created)

"#]])
    .tmp(wd.path())
    .run();
    let env = read(&dump);
    let vars: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for gone in [
        "INFISICAL_TOKEN",
        "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
        "CREDENTIALS_DIRECTORY",
    ] {
        assert!(!vars.contains(&gone), "{gone} reached the command");
    }
    crate::support::assert_no_secret(&env, &[TOKEN, "synthetic-cs-Ee5Ff6"]);
    for line in [
        format!("PB_OUTPUT={}", out.display()),
        "PB_CHANGE=created".to_owned(),
        "PB_KEYS_ADDED=ALPHA_KEY,BETA_KEY".to_owned(),
        "PB_KEYS_CHANGED=".to_owned(),
        "PB_KEYS_REMOVED=".to_owned(),
        "SOME_OPERATOR_SETTING=kept".to_owned(),
    ] {
        assert!(
            env.lines().any(|l| l == line),
            "{line} missing from:\n{env}"
        );
    }
    assert_eq!(read(&stdin), "", "stdin is /dev/null");
}

/// A command that prints the env file (stdout) and a note (stderr): every line prefixed, every
/// value redacted, in order.
#[tokio::test]
async fn rot_009_output_is_redacted_line_by_line() {
    let wd = Workdir::new();
    let out = wd.output();
    let inf = serving(&V1, 1).await;
    let _ = run_with(
        &inf,
        &out,
        "sh -c 'grep -v \"^#\" \"$PB_OUTPUT\"; echo \"reloaded with $(grep -c = \"$PB_OUTPUT\") lines\" >&2; printf %s synthetic-beta-one-Bb2 | base64'",
        &V1,
    )
    .exits(0)
    .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (created)

"#]])
    .stderr(
        // The base64 form is cut where it stops depending on what follows the value (SEC).
        "write-canary-env: on-change: ALPHA_KEY='[REDACTED]'\n\
         write-canary-env: on-change: BETA_KEY='[REDACTED]'\n\
         write-canary-env: on-change: reloaded with 2 lines\n\
         write-canary-env: on-change: [REDACTED]g==\n",
    )
    .tmp(wd.path())
    .run();
}

/// A run whose `--on-change` (`script`, with `{pid}` standing for a file where it writes the
/// pid to watch) runs past `--on-change-timeout timeout`: exit 8, the write's report, the
/// timed-out error, no leak; and the watched process is gone.
async fn assert_timed_out(script: &str, timeout: &str) {
    let wd = Workdir::new();
    let out = wd.output();
    let pid_file = wd.join("watched.pid");
    let inf = serving(&V1, 1).await;
    let command = script.replace("{pid}", &pid_file.display().to_string());
    let _ = run_with(&inf, &out, &command, &V1)
        .args(["--on-change-timeout", timeout])
        .exits(8)
        .stdout(report(
            &out,
            "written",
            &["ALPHA_KEY", "BETA_KEY"],
            "on-change: failed (created); it stays owed\n",
        ))
        .stderr(format!(
            "write-canary-env: error: the on-change command sh timed out after {timeout} s (its process group got SIGTERM, then SIGKILL); [TMP]/out.env is written and in place, and the reload stays owed for the next run\n",
        ))
        .tmp(wd.path())
        .run();
    let pid: i32 = read(&pid_file).trim().parse().unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "{pid} of `{command}` is still running"
    );
}

/// A command past its timeout: SIGTERM to the group, nothing of it left, exit 8.
#[tokio::test]
async fn rot_010_timeout_ends_the_whole_group() {
    assert_timed_out("sh -c 'sleep 30 & echo $! > {pid}; wait'", "0.5").await;
}

/// A group that ignores SIGTERM gets SIGKILL 5 s later: nothing of it is left, and the run
/// still ends (exit 8).
#[tokio::test]
async fn rot_010_a_group_ignoring_sigterm_gets_sigkill() {
    assert_timed_out(
        "sh -c 'trap \"\" TERM; sleep 60 & echo $! > {pid}; wait; wait'",
        "0.2",
    )
    .await;
}

/// A command that closes its output and runs on is still bounded by the timeout (exit 8,
/// nothing of it left).
#[tokio::test]
async fn rot_010_rot_014_closed_output_does_not_escape_the_timeout() {
    assert_timed_out(
        "sh -c 'echo $$ > {pid}; exec >/dev/null 2>&1; exec sleep 60'",
        "0.3",
    )
    .await;
}

/// A command that exits 0 at once, leaving a background process that holds its output: the
/// run succeeds (the reload is paid) and the background process is not killed.
#[tokio::test]
async fn rot_014_what_the_command_left_running_is_left_alone() {
    let wd = Workdir::new();
    let out = wd.output();
    let pid_file = wd.join("daemon.pid");
    let inf = serving(&V1, 1).await;
    run_with(
        &inf,
        &out,
        &format!(
            "sh -c 'echo started; sleep 30 & echo $! > {}'",
            pid_file.display()
        ),
        &V1,
    )
    .exits(0)
    .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (created)

"#]])
    .stderr("write-canary-env: on-change: started\n")
    .tmp(wd.path())
    .run();
    assert!(!wd.join(".out.env.on-change-owed").exists(), "paid");
    let pid: i32 = read(&pid_file).trim().parse().unwrap();
    let alive = !gone_within(pid, Duration::ZERO);
    // Clean up the test's own background process.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(alive, "the background process {pid} was killed");
}

/// Whether `pid` is gone (or a zombie) within `limit`.
fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
        if stat.is_empty() || state == Some(Some('Z')) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERM to the writer while its command runs: 143, the command's group ended, the marker
/// stays.
#[tokio::test]
async fn rot_011_signal_to_the_writer_ends_the_command_group() {
    let wd = Workdir::new();
    let out = wd.output();
    let pid_file = wd.join("command.pid");
    let inf = serving(&V1, 1).await;
    let on_change = format!(
        "sh -c 'echo $$ > {}.tmp; mv {0}.tmp {0}; sleep 30'",
        pid_file.display()
    );
    let mut child = writer_command(&inf.url(), &out, &on_change, None)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !pid_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid: i32 = read(&pid_file).trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "the command {pid} outlived the writer"
    );
    assert!(
        wd.join(".out.env.on-change-owed").exists(),
        "the obligation stays"
    );
    assert_eq!(Workdir::dot_files(wd.path()), [".out.env.on-change-owed"]);
}

/// Two runs at once (both fetched before either writes: a barrier stand-in): the command runs
/// once.
#[test]
fn rot_012_two_runs_at_once_run_the_command_once() {
    let wd = Workdir::new();
    let out = wd.output();
    let log = wd.join("reloads.log");
    let url = barrier_server(2);
    let cmd = logging_command(&log);
    // Which run writes and which finds the file unchanged (having waited for the other's
    // lock, or not, as the scheduler decides) is the race's: the two screens are compared as
    // a pair below.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let expect = canary(&url, &out)
                .args(["--on-change", &cmd])
                .exits(0)
                .stdout_checked_elsewhere("one of the pair's two reports, compared below")
                .stderr_checked_elsewhere("empty, or the waiting line, compared below")
                .tmp(wd.path());
            std::thread::spawn(move || expect.run())
        })
        .collect();
    let mut screens: Vec<(String, String)> = runs
        .into_iter()
        .map(|run| {
            let run = run.join().unwrap();
            (run.stdout.clone(), run.stderr.clone())
        })
        .collect();
    screens.sort();
    let waited = format!(
        "write-canary-env: waiting for another run writing into {} (one run at a time per \
         directory)\n",
        wd.path().display()
    );
    // sorted: "unchanged: …" before "written: …"; the placeholders filled in, the screens
    // having been read raw
    let report = |status: &str, tail: &str| {
        report(&out, status, &["_KEY"], tail)
            .replace("[TMP]", &wd.path().display().to_string())
            .replace("[UID]", &nix::unistd::geteuid().to_string())
            .replace(
                "[GID]",
                &std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&out).unwrap()).to_string(),
            )
    };
    assert_eq!(
        screens[1],
        (
            report("written", "on-change: ran (created)\n"),
            String::new()
        ),
        "{screens:?}"
    );
    assert_eq!(screens[0].0, report("unchanged", ""), "{screens:?}");
    assert!(
        screens[0].1.is_empty() || screens[0].1 == waited,
        "{screens:?}"
    );
}

/// The dry run's key diff against the file on disk, text and JSON.
#[tokio::test]
async fn rot_013_dry_run_names_the_keys_that_would_change() {
    let wd = Workdir::new();
    let out = wd.output();
    let first = serving(&V1, 1).await;
    let _ = run_with(&first, &out, "true", &V1)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  ALPHA_KEY
  BETA_KEY
on-change: ran (created)

"#]])
        .stderr(str![])
        .tmp(wd.path())
        .run();
    let inf = serving(&V2, 2).await;
    let mut all: Vec<(&str, &str)> = V1.to_vec();
    all.extend(V2);
    let _ = run_with(&inf, &out, "true", &all)
        .arg("--dry-run")
        .exits(0)
        // A dry run names no group it has not set: `-`.
        .stdout(report(
            &out,
            "would-change",
            &["ALPHA_KEY", "GAMMA_KEY"],
            "keys added: GAMMA_KEY\nkeys changed: ALPHA_KEY\nkeys removed: BETA_KEY\non-change: would run (changed)\n",
        ).replacen("[GID]", "-", 1))
        .tmp(wd.path())
        .run();
    let json = run_with(&inf, &out, "true", &all)
        .args(["--dry-run", "--json"])
        .exits(0)
        .stdout_checked_elsewhere("the JSON report, read below")
        .run();
    let doc = json.stdout_json();
    assert_eq!(
        doc["diff"],
        serde_json::json!({"unchanged": false, "added": ["GAMMA_KEY"], "changed": ["ALPHA_KEY"], "removed": ["BETA_KEY"], "not_ours": null})
    );
    assert_eq!(
        doc["on_change"],
        serde_json::json!({"state": "would-run", "change": "changed", "owed": false})
    );
}
