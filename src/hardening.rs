//! What both binaries do first (contracts `SEC-017`, `SEC-018`, `CLI-006`, `FILE-018`): no
//! core dump can hold a token or a value, standard streams that were closed cannot be
//! confused with a file or a socket, a file-size limit is an error rather than a kill, and
//! SIGINT/SIGTERM/SIGHUP remove the temporary file before the process exits.

use nix::libc;

/// Hardens the process. Call it first thing in `main`, before any thread is started or any
/// secret is read. Each step is best effort: none can fail in a way that makes the run less
/// safe than without it.
pub fn harden() {
    standard_streams_open();
    no_core_dumps();
    // With RLIMIT_FSIZE exceeded the kernel sends SIGXFSZ, whose default kills the process
    // (and would leave the temporary file); ignored, the write fails with EFBIG instead and
    // the writer cleans up.
    // SAFETY: setting a disposition to SIG_IGN runs no code of ours.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGXFSZ,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    crate::signals::install();
}

/// RLIMIT_CORE 0 (soft and hard: a child cannot raise it back) and `PR_SET_DUMPABLE` 0, as
/// ssh-agent does: no core file, no `gcore` or `ptrace` attach by the same user, and
/// `/proc/<pid>/` files (environ, mem) owned by root.
pub fn no_core_dumps() {
    use nix::sys::resource::{Resource, setrlimit};
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let _ = nix::sys::prctl::set_dumpable(false);
}

/// Opens `/dev/null` on each of fds 0, 1 and 2 that is closed (`>&-`), as OpenSSH does: the
/// first file or socket the process opens would otherwise become its stdout, and a report
/// would be written into it.
pub fn standard_streams_open() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only queries the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: open returns the lowest free descriptor, which is `fd`: every lower one
            // is open (checked in order).
            let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if got != fd && got >= 0 {
                // SAFETY: `got` is a descriptor we just opened.
                unsafe { libc::close(got) };
            }
        }
    }
}
