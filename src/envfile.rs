//! Writing a secret file safely: missing parents created one level at a time with an exact
//! mode, a dot-prefixed `O_EXCL` temporary file in the same directory whose owner and mode are
//! set on its descriptor before any byte is written, fsync, rename over the target, fsync of
//! the directory; a symlink at the target refused; nothing rewritten when content, mode and
//! owner already match; no temporary file left behind on failure, nor after a signal
//! (`crate::signals`); temporary files of killed runs removed when provably dead.
//!
//! Leftovers (`FILE-019`): a writer holds an advisory `flock` on its temporary file from its
//! creation until after the rename, and creates it while holding a shared `flock` on the
//! directory; a run sweeps while holding the directory's exclusive lock, so a temporary file
//! whose lock it can take belongs to a dead process (no live writer is between its `open` and
//! its `flock`). Only regular files named exactly like our temporaries for this target are
//! considered.
//!
//! Knows nothing of HTTP or of dotenv syntax: it writes bytes.

use std::fmt;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: PathBuf,
    /// The file's exact permission bits.
    pub mode: u32,
    /// The exact permission bits of every directory this write creates.
    pub parent_mode: u32,
    /// Owner for the file and the directories created (`None`: the process's).
    pub uid: Option<u32>,
    /// Group for the file and the directories created (`None`: the system's choice).
    pub gid: Option<u32>,
}

/// What happened, or in a dry run what would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Written,
    Unchanged,
    WouldChange,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Written => "written",
            Status::Unchanged => "unchanged",
            Status::WouldChange => "would-change",
        }
    }
}

/// The result of [`apply`].
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub status: Status,
    /// The file's mode, uid and gid (as written, as found, or as they would be).
    pub mode: u32,
    pub uid: u32,
    pub gid: Option<u32>,
    /// Directories created, outermost first.
    pub created_dirs: Vec<PathBuf>,
}

/// Why the file could not be written. Names paths and operations, never content.
#[derive(Debug)]
pub enum FileError {
    /// The target is a symbolic link.
    Symlink { path: PathBuf },
    /// A path component that should be a directory is something else.
    NotADirectory { path: PathBuf },
    /// The output path names no file.
    NoFileName { path: PathBuf },
    /// An operation failed.
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    /// The new file was renamed into place but the directory's fsync failed: the file is
    /// complete, its durability is not proven.
    NotDurable {
        path: PathBuf,
        dir: PathBuf,
        err: std::io::Error,
    },
}

/// `strerror` and the errno's name (`No space left on device (ENOSPC)`), or the error kind
/// for an error that did not come from the system.
pub fn describe_io(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let errno = nix::errno::Errno::from_raw(code);
            let full = err.to_string();
            let text = full
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&full);
            format!("{text} ({errno:?})")
        }
        None => err.kind().to_string(),
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Symlink { path } => write!(
                f,
                "refusing to write {}: it is a symbolic link (remove it, or point --output at the real file)",
                path.display()
            ),
            FileError::NotADirectory { path } => {
                write!(f, "{} exists and is not a directory", path.display())
            }
            FileError::NoFileName { path } => {
                write!(f, "output path {} names no file", path.display())
            }
            FileError::Io { op, path, err } => {
                write!(f, "cannot {op} {}: {}", path.display(), describe_io(err))
            }
            FileError::NotDurable { path, dir, err } => write!(
                f,
                "{} is written and in place, but its durability is not proven: cannot fsync directory {}: {}",
                path.display(),
                dir.display(),
                describe_io(err)
            ),
        }
    }
}

