//! `write-canary-env`'s front door: the clap definitions (flags, their environment variables,
//! `--help`) which are the run's [`Settings`]. The binary parses these; the package's
//! man page and completions are generated from them (`examples/package-assets.rs`).
//!
//! Every flag an operator sets in a unit has an environment variable (`CLI-014`), so a
//! systemd `EnvironmentFile=` can hold a whole instance; a flag wins over its variable.
//! Credentials never come from a flag value. Resolving what the environment says beyond
//! clap's `env` (credential variables, `$INFISICAL_DOMAIN`) is [`super::config`]'s.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser};

use super::AuthMethod;
use crate::format::Format;
use crate::http::{self, Seconds, SecondsRange};
use crate::names;

/// The program name, the prefix of every line it prints on stderr.
pub const NAME: &str = "write-canary-env";

/// Render secrets from Infisical into a dotenv file, atomically, with exact modes,
/// never printing a value.
///
/// Credentials come only from files, systemd's credentials or the environment (never from a
/// flag value). Token Auth reads --token-file, else $CREDENTIALS_DIRECTORY/infisical-token
/// (systemd's LoadCredential=), else $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, else
/// $INFISICAL_TOKEN (the official CLI's order). Universal Auth reads
/// $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID (or --client-id) and the client secret from
/// --client-secret-file, else $CREDENTIALS_DIRECTORY/infisical-client-secret, else
/// $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET.
///
/// Every flag an operator sets in a unit can also be given by the environment variable
/// named in [env: …]; a flag wins over its variable. Boolean variables take true or false.
///
/// Exit codes: 0 success, 2 usage or configuration, 3 refused (401/403), 4 not found (404,
/// missing key, empty result), 5 unavailable (after retries), 6 unsafe write, 7 invalid data,
/// 8 the file is written and in place but the --on-change command failed.
// Everything one run needs, as given by flags and environment; checked by
// `Config::try_from`. Parse with `command()`, which adds the flags' variables:
// `Settings::command()` alone has none.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "write-canary-env",
    version,
    about,
    long_about,
    args_override_self = true
)]
pub struct Settings {
    /// Infisical project (workspace) ID.
    #[arg(long, value_name = "ID", env = "INFISICAL_PROJECT_ID")]
    pub project_id: String,

    /// Environment slug, e.g. prod.
    #[arg(long = "env", value_name = "SLUG", env = "INFISICAL_ENVIRONMENT")]
    pub environment: String,

