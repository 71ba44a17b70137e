//! The Infisical client: Token Auth and Universal Auth, the raw list call
//! (`GET /api/v3/secrets/raw`), the answer model, the imports merge and hidden values, and the
//! road's [`RULES`] for [`http::Client::send`] (retries, the answer size cap). Turns each
//! [`Outcome`] into its [`FetchError`] with the real server's meaning. Facts from
//! `docs/infisical-api.md` and from a real server's answers recorded at upstream
//! `593bda8b` (`fixtures/infisical/593bda8b/`, provenance in `fixtures/README.md`). Each wait
//! before a retry is told, as it starts, to the caller's [`Say`] ([`waiting_line`]).
//!
//! Knows nothing of files or dotenv syntax, nor of reqwest. Errors carry server bodies
//! *unredacted* and have no `Display`: the only way to print one is [`FetchError::describe`],
//! which takes the redactor.

use std::borrow::Cow;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::exit::Exit;
pub use crate::http::GaveUp;
use crate::http::{
    self, Asked, Bearer, BodyRules, Cap, Exchange, Outcome, Request, Retry, Stage, Url, Waiting,
};
use crate::secret::{Redactor, SecretText};

/// The largest answer read; a longer one is refused (exit 7).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Attempts in all for one request (the first try included).
pub const MAX_ATTEMPTS: u32 = 3;
/// The first backoff; each later one doubles.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The default `--max-retry-wait`: the longest wait a server may ask for (its `Retry-After`,
/// else the 429 body's "try again in N seconds") that is still honoured. Infisical's rate
/// limits count over 60-second windows, so no honest answer asks for more than 60 s: a
/// rate-limited run waits once and goes on. With [`MAX_ATTEMPTS`] attempts a run waits at most
/// two such waits (120 s) beyond its requests' own timeouts.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The most characters of a server body quoted in a message (after redaction).
pub const BODY_QUOTE_CAP: usize = 200;
/// How much of an error body is kept for quoting.
const ERROR_BODY_KEEP: usize = 64 * 1024;

/// The road's rules for [`http::Client::send`], `max_wait` being `--max-retry-wait`: a
/// transient outcome (timeout, refused connection, 429, 502, 503, 504) is tried again up to
/// [`MAX_ATTEMPTS`] in all, waiting what the server asked (its `Retry-After`, else a 429 body's
/// "try again in N seconds": [`try_again_in`]) when it asked, else [`BACKOFF_BASE`] doubled
/// per attempt; a server asking for more than `max_wait` ends the run at once. A 2xx answer
/// over [`MAX_ANSWER_BYTES`] is refused; an error body is kept for quoting when it fits in
/// 64 KiB and arrives whole.
pub const fn rules(max_wait: Duration) -> http::Rules {
    http::Rules {
        retry: Retry::Transient {
            attempts: MAX_ATTEMPTS,
            backoff: BACKOFF_BASE,
            max_wait,
            hint: try_again_in,
        },
        body: BodyRules {
            answer: Cap::Refuse(MAX_ANSWER_BYTES),
            error: Cap::Refuse(ERROR_BODY_KEEP),
            error_best_effort: true,
        },
    }
}

/// The wait a 429's body asks for: Infisical's "Please try again in N seconds" (current
/// servers) or "… in N minute(s)" (N × 60 s; the October 2024 server recorded: "in 1 minute").
/// The road's body hint; a `Retry-After` header, read by [`http`], comes first.
pub fn try_again_in(outcome: &Outcome) -> Option<Duration> {
    let Outcome::Status {
        code: 429, body, ..
    } = outcome
    else {
        return None;
    };
    let words = error_words(body);
    let rest = &words[words.find("try again in ")? + "try again in ".len()..];
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let unit = rest[n.len()..].trim_start();
    let n: u64 = n.parse().ok()?;
    if unit.starts_with("second") {
        Some(Duration::from_secs(n))
    } else if unit.starts_with("minute") {
        n.checked_mul(60).map(Duration::from_secs)
    } else {
        None
    }
}

/// Whether a Token Auth token is fit to send (visible ASCII, no space): stricter than what a
/// header can carry ([`Bearer::new`]), and checked before any request.
pub fn header_safe(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Infisical's placeholder for a value the identity may not read.
pub const HIDDEN_PLACEHOLDER: &str = "<hidden-by-infisical>";

/// Whether `value` holds a secret reference in Infisical's syntax — `${` then one or more of
/// `A-Z a-z 0-9 - _ .` then `}` (`${KEY}`, `${env.path.KEY}`; the server's pattern
/// `\${([a-zA-Z0-9-_.]+)}`). A server that cannot resolve a reference (the secret it names
/// does not exist, or is empty) leaves it in the value as is.
///
/// Only the `$` bytes are looked at (found with the `memchr` crate's vector search, not a
/// substring search over every position): a value without one cannot hold a reference.
pub fn holds_reference(value: &str) -> bool {
    let mut rest = value;
    while let Some(dollar) = memchr::memchr(b'$', rest.as_bytes()) {
        if rest.as_bytes().get(dollar + 1) != Some(&b'{') {
            rest = &rest[dollar + 1..];
            continue;
        }
        let after = &rest[dollar + 2..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            .count();
        if name_len > 0 && after[name_len..].starts_with('}') {
            return true;
        }
        rest = after;
    }
    false
}

/// The list route.
pub const SECRETS_RAW: &str = "/api/v3/secrets/raw";
/// The Universal Auth login route.
pub const UA_LOGIN: &str = "/api/v1/auth/universal-auth/login";

/// How to authenticate. `Debug` never shows a secret (`secrecy` prints `[REDACTED]`).
#[derive(Debug)]
pub enum Auth {
    /// A machine identity's access token, sent as `Authorization: Bearer <token>`.
    Token(SecretString),
    /// Universal Auth: one login call turns these into an access token.
    Universal {
        /// The identity's client ID (not a secret).
        client_id: String,
        /// The identity's client secret.
        client_secret: SecretString,
    },
}

/// The API base: `raw` without trailing `/` and without a trailing `/api`, so that both
/// `https://app.infisical.com` and `https://app.infisical.com/api/` name the same API.
pub fn api_base(raw: &str) -> String {
    let mut s = raw.trim().trim_end_matches('/').to_owned();
    if s.ends_with("/api") {
        s.truncate(s.len() - 4);
    }
    s.trim_end_matches('/').to_owned()
}

/// What to list.
#[derive(Debug, Clone)]
pub struct Query {
    /// `workspaceId`.
    pub project_id: String,
    /// The environment slug.
    pub environment: String,
    /// Whether sub-folders are listed too.
    pub recursive: bool,
    /// Whether imported folders come with the answer.
    pub include_imports: bool,
}

/// One secret as read from an answer, borrowing from it ([`Answer::folder`]).
#[derive(Debug)]
pub struct Secret<'a> {
    /// `secretKey`.
    pub key: Cow<'a, str>,
    /// `secretValue`, references expanded by the server.
    pub value: SecretText<'a>,
    /// `secretValueHidden: true`, or the hidden placeholder as value.
    pub hidden: bool,
    /// The folder the secret lives in (its `secretPath`, else the folder asked for).
    pub origin: Cow<'a, str>,
}

/// The list answer of one requested path, as received: the body is kept whole and read once
/// ([`Answer::folder`]); the secrets borrow from it, so a value is copied only into the
/// rendered file. Its `Debug` shows the path and the size, nothing of the body.
pub struct Answer {
    /// The path asked for.
    path: String,
    /// The environment asked for (an import from another one names it in its origin).
    environment: String,
    body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Answer({}, {} bytes)", self.path, self.body.len())
    }
}

