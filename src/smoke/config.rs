//! `ollama-compat-smoke`'s configuration: the [`Settings`] the operator gave (checks, JSON
//! mode, format, where the key comes from) and the [`Config`] they make once checked — the key
//! read and its header built, the model and the URL checked. Nothing is sent here.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::dotenv;
use crate::exit::Exit;
use crate::http::{self, Bearer, Seconds, SetupError, Url, UrlVerdict};
use crate::names::named;
use crate::secret::{CredentialError, Redactor, SecretString};

/// The default `--base-url` (Ollama Cloud's OpenAI-compatible API).
pub const DEFAULT_BASE_URL: &str = "https://ollama.com/v1";
/// The default `--model`.
pub const DEFAULT_MODEL: &str = "gemma4:31b-cloud";
/// The variable the key is read from when neither `--api-key-env` nor `--api-key-file` is
/// given.
pub const DEFAULT_KEY_ENV: &str = "OLLAMA_CLOUD_API_KEY";
/// The default `--max-tokens`: room for a thinking model's reasoning and a short answer.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Seconds = Seconds::from_secs(60);
/// The largest `--timeout` accepted.
pub const MAX_TIMEOUT: Seconds = Seconds::from_secs(3600);
/// The largest `--repeat` accepted.
pub const MAX_REPEAT: u32 = 1000;

/// One check, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// A plain chat answer.
    ChatCompletion,
    /// A JSON object with the asked keys, down the ladder in `auto`.
    JsonResponse,
    /// A call of the offered tool.
    ToolCall,
    /// A plain chat answer streamed (`stream: true`), assembled from Server-Sent Events.
    StreamChat,
    /// The tool call streamed, assembled from its deltas.
    StreamToolCall,
    /// A forced function and `tool_choice: "none"`, each obeyed.
    ToolChoice,
}

impl Check {
    /// Every check, in report order.
    pub const ALL: [Check; 6] = [
        Check::ChatCompletion,
        Check::JsonResponse,
        Check::ToolCall,
        Check::StreamChat,
        Check::StreamToolCall,
        Check::ToolChoice,
    ];

    /// The checks run when no `--check` is given.
    pub const DEFAULT: [Check; 3] = [Check::ChatCompletion, Check::JsonResponse, Check::ToolCall];

    /// The name on the command line and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Check::ChatCompletion => "chat_completion",
            Check::JsonResponse => "json_response",
            Check::ToolCall => "tool_call",
            Check::StreamChat => "stream_chat",
            Check::StreamToolCall => "stream_tool_call",
            Check::ToolChoice => "tool_choice",
        }
    }
}

named!(Check);

/// One `--check` value: a check, or `all` (every check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckChoice {
    /// One check.
    One(Check),
    /// `all`: every check of [`Check::ALL`].
    All,
}

impl CheckChoice {
    /// Every value `--check` takes, in the order `--help` lists them.
    pub const ALL: [CheckChoice; 7] = [
        CheckChoice::One(Check::ChatCompletion),
        CheckChoice::One(Check::JsonResponse),
        CheckChoice::One(Check::ToolCall),
        CheckChoice::One(Check::StreamChat),
        CheckChoice::One(Check::StreamToolCall),
        CheckChoice::One(Check::ToolChoice),
        CheckChoice::All,
    ];

    /// The name on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckChoice::One(check) => check.as_str(),
            CheckChoice::All => "all",
        }
    }

    /// The checks this value selects.
    pub fn checks(self) -> Vec<Check> {
        match self {
            CheckChoice::One(check) => vec![check],
            CheckChoice::All => Check::ALL.to_vec(),
        }
    }
}

named!(CheckChoice);

/// `--reasoning-effort`: passed through as `reasoning_effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningEffort {
    /// `none` (Ollama: thinking off).
    None,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

impl ReasoningEffort {
    /// Every value, as `--reasoning-effort` lists them.
    pub const ALL: [ReasoningEffort; 4] = [
        ReasoningEffort::None,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
    ];

    /// The value sent and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

named!(ReasoningEffort);

/// `--json-mode`: the whole ladder (`auto`) or one pinned step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMode {
    /// The whole ladder: `json_schema`, then `json_object`, then `plain_prompt`.
    Auto,
    /// Only `response_format: json_schema`.
    JsonSchema,
    /// Only `response_format: json_object`.
    JsonObject,
    /// Only a prompt asking for JSON.
    PlainPrompt,
}