impl std::error::Error for FileError {}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |err| FileError::Io {
        op,
        path: path.to_owned(),
        err,
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes `content` to `target` (or, with `dry_run`, only says whether it would change).
pub fn apply(target: &Target, content: &[u8], dry_run: bool) -> Result<WriteOutcome, FileError> {
    apply_with_notices(target, content, dry_run, &mut |_| {})
}

/// [`apply`], telling `notice` (one line, a name, never content) about each leftover
/// temporary file of a dead run that it removed, and that it waits for another run.
pub fn apply_with_notices(
    target: &Target,
    content: &[u8],
    dry_run: bool,
    notice: &mut dyn FnMut(&str),
) -> Result<WriteOutcome, FileError> {
    if dry_run {
        return preview(target, content);
    }
    let lease = Lease::acquire(target, notice, &mut |_| {})?;
    if let Some(unchanged) = lease.unchanged(content)? {
        return Ok(unchanged);
    }
    lease.write(content, || Ok(()))
}

/// What a dry run reports: unchanged when content, mode and owner already match, else
/// would-change. Nothing is created, locked or swept.
pub fn preview(target: &Target, content: &[u8]) -> Result<WriteOutcome, FileError> {
    let (_, dir) = name_and_dir(&target.path)?;
    let want_uid = wanted_uid(target);
    if missing_dirs(&dir)?.is_empty() {
        if let Some(found) = same_as_wanted(target, content, want_uid)? {
            return Ok(unchanged_outcome(target, found));
        }
    }
    Ok(WriteOutcome {
        status: Status::WouldChange,
        mode: target.mode,
        uid: want_uid,
        gid: target.gid,
        created_dirs: Vec::new(),
    })
}

fn name_and_dir(path: &Path) -> Result<(std::ffi::OsString, PathBuf), FileError> {
    let name = path
        .file_name()
        .filter(|_| !path.as_os_str().to_string_lossy().ends_with('/'))
        .ok_or_else(|| FileError::NoFileName {
            path: path.to_owned(),
        })?
        .to_owned();
    Ok((name, parent_of(path)))
}

fn wanted_uid(target: &Target) -> u32 {
    target
        .uid
        .unwrap_or_else(|| nix::unistd::geteuid().as_raw())
}

fn unchanged_outcome(target: &Target, found: (u32, u32)) -> WriteOutcome {
    WriteOutcome {
        status: Status::Unchanged,
        mode: target.mode,
        uid: found.0,
        gid: Some(found.1),
        created_dirs: Vec::new(),
    }
}

/// A run's ownership of its target (`ROT-012`): the target's missing parents created, then
/// an exclusive `flock` on the target's directory, held from the decision to write until the
/// lease drops — after the on-change command, when there is one. No lock file: the kernel
/// releases the lock when the run ends, however it ends. Two runs on targets in one directory
/// take turns; a run that finds the lock taken says so once and waits.
#[derive(Debug)]
pub struct Lease {
    target: Target,
    name: std::ffi::OsString,
    dir: PathBuf,
    /// The directory, `flock`ed `LOCK_EX` (`None` where the file system has no locks).
    lock: Option<File>,
    /// Directories this lease created, outermost first.
    pub created_dirs: Vec<PathBuf>,
}

impl Lease {
    /// Creates the missing parents (exact modes), takes the directory's exclusive lock
    /// (telling `waiting` once, with the directory, before it waits for another run that
    /// holds it) and removes the temporary files of dead runs for this target (each named in
    /// a `notice`).
    pub fn acquire(
        target: &Target,
        notice: &mut dyn FnMut(&str),
        waiting: &mut dyn FnMut(&Path),
    ) -> Result<Lease, FileError> {
        let (name, dir) = name_and_dir(&target.path)?;
        let missing = missing_dirs(&dir)?;
        let created_dirs = create_dirs(&missing, target)?;
        let lock = match lock_dir(&dir, LOCK_EX_NOW) {
            Some(lock) => Some(lock),
            None => {
                waiting(&dir);
                lock_dir(&dir, nix::libc::LOCK_EX)
            }
        };
        if lock.is_some() {
            for removed in sweep_leftovers(&dir, &name) {
                notice(&format!(
                    "removed {}, a temporary file left by an interrupted run",
                    removed.display()
                ));
            }
        }
        Ok(Lease {
            target: target.clone(),
            name,
            dir,
            lock,
            created_dirs,
        })
    }

