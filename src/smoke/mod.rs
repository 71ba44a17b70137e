//! `ollama-compat-smoke`: probe what an OpenAI-compatible chat endpoint really supports.
//!
//! The road: settings → [`Config::prepare`] (key, URL, client) → [`run`] (the checks,
//! concurrently, each `--repeat` times) → [`report::Report`] (text, json, junit; every byte
//! redacted). Contracts: `contracts/json-fallback.md`, `contracts/smoke-report.md` and the
//! smoke's part of `contracts/secret-hygiene.md`.

pub mod checks;
pub mod classify;
pub mod client;
pub mod report;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::exit::Exit;
use crate::http::{self, ClientOptions, SetupError, UrlVerdict};
use crate::secret::{CredentialError, ExposeSecret, Redactor, SecretString};

pub use report::Report;

/// The default `--base-url` (Ollama Cloud's OpenAI-compatible API).
pub const DEFAULT_BASE_URL: &str = "https://ollama.com/v1";
/// The default `--model`.
pub const DEFAULT_MODEL: &str = "gemma4:31b-cloud";
/// The variable the key is read from when neither `--api-key-env` nor `--api-key-file` is
/// given.
pub const DEFAULT_KEY_ENV: &str = "OLLAMA_CLOUD_API_KEY";
/// The default `--max-tokens`: room for a thinking model's reasoning and a short answer.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The default `--timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// The largest `--timeout` accepted, in seconds.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// One check, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Check {
    ChatCompletion,
    JsonResponse,
    ToolCall,
}

impl Check {
    pub const ALL: [Check; 3] = [Check::ChatCompletion, Check::JsonResponse, Check::ToolCall];

    pub const fn as_str(self) -> &'static str {
        match self {
            Check::ChatCompletion => "chat_completion",
            Check::JsonResponse => "json_response",
            Check::ToolCall => "tool_call",
        }
    }
}

/// `--json-mode`: the whole ladder (`auto`) or one pinned step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum JsonMode {
    Auto,
    JsonSchema,
    JsonObject,
    PlainPrompt,
}

impl JsonMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            JsonMode::Auto => "auto",
            JsonMode::JsonSchema => "json_schema",
            JsonMode::JsonObject => "json_object",
            JsonMode::PlainPrompt => "plain_prompt",
        }
    }
}

/// One step of the JSON ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStep {
    JsonSchema,
    JsonObject,
    PlainPrompt,
}

impl JsonStep {
    pub const fn as_str(self) -> &'static str {
        match self {
            JsonStep::JsonSchema => "json_schema",
            JsonStep::JsonObject => "json_object",
            JsonStep::PlainPrompt => "plain_prompt",
        }
    }
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Format {
    Text,
    Json,
    Junit,
}

/// Where the key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `$OLLAMA_CLOUD_API_KEY` if set; no key at all is fine.
    Default,
    /// `--api-key-env VAR`: the variable must be set.
    Env(String),
    /// `--api-key-file F`: readable by its owner (and group) only.
    File(PathBuf),
}

/// What the operator asked for, as parsed from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: String,
    pub model: String,
    pub key: KeySource,
    pub checks: Vec<Check>,
    pub json_mode: JsonMode,
    pub repeat: u32,
    pub timeout: Duration,
    pub max_tokens: u32,
    pub format: Format,
    pub allow_insecure_http: bool,
}

/// Why the smoke could not start: always a usage or configuration error (exit 2). Messages name
/// flags, variables and paths, never a value.
#[derive(Debug)]
pub enum SmokeError {
    Credential(CredentialError),
    /// `--api-key-env` got something that is not a variable name.
    KeyVarName,
    /// `--api-key-env VAR` names a variable that is not set.
    KeyVarUnset,
    /// The key holds characters an HTTP header cannot carry.
    KeyNotHeaderSafe {
        source: String,
    },
    Setup(SetupError),
    EmptyModel,
    Runtime(String),
}

impl fmt::Display for SmokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmokeError::Credential(e) => write!(f, "{e}"),
            SmokeError::KeyVarName => write!(
                f,
                "--api-key-env takes the NAME of an environment variable (letters, digits and _, \
                 not starting with a digit), never the key itself"
            ),
            SmokeError::KeyVarUnset => write!(
                f,
                "missing credential: the variable named by --api-key-env is not set"
            ),
            SmokeError::KeyNotHeaderSafe { source } => write!(
                f,
                "the API key from {source} holds characters an HTTP header cannot carry"
            ),
            SmokeError::Setup(e) => write!(f, "{e}"),
            SmokeError::EmptyModel => write!(f, "--model (or OLLAMA_MODEL) is empty"),
            SmokeError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
        }
    }
}

