//! The one exit-code table shared by both binaries (contract `CLI-001`).
//!
//! Every error type in the library maps to exactly one of these codes; the binaries only
//! translate the chosen variant into a process exit status.

/// What a process exit status means. The numbers are part of the public contract: never
/// renumber a variant, only add new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// The smoke ran and at least one check failed.
    CheckFailed = 1,
    /// Usage or configuration error: bad flag, bad mode, missing credentials, unsafe
    /// credential file.
    Usage = 2,
    /// The server refused the credentials or the permission (401/403).
    Refused = 3,
    /// Not found: 404, a requested key missing, an empty result.
    NotFound = 4,
    /// Unavailable: timeout, refused connection, TLS failure, 429/5xx after retries.
    Unavailable = 5,
    /// The file could not be written safely: permissions, symlink, chown, rename.
    UnsafeWrite = 6,
    /// Invalid data: malformed or oversized answer, unrepresentable value, bad key name,
    /// hidden value, duplicate key.
    InvalidData = 7,
    /// The file is written and in place; the `--on-change` command failed (it stays owed
    /// for the next run).
    OnChangeFailed = 8,
    /// Ended by SIGHUP (128 + 1). The old file is untouched, or the new one is complete;
    /// no temporary file is left.
    Hangup = 129,
    /// Ended by SIGINT (128 + 2), as above.
    Interrupted = 130,
    /// Ended by SIGTERM (128 + 15), as above.
    Terminated = 143,
}

impl Exit {
    /// Every variant, in numeric order.
    pub const ALL: [Exit; 12] = [
        Exit::Success,
        Exit::CheckFailed,
        Exit::Usage,
        Exit::Refused,
        Exit::NotFound,
        Exit::Unavailable,
        Exit::UnsafeWrite,
        Exit::InvalidData,
        Exit::OnChangeFailed,
        Exit::Hangup,
        Exit::Interrupted,
        Exit::Terminated,
    ];

    /// The numeric process exit status.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The one-line meaning, as printed in `contracts/cli.md` and the README.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::CheckFailed => "the smoke ran and a check failed",
            Exit::Usage => {
                "usage or configuration error (bad flag, bad mode, missing credentials, unsafe credential file)"
            }
            Exit::Refused => "the server refused the credentials or the permission (401/403)",
            Exit::NotFound => "not found (404, a requested key missing, an empty result)",
            Exit::Unavailable => {
                "unavailable (timeout, refused connection, TLS failure, 429/5xx after retries)"
            }
            Exit::UnsafeWrite => {
                "the file could not be written safely (permissions, symlink, chown, rename)"
            }
            Exit::InvalidData => {
                "invalid data (malformed or oversized answer, unrepresentable value, bad key name, hidden value, duplicate key)"
            }
            Exit::OnChangeFailed => {
                "the file is written and in place; the on-change command failed (the reload stays owed)"
            }
            Exit::Hangup => SIGNAL_MEANING_HUP,
            Exit::Interrupted => SIGNAL_MEANING_INT,
            Exit::Terminated => SIGNAL_MEANING_TERM,
        }
    }

    /// The root-cause order used when several failures apply at once: the lowest of
    /// refused / not found / unavailable wins, then a failed check.
    pub fn worst(codes: impl IntoIterator<Item = Exit>) -> Exit {
        let mut codes: Vec<Exit> = codes.into_iter().collect();
        codes.sort();
        codes
            .iter()
            .copied()
            .find(|c| *c != Exit::Success && *c != Exit::CheckFailed)
            .or_else(|| codes.iter().copied().find(|c| *c == Exit::CheckFailed))
            .unwrap_or(Exit::Success)
    }
}

const SIGNAL_MEANING_HUP: &str =
    "ended by SIGHUP: the old file untouched or the new one complete, no temporary file";
const SIGNAL_MEANING_INT: &str =
    "ended by SIGINT: the old file untouched or the new one complete, no temporary file";
const SIGNAL_MEANING_TERM: &str =
    "ended by SIGTERM: the old file untouched or the new one complete, no temporary file";

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_ordered() {
        for (i, exit) in Exit::ALL[..9].iter().enumerate() {
            assert_eq!(exit.code() as usize, i);
        }
        // The signal codes are 128 + the signal's number, as shells report them.
        let signals = [nix::libc::SIGHUP, nix::libc::SIGINT, nix::libc::SIGTERM];
        for (exit, sig) in Exit::ALL[9..].iter().zip(signals) {
            assert_eq!(i32::from(exit.code()), crate::signals::exit_status(sig));
        }
        assert!(Exit::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn worst_prefers_root_cause() {
        assert_eq!(Exit::worst([]), Exit::Success);
        assert_eq!(
            Exit::worst([Exit::Success, Exit::CheckFailed]),
            Exit::CheckFailed
        );
        assert_eq!(
            Exit::worst([Exit::CheckFailed, Exit::Unavailable, Exit::NotFound]),
            Exit::NotFound
        );
        assert_eq!(
            Exit::worst([Exit::Unavailable, Exit::Refused]),
            Exit::Refused
        );
    }
}