    /// The directory holding the target.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `Some(outcome)` when the target already holds `content` with the wanted mode and
    /// owner: nothing to write.
    pub fn unchanged(&self, content: &[u8]) -> Result<Option<WriteOutcome>, FileError> {
        let found = same_as_wanted(&self.target, content, wanted_uid(&self.target))?;
        Ok(found.map(|found| unchanged_outcome(&self.target, found)))
    }

    /// Writes `content` over the target: a temporary file with owner and mode set on its
    /// descriptor, written and fsynced; then `before_visible` (the on-change obligation is
    /// recorded there); then the rename and the directory's fsync. A failure anywhere leaves
    /// the old file and no temporary file.
    pub fn write(
        &self,
        content: &[u8],
        before_visible: impl FnOnce() -> Result<(), FileError>,
    ) -> Result<WriteOutcome, FileError> {
        let path = &self.target.path;
        let (tmp_path, file, armed) = create_temp(&self.dir, &self.name)?;
        let mut guard = TempGuard(Some((tmp_path.clone(), armed)));
        // Held until the descriptor closes, after the rename: the mark of a live writer for
        // a writer that does not take the directory's lock.
        // SAFETY: flock on a descriptor we own.
        let _ = unsafe { nix::libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), LOCK_EX_NOW) };
        let target = &self.target;
        // Owner, then mode (a chown may clear mode bits), on the descriptor, before any byte.
        if target.uid.is_some() || target.gid.is_some() {
            std::os::unix::fs::fchown(&file, target.uid, target.gid)
                .map_err(io("chown", &tmp_path))?;
        }
        file.set_permissions(Permissions::from_mode(target.mode))
            .map_err(io("chmod", &tmp_path))?;
        let meta = file.metadata().map_err(io("stat", &tmp_path))?;
        let mut file = file;
        file.write_all(content).map_err(io("write", &tmp_path))?;
        file.sync_all().map_err(io("fsync", &tmp_path))?;
        before_visible()?;
        guard.rename_over(path).map_err(io("rename over", path))?;
        drop(file);
        sync_dir(&self.dir).map_err(|err| FileError::NotDurable {
            path: path.clone(),
            dir: self.dir.clone(),
            err,
        })?;
        Ok(WriteOutcome {
            status: Status::Written,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: Some(meta.gid()),
            created_dirs: self.created_dirs.clone(),
        })
    }

    /// Writes `bytes` durably to `name` beside the target (mode 0600, the running user's):
    /// temporary file, fsync, rename, directory fsync. For small files of ours (the on-change
    /// marker).
    pub fn write_beside(&self, name: &std::ffi::OsStr, bytes: &[u8]) -> Result<(), FileError> {
        let path = self.dir.join(name);
        if self.lock.is_some() {
            // Ours alone while we hold the directory: a dead run's temporary goes first.
            let _ = sweep_leftovers(&self.dir, name);
        }
        let (tmp_path, mut file, armed) = create_temp(&self.dir, name)?;
        let mut guard = TempGuard(Some((tmp_path.clone(), armed)));
        file.write_all(bytes).map_err(io("write", &tmp_path))?;
        file.sync_all().map_err(io("fsync", &tmp_path))?;
        guard.rename_over(&path).map_err(io("rename over", &path))?;
        drop(file);
        sync_dir(&self.dir).map_err(io("fsync directory", &self.dir))
    }

    /// Removes `name` beside the target, durably (a missing file is fine).
    pub fn remove_beside(&self, name: &std::ffi::OsStr) -> Result<(), FileError> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("remove", &path)(e)),
        }
        sync_dir(&self.dir).map_err(io("fsync directory", &self.dir))
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .read(true)
        .custom_flags(open_flags::DIR)
        .open(dir)
        .and_then(|d| d.sync_all())
}

