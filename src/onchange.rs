//! The on-change command of `write-canary-env` (contract `contracts/rotation.md`): its words
//! split the way systemd splits an `ExecStart=` line, its program found on `PATH` before
//! anything is fetched, the durable marker that says a reload is owed, and running it — a
//! scrubbed environment, standard input from `/dev/null`, its output captured and redacted
//! line by line, its whole process group ended on a timeout or when the writer is signalled.
//!
//! Knows nothing of HTTP or of formats: it gets the key names of a change and runs a command.

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::format::KeyDiff;
use crate::secret::Redactor;

/// The default `--on-change-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a command's group gets between SIGTERM and SIGKILL after its timeout.
pub const KILL_AFTER: Duration = Duration::from_secs(5);
/// How long the command's output is still read after it exited (something it left behind
/// may hold the output open; that is not waited for, nor killed).
pub const DRAIN: Duration = Duration::from_secs(2);
/// The longest line of the command's output shown (redacted); a longer one is named, never
/// shown in part (a cut could split a secret and show its first half).
pub const MAX_LINE: usize = 64 * 1024;

/// The variables the writer reads credentials from: never passed to the command.
pub const CREDENTIAL_VARIABLES: [&str; 4] = [
    "INFISICAL_TOKEN",
    "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN",
    "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
    "CREDENTIALS_DIRECTORY",
];

/// Why `--on-change` is not a command line (value-free: the line is the operator's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// Nothing but blanks.
    Empty,
    /// A quote that is never closed.
    UnbalancedQuote(char),
    /// A backslash at the very end.
    TrailingBackslash,
    /// An escape that is not valid (`\x` without two hex digits, a code point out of range).
    BadEscape(String),
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::Empty => f.write_str("--on-change is empty: name a program to run"),
            SplitError::UnbalancedQuote(q) => write!(
                f,
                "--on-change has an unbalanced {q} quote (its words are split like systemd's ExecStart=)"
            ),
            SplitError::TrailingBackslash => f.write_str("--on-change ends with a lone backslash"),
            SplitError::BadEscape(e) => write!(f, "--on-change has an invalid escape {e}"),
        }
    }
}

/// Splits `line` into words as systemd splits an `ExecStart=` line (`extract_first_word` with
/// unquoting and C escapes): blanks separate words; `"…"` and `'…'` group (quotes removed);
/// backslash escapes (`\n \t \\ \" \' \s \xNN \NNN \uNNNN \UNNNNNNNN` …) are decoded inside and
/// outside quotes; an unknown escape keeps its backslash. No variables, no globs, no shell.
pub fn split_words(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.next() {
                    Some(e) => unescape(e, &mut chars, &mut word)?,
                    None => return Err(SplitError::TrailingBackslash),
                },
                (q, None) if q == '"' || q == '\'' => quote = Some(q),
                (q, Some(open)) if q == open => quote = None,
                (c, None) if c.is_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(SplitError::UnbalancedQuote(q));
        }
        words.push(word);
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

/// Decodes the escape whose first character after the backslash is `e` (systemd's
/// `cunescape_one`), pushing the result.
fn unescape(
    e: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), SplitError> {
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        's' => Some(' '),
        '\\' | '"' | '\'' => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return Ok(());
    }
    let (radix, digits) = match e {
        'x' => (16, 2),
        'u' => (16, 4),
        'U' => (16, 8),
        '0'..='7' => (8, 3),
        other => {
            // systemd (relaxed): an unknown escape is kept as it was written.
            out.push('\\');
            out.push(other);
            return Ok(());
        }
    };
    let mut text = String::new();
    if radix == 8 {
        text.push(e);
    }
    while text.len() < digits {
        match chars.peek() {
            Some(c) if c.is_digit(radix) => {
                text.push(*c);
                chars.next();
            }
            _ => break,
        }
    }
    let code = u32::from_str_radix(&text, radix).ok();
    match code.and_then(char::from_u32) {
        Some(c) if text.len() == digits && c != '\0' => {
            out.push(c);
            Ok(())
        }
        _ => Err(SplitError::BadEscape(format!(
            "\\{}",
            if radix == 8 {
                text
            } else {
                format!("{e}{text}")
            }
        ))),
    }
}

/// A checked `--on-change`: its words, and its program found with the `PATH` lookup the run
/// uses.
#[derive(Debug, Clone)]
pub struct Command {
    /// The words, the first being the program as given.
    pub words: Vec<String>,
    /// The program to execute, resolved once.
    pub program: PathBuf,
    /// How long the command may run.
    pub timeout: Duration,
}