impl Answer {
    /// The answer `body` received for `path` in `environment`.
    pub(crate) fn received(path: &str, environment: &str, body: Vec<u8>) -> Self {
        Answer {
            path: path.to_owned(),
            environment: environment.to_owned(),
            body,
        }
    }

    /// The body's size in bytes.
    pub fn size(&self) -> usize {
        self.body.len()
    }

    /// The folder's secrets, read from the body in one pass: checked as UTF-8 once, parsed
    /// with strings borrowed from the body where the JSON holds them unescaped. An answer
    /// that is not the JSON expected is malformed (exit 7; the reason gives the category and
    /// the position, never the text).
    pub fn folder(&self) -> Result<Folder<'_>, FetchError> {
        let list = list_answer(&self.body).map_err(|e| FetchError::Malformed {
            route: SECRETS_RAW,
            reason: json_reason(&e),
        })?;
        let path = self.path.as_str();
        Ok(Folder {
            path,
            local: list
                .secrets
                .into_iter()
                .map(|s| convert(s, &Cow::Borrowed(path)))
                .collect(),
            imports: list
                .imports
                .unwrap_or_default()
                .into_iter()
                .map(|import| {
                    // Imported secrets carry no `secretPath`: their origin is the import's
                    // folder, and its environment when it is not the one asked for (`/shared`
                    // from two environments is two origins).
                    let folder = import.secret_path.unwrap_or(Cow::Borrowed(path));
                    let origin = match import.environment {
                        Some(env) if !env.is_empty() && env != self.environment => {
                            Cow::Owned(format!("{folder} (environment {env})"))
                        }
                        _ => folder,
                    };
                    import
                        .secrets
                        .into_iter()
                        .map(|s| convert(s, &origin))
                        .collect()
                })
                .collect(),
        })
    }
}

/// The secrets of one requested path, borrowing from its [`Answer`].
#[derive(Debug)]
pub struct Folder<'a> {
    /// The path asked for.
    pub path: &'a str,
    /// The folder's own secrets (and, when recursive, its sub-folders').
    pub local: Vec<Secret<'a>>,
    /// Imported folders, in answer order.
    pub imports: Vec<Vec<Secret<'a>>>,
}

impl<'a> Folder<'a> {
    /// Every value in the folder, imports included (to register them with the redactor).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.local
            .iter()
            .chain(self.imports.iter().flatten())
            .map(|s| s.value.expose_secret())
    }

    /// The folder's secrets: every local one (a recursive answer may hold the same key from
    /// two sub-folders: the caller decides), then, when asked, each imported key that no local
    /// secret has; among imports a later import wins over an earlier one (the official CLI's
    /// order).
    pub fn merged(&self, include_imports: bool) -> Vec<&Secret<'a>> {
        let mut out: Vec<&Secret<'a>> = self.local.iter().collect();
        if include_imports {
            let mut seen: std::collections::BTreeSet<&str> =
                self.local.iter().map(|s| s.key.as_ref()).collect();
            for import in self.imports.iter().rev() {
                for s in import {
                    if seen.insert(&s.key) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }
}

/// What an error answer means, read from its body (the server's `error` class and
/// `message`), beyond its status. Infisical's texts are matched loosely (a prefix or a word),
/// the class first: a server that rewords a message falls back to [`Meaning::Plain`], never to
/// a wrong hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Nothing more than the status says.
    Plain,
    /// 404 `SecretPathNotFound`: no such folder (non-recursive: or no such environment).
    FolderNotFound,
    /// 404 "Environment with slug '…' … not found" (recursive listings).
    EnvironmentNotFound,
    /// 404 "Project with … not found" / "No project found with slug …".
    ProjectNotFound,
    /// 403: the identity may describe the secrets but not read their values, in either
    /// wording: `PermissionDenied` "You are not allowed to readValue on secrets", or
    /// `ForbiddenRequestError` "You do not have permission to read secret values".
    ReadValueDenied,
    /// 403 `PermissionDenied` of any other action ("You are not allowed to read on secrets",
    /// recorded at 593bda8b for a role that reads other folders only): the credentials
    /// worked, the role does not cover the place asked.
    RoleDenied,
    /// 403 `TokenError` ("The provided access token is malformed…", "invalid signature", "Your
    /// token has expired…"): the token itself is refused.
    TokenError,
    /// 403 "Identity is not a member of the specified project …" (recorded, in `error`) or
    /// "You are not member of this project".
    NotMember,
    /// 404 "No identity with specified client ID was found" on the Universal Auth login: a
    /// credentials problem (exit 3), not a wrong URL.
    UnknownClientId,
    /// 401 (older servers, recorded at 593bda8b) or 403 (older still) `ValidationFailure`: a
    /// request-validation error like today's 422, so a usage error (exit 2).
    ValidationFailure,
    /// 403 `PermissionDenied` "You are not allowed to describeSecret on secrets" (no rule
    /// lets the identity see any secret).
    DescribeDenied,
    /// 400 "Identity does not belong to this organization".
    IdentityNotInOrg,
    /// 401 "… access token number of uses limit reached".
    TokenUseLimit,
    /// 401 "This identity auth method is temporarily locked …".
    Locked,
    /// 403 "… from the current IP address".
    IpNotAllowed,
}

impl Meaning {
    /// What to check for this meaning, naming where the list call was aimed when the hint
    /// needs it (`None`: the status's own hint applies).
    fn hint(self, place: Option<&Place>) -> Option<String> {
        Some(match (self, place) {
            (Meaning::ReadValueDenied, Some(p)) => format!(
                "the identity can see the secrets at {} in environment {} but lacks the read-value permission there (readValue): grant it read access to secret values on that path and environment",
                p.path, p.environment
            ),
            (Meaning::RoleDenied, Some(p)) => format!(
                "the credentials worked, but the identity's role does not allow reading secrets at {} in environment {} of project {}: grant its role read access to that path and environment",
                p.path, p.environment, p.project_id
            ),
            (Meaning::TokenError, _) => "the access token is malformed, expired or not issued by this instance: check the token file (or variable) and that --api-url names the instance that issued it".to_owned(),
            (Meaning::NotMember, Some(p)) => format!(
                "the identity is not a member of project {}: add it to the project with a role that reads {} in environment {}, or check --project-id",
                p.project_id, p.path, p.environment
            ),
            (Meaning::NotMember, None) => "the identity is not a member of the project: add it to the project, or check --project-id".to_owned(),
            (Meaning::UnknownClientId, _) => "the client ID is unknown to this instance: check --client-id (or $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID) and that --api-url names the instance where the identity lives".to_owned(),
            (Meaning::DescribeDenied, Some(p)) => format!(
                "the identity may not see any secret (no describe permission): grant it read access to the secrets at {} in environment {}",
                p.path, p.environment
            ),
            (Meaning::IdentityNotInOrg, _) => "the identity does not belong to the project's organization any more (a credentials problem, not a bad request): add it back or use another identity".to_owned(),
            (Meaning::TokenUseLimit, _) => "the access token has reached its number-of-uses limit (every list call, every --path and every retry uses one): issue a new token or raise its limit".to_owned(),
            (Meaning::Locked, _) => "Universal Auth is locked for this identity after failed logins (300 s by default): wait for the lock to end, then check the client secret".to_owned(),
            (Meaning::IpNotAllowed, _) => "the request came from an IP address the identity's trusted IPs do not allow: run from an allowed address or add this one".to_owned(),
            (Meaning::FolderNotFound, Some(p)) => format!(
                "no folder {} in environment {}: check --path and --env (a current server answers so for an unknown environment too)",
                p.path, p.environment
            ),
            (Meaning::EnvironmentNotFound, Some(p)) => format!(
                "no environment {} in project {}: check --env against the project's environment slugs",
                p.environment, p.project_id
            ),
            (Meaning::ProjectNotFound, Some(p)) => format!(
                "no project {}: check --project-id, and that --api-url names the instance holding it",
                p.project_id
            ),
            _ => return None,
        })
    }
}

