//! Secrets: `secrecy` wrappers, reading a credential from the environment or a file, and the
//! redactor that removes every known secret — and every encoding of it — from text before
//! that text may reach a terminal.
//!
//! Knows nothing of HTTP or of the files we write.

use std::borrow::Cow;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
pub use secrecy::{ExposeSecret, SecretString};

/// A secret value read from a server answer, held where it was read: borrowed from the answer's
/// body when the JSON held it unescaped, else unescaped into a buffer of its own. No copy is
/// made to hold it: the one copy of a value is the one rendered into the file. Nothing here
/// wipes it, because the allocator does, once: the unescaped buffer is wiped when freed, and
/// the body it borrows from is freed whole at the end of the run — a large one is a mapping of
/// its own, given back to the kernel (which zeroes it), a small one is wiped
/// ([`crate::hardening`]; SEC-004 and SEC-041 scan the process's memory for what is left).
/// Its `Debug` shows nothing of it; [`ExposeSecret`] reads it.
pub struct SecretText<'a>(Cow<'a, str>);

impl<'a> SecretText<'a> {
    pub fn new(value: Cow<'a, str>) -> Self {
        Self(value)
    }
}

impl ExposeSecret<str> for SecretText<'_> {
    fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

/// What replaces a secret in redacted text.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Forms shorter than this are not searched for: a two-character line of a PEM block is not a
/// secret, and masking it everywhere would garble every message.
pub(crate) const MIN_FORM_LEN: usize = 4;

