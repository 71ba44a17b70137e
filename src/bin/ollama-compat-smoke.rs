//! `ollama-compat-smoke`: check what an OpenAI-compatible chat endpoint really supports.
//! Thin: parse arguments, call the library, map the error to an exit code.

#[allow(unused_imports)] // never panic on EPIPE: these replace the standard print macros
use provider_bridge::{eprint, eprintln, print, println};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use provider_bridge::smoke::{
    self, Check, Config, DEFAULT_BASE_URL, DEFAULT_MODEL, Format, JsonMode, KeySource, Settings,
};

/// Check an OpenAI-compatible chat endpoint for chat completion, JSON output and tool calls,
/// never printing the API key.
///
/// The key is read from $OLLAMA_CLOUD_API_KEY (default), the variable named by --api-key-env,
/// or the file given by --api-key-file; never from a flag value. Without a key, no
/// Authorization header is sent (auth=none). Exit codes: 0 all pass, 1 a check failed, 2 usage,
/// 3 refused (401/403), 4 not found, 5 unavailable or timed out.
#[derive(Parser, Debug)]
#[command(name = "ollama-compat-smoke", version)]
struct Args {
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

    /// A check to run; repeat the flag for several
    #[arg(
        long = "check",
        value_name = "CHECK",
        value_enum,
        default_values_t = Check::ALL
    )]
    checks: Vec<Check>,

    /// JSON mode: auto falls back json_schema -> json_object -> plain_prompt on format errors
    /// only; any other value pins one step and never falls back
    #[arg(long, value_name = "MODE", value_enum, default_value_t = JsonMode::Auto)]
    json_mode: JsonMode,

    /// Run each check N times and report passes=k/N; a check passes only at N/N
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,

    /// Total time allowed for one request, in seconds (fractions allowed, e.g. 0.5)
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    timeout: Duration,

    /// max_tokens sent in every request (thinking models need room for their reasoning)
    #[arg(long, value_name = "N", default_value_t = smoke::DEFAULT_MAX_TOKENS,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_tokens: u32,

    /// Output format on stdout
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Allow plain http:// to a host that is not loopback (prints a warning)
    #[arg(long)]
    allow_insecure_http: bool,
}

/// A timeout in seconds: a finite number above zero, at most an hour.
fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| "expected a number of seconds, e.g. 60 or 0.5".to_owned())?;
    if !secs.is_finite() || secs <= 0.0 || secs > smoke::MAX_TIMEOUT_SECS {
        return Err(format!(
            "expected more than 0 and at most {} seconds",
            smoke::MAX_TIMEOUT_SECS
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[global_allocator] // wipes every freed block (SEC-004)
static ALLOC: provider_bridge::hardening::WipeOnFree = provider_bridge::hardening::WipeOnFree;

fn main() -> std::process::ExitCode {
    provider_bridge::hardening::harden();
    let args = Args::parse();
    let key = match (args.api_key_env, args.api_key_file) {
        (_, Some(file)) => KeySource::File(file),
        (Some(var), None) => KeySource::Env(var),
        (None, None) => KeySource::Default,
    };
    let settings = Settings {
        base_url: args.base_url,
        model: args.model,
        key,
        checks: args.checks,
        json_mode: args.json_mode,
        repeat: args.repeat,
        timeout: args.timeout,
        max_tokens: args.max_tokens,
        format: args.format,
        allow_insecure_http: args.allow_insecure_http,
    };
    let config = match Config::prepare(settings) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ollama-compat-smoke: {e}");
            return e.exit().into();
        }
    };
    if let Some(warning) = &config.warning {
        eprintln!("ollama-compat-smoke: {warning}");
    }
    let report = match smoke::run(&config) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("ollama-compat-smoke: {e}");
            return e.exit().into();
        }
    };
    let mut stderr = std::io::stderr().lock();
    for line in report.diagnostics() {
        let _ = writeln!(stderr, "{line}");
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(report.render().as_bytes());
    let _ = stdout.flush();
    report.exit().into()
}