/// The bytes of the regular file at `path` (never following a link, never blocking on a
/// FIFO), at most `cap` bytes; `None` when there is none, it is not a regular file, it is
/// larger or cannot be read. Held so that it is wiped when dropped.
pub fn read_current(path: &Path, cap: u64) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(open_flags::EXISTING_FILE)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > cap {
        return None;
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(cap + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= cap).then_some(bytes)
}

/// The missing ancestors of `dir`, innermost first. A symlink to a directory counts as a
/// directory (only the target itself must not be a link).
fn missing_dirs(dir: &Path) -> Result<Vec<PathBuf>, FileError> {
    let mut missing = Vec::new();
    let mut cur = dir.to_owned();
    loop {
        match std::fs::metadata(&cur) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(FileError::NotADirectory { path: cur }),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                missing.push(cur.clone());
                match cur.parent() {
                    Some(p) if !p.as_os_str().is_empty() => cur = p.to_owned(),
                    _ => break,
                }
            }
            Err(e) => return Err(io("inspect", &cur)(e)),
        }
    }
    Ok(missing)
}

/// Creates `missing` (innermost first) outermost first, each with the exact parent mode and
/// the target's owner and group, set on the directory's descriptor.
fn create_dirs(missing: &[PathBuf], target: &Target) -> Result<Vec<PathBuf>, FileError> {
    let mut created = Vec::new();
    for dir in missing.iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            // Another writer made it first: it already existed, so its mode is left alone.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => continue,
            Err(e) => return Err(io("create directory", dir)(e)),
        }
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(open_flags::CREATED_DIR)
            .open(dir)
            .map_err(io("open directory", dir))?;
        if target.uid.is_some() || target.gid.is_some() {
            std::os::unix::fs::fchown(&handle, target.uid, target.gid)
                .map_err(io("chown directory", dir))?;
        }
        handle
            .set_permissions(Permissions::from_mode(target.parent_mode))
            .map_err(io("chmod directory", dir))?;
        created.push(dir.clone());
    }
    Ok(created)
}

/// The open flags (beyond std's) of each kind of open, named by what is opened and stated
/// once (FILE-026 shows them in the system calls).
mod open_flags {
    use nix::fcntl::OFlag;
    /// A file that may already be there (the target, a leftover): never through a link (a link
    /// is `ELOOP`), never blocking on a FIFO.
    pub const EXISTING_FILE: i32 = OFlag::O_NOFOLLOW
        .union(OFlag::O_NONBLOCK)
        .union(OFlag::O_CLOEXEC)
        .bits();
    /// The temporary file, created with `O_CREAT|O_EXCL`: never through a link.
    pub const NEW_FILE: i32 = OFlag::O_NOFOLLOW.union(OFlag::O_CLOEXEC).bits();
    /// A directory this run just created, opened to set its owner and mode: a link or a file
    /// swapped in for it is refused.
    pub const CREATED_DIR: i32 = OFlag::O_DIRECTORY
        .union(OFlag::O_NOFOLLOW)
        .union(OFlag::O_CLOEXEC)
        .bits();
    /// A directory opened to lock or to sync it.
    pub const DIR: i32 = OFlag::O_DIRECTORY.union(OFlag::O_CLOEXEC).bits();
}

/// `flock` exclusively, without waiting.
const LOCK_EX_NOW: i32 = nix::libc::LOCK_EX | nix::libc::LOCK_NB;

/// `Some((uid, gid))` when the target is a regular file whose content, mode and owner are
/// already what we would write. A symlink is refused; a missing file is `None`.
fn same_as_wanted(
    target: &Target,
    content: &[u8],
    want_uid: u32,
) -> Result<Option<(u32, u32)>, FileError> {
    let path = &target.path;
    // One open, never following a link (a link is ELOOP), never blocking on a FIFO: no window
    // between a check and a use.
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(open_flags::EXISTING_FILE)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(FileError::Symlink { path: path.clone() });
        }
        // Missing or unreadable: (re)write it.
        Err(_) => return Ok(None),
    };
    let meta = file.metadata().map_err(io("stat", path))?;
    let same_meta = meta.is_file()
        && meta.mode() & 0o7777 == target.mode
        && meta.uid() == want_uid
        && target.gid.is_none_or(|g| g == meta.gid())
        && meta.len() == content.len() as u64;
    if !same_meta {
        return Ok(None);
    }
    let mut old = zeroize::Zeroizing::new(Vec::with_capacity(content.len()));
    if Read::by_ref(&mut file)
        .take(content.len() as u64 + 1)
        .read_to_end(&mut old)
        .is_err()
    {
        return Ok(None);
    }
    Ok((old.as_slice() == content).then_some((meta.uid(), meta.gid())))
}

