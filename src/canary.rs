//! The `write-canary-env` road: configuration → credentials → Infisical → secrets → dotenv
//! render → secure write → report. One error enum; each variant knows its exit code, and every
//! message names keys, paths and statuses, never a value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::dotenv::{self, Header, RenderError};
use crate::envfile::{self, FileError, Status, Target};
use crate::exit::Exit;
use crate::http::{self, ClientOptions, SetupError, UrlVerdict};
use crate::infisical::{self, Auth, Client, FetchError, Folder, Query};
use crate::secret::{self, CredentialError, Redactor};

/// The default API URL.
pub const DEFAULT_API_URL: &str = "https://app.infisical.com";
/// Environment variables read for credentials (names of the official CLI).
pub const ENV_TOKEN: &str = "INFISICAL_TOKEN";
pub const ENV_CLIENT_ID: &str = "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET";

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    TokenAuth,
    UniversalAuth,
}

impl AuthMethod {
    /// Parses the official CLI's names.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "token-auth" | "token" => Ok(AuthMethod::TokenAuth),
            "universal-auth" | "universal" => Ok(AuthMethod::UniversalAuth),
            other => Err(format!(
                "unknown auth method {other:?} (expected token-auth or universal-auth)"
            )),
        }
    }
}

/// Everything one run needs, as parsed from flags and environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub project_id: String,
    pub environment: String,
    pub paths: Vec<String>,
    pub keys: Vec<String>,
    pub output: PathBuf,
    pub auth: AuthMethod,
    pub token_file: Option<PathBuf>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub api_url: String,
    pub include_imports: bool,
    pub recursive: bool,
    pub output_mode: u32,
    pub parent_mode: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub allow_world_readable: bool,
    pub allow_empty: bool,
    pub allow_insecure_http: bool,
    pub dry_run: bool,
    pub json: bool,
    pub timeout: Duration,
    pub ca_cert: Option<PathBuf>,
}

/// Parses an octal permission mode such as `0600` or `640` (permission bits only).
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(format!("{s:?} is not an octal mode such as 0600"));
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?;
    if mode > 0o777 {
        return Err(format!(
            "{s:?} sets setuid, setgid or sticky bits; only permission bits (at most 0777) are accepted"
        ));
    }
    Ok(mode)
}

/// Parses `--timeout` seconds (fractions allowed, more than zero).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "{s:?} must be more than 0 and at most 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

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
    Empty { paths: Vec<String> },
    /// The identity may list but not read these values (exit 7).
    Hidden(Vec<String>),
    /// Keys or values that cannot be written (exit 7).
    Render(Vec<RenderError>),
    /// The file could not be written safely (exit 6).
    Write(FileError),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) | Error::Credential(_) | Error::Setup(_) => Exit::Usage,
            Error::Fetch { exit, .. } => *exit,
            Error::MissingKeys(_) | Error::Empty { .. } => Exit::NotFound,
            Error::DuplicateKey { .. } | Error::Hidden(_) | Error::Render(_) => Exit::InvalidData,
            Error::Write(_) => Exit::UnsafeWrite,
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
            Error::Empty { paths } => write!(
                f,
                "no secrets found at {} (a mistyped path answers with an empty list; pass --allow-empty if an empty file is intended)",
                paths.join(", ")
            ),
            Error::Hidden(keys) => write!(
                f,
                "the identity may not read the value of {} (secretValueHidden): grant it read access to secret values",
                keys.join(", ")
            ),
            Error::Render(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
            Error::Write(e) => write!(f, "{e}"),
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

/// What a run did, for the text or JSON report. Holds no value.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: Status,
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub gid: Option<u32>,
    pub keys: Vec<String>,
    pub project_id: String,
    pub environment: String,
    pub paths: Vec<String>,
    pub dry_run: bool,
    pub created_dirs: Vec<PathBuf>,
}

impl Report {
    /// The human-readable report.
    pub fn text(&self) -> String {
        let gid = self.gid.map_or("-".to_owned(), |g| g.to_string());
        let mut out = format!(
            "{}: {} (mode {:04o}, owner {}:{}) with {} key{} from project {}, environment {}, paths {}\n",
            self.status.as_str(),
            self.path.display(),
            self.mode,
            self.uid,
            gid,
            self.keys.len(),
            if self.keys.len() == 1 { "" } else { "s" },
            self.project_id,
            self.environment,
            self.paths.join(" ")
        );
        for dir in &self.created_dirs {
            out.push_str(&format!("created directory {}\n", dir.display()));
        }
        for key in &self.keys {
            out.push_str(&format!("  {key}\n"));
        }
        out
    }

    /// The machine-readable report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status.as_str(),
            "dry_run": self.dry_run,
            "path": self.path.display().to_string(),
            "mode": format!("{:04o}", self.mode),
            "owner": { "uid": self.uid, "gid": self.gid },
            "keys": self.keys,
            "project_id": self.project_id,
            "environment": self.environment,
            "paths": self.paths,
            "created_dirs": self.created_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        })
    }
}