impl JsonMode {
    /// Every mode, as `--json-mode` lists them.
    pub const ALL: [JsonMode; 4] = [
        JsonMode::Auto,
        JsonMode::JsonSchema,
        JsonMode::JsonObject,
        JsonMode::PlainPrompt,
    ];

    /// The name on the command line and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            JsonMode::Auto => "auto",
            JsonMode::JsonSchema => "json_schema",
            JsonMode::JsonObject => "json_object",
            JsonMode::PlainPrompt => "plain_prompt",
        }
    }
}

named!(JsonMode);

/// One step of the JSON ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStep {
    /// `response_format: json_schema` with a strict schema.
    JsonSchema,
    /// `response_format: json_object`.
    JsonObject,
    /// No `response_format`: a system prompt asking for one JSON object.
    PlainPrompt,
}

impl JsonStep {
    /// The name in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            JsonStep::JsonSchema => "json_schema",
            JsonStep::JsonObject => "json_object",
            JsonStep::PlainPrompt => "plain_prompt",
        }
    }
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// One line per check.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML.
    Junit,
}

impl ReportFormat {
    /// Every format, as `--format` lists them.
    pub const ALL: [ReportFormat; 3] =
        [ReportFormat::Text, ReportFormat::Json, ReportFormat::Junit];

    /// The name on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Text => "text",
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
        }
    }
}

named!(ReportFormat);

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
    /// `--base-url`: requests go to `<base-url>/chat/completions`.
    pub base_url: String,
    /// `--model`.
    pub model: String,
    /// Where the key comes from.
    pub key: KeySource,
    /// `--check`, repeated (none: all).
    pub checks: Vec<Check>,
    /// `--json-mode`.
    pub json_mode: JsonMode,
    /// `--repeat`: runs per check.
    pub repeat: u32,
    /// `--timeout`: the time allowed for each request.
    pub timeout: Duration,
    /// `--max-tokens`.
    pub max_tokens: u32,
    /// `--format`.
    pub format: ReportFormat,
    /// `--allow-insecure-http`.
    pub allow_insecure_http: bool,
    /// `GET <base-url>/models` alongside the checks (off with `--no-model-list`).
    pub model_list: bool,
    /// `--reasoning-effort`: sent as `reasoning_effort` in every request when given.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// `--output FILE`: the report in `--format` written atomically to FILE; stdout keeps the
    /// text lines.
    pub output: Option<PathBuf>,
    /// `--metrics-file`: the run's Prometheus metrics, written on every run
    /// (`contracts/metrics.md`, [`crate::metrics`]).
    pub metrics_file: Option<PathBuf>,
}

/// Why the smoke could not start: always a usage or configuration error (exit 2). Messages name
/// flags, variables and paths, never a value.
#[derive(Debug)]
pub enum Error {
    /// The key could not be read, or its file is unsafe.
    Credential(CredentialError),
    /// `--api-key-env` got something that is not a variable name.
    KeyVarName,
    /// `--api-key-env VAR` names a variable that is not set.
    KeyVarUnset,
    /// The key holds characters an HTTP header cannot carry.
    KeyNotHeaderSafe {
        /// The variable or file the key came from.
        source: String,
    },
    /// The URL or the HTTP client could not be set up.
    Setup(SetupError),
    /// `--model` is empty.
    EmptyModel,
    /// The async runtime could not start (the binary builds it): exit 5, as in both binaries
    /// (`CLI-015`).
    Runtime(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Credential(e) => write!(f, "{e}"),
            Error::KeyVarName => write!(
                f,
                "--api-key-env takes the NAME of an environment variable (letters, digits and _, \
                 not starting with a digit), never the key itself"
            ),
            Error::KeyVarUnset => write!(
                f,
                "missing credential: the variable named by --api-key-env is not set"
            ),
            Error::KeyNotHeaderSafe { source } => write!(
                f,
                "the API key from {source} holds characters an HTTP header cannot carry"
            ),
            Error::Setup(e) => write!(f, "{e}"),
            Error::EmptyModel => write!(f, "--model (or OLLAMA_MODEL) is empty"),
            Error::Runtime(e) => write!(
                f,
                "cannot start the async runtime: {}",
                crate::envfile::describe_io(e)
            ),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Every way the smoke cannot start is a usage or configuration error, but a runtime that
    /// cannot start (a resource limit): that is exit 5 in both binaries.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Runtime(_) => Exit::Unavailable,
            _ => Exit::Usage,
        }
    }
}

