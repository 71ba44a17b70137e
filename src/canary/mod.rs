//! The `write-canary-env` road: settings → [`Config`] (validation, credentials) → [`run`]
//! (Infisical → choose → dotenv render → secure write) → [`Report`]. One error enum; each
//! variant knows its exit code, and every message names keys, paths and statuses, never a
//! value.
//!
//! - [`cli`]: the clap definitions, which are the settings: the front door of the binary and
//!   its man page;
//! - [`config`]: the settings' validation (modes, owner and group, paths, keys) and the
//!   credentials;
//! - [`run`](mod@run): fetching every path, the choice rules, the write;
//! - [`report`]: the text and JSON reports of a run and of a failure.

pub mod cli;
pub mod config;
pub mod report;
pub mod run;

use std::fmt;

use crate::dotenv::RenderError;
use crate::envfile::FileError;
use crate::exit::Exit;
use crate::http::SetupError;
use crate::secret::CredentialError;

pub use cli::Settings;
pub use config::{
    AuthMethod, Config, DEFAULT_API_URL, DEFAULT_MAX_RETRY_WAIT, DEFAULT_TIMEOUT, ENV_ACCESS_TOKEN,
    ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_TOKEN, MAX_RETRY_WAIT, MAX_TIMEOUT, parse_mode,
};
pub use report::{Report, error_json};
pub use run::run;

/// The road's error: each variant knows its exit code.
#[derive(Debug)]
pub enum Error {
    /// A bad flag combination or value found before any request (exit 2).
    Config(String),
    /// A credential could not be read, or is missing, or its file is unsafe (exit 2).
    Credential(CredentialError),
    /// The URL or the HTTP client could not be set up (exit 2).
    Setup(SetupError),
    /// The server said no, or could not be reached; the message is already redacted.
    Fetch { exit: Exit, message: String },
    /// The same key comes from two folders (exit 7).
    DuplicateKey {
        key: String,
        first: String,
        second: String,
    },
    /// Keys asked for with `--key` that no path holds (exit 4).
    MissingKeys(Vec<String>),
    /// Nothing to write and `--allow-empty` not given (exit 4).
    Empty {
        paths: Vec<String>,
        environment: String,
    },
    /// The identity may list but not read these values (exit 7).
    Hidden(Vec<String>),
    /// Values still holding a secret reference after the server's expansion (exit 7).
    Unresolved(Vec<String>),
    /// Keys or values that cannot be written (exit 7).
    Render(Vec<RenderError>),
    /// The file could not be written safely (exit 6).
    Write(FileError),
    /// The async runtime could not start (exit 5, as in both binaries: `CLI-015`).
    Runtime(std::io::Error),
    /// The file is written and in place, but the on-change command failed (exit 8); the
    /// report of the write comes along.
    OnChange {
        program: String,
        failure: crate::onchange::Failure,
        report: Box<Report>,
    },
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) | Error::Credential(_) | Error::Setup(_) => Exit::Usage,
            Error::Fetch { exit, .. } => *exit,
            Error::MissingKeys(_) | Error::Empty { .. } => Exit::NotFound,
            Error::DuplicateKey { .. }
            | Error::Hidden(_)
            | Error::Unresolved(_)
            | Error::Render(_) => Exit::InvalidData,
            Error::Write(_) => Exit::UnsafeWrite,
            Error::Runtime(_) => Exit::Unavailable,
            Error::OnChange { .. } => Exit::OnChangeFailed,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => f.write_str(m),
            Error::Credential(e) => write!(f, "{e}"),
            Error::Setup(e) => write!(f, "{e}"),
            Error::Fetch { message, .. } => f.write_str(message),
            Error::DuplicateKey { key, first, second } => write!(
                f,
                "key {key} comes from two folders, {first} and {second}: refusing to pick one (fetch them into separate files, or remove one)"
            ),
            Error::MissingKeys(keys) => write!(
                f,
                "key{} not found in any path: {}",
                if keys.len() == 1 { "" } else { "s" },
                keys.join(", ")
            ),
            Error::Empty { paths, environment } => write!(
                f,
                "no secrets found at {} in environment {}: either no such folder (an older server answers a missing folder with an empty list: check --path and --env) or the identity may not see the secrets there (a server silently drops what an identity may not describe: check its permissions on that path and environment); pass --allow-empty if an empty file is intended",
                paths.join(", "),
                environment
            ),
            Error::Hidden(keys) => write!(
                f,
                "the identity may not read the value of {} (secretValueHidden): grant it read access to secret values",
                keys.join(", ")
            ),
            Error::Unresolved(keys) => write!(
                f,
                "unresolved secret reference in {}: the value still holds a ${{...}} reference after the server's expansion (the secret it names does not exist, or is empty): fix or remove the reference in Infisical",
                keys.join(", ")
            ),
            Error::Render(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
            Error::Write(e) => write!(f, "{e}"),
            Error::OnChange {
                program,
                failure,
                report,
            } => write!(
                f,
                "the on-change command {program} {failure}; {} is written and in place, and the reload stays owed for the next run",
                report.path.display()
            ),
            Error::Runtime(e) => write!(
                f,
                "cannot start the async runtime: {}",
                crate::envfile::describe_io(e)
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<CredentialError> for Error {
    fn from(e: CredentialError) -> Self {
        Error::Credential(e)
    }
}

impl From<SetupError> for Error {
    fn from(e: SetupError) -> Self {
        Error::Setup(e)
    }
}