/// Infisical's error shape: `{statusCode, message, error}` (current servers add `reqId`;
/// some errors carry their class in `name` too). `message` is an array of issues for a
/// validation failure.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<serde_json::Value>,
}

/// Reads what an error body means (see [`Meaning`]): by what the answer says, not by one
/// sentence — the class (`error`, or `name`) first, then words any wording of that meaning
/// holds.
pub fn meaning(status: u16, body: &str) -> Meaning {
    let Ok(parsed) = serde_json::from_str::<ErrorBody>(body) else {
        return Meaning::Plain;
    };
    let text = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let (error, message, name) = (
        text(&parsed.error),
        text(&parsed.message),
        text(&parsed.name),
    );
    let class = |c: &str| error == c || name == c;
    let words = format!("{error} {message}").to_lowercase();
    match status {
        404 if class("SecretPathNotFound") => Meaning::FolderNotFound,
        404 if message.starts_with("Environment with slug") => Meaning::EnvironmentNotFound,
        404 if message.starts_with("Project with") || message.starts_with("No project found") => {
            Meaning::ProjectNotFound
        }
        404 if message.contains("No identity with specified client ID") => Meaning::UnknownClientId,
        401 | 403 if class("ValidationFailure") => Meaning::ValidationFailure,
        403 if class("TokenError") => Meaning::TokenError,
        403 if words.contains("readvalue") || words.contains("permission to read secret value") => {
            Meaning::ReadValueDenied
        }
        403 if class("PermissionDenied") && message.contains("describeSecret") => {
            Meaning::DescribeDenied
        }
        403 if words.contains("not a member of") || words.contains("not member of") => {
            Meaning::NotMember
        }
        403 if message.contains("current IP address") => Meaning::IpNotAllowed,
        403 if class("PermissionDenied") => Meaning::RoleDenied,
        400 if message.contains("does not belong to this organization") => {
            Meaning::IdentityNotInOrg
        }
        401 if message.contains("number of uses limit") => Meaning::TokenUseLimit,
        401 if message.contains("temporarily locked") => Meaning::Locked,
        _ => Meaning::Plain,
    }
}

/// Where a list call was aimed, for the messages that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `workspaceId`.
    pub project_id: String,
    /// The environment slug.
    pub environment: String,
    /// The folder asked for.
    pub path: String,
}

/// Why fetching failed. Bodies are kept raw; print only through [`FetchError::describe`].
#[derive(Debug)]
pub enum FetchError {
    /// 401/403 (but a [`Meaning::ValidationFailure`]), or a 400 or 404 that is a credentials
    /// problem ([`Meaning::IdentityNotInOrg`], [`Meaning::UnknownClientId`]): the credentials
    /// or the permission were refused.
    Refused {
        route: &'static str,
        status: u16,
        body: String,
        meaning: Meaning,
        place: Option<Place>,
    },
    /// 404.
    NotFound {
        route: &'static str,
        status: u16,
        body: String,
        meaning: Meaning,
        place: Option<Place>,
    },
    /// 400 and other 4xx (an older server's 401 `ValidationFailure` too), or a redirect: the
    /// request (so the configuration) is wrong.
    Rejected {
        route: &'static str,
        status: u16,
        body: String,
    },
    /// 5xx not retried, or a transient failure retrying gave up on.
    Unavailable {
        route: &'static str,
        reason: String,
        attempts: u32,
        body: String,
        /// The time spent waiting between attempts.
        waited: Duration,
        /// Why no further attempt was made (`None`: the outcome was not worth one).
        gave_up: Option<GaveUp>,
    },
    /// The answer is not the JSON expected.
    Malformed { route: &'static str, reason: String },
    /// The answer is longer than [`MAX_ANSWER_BYTES`].
    TooLarge { route: &'static str },
}

/// A duration as the messages show it: seconds with one decimal.
fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl FetchError {
    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            FetchError::Refused { .. } => Exit::Refused,
            FetchError::NotFound { .. } => Exit::NotFound,
            FetchError::Rejected { .. } => Exit::Usage,
            FetchError::Unavailable { .. } => Exit::Unavailable,
            FetchError::Malformed { .. } | FetchError::TooLarge { .. } => Exit::InvalidData,
        }
    }

    /// The same failure, knowing where the list call was aimed (for the messages naming it).
    pub fn at(mut self, at: Place) -> Self {
        match &mut self {
            FetchError::Refused { place, .. } | FetchError::NotFound { place, .. } => {
                *place = Some(at);
            }
            _ => {}
        }
        self
    }

    /// A one-line message: route, status, reason, and the server's words redacted by
    /// `redactor` (every credential and fetched value, in every encoding) then capped.
    pub fn describe(&self, redactor: &Redactor) -> String {
        let said = |body: &str| {
            let words = error_words(body);
            if words.is_empty() {
                String::new()
            } else {
                format!(
                    "; the server said: {}",
                    redactor.quote(&words, BODY_QUOTE_CAP)
                )
            }
        };
        match self {
            FetchError::NotFound {
                route,
                status,
                body,
                ..
            } if *route == UA_LOGIN => format!(
                "{route}: not found (status {status}: does --api-url name an Infisical API with Universal Auth?){}",
                said(body)
            ),
            FetchError::Refused {
                route,
                status,
                body,
                meaning,
                place,
            }
            | FetchError::NotFound {
                route,
                status,
                body,
                meaning,
                place,
            } => {
                let hint = meaning.hint(place.as_ref());
                let what = if matches!(self, FetchError::Refused { .. }) {
                    format!(
                        "refused with status {status} ({})",
                        hint.unwrap_or_else(|| "check the credentials and the identity's access to this project, environment and path".to_owned())
                    )
                } else {
                    format!(
                        "not found (status {status}: {})",
                        hint.unwrap_or_else(
                            || "check the project ID and the environment".to_owned()
                        )
                    )
                };
                format!("{route}: {what}{}", said(body))
            }
            FetchError::Rejected {
                route,
                status,
                body,
            } if (300..400).contains(status) => format!(
                "{route}: the server answered with a redirect (status {status}), which is not followed: point --api-url at the API itself{}",
                said(body)
            ),
            FetchError::Rejected {
                route,
                status,
                body,
            } => format!(
                "{route}: the request was rejected with status {status} (check --project-id, --env and --path){}",
                said(body)
            ),
            FetchError::Unavailable {
                route,
                reason,
                attempts,
                body,
                waited,
                gave_up,
            } => {
                let why = match gave_up {
                    None => String::new(),
                    Some(GaveUp::NoAttemptLeft) => format!(
                        " (gave up: no attempt left; {} spent waiting)",
                        secs(*waited)
                    ),
                    Some(GaveUp::WaitTooLong { asked, cap }) => format!(
                        " (gave up: the server asked to wait {}, more than --max-retry-wait {}; {} spent waiting)",
                        secs(*asked),
                        secs(*cap),
                        secs(*waited)
                    ),
                };
                format!(
                    "{route}: unavailable after {attempts} attempt{}{why}: {reason}{}",
                    if *attempts == 1 { "" } else { "s" },
                    said(body)
                )
            }
            FetchError::Malformed { route, reason } => {
                format!("{route}: the answer is not the JSON expected: {reason}")
            }
            FetchError::TooLarge { route } => format!(
                "{route}: the answer is larger than {} MiB; refused",
                MAX_ANSWER_BYTES / (1024 * 1024)
            ),
        }
    }
}

