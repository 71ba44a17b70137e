//! `--format systemd`: a file for systemd's `EnvironmentFile=`.
//!
//! Read from systemd/systemd `src/basic/env-file.c` (`parse_env_file_internal`, the one
//! tokenizer behind `load_env_file`, which `EnvironmentFile=` uses, and `parse_env_file`, which
//! reads os-release) at commit 0002453b101dc85db2be76703a85297a59c646a9, and checked against
//! Debian's systemd 252:
//!
//! - `#` and `;` at the start of a line open a comment; before systemd v254 a comment line
//!   ending in `\` swallowed the next line, so a header line never ends in `\` here;
//! - inside single quotes every byte is literal until the next `'`, newlines and `\`
//!   included; inside double quotes `\` escapes only `"`, `\`, `` ` `` and `$` (any other
//!   `\x` stays two bytes, `\` + newline is eaten); unquoted values lose trailing white space
//!   and end at `\n` **or `\r`** (both are newlines to systemd);
//! - the tokenizer walks a C string, and the file reader before it (`read_full_stream`,
//!   `src/basic/fileio.c`) refuses a file holding a NUL outright (`Bad message`, seen with
//!   systemd 252): not a single key of such a file is read;
//! - a value that is not UTF-8 fails the file; and `EnvironmentFile=` then drops, by
//!   `env_value_is_valid` (`src/basic/env-util.c`), values with control characters other
//!   than TAB and newline on systemd before v248 (systemd PR #18129 lifted that).
//!
//! So: single quotes when the value has no `'`; otherwise double quotes escaping `"`, `\`,
//! `` ` `` and `$`. Every value is carried except one holding a NUL or another control
//! character than TAB and newline (refused so that the file means the same on every systemd
//! a Debian host runs, old ones included).

use super::{Format, Limit, check_limits, push_assignments};
use crate::dotenv::{Header, RenderError, render_header};

/// What systemd's `EnvironmentFile=` cannot give back (on every systemd a Debian host runs),
/// in the order they are checked.
const LIMITS: [Limit; 3] = [
    (
        |_, v| v.contains('\0'),
        "a NUL byte (systemd refuses a file holding one)",
    ),
    (
        |_, v| v.contains('\r'),
        "a carriage return (systemd before v248 drops the variable)",
    ),
    (
        |_, v| {
            v.chars()
                .any(|c| c.is_ascii_control() && c != '\t' && c != '\n')
        },
        "a control character other than TAB and newline (systemd before v248 drops the variable)",
    ),
];

/// Whether systemd's `EnvironmentFile=` gives back exactly `value` for `key`.
pub fn check(key: &str, value: &str) -> Result<(), RenderError> {
    check_limits(Format::Systemd, &LIMITS, key, value)
}

/// The quoted form of a checked value.
pub fn quote(value: &str) -> String {
    if !value.contains('\'') {
        return format!("'{value}'");
    }
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The header comment (no line ending in `\`), then `KEY=quoted` per checked entry.
pub fn render(header: &Header<'_>, entries: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for line in render_header(header).lines() {
        out.push_str(line);
        if line.ends_with('\\') {
            // before v254 a comment ending in `\` continues on the next line
            out.push(' ');
        }
        out.push('\n');
    }
    push_assignments(&mut out, "", entries, quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a \"b\" $c \\ `d`\n"), "'a \"b\" $c \\ `d`\n'");
        assert_eq!(
            quote("it's $x \\ \"q\" `y`"),
            "\"it's \\$x \\\\ \\\"q\\\" \\`y\\`\""
        );
        assert!(check("K", "tab\tnew\nline").is_ok());
        for bad in ["a\rb", "a\0b", "a\u{1b}b", "a\u{7f}b"] {
            assert!(check("K", bad).is_err(), "{bad:?}");
        }
    }
}