/// The JSON printed on stdout for a failed run under `--json` (the message is value-free).
pub fn error_json(err: &Error) -> serde_json::Value {
    serde_json::json!({
        "status": "error",
        "exit_code": err.exit().code(),
        "error": err.to_string(),
    })
}

fn no_control(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "{what} must be non-empty and free of control characters"
        )));
    }
    Ok(())
}

/// Resolves `--owner` (a user name or a numeric uid).
fn resolve_owner(owner: &str) -> Result<u32, Error> {
    if let Ok(uid) = owner.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(owner) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        _ => Err(Error::Config(format!(
            "--owner: no such user {owner:?} on this machine"
        ))),
    }
}

/// Resolves `--group` (a group name or a numeric gid).
fn resolve_group(group: &str) -> Result<u32, Error> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(Error::Config(format!(
            "--group: no such group {group:?} on this machine"
        ))),
    }
}

/// Everything checked before the first request.
struct Prepared {
    target: Target,
    auth: Auth,
    client: Client,
    paths: Vec<String>,
}

/// Reads the credential from its file flag, else its variable (a flag wins over its variable).
fn credential(file: Option<&PathBuf>, var: &str, flag: &str) -> Result<SecretString, Error> {
    if let Some(path) = file {
        return Ok(secret::read_credential_file(path)?);
    }
    secret::credential_from_env(var)?.ok_or_else(|| {
        Error::Credential(CredentialError::Missing {
            what: format!("set ${var} or pass {flag}"),
        })
    })
}

fn prepare(cfg: &Config, warn: &mut dyn FnMut(&str)) -> Result<Prepared, Error> {
    no_control("--project-id", &cfg.project_id)?;
    no_control("--env", &cfg.environment)?;
    let mut paths: Vec<String> = Vec::new();
    for p in &cfg.paths {
        no_control("--path", p)?;
        if !p.starts_with('/') {
            return Err(Error::Config(format!(
                "--path {p:?} must be absolute (start with /)"
            )));
        }
        if !paths.contains(p) {
            paths.push(p.clone());
        }
    }
    if paths.is_empty() {
        paths.push("/".into());
    }
    for k in &cfg.keys {
        if !dotenv::valid_key(k) {
            return Err(Error::Config(format!(
                "--key {:?} is not a valid env name ([A-Za-z_][A-Za-z0-9_]*)",
                k.escape_debug().to_string()
            )));
        }
    }
    if cfg.output_mode & 0o007 != 0 && !cfg.allow_world_readable {
        return Err(Error::Config(format!(
            "--output-mode {:04o} lets other users (\"other\") access the secrets; use a mode without other bits, or pass --allow-world-readable",
            cfg.output_mode
        )));
    }
    let uid = cfg.owner.as_deref().map(resolve_owner).transpose()?;
    let gid = cfg.group.as_deref().map(resolve_group).transpose()?;
    let target = Target {
        path: cfg.output.clone(),
        mode: cfg.output_mode,
        parent_mode: cfg.parent_mode,
        uid,
        gid,
    };
    if cfg.output.as_os_str().is_empty() {
        return Err(Error::Config("--output must name a file".into()));
    }

    let auth = match cfg.auth {
        AuthMethod::TokenAuth => {
            let token = credential(cfg.token_file.as_ref(), ENV_TOKEN, "--token-file")?;
            if !infisical::header_safe(token.expose_secret()) {
                return Err(Error::Config(format!(
                    "the token from {} holds characters an HTTP header cannot carry (spaces, control characters or non-ASCII)",
                    cfg.token_file
                        .as_ref()
                        .map_or(format!("${ENV_TOKEN}"), |p| p.display().to_string())
                )));
            }
            Auth::Token(token)
        }
        AuthMethod::UniversalAuth => {
            let client_id = cfg
                .client_id
                .clone()
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| {
                    Error::Credential(CredentialError::Missing {
                        what: format!("set ${ENV_CLIENT_ID} or pass --client-id"),
                    })
                })?;
            Auth::Universal {
                client_id: client_id.trim().to_owned(),
                client_secret: credential(
                    cfg.client_secret_file.as_ref(),
                    ENV_CLIENT_SECRET,
                    "--client-secret-file",
                )?,
            }
        }
    };

    let (base, verdict) =
        http::check_url(&infisical::api_base(&cfg.api_url), cfg.allow_insecure_http)?;
    if let UrlVerdict::InsecureAllowed { warning } = verdict {
        warn(&warning);
    }
    let http = http::client(&ClientOptions {
        timeout: cfg.timeout,
        ca_cert: cfg.ca_cert.clone(),
    })
    .map_err(|e| match (e, &cfg.ca_cert) {
        // rustls checks the certificate only when the client is built.
        (SetupError::Client { .. }, Some(path)) => SetupError::CaCert {
            path: path.clone(),
            reason: "not a usable PEM certificate".into(),
        },
        (e, _) => e,
    })?;
    Ok(Prepared {
        target,
        auth,
        client: Client::new(http, base, cfg.timeout),
        paths,
    })
}

