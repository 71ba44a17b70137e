//! Signal-safe cleanup (contracts `FILE-018`, `FILE-025`): SIGINT, SIGTERM and SIGHUP end the
//! process with 128 + the signal's number (130, 143, 129, as shells report them), after
//! removing the temporary file the writer holds at that moment, if any; the other catchable
//! signals that would end the process remove it too, then end it as they would have.
//!
//! The handler does only async-signal-safe things: atomic loads and stores, `unlink(2)` of a
//! path written before it was armed, `_exit(2)`, `pause(2)`, and for the other fatal signals
//! `sigaction(2)`, `pthread_sigmask(3)` and `raise(3)`. The writer registers its
//! temporary file's name *before* the `open(O_CREAT|O_EXCL)` that creates it, so no moment
//! exists where the file is on disk and the handler does not know it:
//!
//! - `IDLE`: nothing to clean; the handler exits at once.
//! - `BUSY`: the writer is changing the registration (the name is being written, or the
//!   `open` is in flight, so it is not known yet whether the file exists); the handler only
//!   records the signal and returns, and the writer acts on it as soon as it knows.
//! - `ARMED`: the temporary file exists under the registered name; the handler unlinks it and
//!   exits. After the rename the name is gone, so the unlink finds nothing and the complete
//!   new file stays.
//! - `DYING`: a handler on another thread is exiting; any other thread waits for it.

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::libc;

const IDLE: u32 = 0;
const BUSY: u32 = 1;
const ARMED: u32 = 2;
const DYING: u32 = 3;
const PHASE: u32 = 0xff;

/// The phase in the low byte; a signal recorded while `BUSY` in the bits above.
static STATE: AtomicU32 = AtomicU32::new(IDLE);

const PATH_CAP: usize = 4096;

/// The registered name, NUL-terminated. Written only by the thread that moved the state to
/// `BUSY`, read only by a handler that saw `ARMED`, or by that same thread.
struct PathBuf0(UnsafeCell<[u8; PATH_CAP + 1]>);
// SAFETY: access is serialised by `STATE` as described above.
unsafe impl Sync for PathBuf0 {}
static PATH: PathBuf0 = PathBuf0(UnsafeCell::new([0; PATH_CAP + 1]));

/// The exit status for a signal: 128 + its number, as a shell reports it.
pub(crate) const fn exit_status(signal: c_int) -> i32 {
    128 + signal
}

/// The signals that end a run cleanly, with 128 + their number.
pub(crate) const CLEAN_EXIT_SIGNALS: [c_int; 3] = [libc::SIGHUP, libc::SIGINT, libc::SIGTERM];

/// Other signals whose default action ends the process: the handler removes the temporary
/// file, then lets the signal kill the process as it would have (the status still says
/// "killed by signal N"; no core file is written, RLIMIT_CORE is 0). SIGSEGV and SIGBUS are
/// left to Rust's stack-overflow handler, SIGTRAP to debuggers, SIGPIPE and SIGXFSZ are
/// ignored, SIGKILL and SIGSTOP cannot be caught.
pub(crate) const OTHER_FATAL_SIGNALS: [c_int; 14] = [
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGPWR,
    libc::SIGSTKFLT,
    libc::SIGIO,
    libc::SIGSYS,
    libc::SIGABRT,
    libc::SIGFPE,
    libc::SIGILL,
];

/// The process group of the on-change command while it runs (0: none): the handler ends it
/// with SIGKILL before the writer exits, since a writer going down cannot wait for it
/// (`ROT-011`).
static COMMAND_GROUP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Registers `pgid`, the on-change command's process group, until the guard drops.
pub fn guard_group(pgid: i32) -> GroupGuard {
    COMMAND_GROUP.store(pgid, Ordering::SeqCst);
    GroupGuard(())
}

/// Clears the registered process group when dropped.
#[must_use]
#[derive(Debug)]
pub struct GroupGuard(());

impl Drop for GroupGuard {
    fn drop(&mut self) {
        COMMAND_GROUP.store(0, Ordering::SeqCst);
    }
}

/// Ends the process for `sig`: `_exit(128 + sig)` for the clean-exit signals, otherwise the
/// signal's own default action. The on-change command's group, if one runs, is killed first.
fn die(sig: c_int) -> ! {
    let group = COMMAND_GROUP.load(Ordering::SeqCst);
    if group > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
    if CLEAN_EXIT_SIGNALS.contains(&sig) {
        // SAFETY: _exit is async-signal-safe and ends every thread.
        unsafe { libc::_exit(exit_status(sig)) }
    }
    // SAFETY: sigaction, pthread_sigmask and raise are async-signal-safe; the structures are
    // local and fully initialised.
    unsafe {
        default_action(sig);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(exit_status(sig))
    }
}

