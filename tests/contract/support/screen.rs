//! The operator's screen of one run, compared whole.
//!
//! A test states the exit code, stdout and stderr a person on a deploy runner reads, as one
//! text in which only the parts that change from run to run are placeholders:
//!
//! | placeholder | stands for |
//! |---|---|
//! | `[TMP]` | the test's temporary directory |
//! | `[PORT]` | a stand-in's loopback port |
//! | `[MS]` | a latency in milliseconds |
//! | `[UID]`, `[GID]` | the test's own user and group numbers as a write report's owner |
//!
//! Everything else must match to the byte ([snapbox] compares; `[..]` is not used). The
//! expected screens are files in `tests/contract/screens/`: a changed message is a reviewed
//! diff of one of them; `SNAPSHOTS=overwrite cargo test` rewrites them in place for review.

use std::path::{Path, PathBuf};

use snapbox::{Assert, Data, Redactions};

use super::cli::Run;

/// The screen as one text: the exit code, then stdout and stderr under their own headings.
pub fn text(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code
            .map_or("killed by a signal".to_owned(), |c| c.to_string()),
        run.stdout,
        run.stderr
    )
}

/// The placeholders of the module doc, `[TMP]` standing for `tmp` when given.
pub fn redactions(tmp: Option<&Path>) -> Redactions {
    let mut r = Redactions::new();
    if let Some(tmp) = tmp {
        r.insert("[TMP]", tmp.display().to_string())
            .expect("placeholder");
    }
    let re = |s: &str| regex::Regex::new(s).expect("redaction pattern");
    r.insert("[PORT]", re(r"127\.0\.0\.1:(?<redacted>\d+)"))
        .expect("placeholder");
    r.insert(
        "[MS]",
        re(r"(?:latency_ms=|ttft_ms=|_ms\x22:)(?<redacted>\d+)"),
    )
    .expect("placeholder");
    // Only the test's own numbers: an owner the run got wrong stays in the text and fails.
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    r.insert("[UID]", re(&format!(r"owner (?<redacted>{uid}):")))
        .expect("placeholder");
    r.insert("[GID]", re(&format!(r"owner [^:\s]+:(?<redacted>{gid})\)")))
        .expect("placeholder");
    r
}

/// Where the expected screen `name` lives: `tests/contract/screens/<name>.txt`.
pub fn screen_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/contract/screens")
        .join(format!("{name}.txt"))
}

/// Fails unless the run's whole screen is the expected screen `name` (placeholders as in the
/// module doc), and unless no registered secret appears in it, in any encoding.
#[track_caller]
pub fn assert_screen(run: &Run, tmp: Option<&Path>, name: &str) {
    run.no_leak();
    Assert::new()
        .action_env("SNAPSHOTS")
        .redact_with(redactions(tmp))
        .eq(text(run), Data::read_from(&screen_file(name), None));
}