impl std::error::Error for SmokeError {}

impl SmokeError {
    /// Every way the smoke cannot start is a usage or configuration error.
    pub const fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// A ready-to-run smoke: the settings, the client, the redactor that knows the key.
#[derive(Debug)]
pub struct Config {
    pub settings: Settings,
    pub client: client::ChatClient,
    pub redactor: Redactor,
    /// Whether a key is sent (`auth=bearer`) or not (`auth=none`).
    pub has_key: bool,
    /// A warning to print before running (plain http allowed to a non-loopback host).
    pub warning: Option<String>,
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_key(source: &KeySource) -> Result<Option<(SecretString, String)>, SmokeError> {
    match source {
        KeySource::Default => Ok(crate::secret::credential_from_env(DEFAULT_KEY_ENV)
            .map_err(SmokeError::Credential)?
            .map(|k| (k, format!("${DEFAULT_KEY_ENV}")))),
        KeySource::Env(var) => {
            if !is_var_name(var) {
                return Err(SmokeError::KeyVarName);
            }
            match crate::secret::credential_from_env(var).map_err(SmokeError::Credential)? {
                Some(key) => Ok(Some((key, format!("${var}")))),
                None => Err(SmokeError::KeyVarUnset),
            }
        }
        KeySource::File(path) => Ok(Some((
            crate::secret::read_credential_file(path).map_err(SmokeError::Credential)?,
            path.display().to_string(),
        ))),
    }
}

impl Config {
    /// Reads the key, checks the URL (plain http only to loopback unless allowed), builds the
    /// client. Nothing is sent yet.
    pub fn prepare(settings: Settings) -> Result<Config, SmokeError> {
        let mut redactor = Redactor::new();
        let key = read_key(&settings.key)?;
        let auth = match &key {
            Some((key, source)) => {
                redactor.add(key);
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| SmokeError::KeyNotHeaderSafe {
                    source: source.clone(),
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        if settings.model.trim().is_empty() {
            return Err(SmokeError::EmptyModel);
        }
        let (mut url, verdict) = http::check_url(&settings.base_url, settings.allow_insecure_http)
            .map_err(SmokeError::Setup)?;
        let path = format!("{}/chat/completions", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let warning = match verdict {
            UrlVerdict::Safe => None,
            UrlVerdict::InsecureAllowed { warning } => Some(warning),
        };
        let http = http::client(&ClientOptions {
            timeout: settings.timeout,
            ca_cert: None,
        })
        .map_err(SmokeError::Setup)?;
        Ok(Config {
            client: client::ChatClient {
                http,
                url,
                auth,
                model: settings.model.clone(),
                max_tokens: settings.max_tokens,
            },
            has_key: key.is_some(),
            redactor,
            warning,
            settings,
        })
    }

    /// The checks to run, without duplicates, in report order.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = if self.settings.checks.is_empty() {
            Check::ALL.to_vec()
        } else {
            self.settings.checks.clone()
        };
        checks.sort();
        checks.dedup();
        checks
    }
}

/// Runs the selected checks concurrently, each `--repeat` times in sequence, and gathers the
/// report.
pub fn run(config: &Config) -> Result<Report, SmokeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SmokeError::Runtime(e.kind().to_string()))?;
    let checks = config.checks();
    let started = std::time::Instant::now();
    let results = runtime.block_on(async {
        let one = |check: Check| {
            let selected = checks.contains(&check);
            async move {
                if !selected {
                    return None;
                }
                let mut runs = Vec::new();
                for _ in 0..config.settings.repeat {
                    runs.push(
                        checks::run_once(&config.client, check, config.settings.json_mode).await,
                    );
                }
                Some(report::CheckReport { check, runs })
            }
        };
        let (chat, json, tool) = tokio::join!(
            one(Check::ChatCompletion),
            one(Check::JsonResponse),
            one(Check::ToolCall)
        );
        [chat, json, tool].into_iter().flatten().collect()
    });
    Ok(Report::new(config, results, started.elapsed()))
}