/// Runs the whole road. `warn` receives warnings (value-free) as they happen.
pub async fn run(cfg: &Config, warn: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let prepared = prepare(cfg, warn)?;
    let mut redactor = Redactor::new();
    match &prepared.auth {
        Auth::Token(t) => redactor.add(t),
        Auth::Universal { client_secret, .. } => redactor.add(client_secret),
    }

    let token = match prepared.client.access_token(&prepared.auth).await {
        Ok(t) => t,
        Err(e) => return Err(fetch_error(&e, &redactor)),
    };
    redactor.add(&token);

    let query = Query {
        project_id: cfg.project_id.clone(),
        environment: cfg.environment.clone(),
        recursive: cfg.recursive,
        include_imports: cfg.include_imports,
    };
    let folders = fetch_all(&prepared, &token, &query, &mut redactor).await?;

    let chosen = choose(cfg, &folders)?;
    let header = Header {
        project_id: &cfg.project_id,
        environment: &cfg.environment,
        paths: &prepared.paths,
    };
    let content = dotenv::render(&header, chosen.iter().map(|(k, v)| (*k, v.expose_secret())))
        .map_err(Error::Render)?;
    let content = SecretString::from(content);

    let outcome = envfile::apply_with_notices(
        &prepared.target,
        content.expose_secret().as_bytes(),
        cfg.dry_run,
        warn,
    )
    .map_err(Error::Write)?;
    Ok(Report {
        status: outcome.status,
        path: cfg.output.clone(),
        mode: outcome.mode,
        uid: outcome.uid,
        gid: outcome.gid,
        keys: chosen.keys().map(|k| (*k).to_owned()).collect(),
        project_id: cfg.project_id.clone(),
        environment: cfg.environment.clone(),
        paths: prepared.paths.clone(),
        dry_run: cfg.dry_run,
        created_dirs: outcome.created_dirs,
    })
}

fn fetch_error(e: &FetchError, redactor: &Redactor) -> Error {
    Error::Fetch {
        exit: e.exit(),
        message: e.describe(redactor),
    }
}

/// Fetches every path concurrently. When a path failed, every value fetched from the others is
/// registered with the redactor before the error is described (an error body may echo a value
/// from another path); on success nothing is copied into it.
async fn fetch_all(
    prepared: &Prepared,
    token: &SecretString,
    query: &Query,
    redactor: &mut Redactor,
) -> Result<Vec<Folder>, Error> {
    let calls = prepared
        .paths
        .iter()
        .map(|p| prepared.client.list(token, query, p));
    let results = join_all(calls).await;
    let mut folders = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(folder) => folders.push(folder),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(folders);
    }
    for v in folders.iter().flat_map(Folder::values) {
        redactor.add(v);
    }
    let worst = Exit::worst(errors.iter().map(FetchError::exit));
    let first = errors
        .iter()
        .find(|e| e.exit() == worst)
        .unwrap_or(&errors[0]);
    Err(fetch_error(first, redactor))
}

/// Polls all futures on the current task until all are done (no extra crate needed).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, fut) in pending.iter_mut().enumerate() {
            if done[i].is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => done[i] = Some(out),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Merges the folders, applies `--key`, and checks duplicates, emptiness and hidden values.
fn choose<'a>(
    cfg: &Config,
    folders: &'a [Folder],
) -> Result<BTreeMap<&'a str, &'a SecretString>, Error> {
    // key -> (origin, value); conflicts recorded per key.
    let mut merged: BTreeMap<&str, &infisical::Secret> = BTreeMap::new();
    let mut conflicts: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for folder in folders {
        for s in folder.merged(cfg.include_imports) {
            let key = s.key.as_str();
            match merged.get(key) {
                Some(prev) if prev.origin != s.origin => {
                    conflicts
                        .entry(key)
                        .or_insert_with(|| (prev.origin.clone(), s.origin.clone()));
                }
                Some(_) => {}
                None => {
                    merged.insert(key, s);
                }
            }
        }
    }
    if !cfg.keys.is_empty() {
        let missing: Vec<String> = cfg
            .keys
            .iter()
            .filter(|k| !merged.contains_key(k.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingKeys(missing));
        }
        merged.retain(|k, _| cfg.keys.iter().any(|want| want == k));
    }
    if let Some((key, (first, second))) =
        conflicts.into_iter().find(|(k, _)| merged.contains_key(k))
    {
        return Err(Error::DuplicateKey {
            key: key.to_owned(),
            first,
            second,
        });
    }
    if merged.is_empty() && !cfg.allow_empty {
        return Err(Error::Empty {
            paths: cfg.paths.clone(),
        });
    }
    let hidden: Vec<String> = merged
        .values()
        .filter(|s| s.hidden)
        .map(|s| s.key.clone())
        .collect();
    if !hidden.is_empty() {
        return Err(Error::Hidden(hidden));
    }
    // Borrowed: ten thousand values are not copied once more.
    Ok(merged.into_iter().map(|(k, s)| (k, &s.value)).collect())
}
