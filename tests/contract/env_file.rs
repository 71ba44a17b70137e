//! Proves `contracts/env-file.md`: exact modes and owners, parents, the atomic and durable
//! write (seen in the system calls), symlinks, failures, concurrency, unchanged detection,
//! dry runs and reports.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use snapbox::{IntoData, str};
use wiremock::ResponseTemplate;

use crate::support::cli::Run;
use crate::support::fixture_json;
use crate::support::infisical::*;
use crate::support::{Workdir, canary, mode_of, refused_url, skip, skipped_unless_root};

fn providers() -> serde_json::Value {
    fixture_json("infisical/secrets-providers.json")
}

/// A stand-in answering the providers fixture any number of times (no count expected), and a
/// fresh working directory: how most tests here begin.
async fn stage() -> (Infisical, Workdir) {
    let inf = Infisical::builder().list(PROVIDERS_FIXTURE).start().await;
    (inf, Workdir::new())
}

/// A stand-in answering the providers fixture to exactly `times` requests, and a fresh
/// working directory.
async fn stage_counted(times: u64) -> (Infisical, Workdir) {
    let inf = Infisical::start().await;
    inf.serve_secrets(PROVIDERS_FIXTURE, times).await;
    (inf, Workdir::new())
}

fn write(url: &str, out: &Path) -> crate::support::Cli {
    canary(url, out).secret(PROVIDER_VALUE)
}

/// `write` with `args`, which must succeed printing `stdout` (`[TMP]` standing for `tmp`) and
/// nothing on stderr.
fn write_ok(url: &str, out: &Path, args: &[&str], tmp: &Path, stdout: impl IntoData) {
    let _ = write(url, out)
        .args(args)
        .exits(0)
        .stdout(stdout)
        .tmp(tmp)
        .run();
}

/// What a run that put the providers' key into `[TMP]/<rel>` with `mode` prints; `verb` is
/// `written` or `unchanged`.
fn report(verb: &str, rel: &str, mode: &str) -> String {
    report_created(verb, rel, mode, &[])
}

/// The same when the run created the directories `created` (under `[TMP]`, top first).
fn report_created(verb: &str, rel: &str, mode: &str, created: &[&str]) -> String {
    let mut out = format!(
        "{verb}: [TMP]/{rel} (mode {mode}, owner [UID]:[GID]) with 1 key from project {PROJECT}, \
         environment {ENV}, paths /\n"
    );
    for dir in created {
        out.push_str(&format!("created directory [TMP]/{dir}\n"));
    }
    out.push_str(&format!("  {PROVIDER_KEY}\n"));
    out
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The mode matrix: output modes {0400, 0600, 0640, 0660} × umask {000, 022, 077} × parent
/// modes {0700, 0750, 0755}; every created level of the parents and the file are exact.
#[tokio::test]
async fn file_001_file_005_mode_matrix_exact_whatever_the_umask() {
    let (inf, wd) = stage().await;
    let url = inf.url();
    let mut cases = Vec::new();
    for umask in [0o000, 0o022, 0o077] {
        for parent in [0o700, 0o750, 0o755] {
            for mode in [0o400, 0o600, 0o640, 0o660] {
                cases.push((umask, parent, mode));
            }
        }
    }
    // Four at a time: 36 runs of the binary, each a fresh process with its own umask.
    let tmp = wd.path();
    for chunk in cases.chunks(4) {
        std::thread::scope(|s| {
            for &(umask, parent, mode) in chunk {
                let rel = format!("u{umask:03o}-p{parent:04o}-m{mode:04o}");
                let top = wd.join(&rel);
                let url = url.clone();
                s.spawn(move || {
                    let out = top.join("a/b/out.env");
                    let _ = write(&url, &out)
                        .args(["--output-mode", &format!("{mode:04o}")])
                        .args(["--parent-mode", &format!("{parent:04o}")])
                        .umask(umask)
                        .exits(0)
                        .stdout(report_created(
                            "written",
                            &format!("{rel}/a/b/out.env"),
                            &format!("{mode:04o}"),
                            &[&rel, &format!("{rel}/a"), &format!("{rel}/a/b")],
                        ))
                        .tmp(tmp)
                        .run();
                    assert_eq!(mode_of(&out), mode, "file, umask {umask:03o}");
                    for dir in [top.clone(), top.join("a"), top.join("a/b")] {
                        assert_eq!(
                            mode_of(&dir),
                            parent,
                            "{} under umask {umask:03o}",
                            dir.display()
                        );
                    }
                });
            }
        });
    }
    // The default: 0600 in 0700 directories, under the most permissive umask.
    let out = wd.join("default/x/out.env");
    let _ = write(&url, &out)
        .umask(0)
        .exits(0)
        .stdout(report_created(
            "written",
            "default/x/out.env",
            "0600",
            &["default", "default/x"],
        ))
        .tmp(wd.path())
        .run();
    assert_eq!(mode_of(&out), 0o600);
    assert_eq!(mode_of(&wd.join("default")), 0o700);
    assert_eq!(mode_of(&wd.join("default/x")), 0o700);
}

/// A mode with "other" bits is exit 2 before any request unless `--allow-world-readable`,
/// which applies it exactly; non-octal and special-bit modes are usage errors.
#[tokio::test]
async fn file_002_other_bits_need_allow_world_readable() {
    let (inf, wd) = stage_counted(1).await;
    for mode in ["0644", "0604", "0601", "0666"] {
        let _ = write(&inf.url(), &wd.output())
            .args(["--output-mode", mode])
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: --output-mode {mode} lets other users (\"other\") access \
                 the secrets; use a mode without other bits, or pass --allow-world-readable\n"
            ))
            .tmp(wd.path())
            .run();
    }
    assert!(!wd.output().exists());
    let _ = write(&inf.url(), &wd.output())
        .args(["--output-mode", "0644", "--allow-world-readable"])
        .umask(0o077)
        .exits(0)
        .stdout(report("written", "out.env", "0644"))
        .tmp(wd.path())
        .run();
    assert_eq!(mode_of(&wd.output()), 0o644);
    let not_octal = "is not an octal mode such as 0600";
    let special = "sets setuid, setgid or sticky bits; only permission bits (at most 0777) are \
                   accepted";
    for (bad, why) in [
        ("0800", not_octal),
        ("4600", special),
        ("1600", special),
        ("abc", not_octal),
        ("", not_octal),
        ("06000", not_octal),
    ] {
        for flag in ["--output-mode", "--parent-mode"] {
            let _ = write(&inf.url(), &wd.join("bad.env"))
                .arg(format!("{flag}={bad}"))
                .exits(2)
                .stderr(format!(
                    "write-canary-env: error: invalid value '{bad}' for '{flag} <OCTAL>': \
                     \"{bad}\" {why}\n\nFor more information, try '--help'.\n"
                ))
                .tmp(wd.path())
                .run();
        }
    }
}

