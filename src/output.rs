//! Writing to stdout and stderr without ever panicking (contract `CLI-008`): a closed stream,
//! a full non-blocking pipe or a reader that went away (`EPIPE`) loses the text, never the
//! exit code — the exit code says what happened to the file, not to the terminal.

use std::io::Write as _;

/// Writes `text` to stdout and flushes it; any error is ignored.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// [`out`] with a newline.
pub fn outln(text: &str) {
    out(&format!("{text}\n"));
}

/// Writes `text` and a newline to stderr; any error is ignored.
pub fn errln(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Writes `text` to stderr; any error is ignored.
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `print!` that never panics: `use provider_bridge::{print, println, eprint, eprintln};` in
/// a binary replaces the standard ones (which panic on `EPIPE`).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::out(&::std::format!($($arg)*)) };
}

/// `println!` that never panics (see [`print!`](crate::print)).
#[macro_export]
macro_rules! println {
    () => { $crate::output::out("\n") };
    ($($arg:tt)*) => { $crate::output::outln(&::std::format!($($arg)*)) };
}

/// `eprint!` that never panics (see [`print!`](crate::print)).
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::output::err(&::std::format!($($arg)*)) };
}

/// `eprintln!` that never panics (see [`print!`](crate::print)).
#[macro_export]
macro_rules! eprintln {
    () => { $crate::output::err("\n") };
    ($($arg:tt)*) => { $crate::output::errln(&::std::format!($($arg)*)) };
}

/// A name the operator gave (a path, a folder, a model), as a report line shows it: kept on
/// its line (`CLI-016`). A control character (below U+0020, and U+007F) is written as `\n`,
/// `\r`, `\t` or `\xNN`; anything else, a backslash too, is as given. Borrowed when there is
/// nothing to escape.
pub fn one_line(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut shown = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                shown.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => shown.push(c),
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// The one way both binaries print a failure: `<binary>: error: <message>` on stderr
/// (`CLI-013`). The message is already value-free.
pub fn error(binary: &str, message: &dyn std::fmt::Display) {
    errln(&format!("{binary}: error: {message}"));
}