impl Command {
    /// Splits `line` and finds its program: a word with a `/` is a path (relative to the
    /// current directory), any other is looked up on `$PATH` (systemd's default path when
    /// unset). Errors are value-free apart from the program's name, the operator's own.
    pub fn parse(line: &str, timeout: Duration) -> Result<Command, String> {
        let words = split_words(line).map_err(|e| e.to_string())?;
        let first = &words[0];
        let search = std::env::var_os("PATH")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| OsString::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"));
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let program = which::which_in(first, Some(search), cwd).map_err(|_| {
            if first.contains('/') {
                format!("--on-change: {first} is not an executable file")
            } else {
                format!("--on-change: program {first} not found on PATH")
            }
        })?;
        Ok(Command {
            words,
            program,
            timeout,
        })
    }

    /// The program's name as the operator wrote it (its first word).
    pub fn name(&self) -> &str {
        &self.words[0]
    }
}

/// How a change came about, as `PB_CHANGE` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This run created the file.
    Created,
    /// This run changed the file's bytes.
    Changed,
    /// An earlier run changed it and its command has not succeeded yet.
    Owed,
}

impl Change {
    /// `created`, `changed` or `owed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Changed => "changed",
            Change::Owed => "owed",
        }
    }
}

/// What the command is told: the change and the key names added, changed and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// How the change came about.
    pub change: Change,
    /// Keys added, changed, removed (sorted names, never values).
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// The marker's file name beside the target: `.<name>.on-change-owed`.
pub fn marker_name(target: &Path) -> OsString {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".on-change-owed");
    name
}

/// The marker's path beside `target`.
pub fn marker_path(target: &Path) -> PathBuf {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    dir.join(marker_name(target))
}

/// Whether a reload is owed for `target` (a marker is there, whatever it holds).
pub fn owed(target: &Path) -> bool {
    std::fs::symlink_metadata(marker_path(target)).is_ok()
}

impl Event {
    /// The marker's content: the change and the key names, one `name=value` line each.
    pub fn marker_text(&self) -> String {
        format!(
            "change={}\nadded={}\nchanged={}\nremoved={}\n",
            self.change.as_str(),
            self.added.join(","),
            self.changed.join(","),
            self.removed.join(",")
        )
    }

    /// The obligation recorded beside `target`, if any: `Some` whenever a marker exists (one
    /// that cannot be read or understood still owes a reload, with no key names).
    pub fn owed_for(target: &Path) -> Option<Event> {
        let path = marker_path(target);
        std::fs::symlink_metadata(&path).ok()?;
        let text = crate::envfile::read_current(&path, 1 << 20)
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .unwrap_or_default();
        let mut event = Event {
            change: Change::Owed,
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
        };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .filter(|k| crate::dotenv::valid_key(k))
                .map(str::to_owned)
                .collect()
        };
        for line in text.lines() {
            match line.split_once('=') {
                Some(("added", v)) => event.added = list(v),
                Some(("changed", v)) => event.changed = list(v),
                Some(("removed", v)) => event.removed = list(v),
                // `change=` is kept for the reader of the file; the command is told `owed`.
                _ => {}
            }
        }
        Some(event)
    }

    /// This change folded into an obligation still owed ([`KeyDiff::merge`]: what changed
    /// since the last reload known to have happened). The change is this run's.
    pub fn after(self, earlier: &Event) -> Event {
        let diff = earlier.diff().merge(self.diff());
        Event {
            change: self.change,
            added: diff.added,
            changed: diff.changed,
            removed: diff.removed,
        }
    }

    fn diff(&self) -> KeyDiff {
        KeyDiff {
            added: self.added.clone(),
            changed: self.changed.clone(),
            removed: self.removed.clone(),
        }
    }
}

/// How the command ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It could not be started (the reason, `strerror (ERRNO)`).
    NotStarted(String),
    /// It exited with a status other than 0.
    Exited(i32),
    /// A signal ended it.
    Killed(String),
    /// It ran past its timeout; its group got SIGTERM, then SIGKILL if needed.
    TimedOut(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotStarted(why) => write!(f, "could not be started: {why}"),
            Failure::Exited(code) => write!(f, "exited with status {code}"),
            Failure::Killed(sig) => write!(f, "was killed by {sig}"),
            Failure::TimedOut(t) => write!(
                f,
                "timed out after {} s (its process group got SIGTERM, then SIGKILL)",
                t.as_secs_f64()
            ),
        }
    }
}

