//! The output formats of `write-canary-env` (`--format`), one module each, every one a pure
//! function with its own representability rule (`contracts/env-format.md`, FMT-010 on). Each
//! rule was decided from the source of the program that reads the file; the module names the
//! file and the commit it was read at.
//!
//! A value a format cannot carry is refused by key and format, never by value
//! ([`RenderError::NotCarried`]); every key of every format is an env name
//! ([`crate::dotenv::valid_key`]).
//!
//! [`read_back`] is the inverse: whether the file on disk is one we wrote in a format, its
//! entries, and the [`KeyDiff`] a new render makes to them.

pub mod docker;
pub mod json;
pub mod read_back;
pub mod shell;
pub mod systemd;

pub use read_back::{KeyDiff, ReadBack, read_back};

use crate::dotenv::{self, Header, RenderError};

/// What `--format` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The portable dotenv rule of [`crate::dotenv`] (the default, unchanged).
    #[default]
    Dotenv,
    /// `KEY=value` taken literally by `docker run --env-file`.
    Docker,
    /// What systemd's `EnvironmentFile=` reads back byte for byte.
    Systemd,
    /// `export KEY='…'`, to be sourced by POSIX sh, dash or bash.
    Shell,
    /// One JSON object, keys sorted.
    Json,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Dotenv,
        Format::Docker,
        Format::Systemd,
        Format::Shell,
        Format::Json,
    ];

    /// The name used on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Dotenv => "dotenv",
            Format::Docker => "docker",
            Format::Systemd => "systemd",
            Format::Shell => "shell",
            Format::Json => "json",
        }
    }
}

crate::names::named!(Format);

/// A value refused by `format` for the reason `why` (which names characters, never the value).
pub(crate) fn refuse(key: &str, format: Format, why: &'static str) -> RenderError {
    RenderError::NotCarried {
        key: key.to_owned(),
        format: format.as_str(),
        why,
    }
}

/// A value a format cannot carry: the test (on the key and the value) and the reason a refusal
/// names ([`refuse`]).
pub(crate) type Limit = (fn(&str, &str) -> bool, &'static str);

/// Whether `format`'s reader gives back exactly `value` for `key`: refused by the first of its
/// `limits` the entry breaks.
pub(crate) fn check_limits(
    format: Format,
    limits: &[Limit],
    key: &str,
    value: &str,
) -> Result<(), RenderError> {
    match limits.iter().find(|(breaks, _)| breaks(key, value)) {
        Some(&(_, why)) => Err(refuse(key, format, why)),
        None => Ok(()),
    }
}

/// Appends one `{prefix}KEY=quoted` line per entry, `quote` being the format's rule (docker:
/// the value as is; systemd: its quoting; shell: `export ` and its quoting).
pub(crate) fn push_assignments(
    out: &mut String,
    prefix: &str,
    entries: &[(&str, &str)],
    quote: impl Fn(&str) -> String,
) {
    for (key, value) in entries {
        out.push_str(prefix);
        out.push_str(key);
        out.push('=');
        out.push_str(&quote(value));
        out.push('\n');
    }
}

/// Renders the whole file in `format`: every key checked and every value checked by the
/// format's rule; all errors are returned, in key order, so one run names every bad key.
pub fn render<'v, I>(
    format: Format,
    header: &Header<'_>,
    entries: I,
) -> Result<String, Vec<RenderError>>
where
    I: IntoIterator<Item = (&'v str, &'v str)>,
{
    if format == Format::Dotenv {
        return dotenv::render(header, entries);
    }
    let mut entries: Vec<(&str, &str)> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut errors = Vec::new();
    let mut good: Vec<(&str, &str)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !dotenv::valid_key(key) {
            errors.push(RenderError::BadKey {
                key: key.to_owned(),
            });
            continue;
        }
        let checked = match format {
            Format::Docker => docker::check(key, value),
            Format::Systemd => systemd::check(key, value),
            Format::Shell => shell::check(key, value),
            Format::Json => json::check(key, value),
            Format::Dotenv => unreachable!("handled above"),
        };
        match checked {
            Ok(()) => good.push((key, value)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(match format {
        Format::Docker => docker::render(header, &good),
        Format::Systemd => systemd::render(header, &good),
        Format::Shell => shell::render(header, &good),
        Format::Json => json::render(&good),
        Format::Dotenv => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Named;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.as_str()), Some(f));
        }
        assert_eq!(Format::from_name("yaml"), None);
        assert_eq!(Format::default(), Format::Dotenv);
    }
}