/// Creates a fresh dot-prefixed temporary file next to the target with `O_CREAT|O_EXCL`
/// (never following a link), readable by its owner only until its mode is set.
fn create_temp(
    dir: &Path,
    name: &std::ffi::OsStr,
) -> Result<(PathBuf, File, crate::signals::Armed), FileError> {
    create_first_free(dir, temp_names(name).take(32))
}

/// Candidate temporary names: `.<name>.tmp-<pid>-<nanos>-<counter>`, a fresh one each call.
fn temp_names(name: &std::ffi::OsStr) -> impl Iterator<Item = std::ffi::OsString> + '_ {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    std::iter::repeat_with(move || {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{nanos:08x}-{n}", std::process::id()));
        tmp_name
    })
}

/// Creates the first of `names` in `dir` that does not exist yet; a name taken by someone
/// else is skipped, any other error ends the attempt.
fn create_first_free(
    dir: &Path,
    names: impl Iterator<Item = std::ffi::OsString>,
) -> Result<(PathBuf, File, crate::signals::Armed), FileError> {
    let mut last_err = None;
    for tmp_name in names {
        let tmp = dir.join(tmp_name);
        // Registered before the open: a signal at any moment finds the name.
        let pending = crate::signals::pending(&tmp);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(open_flags::NEW_FILE)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f, pending.created())),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                pending.failed();
                last_err = Some(e);
            }
            Err(e) => {
                pending.failed();
                return Err(io("create a temporary file in", dir)(e));
            }
        }
    }
    Err(io("create a temporary file in", dir)(
        last_err.unwrap_or_else(|| std::io::Error::from(ErrorKind::AlreadyExists)),
    ))
}

/// Removes the temporary file on drop unless renamed; the signal handler knows its name
/// until then.
struct TempGuard(Option<(PathBuf, crate::signals::Armed)>);

impl TempGuard {
    /// Renames the temporary file over `target`; on failure the guard stays armed, so the
    /// temporary is removed when it drops.
    fn rename_over(&mut self, target: &Path) -> std::io::Result<()> {
        if let Some((tmp, _)) = &self.0 {
            std::fs::rename(tmp, target)?;
        }
        if let Some((_, armed)) = self.0.take() {
            armed.disarm();
        }
        Ok(())
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some((p, armed)) = self.0.take() {
            let _ = std::fs::remove_file(p);
            armed.disarm();
        }
    }
}

/// The directory opened and `flock`ed (`LOCK_SH` by a writer creating its temporary file,
/// `LOCK_EX` by a sweep); `None` where the file system has no locks (then nothing is swept).
fn lock_dir(dir: &Path, how: i32) -> Option<File> {
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags(open_flags::DIR)
        .open(dir)
        .ok()?;
    // SAFETY: flock on a descriptor we own; blocking, with SA_RESTART handlers.
    let rc = unsafe { nix::libc::flock(std::os::fd::AsRawFd::as_raw_fd(&handle), how) };
    (rc == 0).then_some(handle)
}

/// Whether `candidate` is exactly a name [`temp_names`] makes for `name`:
/// `.<name>.tmp-<pid>-<8 hex digits>-<counter>`.
fn is_our_temp_name(candidate: &[u8], name: &[u8]) -> bool {
    let Some(rest) = candidate
        .strip_prefix(b".")
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(b".tmp-"))
    else {
        return false;
    };
    let parts: Vec<&[u8]> = rest.split(|b| *b == b'-').collect();
    let digits = |p: &[u8]| !p.is_empty() && p.len() <= 10 && p.iter().all(u8::is_ascii_digit);
    parts.len() == 3
        && digits(parts[0])
        && parts[1].len() == 8
        && parts[1]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && digits(parts[2])
}