/// A checked smoke: the settings, the chat URL, the Bearer header, the redactor that knows
/// the key. Nothing is sent yet.
#[derive(Debug)]
pub struct Config {
    /// What the operator gave.
    pub settings: Settings,
    /// `<base-url>/chat/completions`.
    pub url: Url,
    /// `<base-url>/models`.
    pub models_url: Url,
    /// The `Authorization` header, when a key was found.
    pub auth: Option<Bearer>,
    /// Knows the key, in every encoding.
    pub redactor: Redactor,
    /// Whether a key is sent (`auth=bearer`) or not (`auth=none`).
    pub has_key: bool,
    /// Warnings to print before running (plain http allowed to a non-loopback host).
    pub warnings: Vec<String>,
}

/// The credential name of the API key under systemd's `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_API_KEY: &str = "ollama-api-key";

/// `$CREDENTIALS_DIRECTORY/ollama-api-key` when systemd gave the unit that credential
/// (`SMK-046`): read after `--api-key-file`, before `$OLLAMA_CLOUD_API_KEY`.
fn systemd_credential() -> Option<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty())?;
    let path = PathBuf::from(dir).join(CREDENTIAL_API_KEY);
    path.exists().then_some(path)
}

fn read_key(source: &KeySource) -> Result<Option<(SecretString, String)>, Error> {
    match source {
        KeySource::Default => {
            if let Some(path) = systemd_credential() {
                return read_key(&KeySource::File(path));
            }
            Ok(crate::secret::credential_from_env(DEFAULT_KEY_ENV)
                .map_err(Error::Credential)?
                .map(|k| (k, format!("${DEFAULT_KEY_ENV}"))))
        }
        KeySource::Env(var) => {
            if !dotenv::valid_key(var) {
                return Err(Error::KeyVarName);
            }
            match crate::secret::credential_from_env(var).map_err(Error::Credential)? {
                Some(key) => Ok(Some((key, format!("${var}")))),
                None => Err(Error::KeyVarUnset),
            }
        }
        KeySource::File(path) => Ok(Some((
            crate::secret::read_credential_file(path).map_err(Error::Credential)?,
            path.display().to_string(),
        ))),
    }
}

impl TryFrom<Settings> for Config {
    type Error = Error;

    /// Reads the key and builds its header, checks the model and the URL (plain http only to
    /// loopback unless allowed). Nothing is sent yet.
    fn try_from(settings: Settings) -> Result<Config, Error> {
        let mut redactor = Redactor::new();
        let key = read_key(&settings.key)?;
        let auth = match &key {
            Some((key, source)) => {
                redactor.add(key);
                Some(Bearer::new(key).map_err(|_| Error::KeyNotHeaderSafe {
                    source: source.clone(),
                })?)
            }
            None => None,
        };
        if settings.model.trim().is_empty() {
            return Err(Error::EmptyModel);
        }
        let (mut url, verdict) = http::check_url(&settings.base_url, settings.allow_insecure_http)
            .map_err(Error::Setup)?;
        let base = url.path().trim_end_matches('/').to_owned();
        let mut models_url = url.clone();
        models_url.set_path(&format!("{base}/models"));
        url.set_path(&format!("{base}/chat/completions"));
        let warnings = match verdict {
            UrlVerdict::Safe => Vec::new(),
            UrlVerdict::InsecureAllowed { warning } => vec![warning],
        };
        Ok(Config {
            url,
            models_url,
            auth,
            has_key: key.is_some(),
            redactor,
            warnings,
            settings,
        })
    }
}

impl Config {
    /// The checks to run, without duplicates, in report order.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = if self.settings.checks.is_empty() {
            Check::DEFAULT.to_vec()
        } else {
            self.settings.checks.clone()
        };
        checks.sort();
        checks.dedup();
        checks
    }
}