/// The system calls of one write, in order, for the temporary file's descriptor.
fn traced_write(url: &str, out: &Path, extra: &[&str]) -> (Run, Vec<String>) {
    let log = out.with_extension("strace");
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-qq", "-s", "0", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=openat,fchown,fchmod,write,fsync,rename,renameat,renameat2,close",
        ])
        .arg(assert_cmd::cargo::cargo_bin("write-canary-env"))
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url", url])
        .arg("--output")
        .arg(out)
        .args(extra)
        .env_clear()
        .env("INFISICAL_TOKEN", TOKEN);
    let output = cmd.output().expect("strace runs");
    let run = Run::from_output(
        "strace -f write-canary-env".into(),
        &output,
        vec![TOKEN.to_owned(), PROVIDER_VALUE.to_owned()],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    (run, text.lines().map(str::to_owned).collect())
}

/// Index of the first line at or after `from` matching `pred`.
fn find_from(lines: &[String], from: usize, what: &str, pred: impl Fn(&str) -> bool) -> usize {
    lines[from..]
        .iter()
        .position(|l| pred(l))
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("no {what} after line {from}:\n{}", lines.join("\n")))
}

/// The system calls show: `openat` of a dot-prefixed temporary in the same directory with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, then `fchown` and `fchmod` on that descriptor,
/// then the only `write`s to it, `fsync`, `rename` over the target, and `fsync` of the
/// directory. Before the `fchmod` the file is owner-only and empty (SEC-016).
#[tokio::test]
async fn file_008_file_003_sec_016_syscall_order() {
    let usable = std::process::Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        skip(
            "file_008_file_003_sec_016_syscall_order",
            "strace is missing or ptrace is not permitted here",
        );
        return;
    }
    let (inf, wd) = stage().await;
    let out = wd.output();
    let uid = nix::unistd::geteuid().as_raw().to_string();
    let gid = nix::unistd::getegid().as_raw().to_string();
    let (run, lines) = traced_write(
        &inf.url(),
        &out,
        &["--output-mode", "0640", "--owner", &uid, "--group", &gid],
    );
    // started under strace, not through the runner: stated whole after the run
    run.success()
        .stdout_is(&format!(
            "written: {}/out.env (mode 0640, owner {uid}:{gid}) with 1 key from project \
             {PROJECT}, environment {ENV}, paths /\n  {PROVIDER_KEY}\n",
            wd.path().display()
        ))
        .stderr_is("")
        .no_leak();
    let dir = wd.path().display().to_string();
    let open = find_from(&lines, 0, "temporary openat", |l| {
        l.contains("openat(") && l.contains(&format!("\"{dir}/.out.env.tmp-"))
    });
    let l = &lines[open];
    for flag in ["O_CREAT", "O_EXCL", "O_NOFOLLOW", "0600"] {
        assert!(l.contains(flag), "{flag} missing: {l}");
    }
    let fd: String = l.rsplit("= ").next().unwrap().trim().to_owned();
    assert!(fd.parse::<u32>().is_ok(), "{l}");
    let on_fd = |call: &'static str| {
        let fd = fd.clone();
        move |l: &str| l.contains(&format!("{call}({fd},"))
    };
    let chown = find_from(&lines, open, "fchown", on_fd("fchown"));
    assert!(
        lines[chown].contains(&format!("{fd}, {uid}, {gid})")),
        "{}",
        lines[chown]
    );
    let chmod = find_from(&lines, open, "fchmod", on_fd("fchmod"));
    assert!(lines[chmod].contains("0640"), "{}", lines[chmod]);
    let first_write = find_from(&lines, open, "write", on_fd("write"));
    assert!(
        chown < chmod && chmod < first_write,
        "owner, then mode, then bytes"
    );
    // With -f, a call another thread interrupts is logged as `fsync(3 <unfinished ...>`.
    let fsync_of = |fd: &str| {
        let (done, cut) = (format!("fsync({fd})"), format!("fsync({fd} <unfinished"));
        move |l: &str| l.contains(&done) || l.contains(&cut)
    };
    let fsync = find_from(&lines, first_write, "fsync", fsync_of(&fd));
    let rename = find_from(&lines, fsync, "rename", |l| {
        l.contains("rename")
            && l.contains(".out.env.tmp-")
            && l.contains(&format!("{dir}/out.env\""))
    });
    let dir_open = find_from(&lines, rename, "directory openat", |l| {
        l.contains("openat(") && l.contains(&format!("\"{dir}\""))
    });
    let dir_fd: String = lines[dir_open]
        .rsplit("= ")
        .next()
        .unwrap()
        .trim()
        .to_owned();
    find_from(&lines, dir_open, "directory fsync", fsync_of(&dir_fd));
    assert_eq!(mode_of(&out), 0o640);
    Workdir::assert_no_temp(wd.path());
}