/// Runs `cmd` for `event` on `output`: environment scrubbed of every credential variable plus
/// `PB_OUTPUT`, `PB_CHANGE`, `PB_KEYS_ADDED`, `PB_KEYS_CHANGED`, `PB_KEYS_REMOVED`; stdin
/// from `/dev/null`; stdout and stderr through one pipe, each line redacted by `redactor` and
/// handed to `line` as it comes; in its own process group, which the writer's signal handler
/// ends too while it runs. On the timeout the group gets SIGTERM, and SIGKILL
/// [`KILL_AFTER`] later; the command has ended when its output is closed and it has exited.
pub fn run(
    cmd: &Command,
    event: &Event,
    output: &Path,
    redactor: &Redactor,
    line: &mut dyn FnMut(&str),
) -> Result<(), Failure> {
    let (mut child, reader) = start(cmd, event, output)?;
    let pgid = child.id() as i32;
    let _group = crate::signals::guard_group(pgid);
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<Option<String>>();
    // std::thread::spawn would panic where the kernel refuses a thread (RLIMIT_NPROC).
    let reading = std::thread::Builder::new()
        .name("on-change output".into())
        .spawn(move || read_lines(reader, &lines_tx));
    if let Err(e) = reading {
        kill_group(pgid, nix::libc::SIGKILL);
        let _ = child.wait();
        return Err(Failure::NotStarted(format!(
            "cannot read its output: {}",
            describe(&e)
        )));
    }
    let ended = watch(&mut child, cmd.timeout, &lines_rx, &mut |text| {
        line(&redactor.redact(text))
    });
    if ended.timed_out {
        kill_group(pgid, nix::libc::SIGKILL);
        return Err(Failure::TimedOut(cmd.timeout));
    }
    verdict(ended.status)
}

/// Starts `cmd` in a process group of its own, with the environment and standard streams
/// [`run`] describes; returns it with the read end of its output.
fn start(
    cmd: &Command,
    event: &Event,
    output: &Path,
) -> Result<(std::process::Child, std::fs::File), Failure> {
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Failure::NotStarted(describe(&std::io::Error::from(e))))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| Failure::NotStarted(describe(&e)))?;
    let mut command = std::process::Command::new(&cmd.program);
    command
        .arg0(&cmd.words[0])
        .args(&cmd.words[1..])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0);
    for var in CREDENTIAL_VARIABLES {
        command.env_remove(var);
    }
    command
        .env("PB_OUTPUT", output)
        .env("PB_CHANGE", event.change.as_str())
        .env("PB_KEYS_ADDED", event.added.join(","))
        .env("PB_KEYS_CHANGED", event.changed.join(","))
        .env("PB_KEYS_REMOVED", event.removed.join(","));
    // SAFETY: prctl is async-signal-safe; if the writer dies, the command is not left behind.
    unsafe {
        command.pre_exec(|| {
            nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL);
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| Failure::NotStarted(describe(&e)))?;
    // The Command holds the pipe's write ends: drop them, or the output never closes.
    drop(command);
    Ok((child, std::fs::File::from(reader)))
}

/// How a watched command ended: its status (`None` if it could not be read) and whether its
/// timeout ran out first.
struct Ended {
    status: Option<std::process::ExitStatus>,
    timed_out: bool,
}

/// Watches `child` until it has exited and its output is closed (or [`DRAIN`] after its exit,
/// whichever is first), handing each line of `lines` to `line`; past `timeout` its group gets
/// SIGTERM, and SIGKILL [`KILL_AFTER`] later.
fn watch(
    child: &mut std::process::Child,
    timeout: Duration,
    lines: &std::sync::mpsc::Receiver<Option<String>>,
    line: &mut dyn FnMut(&str),
) -> Ended {
    let pgid = child.id() as i32;
    let mut deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let mut output_open = true;
    let mut status = None;
    let mut drain_until: Option<Instant> = None;
    loop {
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        let now = Instant::now();
        if status.is_some() {
            if !output_open {
                break;
            }
            // It has exited, but something it left behind holds the output open: read what
            // comes for a little while, then stop listening — never kill what a reload that
            // succeeded may have started.
            if now >= *drain_until.get_or_insert(now + DRAIN) {
                break;
            }
        } else if now >= deadline {
            if timed_out {
                kill_group(pgid, nix::libc::SIGKILL);
                status = child.wait().ok();
                drain_until = Some(now + DRAIN);
                continue;
            }
            timed_out = true;
            kill_group(pgid, nix::libc::SIGTERM);
            deadline = now + KILL_AFTER;
            continue;
        }
        let until = drain_until.unwrap_or(deadline);
        let wait = until
            .saturating_duration_since(now)
            .min(Duration::from_millis(20));
        match lines.recv_timeout(wait) {
            Ok(Some(text)) => line(&text),
            Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => output_open = false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if !output_open && status.is_none() {
            // The output is closed but the command runs on: wait for it without reading.
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
    }
    Ended { status, timed_out }
}

/// What the exit status of a command that ended in time means.
fn verdict(status: Option<std::process::ExitStatus>) -> Result<(), Failure> {
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Err(Failure::Exited(code)),
            (None, Some(sig)) => Err(Failure::Killed(signal_name(sig))),
            (None, None) => Err(Failure::Exited(-1)),
        },
        None => Err(Failure::Exited(-1)),
    }
}