/// Restores the default action of `sig` (async-signal-safe).
fn default_action(sig: c_int) {
    // SAFETY: sigaction is async-signal-safe; the structure is local and zeroed.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
    }
}

extern "C" fn on_signal(sig: c_int) {
    let mut s = STATE.load(Ordering::SeqCst);
    loop {
        match s & PHASE {
            IDLE | ARMED => {
                match STATE.compare_exchange(s, DYING, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => {
                        if s & PHASE == ARMED {
                            // SAFETY: the name was completely written before the state became ARMED.
                            unsafe { libc::unlink(PATH.0.get().cast::<libc::c_char>()) };
                        }
                        die(sig)
                    }
                    Err(now) => s = now,
                }
            }
            BUSY => {
                if !CLEAN_EXIT_SIGNALS.contains(&sig) {
                    // Should the signal come back at once (a fault), it kills the process.
                    default_action(sig);
                }
                if s >> 8 != 0 {
                    return;
                }
                match STATE.compare_exchange(
                    s,
                    s | ((sig as u32) << 8),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => return,
                    Err(now) => s = now,
                }
            }
            _ => park(),
        }
    }
}

/// Waits for the thread that is exiting.
fn park() -> ! {
    loop {
        // SAFETY: pause is async-signal-safe; the exiting thread's _exit ends this one.
        unsafe { libc::pause() };
    }
}

/// Installs the handler for SIGINT, SIGTERM, SIGHUP and [`OTHER_FATAL_SIGNALS`] (with
/// `SA_RESTART`, so no system call of the writer sees `EINTR` because of it). A signal the parent set to be ignored stays
/// ignored, as `nohup` expects.
pub(crate) fn install() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let all = CLEAN_EXIT_SIGNALS.iter().chain(OTHER_FATAL_SIGNALS.iter());
    for sig in all.filter_map(|s| Signal::try_from(*s).ok()) {
        // SAFETY: the handler only does async-signal-safe work (see the module docs).
        let old = unsafe { sigaction(sig, &action) };
        if let Ok(old) = old {
            if old.handler() == SigHandler::SigIgn {
                // SAFETY: restoring the disposition the process was started with.
                let _ = unsafe { sigaction(sig, &old) };
            }
        }
    }
}

/// A name registered before its file is created; say what the `open` did with
/// [`Pending::created`] or [`Pending::failed`].
#[must_use]
#[derive(Debug)]
pub(crate) struct Pending {
    active: bool,
}

/// A temporary file the handler removes if a signal comes; [`Armed::disarm`] once it is
/// renamed or removed.
#[must_use]
#[derive(Debug)]
pub(crate) struct Armed {
    active: bool,
}

/// Registers `path` as the temporary file about to be created. Only one registration exists
/// per process at a time; a second one, from another thread, is not protected (this library
/// writes one file per run).
pub(crate) fn pending(path: &Path) -> Pending {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > PATH_CAP || bytes.contains(&0) {
        return Pending { active: false };
    }
    match STATE.compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {}
        Err(s) if s & PHASE == DYING => park(),
        Err(_) => return Pending { active: false },
    }
    // SAFETY: the state is BUSY, owned by this thread; no handler reads the buffer now.
    unsafe {
        let buf = &mut *PATH.0.get();
        buf[..bytes.len()].copy_from_slice(bytes);
        buf[bytes.len()] = 0;
    }
    Pending { active: true }
}

/// Leaves `BUSY` for `phase`; if a signal came meanwhile, acts on it now.
fn leave_busy(phase: u32) {
    let mut s = STATE.load(Ordering::SeqCst);
    loop {
        let sig = (s >> 8) as c_int;
        if sig != 0 {
            if phase == ARMED {
                // SAFETY: the name is ours and complete.
                unsafe { libc::unlink(PATH.0.get().cast::<libc::c_char>()) };
            }
            STATE.store(DYING, Ordering::SeqCst);
            die(sig)
        }
        match STATE.compare_exchange(s, phase, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return,
            Err(now) => s = now,
        }
    }
}

impl Pending {
    /// The file now exists under the registered name.
    pub(crate) fn created(mut self) -> Armed {
        let active = std::mem::take(&mut self.active);
        if active {
            leave_busy(ARMED);
        }
        Armed { active }
    }

    /// The `open` failed: no file of ours exists under the name.
    pub(crate) fn failed(mut self) {
        if std::mem::take(&mut self.active) {
            leave_busy(IDLE);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.active {
            leave_busy(IDLE);
        }
    }
}

impl Armed {
    /// The file was renamed away or removed: nothing left to clean.
    pub(crate) fn disarm(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if !std::mem::take(&mut self.active) {
            return;
        }
        if STATE
            .compare_exchange(ARMED, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // A handler is removing the file and exiting.
            park();
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.release();
    }
}