/// The words worth quoting from an Infisical error body: `error: message` of its error shape
/// (`{"statusCode", "message", "error"}`), else the whole body trimmed. A `message` that is an
/// array (a 422's zod issues) is each issue's `path: message`, joined by `; `.
fn error_words(body: &str) -> String {
    fn issue(v: &serde_json::Value) -> String {
        match (v.get("path"), v.get("message")) {
            (Some(serde_json::Value::Array(path)), Some(serde_json::Value::String(m)))
                if !path.is_empty() =>
            {
                let path: Vec<String> = path
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                    .collect();
                format!("{}: {m}", path.join("."))
            }
            (_, Some(serde_json::Value::String(m))) => m.clone(),
            _ => v.as_str().map_or_else(|| v.to_string(), str::to_owned),
        }
    }
    let text = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(items)) => {
            Some(items.iter().map(issue).collect::<Vec<_>>().join("; "))
        }
        Some(other) => Some(other.to_string()),
        None => None,
    };
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => match (text(&e.error), text(&e.message)) {
            (Some(err), Some(msg)) => format!("{err}: {msg}"),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => body.trim().to_owned(),
        },
        Err(_) => body.trim().to_owned(),
    }
}

/// How long the road waits at the default `--max-retry-wait` after attempt `attempt`
/// (1-based) failed with a 429 carrying the raw `Retry-After` header `retry_after`:
/// `Ok(wait)`, or why it gives up ([`http::Retry::next`]).
pub fn retry_delay(attempt: u32, retry_after: Option<&str>) -> Result<Duration, Option<GaveUp>> {
    let outcome = Outcome::Status {
        code: 429,
        body: String::new(),
        retry_after: retry_after.and_then(http::parse_retry_after),
    };
    rules(DEFAULT_MAX_RETRY_WAIT).retry.next(attempt, &outcome)
}

/// A duration as the waiting line shows it: whole seconds as `45 s`, else one decimal.
fn wait_secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        secs(d)
    }
}

/// The one line said when the road starts waiting before a retry (INF-041): how long, why,
/// and what comes next — `waiting 45 s: the server's rate limit (429, retry-after); then
/// attempt 2 of 3 of /api/v3/secrets/raw for --path /p`. Never a body, header or value:
/// only the status, who chose the wait, the route and the folder asked (`path`, for the list
/// route).
pub fn waiting_line(route: &str, path: Option<&str>, w: &Waiting<'_>) -> String {
    let source = match w.asked {
        Asked::RetryAfter => ", retry-after)",
        Asked::Body => ", its message)",
        Asked::Backoff => "), backing off",
    };
    let why = match w.after {
        Outcome::Status { code: 429, .. } => format!("the server's rate limit (429{source}"),
        Outcome::Status { code, .. } => format!("the server is unavailable ({code}{source}"),
        Outcome::Timeout => "no answer within --timeout, backing off".to_owned(),
        Outcome::Unreachable { why } if why.stage == Stage::Body => {
            "the connection broke while reading the answer, backing off".to_owned()
        }
        Outcome::Unreachable { .. } => "the connection failed, backing off".to_owned(),
        Outcome::Ok { .. } | Outcome::Redirect { .. } | Outcome::TooLarge => {
            "backing off".to_owned()
        }
    };
    let what = match path {
        Some(p) => format!("{route} for --path {p}"),
        None => route.to_owned(),
    };
    format!(
        "waiting {}: {why}; then attempt {} of {} of {what}",
        wait_secs(w.wait),
        w.attempt + 1,
        w.attempts
    )
}

/// Where the client tells each wait as it starts ([`Client::say_waits`]).
pub type Say = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The Infisical client for one run.
pub struct Client {
    http: http::Client,
    base: Url,
    rules: http::Rules,
    say: Option<Say>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("http", &self.http)
            .field("base", &self.base)
            .field("rules", &self.rules)
            .field("says_waits", &self.say.is_some())
            .finish()
    }
}
/// The raw JSON shapes.
mod wire {
    use serde::Deserialize;

    use std::borrow::Cow;

    // Strings borrow from the answer where the JSON holds them unescaped (`Cow::Borrowed`);
    // only an escaped one (a PEM block's `\n`) is unescaped into a buffer of its own.
    #[derive(Deserialize)]
    pub struct ListAnswer<'a> {
        #[serde(borrow)]
        pub secrets: Vec<RawSecret<'a>>,
        #[serde(default, borrow)]
        pub imports: Option<Vec<Import<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Import<'a> {
        #[serde(rename = "secretPath", default, borrow)]
        pub secret_path: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub environment: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub secrets: Vec<RawSecret<'a>>,
    }

    #[derive(Deserialize)]
    pub struct RawSecret<'a> {
        #[serde(rename = "secretKey", borrow)]
        pub key: Cow<'a, str>,
        #[serde(rename = "secretValue", borrow)]
        pub value: Cow<'a, str>,
        #[serde(rename = "secretValueHidden", default)]
        pub hidden: Option<bool>,
        #[serde(rename = "secretPath", default, borrow)]
        pub secret_path: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub struct LoginAnswer {
        #[serde(rename = "accessToken")]
        pub access_token: String,
    }
}

/// A short, value-free description of a JSON error: its category and position only (serde's
/// own message may quote the offending value).
fn json_reason(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "JSON of an unexpected shape",
        serde_json::error::Category::Io => "unreadable JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The access token of a Universal Auth login answer; a blank one is malformed.
fn login_token(answer: &[u8]) -> Result<SecretString, FetchError> {
    let login: wire::LoginAnswer =
        serde_json::from_slice(answer).map_err(|e| FetchError::Malformed {
            route: UA_LOGIN,
            reason: json_reason(&e),
        })?;
    let token = SecretString::from(login.access_token);
    if token.expose_secret().trim().is_empty() {
        return Err(FetchError::Malformed {
            route: UA_LOGIN,
            reason: "empty accessToken".into(),
        });
    }
    Ok(token)
}

/// One secret of the answer, nothing copied: its strings stay where the parse left them (in
/// the answer, or in the buffer an escaped one was unescaped into); only a secret without a
/// `secretPath` takes `fallback_origin`.
fn convert<'a>(raw: wire::RawSecret<'a>, fallback_origin: &Cow<'a, str>) -> Secret<'a> {
    let hidden = raw.hidden.unwrap_or(false) || raw.value == HIDDEN_PLACEHOLDER;
    Secret {
        key: raw.key,
        value: SecretText::new(raw.value),
        hidden,
        origin: match raw.secret_path {
            Some(p) if !p.is_empty() => p,
            _ => fallback_origin.clone(),
        },
    }
}

/// The list answer, parsed once: the whole body checked as UTF-8 in one pass, then read as
/// `&str` (serde_json then checks no string again) with borrowed strings. A body that is not
/// UTF-8 is handed to the byte parser as before, so its error (and message) is the same.
fn list_answer(answer: &[u8]) -> Result<wire::ListAnswer<'_>, serde_json::Error> {
    match std::str::from_utf8(answer) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(answer),
    }
}

/// Whether an answer of `status` meaning `m` is a refusal of the credentials or the
/// permission (exit 3): 401/403 but an older server's validation failure, and the 400 and 404
/// that name a credentials problem.
fn refused(status: u16, m: Meaning) -> bool {
    match m {
        Meaning::ValidationFailure => false,
        Meaning::IdentityNotInOrg | Meaning::UnknownClientId => true,
        _ => matches!(status, 401 | 403),
    }
}