/// Removes the temporary files of dead writers for `name` in `dir` (the caller holds the
/// directory's exclusive lock) and returns their paths. A file is removed only when its name
/// is exactly ours, it is a regular file (never a link), its `flock` is free, and the name
/// still points at the file that was locked.
fn sweep_leftovers(dir: &Path, name: &std::ffi::OsStr) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !is_our_temp_name(file_name.as_bytes(), name.as_bytes()) {
            continue;
        }
        let path = dir.join(&file_name);
        let Ok(handle) = OpenOptions::new()
            .read(true)
            .custom_flags(open_flags::EXISTING_FILE)
            .open(&path)
        else {
            continue;
        };
        let Ok(meta) = handle.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // SAFETY: flock on a descriptor we own.
        let free =
            unsafe { nix::libc::flock(std::os::fd::AsRawFd::as_raw_fd(&handle), LOCK_EX_NOW) } == 0;
        if !free {
            continue;
        }
        let same = std::fs::symlink_metadata(&path).is_ok_and(|m| same_file(&m, &meta));
        if same && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// Whether two `stat`s are of one file (device and inode).
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &Path) -> Target {
        Target {
            path: dir.join("out.env"),
            mode: 0o600,
            parent_mode: 0o700,
            uid: None,
            gid: None,
        }
    }

    /// A file whose content runs past the size `fstat` gave (one that grew meanwhile; a
    /// procfs file, whose size is 0, shows it without a race): never `unchanged` (FILE-012).
    #[test]
    fn file_012_a_file_longer_than_its_stat_is_not_unchanged() {
        let proc_file = Path::new("/proc/self/status");
        let meta = std::fs::metadata(proc_file).unwrap();
        assert_eq!(meta.len(), 0, "procfs reports no size");
        let target = Target {
            path: proc_file.to_owned(),
            mode: meta.mode() & 0o7777,
            parent_mode: 0o700,
            uid: None,
            gid: None,
        };
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(same_as_wanted(&target, b"", me).unwrap(), None);
        // What the same check says of an empty regular file with that mode and owner.
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        std::fs::set_permissions(&empty, Permissions::from_mode(target.mode)).unwrap();
        let empty_target = Target {
            path: empty,
            ..target
        };
        assert!(same_as_wanted(&empty_target, b"", me).unwrap().is_some());
    }

    /// The old file read for the key diff: at most `cap` bytes, and a file with more than its
    /// `fstat` size said, or more than `cap`, is not read at all (it counts as changed whole:
    /// FMT-028).
    #[test]
    fn fmt_028_the_old_file_is_read_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("old.env");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(
            read_current(&file, 10).as_deref().map(Vec::as_slice),
            Some(&b"0123456789"[..])
        );
        assert_eq!(read_current(&file, 9), None);
        assert_eq!(read_current(Path::new("/proc/self/status"), 0), None);
        assert_eq!(read_current(tmp.path(), 1 << 20), None, "a directory");
        assert_eq!(
            read_current(Path::new("/dev/null"), 1 << 20),
            None,
            "a device"
        );
    }

    /// FILE-003's owner: `--owner` when given (whoever runs), else the process's own.
    #[test]
    fn file_003_the_owner_wanted() {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = target(tmp.path());
        assert_eq!(wanted_uid(&t), nix::unistd::geteuid().as_raw());
        t.uid = Some(4242);
        assert_eq!(wanted_uid(&t), 4242);
    }

    /// ROT-004's marker removed after a reload that succeeded: a marker already gone is
    /// fine; a name that cannot be removed (here a directory) is an error naming it.
    #[test]
    fn rot_004_removing_the_marker() {
        let tmp = tempfile::tempdir().unwrap();
        let lease = Lease::acquire(&target(tmp.path()), &mut |_| {}, &mut |_| {}).unwrap();
        std::fs::write(tmp.path().join(".out.env.on-change-owed"), "x").unwrap();
        lease
            .remove_beside(".out.env.on-change-owed".as_ref())
            .unwrap();
        assert!(!tmp.path().join(".out.env.on-change-owed").exists());
        lease.remove_beside("absent".as_ref()).unwrap();
        std::fs::create_dir(tmp.path().join("a-directory")).unwrap();
        let err = lease.remove_beside("a-directory".as_ref()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot remove {}/a-directory: Is a directory (EISDIR)",
                tmp.path().display()
            )
        );
    }

    /// FILE-020's last guard: the sweep removes a name only if it still names the file whose
    /// lock it took — the same device and inode, not a file renamed over it since.
    #[test]
    fn file_020_same_file_means_device_and_inode() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, link) = (
            tmp.path().join("a"),
            tmp.path().join("b"),
            tmp.path().join("l"),
        );
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&b, "x").unwrap();
        std::fs::hard_link(&a, &link).unwrap();
        let meta = |p: &Path| std::fs::symlink_metadata(p).unwrap();
        let before = meta(&a);
        assert!(same_file(&before, &meta(&a)));
        assert!(same_file(&before, &meta(&link)));
        assert!(!same_file(&before, &meta(&b)));
        std::fs::rename(&b, &a).unwrap();
        assert!(
            !same_file(&before, &meta(&a)),
            "a file renamed over the name"
        );
    }

    /// FILE-006 under a race: a directory another writer created between the look and the
    /// mkdir is skipped — neither reported as created nor given our mode.
    #[test]
    fn file_006_directory_created_meanwhile_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let existing = tmp.path().join("raced");
        std::fs::create_dir(&existing).unwrap();
        std::fs::set_permissions(&existing, Permissions::from_mode(0o751)).unwrap();
        let fresh = existing.join("fresh");
        let created = create_dirs(&[fresh.clone(), existing.clone()], &target(&fresh)).unwrap();
        assert_eq!(created, vec![fresh.clone()]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&existing), 0o751);
        assert_eq!(mode(&fresh), 0o700);
    }

    /// A file where a directory was to be created is an error naming the mkdir, not a skip.
    #[test]
    fn file_017_file_created_meanwhile_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let err = create_dirs(std::slice::from_ref(&file), &target(&file)).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::Io {
                    op: "create directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// A temporary name someone else holds is skipped for the next one; when every candidate
    /// is taken the error says so; any other error ends the attempt at once.
    #[test]
    fn file_008_taken_temporary_names_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let names = |v: &[&str]| {
            v.iter()
                .map(|s| std::ffi::OsString::from(*s))
                .collect::<Vec<_>>()
                .into_iter()
        };
        std::fs::write(tmp.path().join(".a"), "someone else's").unwrap();
        let (path, _, _armed) = create_first_free(tmp.path(), names(&[".a", ".b"])).unwrap();
        assert_eq!(path, tmp.path().join(".b"));
        assert_eq!(
            std::fs::read(tmp.path().join(".a")).unwrap(),
            b"someone else's"
        );
        let err = create_first_free(tmp.path(), names(&[".a", ".b"])).unwrap_err();
        assert!(
            matches!(&err, FileError::Io { err, .. } if err.kind() == ErrorKind::AlreadyExists),
            "{err}"
        );
        let missing = tmp.path().join("missing");
        let tried = std::cell::Cell::new(0);
        let err = create_first_free(
            &missing,
            names(&[".c", ".d"]).inspect(|_| tried.set(tried.get() + 1)),
        )
        .unwrap_err();
        assert!(
            matches!(&err, FileError::Io { err, .. } if err.kind() == ErrorKind::NotFound),
            "{err}"
        );
        assert_eq!(
            tried.get(),
            1,
            "an error other than a taken name is not retried"
        );
    }
}
