//! `write-canary-env`: render secrets from Infisical into a dotenv file with exact modes.
//! Thin, and the same shape as `ollama-compat-smoke`: parse the arguments, check them into a
//! [`Config`], print its warnings, start one runtime, [`canary::run`], render, exit.

#[allow(unused_imports)] // never panic on EPIPE: these replace the standard print macros
use provider_bridge::{eprint, eprintln, print, println};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use provider_bridge::canary::{self, AuthMethod, Config, Settings};
use provider_bridge::exit::Exit;
use provider_bridge::format::Format;
use provider_bridge::http::{self, Seconds};

/// The program name, the prefix of every line on stderr.
const NAME: &str = "write-canary-env";

/// Render secrets from Infisical into a dotenv file, atomically, with exact modes,
/// never printing a value.
///
/// Credentials come only from the environment or from files (never from a flag value):
/// Token Auth reads --token-file, else $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, else
/// $INFISICAL_TOKEN (the official CLI's order); Universal Auth reads
/// $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID (or --client-id) and
/// $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET or --client-secret-file. A flag wins over its
/// variable.
///
/// Exit codes: 0 success, 2 usage or configuration, 3 refused (401/403), 4 not found (404,
/// missing key, empty result), 5 unavailable (after retries), 6 unsafe write, 7 invalid data.
#[derive(Parser, Debug)]
#[command(
    name = "write-canary-env",
    version,
    about,
    long_about,
    args_override_self = true
)]
pub(crate) struct Args {
    /// Infisical project (workspace) ID.
    #[arg(
        long,
        value_name = "ID",
        env = "INFISICAL_PROJECT_ID",
        hide_env_values = true
    )]
    project_id: String,

    /// Environment slug, e.g. prod.
    #[arg(
        long = "env",
        value_name = "SLUG",
        env = "INFISICAL_ENVIRONMENT",
        hide_env_values = true
    )]
    environment: String,

    /// Folder path to read; repeat for several (fetched concurrently).
    #[arg(
        long = "path",
        value_name = "P",
        env = "INFISICAL_SECRET_PATH",
        hide_env_values = true,
        default_value = "/"
    )]
    paths: Vec<String>,

    /// Keep only this key; repeat for several. A named key that is missing is exit 4.
    #[arg(long = "key", value_name = "K")]
    keys: Vec<String>,

    /// The env file to write.
    #[arg(long, value_name = "FILE")]
    output: PathBuf,

    /// Authentication method.
    #[arg(
        long,
        value_name = "METHOD",
        env = "INFISICAL_AUTH_METHOD",
        hide_env_values = true,
        default_value = AuthMethod::NAMES[0],
        value_parser = PossibleValuesParser::new(AuthMethod::NAMES)
            .try_map(|name| AuthMethod::parse(&name))
    )]
    auth: AuthMethod,

    /// File holding the Token Auth access token (must not be readable by others)
    /// [default: $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, else $INFISICAL_TOKEN].
    #[arg(long, value_name = "F")]
    token_file: Option<PathBuf>,

    /// Universal Auth client ID (an identifier, not a secret).
    #[arg(
        long,
        value_name = "ID",
        env = "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID",
        hide_env_values = true
    )]
    client_id: Option<String>,

    /// File holding the Universal Auth client secret (must not be readable by others)
    /// [default: $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET].
    #[arg(long, value_name = "F")]
    client_secret_file: Option<PathBuf>,

    /// Infisical URL, with or without a trailing /api [env: INFISICAL_DOMAIN, then
    /// INFISICAL_API_URL, the official CLI's order] [default: https://app.infisical.com].
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,

    /// Include secrets imported into the folders (local secrets win).
    #[arg(long)]
    include_imports: bool,

    /// Include the secrets of sub-folders.
    #[arg(long)]
    recursive: bool,

    /// Exact mode of the file, whatever the umask.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = canary::parse_mode)]
    output_mode: u32,

    /// Exact mode of every directory created; existing ones are left alone.
    #[arg(long, value_name = "OCTAL", default_value = "0700", value_parser = canary::parse_mode)]
    parent_mode: u32,

    /// Owner of the file and the directories created (user name or uid) [default: the
    /// running user].
    #[arg(long, value_name = "USER|UID")]
    owner: Option<String>,

    /// Group of the file and the directories created (group name or gid) [default: the
    /// system's choice].
    #[arg(long, value_name = "GROUP|GID")]
    group: Option<String>,

    /// Allow an --output-mode with "other" bits.
    #[arg(long)]
    allow_world_readable: bool,

    /// Write a file even when no secret is found (otherwise exit 4).
    #[arg(long)]
    allow_empty: bool,

    /// Allow plain http:// to a host other than loopback (prints a warning).
    #[arg(long)]
    allow_insecure_http: bool,

    /// Fetch and validate, write nothing; report the keys and whether the file would change.
    #[arg(long)]
    dry_run: bool,

    /// Print a machine-readable JSON report on stdout (never values).
    #[arg(long)]
    json: bool,

    /// Time limit for each request, in seconds (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = canary::DEFAULT_TIMEOUT,
          value_parser = |raw: &str| http::parse_timeout(raw, canary::MAX_TIMEOUT))]
    timeout: Seconds,

    /// Extra PEM CA certificate to trust.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,

    /// Output format: dotenv (portable quoting), docker (`docker run --env-file`, literal),
    /// systemd (`EnvironmentFile=`), shell (`export KEY='…'`) or json (one object). A value the
    /// format cannot carry is exit 7, naming the key and the format.
    #[arg(long, value_name = "FORMAT", default_value = "dotenv", value_parser = format_parser())]
    format: Format,

    /// Longest wait honoured when the server asks for one (Retry-After, or a 429's "try again
    /// in N seconds"); a longer one gives up at once (exit 5). Infisical's rate-limit window
    /// is 60 s.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = canary::parse_wait)]
    max_retry_wait: Seconds,
}

