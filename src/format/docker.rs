//! `--format docker`: `KEY=value` lines for `docker run --env-file` / `docker create --env-file`.
//!
//! Read from docker/cli `pkg/kvfile/kvfile.go` at commit
//! 3d41bbacb04b2fcfd4b4504323a46cc8da5b7681 (the v28 line; `opts/envfile.go`'s
//! `ParseEnvFile` calls `kvfile.Parse`), and checked against the docker CLI 28.2.2:
//!
//! - the file is split by `bufio.Scanner` with `ScanLines`: a line ends at `\n`, one `\r`
//!   right before it is dropped, and a line longer than `bufio.MaxScanTokenSize` (64 KiB,
//!   newline included) fails the whole file (`token too long`);
//! - each line is checked to be UTF-8, then loses its leading white space; an empty line or
//!   one starting with `#` is skipped (so a header comment is fine; a `#` *inside* a value is
//!   not a comment);
//! - the rest of the line after the first `=` is the value, **taken literally**: no quotes, no
//!   escapes, no interpolation, leading and trailing spaces kept.
//!
//! So a value is carried exactly when it has no newline, does not end with a carriage return
//! and fits, with its key and `=`, in 65,535 bytes. A NUL passes the CLI but no process
//! environment can hold it (`execve` takes C strings): refused too.

use super::{Format, Limit, check_limits, push_assignments};
use crate::dotenv::{Header, RenderError, render_header};

/// The longest `KEY=value` line docker reads (its scanner's 64 KiB buffer holds the newline).
pub const MAX_LINE: usize = 64 * 1024 - 1;

/// What docker's env-file reader cannot give back, in the order they are checked.
const LIMITS: [Limit; 4] = [
    (
        |_, v| v.contains('\n'),
        "a newline (docker reads one line per variable)",
    ),
    (
        |_, v| v.ends_with('\r'),
        "a carriage return at its end (docker drops it)",
    ),
    (
        |_, v| v.contains('\0'),
        "a NUL byte (no process environment carries it)",
    ),
    (
        |k, v| k.len() + 1 + v.len() > MAX_LINE,
        "more than docker's line limit (65535 bytes for KEY=value)",
    ),
];

/// Whether docker's env-file reader gives back exactly `value` for `key`.
pub fn check(key: &str, value: &str) -> Result<(), RenderError> {
    check_limits(Format::Docker, &LIMITS, key, value)
}

/// The header comment, then `KEY=value` per checked entry (already sorted).
pub fn render(header: &Header<'_>, entries: &[(&str, &str)]) -> String {
    let mut out = render_header(header);
    push_assignments(&mut out, "", entries, str::to_owned);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values() {
        assert!(check("K", " 'q' \"d\" #x =y ${Z} \\ \t ").is_ok());
        assert!(check("K", "a\rb").is_ok());
        assert!(check("K", "a\nb").is_err());
        assert!(check("K", "ab\r").is_err());
        assert!(check("K", "a\0b").is_err());
        assert!(check("K", &"x".repeat(MAX_LINE - 2)).is_ok());
        assert!(check("K", &"x".repeat(MAX_LINE - 1)).is_err());
    }
}