/// Every form in which `value` may show up in text, longest first, without duplicates.
///
/// The forms follow the GitHub Actions runner's value encoders: the raw value; each non-empty
/// line of a multi-line value; base64 (standard and URL-safe) of the value and of the value with
/// its first one and two bytes dropped, cut to the part that does not depend on what follows;
/// JSON string escape; URL (percent) encoding; XML escape; shell single-quote escape.
pub fn encodings(value: &str) -> Vec<String> {
    let mut forms: Vec<String> = Vec::new();
    forms.push(value.to_owned());
    if value.contains('\n') || value.contains('\r') {
        forms.extend(
            value
                .split(['\n', '\r'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    let bytes = value.as_bytes();
    for skip in 0..=2usize.min(bytes.len()) {
        let tail = &bytes[skip..];
        for engine in [&STANDARD, &URL_SAFE] {
            forms.push(stable_base64(engine, tail));
        }
    }
    let json = serde_json::to_string(value).expect("a str always serializes");
    forms.push(json[1..json.len() - 1].to_owned());
    forms.push(percent_encode(value));
    forms.push(xml_escape(value, "&apos;"));
    forms.push(xml_escape(value, "&#39;"));
    forms.push(value.replace('\'', r"'\''"));
    forms.push(value.replace('"', "\\\""));

    forms.retain(|f| f.chars().count() >= MIN_FORM_LEN);
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms
}

/// The prefix of the base64 of `bytes` that stays the same whatever bytes follow them.
fn stable_base64(engine: &base64::engine::GeneralPurpose, bytes: &[u8]) -> String {
    let encoded = engine.encode(bytes);
    let stable = bytes.len() / 3 * 4 + bytes.len() % 3;
    encoded[..stable].to_owned()
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The one XML escaper: `&`, `<`, `>`, `"` and `'` (as `apos`: `&apos;` or `&#39;`, the two
/// forms encoders use) become entities; everything else is kept as is.
pub(crate) fn xml_escape(value: &str, apos: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apos),
            c => out.push(c),
        }
    }
    out
}

/// Removes every known secret, in every form of [`encodings`], from text.
///
/// Registering is cheap (a secret is only stored); the forms are built once, on the first
/// redaction — usually never, since only error paths quote server words. A run that fetches
/// ten thousand values does not pay for their encodings.
#[derive(Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    /// All forms of all secrets, longest first so that a longer form wins over its parts;
    /// built from `secrets` on first use, reset when a secret is added.
    needles: std::sync::OnceLock<Vec<String>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret; every later [`Redactor::redact`] removes it.
    pub fn add(&mut self, secret: &SecretString) {
        self.add_str(secret.expose_secret());
    }

    /// Registers a secret held as plain text (a value read from a server answer).
    pub fn add_str(&mut self, secret: &str) {
        if secret.trim().is_empty() {
            return;
        }
        self.secrets.push(secret.to_owned());
        self.needles = std::sync::OnceLock::new();
    }

    fn needles(&self) -> &[String] {
        self.needles.get_or_init(|| {
            let mut needles: Vec<String> = self.secrets.iter().flat_map(|s| encodings(s)).collect();
            needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            needles.dedup();
            needles
        })
    }

    /// `text` with every form of every registered secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in self.needles() {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out
    }

    /// A server body fit to quote in an error message: redacted first, then cut to at most
    /// `cap` characters (cutting first could leave the head of a secret behind), with control
    /// characters shown escaped so a body cannot rewrite the terminal.
    pub fn quote(&self, body: &str, cap: usize) -> String {
        let redacted = self.redact(body);
        let mut out = String::new();
        for (count, c) in redacted.chars().enumerate() {
            if count >= cap {
                out.push('…');
                break;
            }
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Why a credential could not be read. Messages name the variable or the file, never a value.
#[derive(Debug)]
pub enum CredentialError {
    /// Neither the variable nor a file was given.
    Missing { what: String },
    /// The file could not be read.
    Unreadable { path: PathBuf, reason: String },
    /// The file can be read by users other than its owner and group.
    WorldReadable { path: PathBuf, mode: u32 },
    /// The file or variable holds nothing but whitespace.
    Empty { source: String },
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::Missing { what } => write!(f, "missing credential: {what}"),
            CredentialError::Unreadable { path, reason } => {
                write!(
                    f,
                    "cannot read credential file {}: {reason}",
                    path.display()
                )
            }
            CredentialError::WorldReadable { path, mode } => write!(
                f,
                "refusing credential file {}: mode {:04o} lets other users read it (chmod o-rwx)",
                path.display(),
                mode
            ),
            CredentialError::Empty { source } => write!(f, "credential from {source} is empty"),
        }
    }
}

impl std::error::Error for CredentialError {}

/// Reads a credential file: refused when others may read it (`o+r`), surrounding whitespace
/// trimmed, empty refused. The check is made on the opened descriptor, so the file checked is
/// the file read.
pub(crate) fn read_credential_file(path: &Path) -> Result<SecretString, CredentialError> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| CredentialError::Unreadable {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mode = file.metadata().map_err(unreadable)?.mode() & 0o7777;
    if mode & 0o004 != 0 {
        return Err(CredentialError::WorldReadable {
            path: path.to_owned(),
            mode,
        });
    }
    let mut raw = String::new();
    file.read_to_string(&mut raw).map_err(unreadable)?;
    let secret = SecretString::from(raw.trim().to_owned());
    // Zeroize the untrimmed copy as soon as possible.
    drop(SecretString::from(raw));
    if secret.expose_secret().is_empty() {
        return Err(CredentialError::Empty {
            source: path.display().to_string(),
        });
    }
    Ok(secret)
}

/// Reads a credential from an environment variable; `None` when unset. Surrounding whitespace
/// is trimmed; a set but blank variable is an error naming the variable.
pub(crate) fn credential_from_env(var: &str) -> Result<Option<SecretString>, CredentialError> {
    match std::env::var(var) {
        Ok(v) => {
            let trimmed = SecretString::from(v.trim().to_owned());
            drop(SecretString::from(v));
            if trimmed.expose_secret().is_empty() {
                Err(CredentialError::Empty {
                    source: format!("${var}"),
                })
            } else {
                Ok(Some(trimmed))
            }
        }
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_form_and_keeps_the_rest() {
        let mut r = Redactor::new();
        r.add_str("tok-12345678");
        let text = format!("a tok-12345678 b {} c", STANDARD.encode("tok-12345678"));
        assert_eq!(r.redact(&text), "a [REDACTED] b [REDACTED] c");
    }

    #[test]
    fn quote_redacts_before_capping() {
        let mut r = Redactor::new();
        r.add_str("abcdefghijkl");
        let q = r.quote("xx abcdefghijkl yy", 5);
        assert_eq!(q, "xx [R…");
        assert!(!q.contains("abcd"));
    }

    #[test]
    fn stable_base64_ignores_following_bytes() {
        for tail in ["", "x", "xy", "xyz"] {
            let s = stable_base64(&STANDARD, b"abcd");
            assert!(STANDARD.encode(format!("abcd{tail}")).starts_with(&s));
        }
    }
}