/// `--format`: one of the names `--help` lists, parsed straight into the library's [`Format`].
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::as_str)).try_map(|name| Format::parse(&name))
}

fn env_nonempty(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

impl From<Args> for Settings {
    fn from(args: Args) -> Settings {
        Settings {
            project_id: args.project_id,
            environment: args.environment,
            paths: args.paths,
            keys: args.keys,
            output: args.output,
            auth: args.auth,
            token_file: args.token_file,
            client_id: args.client_id,
            client_secret_file: args.client_secret_file,
            api_url: args
                .api_url
                .or_else(|| env_nonempty("INFISICAL_DOMAIN"))
                .or_else(|| env_nonempty("INFISICAL_API_URL"))
                .unwrap_or_else(|| canary::DEFAULT_API_URL.to_owned()),
            include_imports: args.include_imports,
            recursive: args.recursive,
            output_mode: args.output_mode,
            parent_mode: args.parent_mode,
            owner: args.owner,
            group: args.group,
            allow_world_readable: args.allow_world_readable,
            allow_empty: args.allow_empty,
            allow_insecure_http: args.allow_insecure_http,
            dry_run: args.dry_run,
            json: args.json,
            timeout: args.timeout.0,
            ca_cert: args.ca_cert,
            format: args.format,
            max_retry_wait: args.max_retry_wait.0,
        }
    }
}

/// Prints a failure: the message on stderr, and under `--json` the error document on stdout.
fn fail(err: &canary::Error, json: bool) -> ExitCode {
    eprintln!("{NAME}: error: {err}");
    if json {
        println!("{}", canary::error_json(err));
    }
    err.exit().into()
}

fn main() -> ExitCode {
    provider_bridge::hardening::harden();
    let settings = Settings::from(Args::parse());
    let json = settings.json;
    let config = match Config::try_from(settings) {
        Ok(config) => config,
        Err(err) => return fail(&err, json),
    };
    for warning in &config.warnings {
        eprintln!("{NAME}: {warning}");
    }
    let runtime = match provider_bridge::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{NAME}: error: cannot start the runtime: {}", e.kind());
            return Exit::Unavailable.into();
        }
    };
    let mut warnings = Vec::new();
    let say = std::sync::Arc::new(|line: &str| eprintln!("{NAME}: {line}"));
    let result = runtime.block_on(canary::run(&config, &mut warnings, say));
    for warning in &warnings {
        eprintln!("{NAME}: {warning}");
    }
    match result {
        Ok(report) => {
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            Exit::Success.into()
        }
        Err(err) => fail(&err, json),
    }
}
