//! `ollama-compat-smoke`: check what an OpenAI-compatible chat endpoint really supports.
//! Thin, and the same shape as `write-canary-env`: parse the arguments, check them into a
//! [`Config`], print its warnings, start one runtime, [`smoke::run`], render, exit.

#[allow(unused_imports)] // never panic on EPIPE: these replace the standard print macros
use provider_bridge::{eprint, eprintln, print, println};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use provider_bridge::http::{self, Seconds};
use provider_bridge::smoke::{
    self, Check, CheckChoice, Config, DEFAULT_BASE_URL, DEFAULT_MODEL, Format, JsonMode, KeySource,
    ReasoningEffort, Settings, SmokeError,
};

/// The program name, the prefix of every line on stderr.
const NAME: &str = "ollama-compat-smoke";

/// A parser offering exactly the names of `all` (clap lists them in `--help` and in its
/// error), turned into the library's value.
fn one_of<T, const N: usize>(
    all: [T; N],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.map(name)).try_map(|name| name.parse::<T>())
}

/// Check an OpenAI-compatible chat endpoint for chat completion, JSON output and tool calls,
/// never printing the API key.
///
/// The key is read from $OLLAMA_CLOUD_API_KEY (default), the variable named by --api-key-env,
/// or the file given by --api-key-file; never from a flag value. Without a key, no
/// Authorization header is sent (auth=none). Exit codes: 0 all pass, 1 a check failed, 2 usage,
/// 3 refused (401/403), 4 not found, 5 unavailable or timed out.
#[derive(Parser, Debug)]
#[command(name = "ollama-compat-smoke", version)]
pub(crate) struct Args {
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
    #[arg(
        long = "check",
        value_name = "CHECK",
        value_parser = one_of(CheckChoice::ALL, CheckChoice::as_str),
        default_values_t = Check::DEFAULT.map(CheckChoice::One)
    )]
    checks: Vec<CheckChoice>,

    /// JSON mode: auto falls back json_schema -> json_object -> plain_prompt on format errors
    /// only; any other value pins one step and never falls back
    #[arg(long, value_name = "MODE", value_parser = one_of(JsonMode::ALL, JsonMode::as_str),
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
    #[arg(long, value_name = "FORMAT", value_parser = one_of(Format::ALL, Format::as_str),
          default_value_t = Format::Text)]
    format: Format,

    /// Allow plain http:// to a host that is not loopback (prints a warning)
    #[arg(long)]
    allow_insecure_http: bool,

    /// Do not ask <URL>/models which models the endpoint lists
    #[arg(long)]
    no_model_list: bool,

    /// reasoning_effort sent in every request (not sent when not given)
    #[arg(long, value_name = "EFFORT",
          value_parser = one_of(ReasoningEffort::ALL, ReasoningEffort::as_str))]
    reasoning_effort: Option<ReasoningEffort>,

    /// Also write the report (in --format) atomically to FILE; stdout keeps the text lines
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
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
        }
    }
}

/// Prints a failure to start on stderr.
fn fail(err: &SmokeError) -> ExitCode {
    eprintln!("{NAME}: {err}");
    err.exit().into()
}

fn main() -> ExitCode {
    provider_bridge::hardening::harden();
    let settings = Settings::from(Args::parse());
    let config = match Config::try_from(settings) {
        Ok(config) => config,
        Err(err) => return fail(&err),
    };
    for warning in &config.warnings {
        eprintln!("{NAME}: {warning}");
    }
    let runtime = match provider_bridge::runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&SmokeError::Runtime(e.kind().to_string())),
    };
    let report = match runtime.block_on(smoke::run(&config)) {
        Ok(report) => report,
        Err(err) => return fail(&err),
    };
    let mut stderr = std::io::stderr().lock();
    for line in report.diagnostics() {
        let _ = writeln!(stderr, "{line}");
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(report.stdout().as_bytes());
    let _ = stdout.flush();
    if let Err(err) = report.write_output() {
        let _ = writeln!(stderr, "{NAME}: {err}");
        return err.exit().into();
    }
    report.exit().into()
}
