//! `--format shell`: `export KEY='…'` lines to source with `.` in POSIX sh, dash or bash.
//!
//! The rule is POSIX's (XCU 2.2.2, Single-Quotes): inside single quotes every byte is literal
//! up to the next `'`, newlines and `\` included, so a `'` is written `'\''` (close, an escaped
//! quote, reopen) and nothing expands or runs. Checked against Debian's dash 0.5.12 and
//! bash 5.2 with every tricky value, control characters (CR, ESC, DEL, `\x01`, bash's
//! internal quoting bytes) and UTF-8 whose bytes are dash's internal markers (0x81–0x88).
//! A shell variable is a C string: a NUL cannot be carried and is refused.

use super::{Format, Limit, check_limits, push_assignments};
use crate::dotenv::{Header, RenderError, render_header};

/// What a shell variable cannot hold.
const LIMITS: [Limit; 1] = [(
    |_, v| v.contains('\0'),
    "a NUL byte (a shell variable cannot hold it)",
)];

/// Whether sourcing the line gives back exactly `value` for `key`.
pub fn check(key: &str, value: &str) -> Result<(), RenderError> {
    check_limits(Format::Shell, &LIMITS, key, value)
}

/// The single-quoted form: `'` written as `'\''`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// The header comment, then `export KEY='…'` per checked entry.
pub fn render(header: &Header<'_>, entries: &[(&str, &str)]) -> String {
    let mut out = render_header(header);
    push_assignments(&mut out, "export ", entries, quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(id) `x` \\"), "'$(id) `x` \\'");
        assert!(check("K", "\r\u{1b}\u{7f}\n").is_ok());
        assert!(check("K", "a\0").is_err());
    }
}