/// What `exchange` on `route` means: the body of a 2xx answer, or the failure with the real
/// server's meaning — 401/403 refused (exit 3, never retried), 404 not found (exit 4), a
/// transient failure after the last attempt or another 5xx unavailable (exit 5), a redirect
/// or another status a rejected request (exit 2), an oversized answer invalid data (exit 7).
/// `timeout` is the client's, for the message.
fn answer_of(
    route: &'static str,
    exchange: Exchange,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let Exchange {
        outcome,
        attempts,
        waited,
        gave_up,
    } = exchange;
    let unavailable = |reason: String, body: String| FetchError::Unavailable {
        route,
        reason,
        attempts,
        body,
        waited,
        gave_up: gave_up.clone(),
    };
    Err(match outcome {
        Outcome::Ok { body, .. } => return Ok(body),
        Outcome::TooLarge => FetchError::TooLarge { route },
        Outcome::Redirect { code, body } => FetchError::Rejected {
            route,
            status: code,
            body,
        },
        Outcome::Status {
            code: status, body, ..
        } if refused(status, meaning(status, &body)) => FetchError::Refused {
            route,
            status,
            meaning: meaning(status, &body),
            body,
            place: None,
        },
        Outcome::Status {
            code: status @ 404,
            body,
            ..
        } => FetchError::NotFound {
            route,
            status,
            meaning: meaning(status, &body),
            body,
            place: None,
        },
        Outcome::Status { code, body, .. } if http::TRANSIENT_STATUSES.contains(&code) => {
            unavailable(format!("status {code}"), body)
        }
        Outcome::Status { code, body, .. } if code >= 500 => {
            unavailable(format!("status {code} (not retried)"), body)
        }
        Outcome::Status { code, body, .. } => FetchError::Rejected {
            route,
            status: code,
            body,
        },
        Outcome::Timeout => unavailable(format!("timed out after {timeout:?}"), String::new()),
        Outcome::Unreachable { why } => unavailable(
            match why.stage {
                Stage::Connect => "connection failed (refused or unreachable)",
                Stage::Body => "the connection broke while reading the answer",
                Stage::Other => "transport error",
            }
            .to_owned(),
            String::new(),
        ),
    })
}

impl Client {
    /// A client for the API at `base` (see [`api_base`]), using `http` for every request and
    /// honouring a server's wait up to `max_retry_wait` ([`rules`]).
    pub fn new(http: http::Client, base: Url, max_retry_wait: Duration) -> Self {
        Client {
            http,
            base,
            rules: rules(max_retry_wait),
            say: None,
        }
    }

    /// The same client, handing `say` the [`waiting_line`] of every wait before a retry the
    /// moment it starts (the caller decides where it goes: the binary prints it on stderr).
    #[must_use]
    pub fn say_waits(mut self, say: Say) -> Self {
        self.say = Some(say);
        self
    }

