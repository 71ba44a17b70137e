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

/// What one walk over a value finds: every character the portable rule asks about.
#[derive(Default)]
struct Seen {
    cr: bool,
    nul: bool,
    single_quote: bool,
    backslash: bool,
    double_quote: bool,
    dollar: bool,
    dollar_brace: bool,
    backtick: bool,
}

impl Seen {
    /// What `value` holds. Most values hold none of the seven sought bytes: three vectorised
    /// `memchr` scans tell so (all the sought characters are ASCII, so a byte never matches
    /// inside a multi-byte character); only a value holding one is walked byte by byte.
    fn of(value: &str) -> Seen {
        let mut seen = Seen::default();
        let bytes = value.as_bytes();
        if memchr::memchr3(b'\r', b'\0', b'\'', bytes).is_none()
            && memchr::memchr3(b'\\', b'"', b'`', bytes).is_none()
            && memchr::memchr(b'$', bytes).is_none()
        {
            return seen;
        }
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'\r' => seen.cr = true,
                b'\0' => seen.nul = true,
                b'\'' => seen.single_quote = true,
                b'\\' => seen.backslash = true,
                b'"' => seen.double_quote = true,
                b'`' => seen.backtick = true,
                b'$' => {
                    seen.dollar = true;
                    if bytes.get(i + 1) == Some(&b'{') {
                        seen.dollar_brace = true;
                    }
                }
                _ => {}
            }
        }
        seen
    }
}

/// Appends the quoted form of one value (what follows `KEY=`) to `out`, by the portable rule:
/// single quotes when the value has no `'`, `\`, `${` or CR; otherwise double quotes escaping
/// only `\` and `"` when it has no `$`, `` ` `` or CR; otherwise an error (and nothing
/// appended). The value is walked once to classify it and copied once into `out`.
fn push_quoted(out: &mut String, key: &str, value: &str) -> Result<(), RenderError> {
    let refuse = |why| {
        Err(RenderError::Unrepresentable {
            key: key.to_owned(),
            why,
        })
    };
    let seen = Seen::of(value);
    if seen.cr {
        return refuse("a carriage return");
    }
    if seen.nul {
        return refuse("a NUL byte");
    }
    if !seen.single_quote && !seen.backslash && !seen.dollar_brace {
        out.push('\'');
        out.push_str(value);
        out.push('\'');
        return Ok(());
    }
    if seen.dollar || seen.backtick {
        return refuse(if seen.dollar_brace {
            "`${` (python-dotenv would interpolate it)"
        } else {
            "a quote or backslash together with `$` or a backtick"
        });
    }
    out.push('"');
    if !seen.backslash && !seen.double_quote {
        out.push_str(value);
    } else {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    Ok(())
}

/// Appends one `KEY=value` line (with its newline) to `out`, key checked, value quoted; on an
/// error `out` is left as it was.
fn push_line(out: &mut String, key: &str, value: &str) -> Result<(), RenderError> {
    if !valid_key(key) {
        return Err(RenderError::BadKey {
            key: key.to_owned(),
        });
    }
    let start = out.len();
    out.push_str(key);
    out.push('=');
    if let Err(e) = push_quoted(out, key, value) {
        out.truncate(start);
        return Err(e);
    }
    out.push('\n');
    Ok(())
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
    // Each line is appended in place: no line is built apart and copied again.
    for (key, value) in entries {
        if let Err(e) = push_line(&mut out, key, value) {
            errors.push(e);
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

    /// The quoted form of one value, as `render` appends it.
    fn quote_value(key: &str, value: &str) -> Result<String, RenderError> {
        let mut out = String::new();
        push_quoted(&mut out, key, value)?;
        Ok(out)
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