/// Reads `reader` line by line (bytes, decoded lossily), sending each line without its
/// newline; a line longer than [`MAX_LINE`] is replaced by a note saying so; `None` at the
/// end.
fn read_lines(reader: std::fs::File, tx: &std::sync::mpsc::Sender<Option<String>>) {
    let mut reader = BufReader::new(reader);
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    loop {
        buf.clear();
        let mut too_long = false;
        let mut total = 0usize;
        loop {
            let chunk = match reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => &[],
            };
            if chunk.is_empty() {
                break;
            }
            let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            total += take;
            if total > MAX_LINE + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
            reader.consume(take);
            if done {
                break;
            }
        }
        if total == 0 {
            let _ = tx.send(None);
            return;
        }
        let text = if too_long {
            format!("[a line of {total} bytes was not shown: longer than {MAX_LINE} bytes]")
        } else {
            let end = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let end = end.strip_suffix(b"\r").unwrap_or(end);
            String::from_utf8_lossy(end).into_owned()
        };
        if tx.send(Some(text)).is_err() {
            return;
        }
    }
}

fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) on a process group we created.
    unsafe { nix::libc::kill(-pgid, sig) };
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

fn describe(e: &std::io::Error) -> String {
    crate::envfile::describe_io(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ROT-002: systemd's splitting, quotes and escapes.
    #[test]
    fn rot_002_words_split_like_exec_start() {
        let ok = |s: &str| split_words(s).unwrap();
        assert_eq!(
            ok("systemctl try-restart honcho.service"),
            ["systemctl", "try-restart", "honcho.service"]
        );
        assert_eq!(
            ok("  sh -c 'echo \"$PB_CHANGE\"; exit 3'  "),
            ["sh", "-c", "echo \"$PB_CHANGE\"; exit 3"]
        );
        // systemd 252 keeps an unknown escape, backslash and all ("Ignoring unknown escape
        // sequences"), and a backslash-blank does not split the word.
        assert_eq!(ok(r#"a "b c" d\ e"#), ["a", "b c", "d\\ e"]);
        assert_eq!(ok(r#"x\ty "\x41\101\u00e9" \q"#), ["x\ty", "AAé", "\\q"]);
        assert_eq!(ok(r#"a"b c"d"#), ["ab cd"]);
        assert_eq!(ok("''"), [""]);
        assert_eq!(split_words("   "), Err(SplitError::Empty));
        assert_eq!(
            split_words("sh -c 'echo"),
            Err(SplitError::UnbalancedQuote('\''))
        );
        assert_eq!(split_words("a \"b"), Err(SplitError::UnbalancedQuote('"')));
        assert_eq!(split_words("a \\"), Err(SplitError::TrailingBackslash));
        assert!(matches!(
            split_words(r"\xZZ"),
            Err(SplitError::BadEscape(_))
        ));
    }

    /// ROT-004: an obligation folded into a later change keeps every key it named.
    #[test]
    fn rot_004_a_change_after_an_owed_one_keeps_its_keys() {
        let v = |s: &[&str]| s.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
        let earlier = Event {
            change: Change::Changed,
            added: v(&["A"]),
            changed: v(&["B"]),
            removed: v(&["C"]),
        };
        let now = Event {
            change: Change::Changed,
            added: v(&["C"]),
            changed: v(&["D"]),
            removed: v(&["A"]),
        };
        let merged = now.after(&earlier);
        assert_eq!(merged.change, Change::Changed);
        assert_eq!(merged.added, v(&[]));
        assert_eq!(merged.changed, v(&["B", "C", "D"]));
        assert_eq!(merged.removed, v(&["A"]));
    }
}