    /// Folder path to read; repeat for several (fetched concurrently).
    #[arg(
        long = "path",
        value_name = "P",
        env = "INFISICAL_SECRET_PATH",
        default_value = "/"
    )]
    pub paths: Vec<String>,

    /// Keep only this key; repeat for several (the variable takes a comma-separated list).
    /// A named key that is missing is exit 4.
    #[arg(
        long = "key",
        value_name = "K",
        env = "WRITE_CANARY_ENV_KEYS",
        value_delimiter = ','
    )]
    pub keys: Vec<String>,

    /// The env file to write.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,

    /// Authentication method.
    #[arg(
        long,
        value_name = "METHOD",
        env = "INFISICAL_AUTH_METHOD",
        default_value_t = AuthMethod::TokenAuth,
        value_parser = names::parser::<AuthMethod>()
    )]
    pub auth: AuthMethod,

    /// File holding the Token Auth access token (must not be readable by others)
    /// [default: $CREDENTIALS_DIRECTORY/infisical-token, else
    /// $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, else $INFISICAL_TOKEN].
    #[arg(long, value_name = "F")]
    pub token_file: Option<PathBuf>,

    /// Universal Auth client ID (an identifier, not a secret).
    #[arg(long, value_name = "ID", env = "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID")]
    pub client_id: Option<String>,

    /// File holding the Universal Auth client secret (must not be readable by others)
    /// [default: $CREDENTIALS_DIRECTORY/infisical-client-secret, else
    /// $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET].
    #[arg(long, value_name = "F")]
    pub client_secret_file: Option<PathBuf>,

    /// Infisical URL, with or without a trailing /api [env: INFISICAL_DOMAIN, then
    /// INFISICAL_API_URL, the official CLI's order] [default: https://app.infisical.com].
    // Its variables are resolved in `config` (`command`).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,

    /// Include secrets imported into the folders (local secrets win).
    #[arg(long)]
    pub include_imports: bool,

    /// Include the secrets of sub-folders.
    #[arg(long)]
    pub recursive: bool,

    /// Exact mode of the file, whatever the umask.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = super::parse_mode)]
    pub output_mode: u32,

    /// Exact mode of every directory created; existing ones are left alone.
    #[arg(long, value_name = "OCTAL", default_value = "0700", value_parser = super::parse_mode)]
    pub parent_mode: u32,

    /// Owner of the file and the directories created (user name or uid) [default: the
    /// running user].
    #[arg(long, value_name = "USER|UID")]
    pub owner: Option<String>,

    /// Group of the file and the directories created (group name or gid) [default: the
    /// system's choice].
    #[arg(long, value_name = "GROUP|GID")]
    pub group: Option<String>,

    /// Allow an --output-mode with "other" bits.
    #[arg(long)]
    pub allow_world_readable: bool,

    /// Write a file even when no secret is found (otherwise exit 4).
    #[arg(long)]
    pub allow_empty: bool,

    /// Allow plain http:// to a host other than loopback (prints a warning).
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Fetch and validate, write nothing; report the keys and whether the file would change.
    // No variable: it changes what a run is (`command`).
    #[arg(long)]
    pub dry_run: bool,

    /// Print a machine-readable JSON report on stdout (never values).
    // No variable: it changes what a run is (`command`).
    #[arg(long)]
    pub json: bool,

    /// Time limit for each request, in seconds (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = super::DEFAULT_TIMEOUT,
          value_parser = |raw: &str| http::parse_timeout(raw, super::MAX_TIMEOUT))]
    pub timeout: Seconds,

    /// Extra PEM CA certificate to trust.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,

    /// Output format: dotenv (portable quoting), docker (`docker run --env-file`, literal),
    /// systemd (`EnvironmentFile=`), shell (`export KEY='…'`) or json (one object). A value the
    /// format cannot carry is exit 7, naming the key and the format.
    #[arg(long, value_name = "FORMAT", default_value = "dotenv",
          value_parser = names::parser::<Format>())]
    pub format: Format,

    /// Longest wait honoured when the server asks for one (Retry-After, or a 429's "try again
    /// in N seconds"); a longer one gives up at once (exit 5). Infisical's rate-limit window
    /// is 60 s.
    #[arg(long, value_name = "SECS", default_value_t = super::DEFAULT_MAX_RETRY_WAIT,
          value_parser = |raw: &str| http::parse_seconds(raw, SecondsRange::from_zero(super::MAX_RETRY_WAIT)))]
    pub max_retry_wait: Seconds,

    /// Also write this run's Prometheus metrics (text format, mode 0644: no secret, no key
    /// name) atomically to FILE on every run, success or failure — e.g. a *.prom file in
    /// node_exporter's textfile directory.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,

    /// A command run after a run put a new file in place (created or changed bytes), or
    /// that an earlier run still owes. Split into words like systemd's ExecStart= (quotes and
    /// backslash escapes; no shell: write `sh -c '…'` for one); its program must exist on
    /// PATH. It gets PB_OUTPUT, PB_CHANGE (created, changed or owed) and PB_KEYS_ADDED,
    /// PB_KEYS_CHANGED, PB_KEYS_REMOVED, never a credential variable; its output is redacted
    /// onto stderr. If it fails, the exit code is 8 and it stays owed for the next run.
    #[arg(long, value_name = "CMD")]
    pub on_change: Option<String>,

    /// How long the --on-change command may run; then its process group gets SIGTERM, and
    /// SIGKILL 5 s later.
    #[arg(long, value_name = "SECS", default_value_t = Seconds(crate::onchange::DEFAULT_TIMEOUT),
          value_parser = |raw: &str| http::parse_timeout(raw, super::MAX_TIMEOUT))]
    pub on_change_timeout: Seconds,
}

/// The command line the [`Settings`] are parsed from (and the man page and completions generated from):
/// every flag has its variable `WRITE_CANARY_ENV_<FLAG>` unless it names an Infisical one,
/// but for `--api-url` (whose variables `config` resolves) and `--dry-run` and `--json`, which
/// change what a run is rather than configure it (`CLI-014`).
pub fn command() -> clap::Command {
    crate::cli::Variables {
        prefix: "WRITE_CANARY_ENV",
        none: &["api_url", "dry_run", "json"],
        shown: &[],
    }
    .apply(Settings::command())
}