/// As root: `--owner`/`--group` by name and by id give the file (and the directories it
/// creates) that owner. Skipped, loudly, when not root.
#[tokio::test]
async fn file_003_file_007_owner_and_group_by_name_and_id() {
    if skipped_unless_root(
        "file_003_file_007_owner_and_group_by_name_and_id",
        "chown to another user needs root",
    ) {
        return;
    }
    let (inf, wd) = stage().await;
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let group = nix::unistd::Group::from_gid(nobody.gid)
        .unwrap()
        .expect("nobody's group");
    // The report names the owner by number: stated whole with the numbers (the runner's
    // [UID]/[GID] placeholders would hide them); each output is in a folder the run creates.
    let owned = |args: &[&str], out: &Path, uid: u32, gid: u32| {
        let run = write(&inf.url(), out)
            .args(args)
            .exits(0)
            .stdout_checked_elsewhere("the report with the owner's numbers, compared below")
            .run();
        let folder = out.parent().unwrap();
        assert_eq!(
            run.stdout,
            format!(
                "written: {} (mode 0600, owner {uid}:{gid}) with 1 key from project {PROJECT}, \
                 environment {ENV}, paths /\ncreated directory {}\n  {PROVIDER_KEY}\n",
                out.display(),
                folder.display()
            ),
            "{}",
            run.report()
        );
    };
    let by_name = wd.join("named/out.env");
    owned(
        &["--owner", "nobody", "--group", &group.name],
        &by_name,
        nobody.uid.as_raw(),
        group.gid.as_raw(),
    );
    let by_id = wd.join("numbered/out.env");
    owned(&["--owner", "4242", "--group", "4343"], &by_id, 4242, 4343);
    let m = std::fs::metadata(&by_name).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (nobody.uid.as_raw(), group.gid.as_raw())
    );
    let d = std::fs::metadata(wd.join("named")).unwrap();
    assert_eq!(
        (d.uid(), d.gid()),
        (nobody.uid.as_raw(), group.gid.as_raw())
    );
    let m = std::fs::metadata(&by_id).unwrap();
    assert_eq!((m.uid(), m.gid()), (4242, 4343));
    assert_eq!(mode_of(&by_id), 0o600);
    // The owner alone: the group stays the system's choice.
    let owner_only = wd.join("owner-only.env");
    write_ok(
        &inf.url(),
        &owner_only,
        &["--owner", "4242"],
        wd.path(),
        report("written", "owner-only.env", "0600").replacen("[UID]", "4242", 1),
    );
    assert_eq!(std::fs::metadata(&owner_only).unwrap().uid(), 4242);
}