    /// Sends `request` on `route` (for the folder `path` on the list route) under the road's
    /// [`rules`], telling each wait, and reads what came back.
    async fn call(
        &self,
        route: &'static str,
        path: Option<&str>,
        request: Request<'_>,
    ) -> Result<Vec<u8>, FetchError> {
        let watch = |w: &Waiting<'_>| {
            if let Some(say) = &self.say {
                say(&waiting_line(route, path, w));
            }
        };
        let exchange = self.http.send_watched(&request, &self.rules, &watch).await;
        answer_of(route, exchange, self.http.timeout())
    }

    fn url(&self, route: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}{route}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// Turns `auth` into the access token to send: Token Auth as is, Universal Auth by one
    /// login call.
    pub async fn access_token(&self, auth: &Auth) -> Result<SecretString, FetchError> {
        match auth {
            Auth::Token(token) => Ok(token.clone()),
            Auth::Universal {
                client_id,
                client_secret,
            } => {
                let body = SecretString::from(
                    serde_json::json!({
                        "clientId": client_id,
                        "clientSecret": client_secret.expose_secret(),
                    })
                    .to_string(),
                );
                let url = self.url(UA_LOGIN);
                let answer = self
                    .call(UA_LOGIN, None, Request::post_json(&url, &body))
                    .await?;
                login_token(&answer)
            }
        }
    }

    /// Lists the secrets of one folder: the answer as received, read by [`Answer::folder`].
    pub async fn list(
        &self,
        token: &SecretString,
        query: &Query,
        path: &str,
    ) -> Result<Answer, FetchError> {
        let bool_str = |b: bool| if b { "true" } else { "false" };
        let mut url = self.url(SECRETS_RAW);
        url.query_pairs_mut()
            .append_pair("workspaceId", &query.project_id)
            .append_pair("environment", &query.environment)
            .append_pair("secretPath", path)
            .append_pair("viewSecretValue", "true")
            .append_pair("expandSecretReferences", "true")
            .append_pair("recursive", bool_str(query.recursive))
            .append_pair("include_imports", bool_str(query.include_imports));
        // The error names the route the header was for (INF-028): a Universal Auth token
        // holding a newline is only found unfit here, on the list route.
        let bearer = Bearer::new(token).map_err(|_| FetchError::Malformed {
            route: SECRETS_RAW,
            reason: "the access token holds characters an HTTP header cannot carry".into(),
        })?;
        let place = Place {
            project_id: query.project_id.clone(),
            environment: query.environment.clone(),
            path: path.to_owned(),
        };
        let answer = self
            .call(SECRETS_RAW, Some(path), Request::get(&url).bearer(&bearer))
            .await
            .map_err(|e| e.at(place))?;
        Ok(Answer::received(path, &query.environment, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base() {
        for raw in [
            "https://app.infisical.com",
            "https://app.infisical.com/",
            "https://app.infisical.com/api",
            "https://app.infisical.com/api/",
        ] {
            assert_eq!(api_base(raw), "https://app.infisical.com");
        }
        assert_eq!(api_base("https://x/infisical/api"), "https://x/infisical");
    }

    #[test]
    fn words() {
        assert_eq!(
            error_words(
                r#"{"statusCode":401,"message":"Token missing","error":"UnauthorizedError"}"#
            ),
            "UnauthorizedError: Token missing"
        );
        assert_eq!(error_words(" plain "), "plain");
    }

    const TIMEOUT: Duration = Duration::from_millis(300);

    fn exchange(outcome: Outcome, attempts: u32) -> Exchange {
        Exchange {
            outcome,
            attempts,
            waited: Duration::ZERO,
            gave_up: None,
        }
    }

    fn status(code: u16, body: &str) -> Outcome {
        Outcome::Status {
            code,
            body: body.into(),
            retry_after: None,
        }
    }

    fn unreachable(stage: Stage) -> Outcome {
        Outcome::Unreachable {
            why: http::Unreachable {
                stage,
                cause: "os says no".into(),
            },
        }
    }

    /// A failure in one short line, for the table below.
    fn short(err: &FetchError) -> String {
        match err {
            FetchError::Refused {
                route,
                status,
                body,
                ..
            } => format!("{route} refused {status} {body}"),
            FetchError::NotFound {
                route,
                status,
                body,
                ..
            } => format!("{route} not found {status} {body}"),
            FetchError::Rejected {
                route,
                status,
                body,
            } => format!("{route} rejected {status} {body}"),
            FetchError::Unavailable {
                route,
                reason,
                attempts,
                body,
                ..
            } => {
                format!("{route} unavailable {reason} x{attempts} {body}")
            }
            FetchError::Malformed { route, reason } => format!("{route} malformed {reason}"),
            FetchError::TooLarge { route } => format!("{route} too large"),
        }
    }

    /// What each outcome means on Infisical's road, and the exit code it ends in: 401/403 are
    /// refused (3, not 5), 404 not found (4), transient failures and other 5xx unavailable
    /// (5), redirects and other statuses a rejected request (2), an oversized answer (7).
    #[test]
    fn outcome_to_error() {
        let ok = Outcome::Ok {
            status: 200,
            body: b"{}".to_vec(),
        };
        assert_eq!(
            answer_of(UA_LOGIN, exchange(ok, 1), TIMEOUT).ok(),
            Some(b"{}".to_vec())
        );
        let redirect = Outcome::Redirect {
            code: 302,
            body: "b".into(),
        };
        let r = SECRETS_RAW;
        for (outcome, attempts, exit, want) in [
            (
                status(401, "b"),
                1,
                Exit::Refused,
                format!("{r} refused 401 b"),
            ),
            (
                status(403, "b"),
                1,
                Exit::Refused,
                format!("{r} refused 403 b"),
            ),
            (
                status(404, "b"),
                1,
                Exit::NotFound,
                format!("{r} not found 404 b"),
            ),
            (
                status(429, "b"),
                3,
                Exit::Unavailable,
                format!("{r} unavailable status 429 x3 b"),
            ),
            (
                status(502, ""),
                3,
                Exit::Unavailable,
                format!("{r} unavailable status 502 x3 "),
            ),
            (
                status(503, ""),
                3,
                Exit::Unavailable,
                format!("{r} unavailable status 503 x3 "),
            ),
            (
                status(504, ""),
                3,
                Exit::Unavailable,
                format!("{r} unavailable status 504 x3 "),
            ),
            (
                status(500, "b"),
                2,
                Exit::Unavailable,
                format!("{r} unavailable status 500 (not retried) x2 b"),
            ),
            (
                status(599, ""),
                1,
                Exit::Unavailable,
                format!("{r} unavailable status 599 (not retried) x1 "),
            ),
            (
                status(499, "b"),
                1,
                Exit::Usage,
                format!("{r} rejected 499 b"),
            ),
            (
                status(400, "b"),
                1,
                Exit::Usage,
                format!("{r} rejected 400 b"),
            ),
            (redirect, 1, Exit::Usage, format!("{r} rejected 302 b")),
            (
                Outcome::TooLarge,
                1,
                Exit::InvalidData,
                format!("{r} too large"),
            ),
            (
                Outcome::Timeout,
                3,
                Exit::Unavailable,
                format!("{r} unavailable timed out after 300ms x3 "),
            ),
            (
                unreachable(Stage::Connect),
                3,
                Exit::Unavailable,
                format!("{r} unavailable connection failed (refused or unreachable) x3 "),
            ),
            (
                unreachable(Stage::Body),
                3,
                Exit::Unavailable,
                format!("{r} unavailable the connection broke while reading the answer x3 "),
            ),
            (
                unreachable(Stage::Other),
                1,
                Exit::Unavailable,
                format!("{r} unavailable transport error x1 "),
            ),
        ] {
            let err = answer_of(r, exchange(outcome, attempts), TIMEOUT).unwrap_err();
            assert_eq!((err.exit(), short(&err)), (exit, want));
        }
        let err = FetchError::Malformed {
            route: r,
            reason: "x".into(),
        };
        assert_eq!(
            (err.exit(), short(&err)),
            (Exit::InvalidData, format!("{r} malformed x"))
        );
        // Meant answers whose status alone would mislead: an older server's 401/403
        // validation failure is a usage error; an unknown client ID is a refusal, not a 404.
        let validation = r#"{"error":"ValidationFailure","message":[]}"#;
        let unknown =
            r#"{"message":"No identity with specified client ID was found","error":"NotFound"}"#;
        for (route, outcome, exit) in [
            (r, status(401, validation), Exit::Usage),
            (r, status(403, validation), Exit::Usage),
            (UA_LOGIN, status(404, unknown), Exit::Refused),
            (UA_LOGIN, status(404, "Route not found"), Exit::NotFound),
        ] {
            let err = answer_of(route, exchange(outcome, 1), TIMEOUT).unwrap_err();
            assert_eq!(err.exit(), exit, "{}", short(&err));
        }
    }

    /// The road's rules: three attempts, 100 ms doubled, a server's wait honoured up to
    /// `--max-retry-wait` with Infisical's body hint; answers over 16 MiB refused, error
    /// bodies kept up to 64 KiB on a best-effort basis.
    #[test]
    fn rules_of_the_road() {
        let max = Duration::from_secs(10);
        let road = rules(max);
        match road.retry {
            Retry::Transient {
                attempts,
                backoff,
                max_wait,
                hint,
            } => {
                assert_eq!(
                    (attempts, backoff, max_wait),
                    (3, Duration::from_millis(100), max)
                );
                let said = with(429, RATE_LIMITED, None);
                assert_eq!(hint(&said), Some(Duration::from_secs(42)));
            }
            Retry::Never => panic!("the Infisical road retries"),
        }
        assert_eq!(
            road.body,
            BodyRules {
                answer: Cap::Refuse(16 * 1024 * 1024),
                error: Cap::Refuse(64 * 1024),
                error_best_effort: true,
            }
        );
        assert_eq!(DEFAULT_MAX_RETRY_WAIT, Duration::from_secs(60));
        assert_eq!(retry_delay(2, None), Ok(Duration::from_millis(200)));
        assert_eq!(retry_delay(1, Some(" 4 ")), Ok(Duration::from_secs(4)));
        assert_eq!(retry_delay(3, None), Err(Some(GaveUp::NoAttemptLeft)));
        // The body's ask, through the policy: more than the cap gives up, naming both; a
        // Retry-After comes first; a 500 is not retried at all.
        assert_eq!(
            road.retry.next(1, &with(429, RATE_LIMITED, None)),
            Err(Some(GaveUp::WaitTooLong {
                asked: Duration::from_secs(42),
                cap: max
            }))
        );
        assert_eq!(
            road.retry.next(1, &with(429, RATE_LIMITED, Some(7))),
            Ok(Duration::from_secs(7))
        );
        assert_eq!(
            road.retry.next(1, &with(500, RATE_LIMITED, None)),
            Err(None)
        );
    }

    const RATE_LIMITED: &str = r#"{"statusCode":429,"message":"Rate limit exceeded. Please try again in 42 seconds","error":"RateLimitExceeded"}"#;

    fn with(code: u16, body: &str, after: Option<u64>) -> Outcome {
        Outcome::Status {
            code,
            body: body.into(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    /// The wait a 429's body asks: "try again in N seconds" (current servers; the singular
    /// is read too) or "in N minute(s)" (N × 60 s: the October 2024 server's "in 1 minute"),
    /// never another status's body, never hours or words, never a Retry-After (http reads
    /// that).
    #[test]
    fn body_asks() {
        assert_eq!(
            try_again_in(&with(429, RATE_LIMITED, None)),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            try_again_in(&with(429, RATE_LIMITED, Some(7))),
            Some(Duration::from_secs(42))
        );
        assert_eq!(try_again_in(&with(503, RATE_LIMITED, None)), None);
        assert_eq!(try_again_in(&with(429, "", Some(7))), None);
        assert_eq!(
            try_again_in(&with(429, "try again in 1 second", None)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            try_again_in(&with(429, "try again in  3 seconds", None)),
            None
        );
        assert_eq!(try_again_in(&with(429, "try again in a while", None)), None);
        assert_eq!(
            try_again_in(&with(429, "try again in 5 minutes", None)),
            Some(Duration::from_secs(300))
        );
        let recorded = std::fs::read_to_string(format!(
            "{}/fixtures/infisical/593bda8b/error-429-rate-limit.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            try_again_in(&with(429, &recorded, None)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(try_again_in(&with(429, "try again in 2 hours", None)), None);
        assert_eq!(try_again_in(&with(429, "in 5 seconds", None)), None);
        assert_eq!(try_again_in(&Outcome::Timeout), None);
    }

    /// The exchange's waits and why it stopped reach the unavailable error as they are; any
    /// other error does not carry them.
    #[test]
    fn waits_reach_the_message() {
        let gave_up = Some(GaveUp::WaitTooLong {
            asked: Duration::from_secs(42),
            cap: Duration::from_secs(30),
        });
        let exchange = Exchange {
            outcome: with(429, RATE_LIMITED, None),
            attempts: 2,
            waited: Duration::from_millis(100),
            gave_up: gave_up.clone(),
        };
        match answer_of(SECRETS_RAW, exchange, TIMEOUT) {
            Err(FetchError::Unavailable {
                attempts,
                waited,
                gave_up: got,
                ..
            }) => {
                assert_eq!(
                    (attempts, waited, got),
                    (2, Duration::from_millis(100), gave_up)
                );
            }
            other => panic!("{:?}", other.map(|_| "an answer")),
        }
    }

    /// Infisical's reference syntax, and nothing else.
    #[test]
    fn references() {
        for yes in ["${A}", "x${env.path.KEY}y", "${a-b_c.d}", "$ ${} ${K}"] {
            assert!(holds_reference(yes), "{yes}");
        }
        for no in ["$A", "${}", "${ A }", "${A", "$${", "{A}", "${A B}"] {
            assert!(!holds_reference(no), "{no}");
        }
    }

    /// Each body's meaning, by class first, message second.
    #[test]
    fn meanings() {
        use Meaning::*;
        // A fixture's name says the status it came with: `[593bda8b/]error-<status>-…`.
        let answer = |name: &str| {
            let status = name.rsplit_once("error-").unwrap().1[..3].parse().unwrap();
            let body = std::fs::read_to_string(format!(
                "{}/fixtures/infisical/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            meaning(status, &body)
        };
        // Those under 593bda8b/ were recorded from the real server at 593bda8b.
        for (name, want) in [
            ("error-404-secret-path-not-found", FolderNotFound),
            ("error-404-environment", EnvironmentNotFound),
            ("error-404-project", ProjectNotFound),
            ("error-403-read-value", ReadValueDenied),
            ("error-403-permission-denied", RoleDenied),
            ("error-403-read-value-forbidden", ReadValueDenied),
            ("error-403-token-expired", TokenError),
            ("error-403-not-member", NotMember),
            ("error-404-secret-path-not-found-name-only", FolderNotFound),
            ("593bda8b/error-403-permission-denied", RoleDenied),
            ("593bda8b/error-403-not-member", NotMember),
            ("593bda8b/error-403-token-malformed", TokenError),
            ("593bda8b/error-403-token-invalid-signature", TokenError),
            ("593bda8b/error-401-validation", ValidationFailure),
            ("593bda8b/error-404-unknown-client-id", UnknownClientId),
            ("593bda8b/error-404-project", ProjectNotFound),
            ("593bda8b/error-401-token-missing", Plain),
            ("593bda8b/error-401-invalid-credentials", Plain),
            ("error-403-describe-denied", DescribeDenied),
            ("error-400-identity-not-in-org", IdentityNotInOrg),
            ("error-400", Plain),
            ("error-401-token-use-limit", TokenUseLimit),
            ("error-401-ua-locked", Locked),
            ("error-403-ip-not-allowed", IpNotAllowed),
        ] {
            assert_eq!(answer(name), want, "{name}");
        }
        // Either wording of describe-but-not-read, whatever the class says; a validation
        // failure is one on 401 and 403 alike, on 400 it stays plain (exit 2 by its status
        // already); a 404 of another kind (an unknown route) names no project.
        let validation = r#"{"error":"ValidationFailure","message":[]}"#;
        for (status, body, want) in [
            (
                403,
                r#"{"error":"PermissionDenied","message":"You are not allowed to readValue on secrets"}"#,
                ReadValueDenied,
            ),
            (
                403,
                r#"{"error":"ForbiddenError","message":"You do not have permission to read secret values"}"#,
                ReadValueDenied,
            ),
            (
                403,
                r#"{"error":"Forbidden","message":"You do not have permission to read secret values."}"#,
                ReadValueDenied,
            ),
            (403, validation, ValidationFailure),
            (400, validation, Plain),
            (404, "<html>", Plain),
            (
                404,
                r#"{"statusCode":404,"message":"Route GET:/api/v3/x not found","error":"NotFound"}"#,
                Plain,
            ),
        ] {
            assert_eq!(meaning(status, body), want, "{body}");
        }
    }

    /// The line said when a wait starts: its length, the status and who chose it, the next
    /// attempt, the route and the folder; never a body.
    #[test]
    fn waiting_lines() {
        let secret_body = r#"{"message":"synthetic-secret-Qq1"}"#;
        let line = |after: &Outcome, asked: Asked, wait: Duration, path: Option<&str>| {
            waiting_line(
                if path.is_some() {
                    SECRETS_RAW
                } else {
                    UA_LOGIN
                },
                path,
                &Waiting {
                    attempt: 1,
                    attempts: 3,
                    wait,
                    asked,
                    after,
                },
            )
        };
        let p = Some("/home-platform/providers");
        let next = "then attempt 2 of 3 of /api/v3/secrets/raw for --path /home-platform/providers";
        for (after, asked, wait, want) in [
            (
                with(429, secret_body, Some(45)),
                Asked::RetryAfter,
                Duration::from_secs(45),
                format!("waiting 45 s: the server's rate limit (429, retry-after); {next}"),
            ),
            (
                with(429, secret_body, None),
                Asked::Body,
                Duration::from_secs(60),
                format!("waiting 60 s: the server's rate limit (429, its message); {next}"),
            ),
            (
                with(503, secret_body, None),
                Asked::Backoff,
                Duration::from_millis(100),
                format!("waiting 0.1 s: the server is unavailable (503), backing off; {next}"),
            ),
            (
                Outcome::Timeout,
                Asked::Backoff,
                Duration::from_millis(200),
                format!("waiting 0.2 s: no answer within --timeout, backing off; {next}"),
            ),
            (
                unreachable(Stage::Connect),
                Asked::Backoff,
                Duration::from_millis(100),
                format!("waiting 0.1 s: the connection failed, backing off; {next}"),
            ),
            (
                unreachable(Stage::Body),
                Asked::Backoff,
                Duration::from_millis(100),
                format!(
                    "waiting 0.1 s: the connection broke while reading the answer, backing off; {next}"
                ),
            ),
        ] {
            let got = line(&after, asked, wait, p);
            assert_eq!(got, want);
            assert!(!got.contains("synthetic"), "{got}");
        }
        assert_eq!(
            line(
                &with(502, "", Some(2)),
                Asked::RetryAfter,
                Duration::from_secs(2),
                None
            ),
            "waiting 2 s: the server is unavailable (502, retry-after); then attempt 2 of 3 of /api/v1/auth/universal-auth/login"
        );
    }

    /// Visible ASCII only: no space, no control character, no DEL, no non-ASCII, not empty.
    #[test]
    fn token_fit_to_send() {
        assert!(header_safe("!~azAZ09-._"));
        for bad in ["", "a b", "a\tb", "a\nb", "a\u{7f}", "é", "\u{1f}"] {
            assert!(!header_safe(bad), "{bad:?}");
        }
    }

    /// Every message: route, status, what to check, the server's words redacted and capped.
    #[test]
    fn messages() {
        let mut redactor = Redactor::new();
        redactor.add_str("synthetic-secret-Qq1");
        let body = r#"{"error":"Bad","message":"echo synthetic-secret-Qq1"}"#;
        let said = "; the server said: Bad: echo [REDACTED]";
        let d = |e: FetchError| e.describe(&redactor);
        assert_eq!(
            d(FetchError::Refused {
                route: SECRETS_RAW,
                status: 401,
                body: body.into(),
                meaning: Meaning::Plain,
                place: None,
            }),
            format!(
                "{SECRETS_RAW}: refused with status 401 (check the credentials and the identity's access to this project, environment and path){said}"
            )
        );
        assert_eq!(
            d(FetchError::NotFound {
                route: UA_LOGIN,
                status: 404,
                body: String::new(),
                meaning: Meaning::Plain,
                place: None,
            }),
            format!(
                "{UA_LOGIN}: not found (status 404: does --api-url name an Infisical API with Universal Auth?)"
            )
        );
        assert_eq!(
            d(FetchError::NotFound {
                route: SECRETS_RAW,
                status: 404,
                body: " ".into(),
                meaning: Meaning::Plain,
                place: None,
            }),
            format!(
                "{SECRETS_RAW}: not found (status 404: check the project ID and the environment)"
            )
        );
        assert_eq!(
            d(FetchError::Rejected {
                route: SECRETS_RAW,
                status: 301,
                body: String::new()
            }),
            format!(
                "{SECRETS_RAW}: the server answered with a redirect (status 301), which is not followed: point --api-url at the API itself"
            )
        );
        assert_eq!(
            d(FetchError::Rejected {
                route: SECRETS_RAW,
                status: 400,
                body: body.into()
            }),
            format!(
                "{SECRETS_RAW}: the request was rejected with status 400 (check --project-id, --env and --path){said}"
            )
        );
        assert_eq!(
            d(FetchError::Unavailable {
                route: SECRETS_RAW,
                reason: "status 503".into(),
                attempts: 1,
                body: String::new(),
                waited: Duration::ZERO,
                gave_up: None,
            }),
            format!("{SECRETS_RAW}: unavailable after 1 attempt: status 503")
        );
        assert_eq!(
            d(FetchError::Unavailable {
                route: SECRETS_RAW,
                reason: "status 503".into(),
                attempts: 3,
                body: body.into(),
                waited: Duration::ZERO,
                gave_up: None,
            }),
            format!("{SECRETS_RAW}: unavailable after 3 attempts: status 503{said}")
        );
        assert_eq!(
            d(FetchError::Unavailable {
                route: SECRETS_RAW,
                reason: "status 429".into(),
                attempts: 1,
                body: String::new(),
                waited: Duration::from_millis(300),
                gave_up: Some(GaveUp::WaitTooLong {
                    asked: Duration::from_secs(42),
                    cap: Duration::from_secs(30)
                }),
            }),
            format!(
                "{SECRETS_RAW}: unavailable after 1 attempt (gave up: the server asked to wait 42.0 s, more than --max-retry-wait 30.0 s; 0.3 s spent waiting): status 429"
            )
        );
        assert_eq!(
            d(FetchError::Malformed {
                route: UA_LOGIN,
                reason: "empty accessToken".into()
            }),
            format!("{UA_LOGIN}: the answer is not the JSON expected: empty accessToken")
        );
        assert_eq!(
            d(FetchError::TooLarge { route: SECRETS_RAW }),
            format!("{SECRETS_RAW}: the answer is larger than 16 MiB; refused")
        );
        let long = "x".repeat(BODY_QUOTE_CAP + 10);
        let quoted = d(FetchError::Rejected {
            route: SECRETS_RAW,
            status: 400,
            body: long,
        });
        assert!(
            quoted.ends_with(&format!("{}…", "x".repeat(BODY_QUOTE_CAP))),
            "{quoted}"
        );
    }

    /// One of `error` and `message` alone, a non-string value, or neither.
    #[test]
    fn words_of_every_shape() {
        assert_eq!(error_words(r#"{"error":"E"}"#), "E");
        assert_eq!(error_words(r#"{"message":"M"}"#), "M");
        assert_eq!(error_words(r#"{"message":["a",1]}"#), "a; 1");
        assert_eq!(
            error_words(
                r#"{"error":"ValidationFailure","message":[{"path":["recursive"],"message":"Bad"},{"path":[],"message":"Root"},{"code":"x"}]}"#
            ),
            r#"ValidationFailure: recursive: Bad; Root; {"code":"x"}"#
        );
        assert_eq!(
            error_words(r#"{"statusCode":500} "#),
            r#"{"statusCode":500}"#
        );
    }

    /// The answer is read once: an unescaped string is borrowed from it, an escaped one is
    /// unescaped; a body that is not UTF-8 fails exactly as the byte parser fails.
    #[test]
    fn list_answer_borrows_what_is_not_escaped() {
        let body = br#"{"secrets":[{"secretKey":"A","secretValue":"plain"},{"secretKey":"B","secretValue":"l1\nl2"}]}"#;
        let list = list_answer(body).unwrap();
        assert!(matches!(list.secrets[0].value, Cow::Borrowed("plain")));
        assert!(matches!(list.secrets[0].key, Cow::Borrowed("A")));
        assert!(matches!(&list.secrets[1].value, Cow::Owned(v) if v == "l1\nl2"));
        let bad = b"{\"secrets\":[{\"secretKey\":\"A\",\"secretValue\":\"\xff\"}]}";
        let ours = list_answer(bad).err().unwrap();
        let bytes = serde_json::from_slice::<serde_json::Value>(bad).unwrap_err();
        assert_eq!(json_reason(&ours), json_reason(&bytes));
    }

    /// A hidden flag or the placeholder value marks a secret hidden; the origin is its
    /// `secretPath`, else the folder asked for.
    #[test]
    fn hidden_and_origin() {
        fn raw<'a>(
            value: &'a str,
            hidden: Option<bool>,
            path: Option<&'a str>,
        ) -> wire::RawSecret<'a> {
            wire::RawSecret {
                key: "K".into(),
                value: value.into(),
                hidden,
                secret_path: path.map(Cow::Borrowed),
            }
        }
        let f = Cow::Borrowed("/f");
        let s = convert(raw("v", None, None), &f);
        assert!(!s.hidden);
        assert_eq!(s.origin, "/f");
        assert!(convert(raw("v", Some(true), None), &f).hidden);
        assert!(!convert(raw("v", Some(false), Some("")), &f).hidden);
        assert_eq!(convert(raw("v", None, Some("")), &f).origin, "/f");
        assert_eq!(convert(raw("v", None, Some("/sub")), &f).origin, "/sub");
        assert!(convert(raw(HIDDEN_PLACEHOLDER, Some(false), None), &f).hidden);
    }

    /// Local secrets first; an import adds only keys no local secret has; a later import wins
    /// over an earlier one; without imports asked, only the local ones.
    #[test]
    fn merge_order() {
        let secret = |key: &str, origin: &str| Secret {
            key: key.to_owned().into(),
            value: SecretText::new(format!("{key}@{origin}").into()),
            hidden: false,
            origin: origin.to_owned().into(),
        };
        let folder = Folder {
            path: "/",
            local: vec![secret("A", "/")],
            imports: vec![
                vec![secret("A", "/i1"), secret("B", "/i1")],
                vec![secret("B", "/i2"), secret("C", "/i2")],
            ],
        };
        let keys = |include| -> Vec<String> {
            folder
                .merged(include)
                .iter()
                .map(|s| format!("{}@{}", s.key, s.origin))
                .collect()
        };
        assert_eq!(keys(false), ["A@/"]);
        assert_eq!(keys(true), ["A@/", "B@/i2", "C@/i2"]);
        assert_eq!(folder.values().count(), 5);
    }

    /// A login answer: its token, or malformed when blank or not the JSON expected (the reason
    /// gives the category and the position, never the text).
    #[test]
    fn login_answer() {
        let token = login_token(br#"{"accessToken":"tok-Aa1","expiresIn":7200}"#).unwrap();
        assert_eq!(token.expose_secret(), "tok-Aa1");
        let reason = |body: &[u8]| match login_token(body) {
            Err(FetchError::Malformed { route, reason }) if route == UA_LOGIN => reason,
            other => panic!("{:?}", other.map(|_| "a token")),
        };
        assert_eq!(reason(br#"{"accessToken":" "}"#), "empty accessToken");
        assert_eq!(
            reason(br#"{"accessToken":"x"#),
            "truncated JSON at line 1 column 17"
        );
        assert_eq!(reason(b"<html>"), "invalid JSON at line 1 column 1");
        assert_eq!(
            reason(br#"{"accessToken":12345678}"#),
            "JSON of an unexpected shape at line 1 column 23"
        );
    }
}
