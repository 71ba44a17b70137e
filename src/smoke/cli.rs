//! `ollama-compat-smoke`'s front door: the clap definitions (flags, their environment
//! variables, `--help`) and their translation into [`Settings`]. The binary parses these; the
//! package's man page and completions are generated from them (`examples/package-assets.rs`).
//! Every flag an operator sets in a unit has an environment variable (`CLI-014`); a flag wins
//! over its variable.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser};

use super::{
    Check, CheckChoice, DEFAULT_BASE_URL, DEFAULT_MODEL, JsonMode, KeySource, ReasoningEffort,
    ReportFormat, Settings,
};
use crate::http::{self, Seconds};
use crate::names;
use crate::smoke;

/// The program name, the prefix of every line it prints on stderr.
pub const NAME: &str = "ollama-compat-smoke";

/// Check an OpenAI-compatible chat endpoint for chat completion, JSON output and tool calls,
/// never printing the API key.
///
/// The key is read from the file given by --api-key-file, else
/// $CREDENTIALS_DIRECTORY/ollama-api-key (systemd's LoadCredential=), else
/// $OLLAMA_CLOUD_API_KEY; or, with --api-key-env VAR, from that variable; never from a flag
/// value. Every other flag an operator sets in a unit can also be given by the environment
/// variable named in [env: …]; a flag wins over its variable. Without a key, no
/// Authorization header is sent (auth=none). Exit codes: 0 all pass, 1 a check failed, 2 usage,
/// 3 refused (401/403), 4 not found, 5 unavailable or timed out.
// Parse with `command()`, which adds the flags' variables: `Args::command()` alone has none.
#[derive(Parser, Debug)]
#[command(name = "ollama-compat-smoke", version)]
pub struct Args {
    /// Base URL of the OpenAI-compatible API (requests go to <URL>/chat/completions); plain
    /// http:// only to loopback
    #[arg(long, value_name = "URL", env = "OLLAMA_BASE_URL", default_value = DEFAULT_BASE_URL)]
    base_url: String,

    /// Model name sent in every request
    #[arg(long, value_name = "NAME", env = "OLLAMA_MODEL", default_value = DEFAULT_MODEL)]
    model: String,

    /// Read the API key from the environment variable named VAR (it must be set)
    /// [default: OLLAMA_CLOUD_API_KEY, optional]
    #[arg(long, value_name = "VAR", conflicts_with = "api_key_file")]
    api_key_env: Option<String>,

    /// Read the API key from file F (refused when other users can read it)
    #[arg(long, value_name = "F")]
    api_key_file: Option<PathBuf>,

    /// A check to run; repeat the flag for several; `all` runs every check (the stream checks
    /// and tool_choice only run when named or with `all`)
    #[arg(long = "check", value_name = "CHECK", value_parser = names::parser::<CheckChoice>(),
          value_delimiter = ',', default_values_t = Check::DEFAULT.map(CheckChoice::One))]
    checks: Vec<CheckChoice>,

    /// JSON mode: auto falls back json_schema -> json_object -> plain_prompt on format errors
    /// only; any other value pins one step and never falls back
    #[arg(long, value_name = "MODE", value_parser = names::parser::<JsonMode>(),
          default_value_t = JsonMode::Auto)]
    json_mode: JsonMode,

    /// Run each check N times and report passes=k/N; a check passes only at N/N
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(smoke::MAX_REPEAT)))]
    repeat: u32,

    /// Total time allowed for one request, in seconds (fractions allowed, e.g. 0.5)
    #[arg(long, value_name = "SECS", default_value_t = smoke::DEFAULT_TIMEOUT,
          value_parser = |raw: &str| http::parse_timeout(raw, smoke::MAX_TIMEOUT))]
    timeout: Seconds,

    /// max_tokens sent in every request (thinking models need room for their reasoning)
    #[arg(long, value_name = "N", default_value_t = smoke::DEFAULT_MAX_TOKENS,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_tokens: u32,

    /// Output format on stdout
    #[arg(long, value_name = "FORMAT", value_parser = names::parser::<ReportFormat>(),
          default_value_t = ReportFormat::Text)]
    format: ReportFormat,

    /// Allow plain http:// to a host that is not loopback (prints a warning)
    #[arg(long)]
    allow_insecure_http: bool,

    /// Do not ask <URL>/models which models the endpoint lists
    #[arg(long)]
    no_model_list: bool,

    /// reasoning_effort sent in every request (not sent when not given)
    #[arg(long, value_name = "EFFORT", value_parser = names::parser::<ReasoningEffort>())]
    reasoning_effort: Option<ReasoningEffort>,

    /// Also write the report (in --format) atomically to FILE; stdout keeps the text lines
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Also write this run's Prometheus metrics (text format, mode 0644) atomically to FILE on
    /// every run, success or failure, e.g. a *.prom file in node_exporter's textfile directory
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
}

/// The command line [`Args`] are parsed from (and the man page and completions generated from):
/// every flag has its variable, `OLLAMA_COMPAT_SMOKE_<FLAG>` unless it names an `OLLAMA_` one
/// (`CLI-014`).
pub fn command() -> clap::Command {
    crate::cli::Variables {
        prefix: "OLLAMA_COMPAT_SMOKE",
        none: &[],
        shown: &["base_url", "model"],
    }
    .apply(Args::command())
}

impl From<Args> for Settings {
    fn from(args: Args) -> Settings {
        let key = match (args.api_key_env, args.api_key_file) {
            (_, Some(file)) => KeySource::File(file),
            (Some(var), None) => KeySource::Env(var),
            (None, None) => KeySource::Default,
        };
        Settings {
            base_url: args.base_url,
            model: args.model,
            key,
            checks: args
                .checks
                .into_iter()
                .flat_map(CheckChoice::checks)
                .collect(),
            json_mode: args.json_mode,
            repeat: args.repeat,
            timeout: args.timeout.0,
            max_tokens: args.max_tokens,
            format: args.format,
            allow_insecure_http: args.allow_insecure_http,
            model_list: !args.no_model_list,
            reasoning_effort: args.reasoning_effort,
            output: args.output,
            metrics_file: args.metrics_file,
        }
    }
}