/// An unknown owner or group name is exit 2 naming the flag, before any request.
#[tokio::test]
async fn file_004_unknown_owner_or_group_is_usage_error() {
    let (inf, wd) = stage_counted(0).await;
    let _ = write(&inf.url(), &wd.output())
        .args(["--owner", "no-such-user-zz9"])
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: --owner: no such user "no-such-user-zz9" on this machine

"#]])
        .tmp(wd.path())
        .run();
    let _ = write(&inf.url(), &wd.output())
        .args(["--group", "no-such-group-zz9"])
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: --group: no such group "no-such-group-zz9" on this machine

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
}

/// Directories that existed keep their mode and owner; only the missing ones get the parent
/// mode.
#[tokio::test]
async fn file_006_existing_directories_keep_their_mode() {
    let (inf, wd) = stage().await;
    let existing = wd.join("existing");
    std::fs::create_dir(&existing).unwrap();
    set_mode(&existing, 0o751);
    set_mode(wd.path(), 0o711);
    let before = std::fs::metadata(&existing).unwrap();
    write_ok(
        &inf.url(),
        &existing.join("new/out.env"),
        &["--parent-mode", "0700"],
        wd.path(),
        report_created("written", "existing/new/out.env", "0600", &["existing/new"]),
    );
    let after = std::fs::metadata(&existing).unwrap();
    assert_eq!(mode_of(&existing), 0o751);
    assert_eq!(mode_of(wd.path()), 0o711);
    assert_eq!((before.uid(), before.gid()), (after.uid(), after.gid()));
    assert_eq!(mode_of(&existing.join("new")), 0o700);
    set_mode(wd.path(), 0o700);
}

