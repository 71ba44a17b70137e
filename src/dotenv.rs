//! Dotenv rendering by the portable rule of `docs/dotenv-peers.md`: a file that
//! docker compose, systemd, python-dotenv, bash and dotenvy all read back unchanged.
//!
//! Pure functions, no I/O. Errors name the key and the reason, never the value.

use std::fmt;

/// Whether `key` matches `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why a key or value cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The key is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadKey { key: String },
    /// No quoting carries this value portably; `why` names the offending characters.
    Unrepresentable { key: String, why: &'static str },
    /// The `--format` named cannot carry this value (`crate::format`); `why` names the
    /// offending characters.
    NotCarried {
        key: String,
        format: &'static str,
        why: &'static str,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::BadKey { key } => write!(
                f,
                "key {:?} is not a valid env name ([A-Za-z_][A-Za-z0-9_]*)",
                key.escape_debug().to_string()
            ),
            RenderError::Unrepresentable { key, why } => write!(
                f,
                "the value of {key} cannot be written portably in a dotenv file: it contains {why}"
            ),
            RenderError::NotCarried { key, format, why } => write!(
                f,
                "the value of {key} cannot be written in the {format} format: it contains {why}"
            ),
        }
    }
}

impl std::error::Error for RenderError {}

/// The quoted form of one value (what follows `KEY=`), by the portable rule:
/// single quotes when the value has no `'`, `\`, `${` or CR; otherwise double quotes escaping
/// only `\` and `"` when it has no `$`, `` ` `` or CR; otherwise an error.
pub(crate) fn quote_value(key: &str, value: &str) -> Result<String, RenderError> {
    let refuse = |why| {
        Err(RenderError::Unrepresentable {
            key: key.to_owned(),
            why,
        })
    };
    if value.contains('\r') {
        return refuse("a carriage return");
    }
    if value.contains('\0') {
        return refuse("a NUL byte");
    }
    if !value.contains('\'') && !value.contains('\\') && !value.contains("${") {
        return Ok(format!("'{value}'"));
    }
    if value.contains('$') || value.contains('`') {
        return refuse(if value.contains("${") {
            "`${` (python-dotenv would interpolate it)"
        } else {
            "a quote or backslash together with `$` or a backtick"
        });
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// One `KEY=value` line (with its newline), key checked, value quoted.
pub(crate) fn render_line(key: &str, value: &str) -> Result<String, RenderError> {
    if !valid_key(key) {
        return Err(RenderError::BadKey {
            key: key.to_owned(),
        });
    }
    Ok(format!("{key}={}\n", quote_value(key, value)?))
}

/// What the header comment names. Nothing here is secret; nothing here changes between two
/// runs with the same input (no timestamp), so the same input gives byte-identical files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub project_id: &'a str,
    pub environment: &'a str,
    pub paths: &'a [String],
}

/// The first header line, newline included.
pub(crate) const HEADER_TITLE: &str =
    "# Written by write-canary-env from Infisical. Do not edit: the next deploy rewrites it.\n";
/// What starts the header line naming the project.
pub(crate) const HEADER_PROJECT: &str = "# project: ";
/// What starts the header line naming the environment.
pub(crate) const HEADER_ENVIRONMENT: &str = "# environment: ";
/// What starts the header line naming the paths (joined by one space).
pub(crate) const HEADER_PATHS: &str = "# paths: ";

/// The header comment lines.
pub fn render_header(h: &Header<'_>) -> String {
    format!(
        "{HEADER_TITLE}{HEADER_PROJECT}{}\n{HEADER_ENVIRONMENT}{}\n{HEADER_PATHS}{}\n",
        h.project_id,
        h.environment,
        h.paths.join(" ")
    )
}

/// The whole file: the header, then one line per key in byte order of the keys. Every key is
/// checked (all errors are returned, in key order) so one run names every bad key at once.
pub fn render<'v, I>(header: &Header<'_>, entries: I) -> Result<String, Vec<RenderError>>
where
    I: IntoIterator<Item = (&'v str, &'v str)>,
{
    let mut entries: Vec<(&str, &str)> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = render_header(header);
    // One allocation for the whole file (quotes, `=` and the newline are 4 bytes a line; a
    // value that needs escapes may still grow it once): with the wiping allocator every
    // regrowth would copy and wipe the file so far.
    out.reserve(entries.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
    let mut errors = Vec::new();
    for (key, value) in entries {
        match render_line(key, value) {
            Ok(line) => out.push_str(&line),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["A", "_", "a_1", "OLLAMA_CLOUD_API_KEY"] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "A.B", "É", "A="] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_value("K", "a b#c=d").unwrap(), "'a b#c=d'");
        assert_eq!(quote_value("K", "$HOME").unwrap(), "'$HOME'");
        assert_eq!(
            quote_value("K", r#"it's "x" \ y"#).unwrap(),
            r#""it's \"x\" \\ y""#
        );
        assert!(quote_value("K", "a${B}").is_err());
        assert!(quote_value("K", "it's $x").is_err());
        assert!(quote_value("K", "a\rb").is_err());
    }
}