/// A symlink at the target (to a file, or dangling) is exit 6; the link and its target are
/// untouched, nothing else is written, also in a dry run.
#[tokio::test]
async fn file_009_symlink_target_refused() {
    let (inf, wd) = stage().await;
    let real = wd.join("real.env");
    std::fs::write(&real, "REAL=1\n").unwrap();
    set_mode(&real, 0o644);
    let link = wd.join("link.env");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let dangling = wd.join("dangling.env");
    std::os::unix::fs::symlink(wd.join("nowhere.env"), &dangling).unwrap();
    for (out, dry) in [(&link, false), (&dangling, false), (&link, true)] {
        let mut cli = write(&inf.url(), out);
        if dry {
            cli = cli.arg("--dry-run");
        }
        let name = out.file_name().unwrap().to_string_lossy();
        let _ = cli
            .exits(6)
            .stderr(format!(
                "write-canary-env: error: refusing to write [TMP]/{name}: it is a symbolic link \
                 (remove it, or point --output at the real file)\n"
            ))
            .tmp(wd.path())
            .run();
        assert!(
            std::fs::symlink_metadata(out)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "REAL=1\n");
    assert_eq!(mode_of(&real), 0o644);
    assert!(!wd.join("nowhere.env").exists());
    Workdir::assert_no_temp(wd.path());
}

/// A rename that fails (the output path is a directory) is exit 6, and the temporary file it
/// had written is removed.
#[tokio::test]
async fn file_010_failed_rename_leaves_no_temporary() {
    let (inf, wd) = stage().await;
    let out = wd.join("out.env");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("inside"), "x").unwrap();
    let _ = write(&inf.url(), &out)
        .exits(6)
        .stderr(str![[r#"
write-canary-env: error: cannot rename over [TMP]/out.env: Is a directory (EISDIR)

"#]])
        .tmp(wd.path())
        .run();
    assert!(out.is_dir());
    assert_eq!(std::fs::read_to_string(out.join("inside")).unwrap(), "x");
    Workdir::assert_no_temp(wd.path());
}

/// Snapshot of a file: bytes, mode, inode, modification time.
fn snapshot(p: &Path) -> (Vec<u8>, u32, u64, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (
        std::fs::read(p).unwrap(),
        m.mode() & 0o7777,
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
    )
}

/// Eight writers at once, each with its own values: the file is exactly one writer's complete
/// version, mode 0600, and no temporary file is left.
#[tokio::test]
async fn file_011_concurrent_writers_leave_one_complete_version() {
    const WRITERS: usize = 8;
    let wd = Workdir::new();
    let out = wd.join("shared/out.env");
    let mut servers = Vec::new();
    for w in 0..WRITERS {
        let inf = Infisical::start().await;
        let values: Vec<(String, String)> = ["A_KEY", "B_KEY", "C_KEY"]
            .iter()
            .map(|k| ((*k).to_owned(), format!("synthetic-writer{w}-{k}-value")))
            .collect();
        inf.serve_values(&values, 1).await;
        servers.push((inf, values));
    }
    let tmp = wd.path();
    std::thread::scope(|s| {
        for (inf, values) in &servers {
            let url = inf.url();
            let out = out.clone();
            s.spawn(move || {
                let mut cli = canary(&url, &out);
                for (_, v) in values {
                    cli = cli.secret(v.clone());
                }
                // Which writer creates the folder, and which wait for another's lock, is the
                // race's: each stream is one of two whole texts, compared below.
                let run = cli
                    .exits(0)
                    .stdout_checked_elsewhere("one of two whole reports, compared below")
                    .stderr_checked_elsewhere("empty, or the one waiting line, compared below")
                    .tmp(tmp)
                    .run();
                let shared = tmp.join("shared");
                let head = format!(
                    "written: {} (mode 0600, owner {}:{}) with 3 keys from project {PROJECT}, \
                     environment {ENV}, paths /\n",
                    out.display(),
                    nix::unistd::geteuid(),
                    std::fs::metadata(&out).unwrap().gid()
                );
                let keys = "  A_KEY\n  B_KEY\n  C_KEY\n";
                let created = format!("created directory {}\n", shared.display());
                let reports = [format!("{head}{keys}"), format!("{head}{created}{keys}")];
                let waited = format!(
                    "write-canary-env: waiting for another run writing into {} (one run at a \
                     time per directory)\n",
                    shared.display()
                );
                if !reports.contains(&run.stdout) || !["", waited.as_str()].contains(&&*run.stderr)
                {
                    run.fail("not one of the whole reports and stderr texts a writer may show");
                }
            });
        }
    });
    let text = std::fs::read_to_string(&out).unwrap();
    let pairs: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
        .map(Result::unwrap)
        .collect();
    let matching: Vec<usize> = servers
        .iter()
        .enumerate()
        .filter(|(_, (_, values))| *values == pairs)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(matching.len(), 1, "not one complete version:\n{text}");
    assert_eq!(mode_of(&out), 0o600);
    Workdir::assert_no_temp(&wd.join("shared"));
}

/// Same content, mode and owner: not rewritten (same inode and mtime), reported
/// `unchanged`; a changed mode is rewritten to the right mode.
#[tokio::test]
async fn file_012_unchanged_is_not_rewritten() {
    let (inf, wd) = stage().await;
    let out = wd.output();
    let tmp = wd.path();
    write_ok(
        &inf.url(),
        &out,
        &[],
        tmp,
        report("written", "out.env", "0600"),
    );
    let first = snapshot(&out);
    write_ok(
        &inf.url(),
        &out,
        &[],
        tmp,
        report("unchanged", "out.env", "0600"),
    );
    assert_eq!(snapshot(&out), first);
    let json = write(&inf.url(), &out)
        .arg("--json")
        .exits(0)
        .stdout_checked_elsewhere("the JSON report, read below")
        .run();
    assert_eq!(json.stdout_json()["status"], "unchanged");
    assert_eq!(snapshot(&out), first);
    set_mode(&out, 0o644);
    write_ok(
        &inf.url(),
        &out,
        &[],
        tmp,
        report("written", "out.env", "0600"),
    );
    let after = snapshot(&out);
    assert_eq!(after.1, 0o600);
    assert_eq!(after.0, first.0);
    assert_ne!(after.2, first.2, "a new inode: the file was replaced");
    // Another output mode is a change too.
    write_ok(
        &inf.url(),
        &out,
        &["--output-mode", "0640"],
        tmp,
        report("written", "out.env", "0640"),
    );
    assert_eq!(mode_of(&out), 0o640);
}

/// A dry run fetches and validates, writes nothing (no file, no directory), and reports the
/// keys with `would-change` or `unchanged`; validation errors keep their exit codes.
#[tokio::test]
async fn file_013_dry_run_writes_nothing() {
    let (inf, wd) = stage().await;
    let out = wd.join("new/dir/out.env");
    let tmp = wd.path();
    write_ok(
        &inf.url(),
        &out,
        &["--dry-run"],
        tmp,
        str![[r#"
would-change: [TMP]/new/dir/out.env (mode 0600, owner [UID]:-) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY
keys added: OLLAMA_CLOUD_API_KEY

"#]],
    );
    assert!(!wd.join("new").exists());
    write_ok(
        &inf.url(),
        &out,
        &[],
        tmp,
        report_created("written", "new/dir/out.env", "0600", &["new", "new/dir"]),
    );
    let before = snapshot(&out);
    let json = write(&inf.url(), &out)
        .args(["--dry-run", "--json"])
        .exits(0)
        .stdout_checked_elsewhere("the JSON report, read below")
        .run();
    assert_eq!(json.stdout_json()["status"], "unchanged");
    assert_eq!(json.stdout_json()["dry_run"], true);
    set_mode(&out, 0o640);
    write_ok(
        &inf.url(),
        &out,
        &["--dry-run"],
        tmp,
        str![[r#"
would-change: [TMP]/new/dir/out.env (mode 0600, owner [UID]:-) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY
keys: unchanged

"#]],
    );
    assert_eq!(mode_of(&out), 0o640);
    assert_eq!(snapshot(&out).0, before.0);
    let hidden = Infisical::start().await;
    hidden
        .respond(
            ResponseTemplate::new(200).set_body_json(fixture_json("infisical/secrets-hidden.json")),
            1,
        )
        .await;
    let _ = canary(&hidden.url(), &wd.join("h.env"))
        .arg("--dry-run")
        .secret("synthetic-visible-value-Pp0")
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: the identity may not read the value of OLLAMA_CLOUD_API_KEY (secretValueHidden): grant it read access to secret values

"#]])
        .tmp(wd.path())
        .run();
}

/// The text report: status, path, mode, owner, one line per key, no value.
#[tokio::test]
async fn file_014_text_report() {
    let (inf, wd) = stage().await;
    let out = wd.output();
    let uid = nix::unistd::geteuid().as_raw();
    // The owner's numbers are part of the report: stated whole with them (the runner's
    // [UID]/[GID] placeholders would hide them); the group is the file's.
    let run = write(&inf.url(), &out)
        .exits(0)
        .stdout_checked_elsewhere("the report with the owner's numbers, compared below")
        .run();
    let gid = std::fs::metadata(&out).unwrap().gid();
    assert_eq!(
        run.stdout,
        format!(
            "written: {} (mode 0600, owner {uid}:{gid}) with 1 key from project {PROJECT}, \
             environment {ENV}, paths /\n  {PROVIDER_KEY}\n",
            out.display()
        ),
        "{}",
        run.report()
    );
}

/// The JSON report has every field and no value; a failed run prints an error document.
#[tokio::test]
async fn file_015_json_report() {
    let (inf, wd) = stage().await;
    let out = wd.output();
    let run = write(&inf.url(), &out)
        .arg("--json")
        .exits(0)
        .stdout_checked_elsewhere("the JSON report, read below")
        .run();
    let j = run.stdout_json();
    assert_eq!(j["status"], "written");
    assert_eq!(j["path"], out.display().to_string());
    assert_eq!(j["mode"], "0600");
    assert_eq!(j["owner"]["uid"], nix::unistd::geteuid().as_raw());
    assert!(j["owner"]["gid"].is_u64());
    assert_eq!(j["keys"], serde_json::json!([PROVIDER_KEY]));
    assert_eq!(j["project_id"], PROJECT);
    assert_eq!(j["environment"], ENV);
    assert_eq!(j["paths"], serde_json::json!(["/"]));
    assert_eq!(j["dry_run"], false);
    let failing = Infisical::start().await;
    failing
        .fail_secrets(403, "infisical/error-403-read-value.json", 1)
        .await;
    let run = canary(&failing.url(), &wd.join("f.env"))
        .arg("--json")
        .exits(3)
        .stdout_checked_elsewhere("the JSON error document, read below")
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: refused with status 403 (the identity can see the secrets at / in environment prod but lacks the read-value permission there (readValue): grant it read access to secret values on that path and environment); the server said: PermissionDenied: You are not allowed to readValue on secrets

"#]])
        .tmp(wd.path())
        .run();
    let j = run.stdout_json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["exit_code"], 3);
    assert!(j["error"].as_str().unwrap().contains("403"));
}

/// One fault of the matrix: how to provoke it, the exit code, the exact request count, what
/// the run says.
struct Fault {
    name: &'static str,
    response: Option<ResponseTemplate>,
    code: i32,
    requests: u64,
    /// The whole stderr.
    stderr: String,
}

fn faults() -> Vec<Fault> {
    let err = |status: u16, fixture: &str| {
        Some(ResponseTemplate::new(status).set_body_json(fixture_json(fixture)))
    };
    let error = |said: &str| format!("write-canary-env: error: {SECRETS_RAW}: {said}\n");
    let generic = "check the credentials and the identity's access to this project, environment \
                   and path";
    // the two waits before the second and the third attempt
    let waits = |first: &str, second: &str, why: &str| {
        format!(
            "write-canary-env: waiting {first} s: {why}; then attempt 2 of 3 of {SECRETS_RAW} for \
             --path /\nwrite-canary-env: waiting {second} s: {why}; then attempt 3 of 3 of \
             {SECRETS_RAW} for --path /\n"
        )
    };
    let mut oversized = b"{\"secrets\": [], \"pad\": \"".to_vec();
    oversized.resize(16 * 1024 * 1024 + 1, b'x');
    vec![
        Fault {
            name: "401",
            response: err(401, "infisical/error-401-token-missing.json"),
            code: 3,
            requests: 1,
            stderr: error(&format!(
                "refused with status 401 ({generic}); the server said: UnauthorizedError: Token missing"
            )),
        },
        Fault {
            name: "403 token expired",
            response: err(403, "infisical/error-403-token-expired.json"),
            code: 3,
            requests: 1,
            stderr: error(
                "refused with status 403 (the access token is malformed, expired or not issued by this instance: check the token file (or variable) and that --api-url names the instance that issued it); the server said: TokenError: Your token has expired. Please re-authenticate.",
            ),
        },
        Fault {
            name: "403 permission denied",
            response: err(403, "infisical/error-403-permission-denied.json"),
            code: 3,
            requests: 1,
            stderr: error(&format!(
                "refused with status 403 (the credentials worked, but the identity's role does not allow reading secrets at / in environment prod of project {PROJECT}: grant its role read access to that path and environment); the server said: PermissionDenied: You are not allowed to read on secrets"
            )),
        },
        Fault {
            name: "403 forbidden",
            response: err(403, "infisical/error-403-read-value.json"),
            code: 3,
            requests: 1,
            stderr: error(
                "refused with status 403 (the identity can see the secrets at / in environment prod but lacks the read-value permission there (readValue): grant it read access to secret values on that path and environment); the server said: PermissionDenied: You are not allowed to readValue on secrets",
            ),
        },
        Fault {
            name: "404",
            response: err(404, "infisical/error-404-environment.json"),
            code: 4,
            requests: 1,
            stderr: error(&format!(
                "not found (status 404: no environment prod in project {PROJECT}: check --env against the project's environment slugs); the server said: NotFound: Environment with slug 'prod' in project with ID {PROJECT} not found"
            )),
        },
        Fault {
            name: "429",
            response: Some(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "0")
                    .set_body_json(fixture_json("infisical/error-429-rate-limit.json")),
            ),
            code: 5,
            requests: 3,
            stderr: format!(
                "{}{}",
                waits("0", "0", "the server's rate limit (429, retry-after)"),
                error(
                    "unavailable after 3 attempts (gave up: no attempt left; 0.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 1 seconds"
                )
            ),
        },
        Fault {
            name: "500",
            response: err(500, "infisical/error-500.json"),
            code: 5,
            requests: 1,
            stderr: error(
                "unavailable after 1 attempt: status 500 (not retried); the server said: InternalServerError: Something went wrong",
            ),
        },
        Fault {
            name: "503",
            response: err(503, "infisical/error-503-proxy.json"),
            code: 5,
            requests: 3,
            stderr: format!(
                "{}{}",
                waits("0.1", "0.2", "the server is unavailable (503), backing off"),
                error(
                    "unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): status 503; the server said: failure to get a peer from the ring-balancer"
                )
            ),
        },
        Fault {
            name: "timeout",
            response: Some(
                ResponseTemplate::new(200)
                    .set_body_json(providers())
                    .set_delay(std::time::Duration::from_secs(3)),
            ),
            code: 5,
            requests: 3,
            stderr: format!(
                "{}{}",
                waits("0.1", "0.2", "no answer within --timeout, backing off"),
                error(
                    "unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): timed out after 300ms"
                )
            ),
        },
        Fault {
            name: "refused connection",
            response: None,
            code: 5,
            requests: 0,
            stderr: format!(
                "{}{}",
                waits("0.1", "0.2", "the connection failed, backing off"),
                error(
                    "unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)"
                )
            ),
        },
        Fault {
            name: "truncated JSON",
            response: Some(ResponseTemplate::new(200).set_body_raw(
                crate::support::fixture("infisical/secrets-truncated.json").into_bytes(),
                "application/json",
            )),
            code: 7,
            requests: 1,
            stderr: error("the answer is not the JSON expected: invalid JSON at line 2 column 0"),
        },
        Fault {
            name: "oversized answer",
            response: Some(ResponseTemplate::new(200).set_body_raw(oversized, "application/json")),
            code: 7,
            requests: 1,
            stderr: error("the answer is larger than 16 MiB; refused"),
        },
        Fault {
            name: "redirect",
            response: Some(
                ResponseTemplate::new(302).insert_header("location", "https://example.invalid/"),
            ),
            code: 2,
            requests: 1,
            stderr: error(
                "the server answered with a redirect (status 302), which is not followed: point --api-url at the API itself",
            ),
        },
    ]
}

/// The fault matrix: each fault gives its documented exit code after the exact number of
/// requests; the old file keeps its bytes, mode, inode and mtime; no temporary file is left;
/// nothing leaks.
#[tokio::test]
async fn file_010_sec_011_fault_matrix() {
    let old = "OLD_KEY='synthetic-old-value-0001'\n";
    let faults = faults();
    // Run the binary for each fault concurrently (the timeout and retry cases wait).
    let mut cases: Vec<(String, &Fault, Workdir, PathBuf, Option<Infisical>)> = Vec::new();
    for f in &faults {
        let wd = Workdir::new();
        let out = wd.join("out.env");
        std::fs::write(&out, old).unwrap();
        set_mode(&out, 0o640);
        let (url, inf) = match &f.response {
            Some(r) => {
                let inf = Infisical::start().await;
                inf.respond(r.clone(), f.requests).await;
                (inf.url(), Some(inf))
            }
            None => (refused_url(), None),
        };
        cases.push((url, f, wd, out, inf));
    }
    std::thread::scope(|s| {
        for (url, f, wd, out, _) in &cases {
            s.spawn(move || {
                let before = snapshot(out);
                // Only the timeout case needs a short limit; the others get room, so a loaded
                // machine cannot turn a slow 16 MiB answer into a timeout and a retry.
                let timeout = if f.name == "timeout" { "0.3" } else { "10" };
                let _ = canary(url, out)
                    .args(["--timeout", timeout])
                    .secret("synthetic-old-value-0001")
                    .secret("synthetic-truncated-value-Uu9")
                    .secret(PROVIDER_VALUE)
                    .exits(f.code)
                    .stderr(f.stderr.clone())
                    .tmp(wd.path())
                    .run();
                assert_eq!(snapshot(out), before, "{}: the old file changed", f.name);
                Workdir::assert_no_temp(wd.path());
            });
        }
    });
    for (_, f, _, _, inf) in cases {
        if let Some(inf) = inf {
            let got = inf.requests().await.len() as u64;
            assert_eq!(got, f.requests, "{}: request count", f.name);
        }
    }
}

/// A bare file name and a relative path with missing parents are written from the current
/// directory; the created parents get `--parent-mode`.
#[tokio::test]
async fn file_016_file_005_relative_output_paths() {
    let (inf, wd) = stage().await;
    let _ = write(&inf.url(), Path::new("bare.env"))
        .current_dir(wd.path())
        .exits(0)
        .stdout(str![[r#"
written: bare.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(mode_of(&wd.join("bare.env")), 0o600);
    let _ = write(&inf.url(), Path::new("new/deeper/out.env"))
        .current_dir(wd.path())
        .args(["--parent-mode", "0750"])
        .umask(0o077)
        .exits(0)
        .stdout(str![[r#"
written: new/deeper/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
created directory new
created directory new/deeper
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(mode_of(&wd.join("new")), 0o750);
    assert_eq!(mode_of(&wd.join("new/deeper")), 0o750);
    assert_eq!(mode_of(&wd.join("new/deeper/out.env")), 0o600);
}

/// An output under a regular file is exit 6 naming the path that is not a directory, and
/// nothing is created.
#[tokio::test]
async fn file_017_path_through_a_file_is_refused() {
    let (inf, wd) = stage().await;
    let file = wd.join("plain");
    std::fs::write(&file, "not a directory").unwrap();
    let _ = write(&inf.url(), &file.join("out.env"))
        .exits(6)
        .stderr(str![[r#"
write-canary-env: error: [TMP]/plain exists and is not a directory

"#]])
        .tmp(wd.path())
        .run();
    let _ = write(&inf.url(), &file.join("sub/out.env"))
        .exits(6)
        .stderr(str![[r#"
write-canary-env: error: cannot inspect [TMP]/plain/sub: Not a directory (ENOTDIR)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
    Workdir::assert_no_temp(wd.path());
}

/// With `--group` given, a file whose group already matches is `unchanged` (the group is part
/// of what is compared).
#[tokio::test]
async fn file_012_unchanged_with_group() {
    let (inf, wd) = stage().await;
    let out = wd.output();
    let gid = nix::unistd::getegid().as_raw().to_string();
    let tmp = wd.path();
    let args = ["--group", gid.as_str()];
    write_ok(
        &inf.url(),
        &out,
        &args,
        tmp,
        report("written", "out.env", "0600"),
    );
    let first = snapshot(&out);
    write_ok(
        &inf.url(),
        &out,
        &args,
        tmp,
        report("unchanged", "out.env", "0600"),
    );
    assert_eq!(snapshot(&out), first);
}

/// `--group` alone is applied to the created parents too (the owner stays the process's).
#[tokio::test]
async fn file_007_group_alone_reaches_created_parents() {
    if skipped_unless_root(
        "file_007_group_alone_reaches_created_parents",
        "chgrp to another group needs root",
    ) {
        return;
    }
    let (inf, wd) = stage().await;
    let out = wd.join("grp/inner/out.env");
    write_ok(
        &inf.url(),
        &out,
        &["--group", "4343", "--parent-mode", "0750"],
        wd.path(),
        report_created(
            "written",
            "grp/inner/out.env",
            "0600",
            &["grp", "grp/inner"],
        )
        .replacen("[GID]", "4343", 1),
    );
    for p in [wd.join("grp"), wd.join("grp/inner"), out.clone()] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 4343), "{}", p.display());
    }
}

/// A FIFO at the target is never opened for reading in a way that blocks: the run finishes
/// and replaces it with the file, with the exact mode.
#[tokio::test]
async fn file_009_fifo_target_does_not_hang() {
    let (inf, wd) = stage().await;
    let out = wd.output();
    nix::unistd::mkfifo(&out, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    write_ok(
        &inf.url(),
        &out,
        &[],
        wd.path(),
        report("written", "out.env", "0600"),
    );
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the FIFO was replaced by the file"
    );
    assert_eq!(mode_of(&out), 0o600);
    Workdir::assert_no_temp(wd.path());
}
