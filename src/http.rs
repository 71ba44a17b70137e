//! The one way this project talks HTTP: a reqwest client with a total timeout, no redirects,
//! an optional extra CA, and the rule that plain `http://` is for loopback only; the Bearer
//! header; and [`Client::send`], which sends one [`Request`] under a road's [`Rules`] (the
//! retry policy and the body caps) and comes back with one [`Outcome`].
//!
//! This is the only module that touches reqwest's `Response` and `Error` types: the one body
//! reader and the one transport-error classifier live here. Knows nothing of Infisical or
//! OpenAI: each road turns an [`Outcome`] into its own error or reply.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use crate::secret::{ExposeSecret, SecretString};

/// Why an endpoint URL or the client could not be set up (always a configuration error).
#[derive(Debug)]
pub enum SetupError {
    /// The URL does not parse, holds credentials, or has a scheme other than http(s).
    BadUrl { url: String, reason: String },
    /// Plain `http://` to a host that is not loopback, not allowed by the operator.
    InsecureHttp { host: String },
    /// The extra CA certificate cannot be read or is not a usable PEM certificate.
    CaCert { path: PathBuf, reason: String },
    /// reqwest could not build the client.
    Client { reason: String },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::BadUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            SetupError::InsecureHttp { host } => write!(
                f,
                "refusing plain http:// to {host}: credentials would cross the network in clear \
                 (use https://, or --allow-insecure-http if you really mean it)"
            ),
            SetupError::CaCert { path, reason } => {
                write!(f, "cannot use CA certificate {}: {reason}", path.display())
            }
            SetupError::Client { reason } => write!(f, "cannot build HTTP client: {reason}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl From<crate::netenv::Error> for SetupError {
    fn from(e: crate::netenv::Error) -> Self {
        match e {
            crate::netenv::Error::BadProxy { var } => SetupError::BadUrl {
                url: format!("${var}"),
                reason: crate::netenv::NOT_A_PROXY.into(),
            },
            crate::netenv::Error::CaCert { path, reason } => SetupError::CaCert { path, reason },
        }
    }
}

/// Whether the URL's host is a loopback address (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// What [`check_url`] decided about a usable URL.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlVerdict {
    /// https, or http to loopback.
    Safe,
    /// Plain http to a non-loopback host, allowed by the operator: print this warning.
    InsecureAllowed { warning: String },
}

/// Parses `raw` and applies the transport rule: `https://` anywhere, `http://` only to
/// loopback unless `allow_insecure_http`.
pub fn check_url(raw: &str, allow_insecure_http: bool) -> Result<(Url, UrlVerdict), SetupError> {
    let url = Url::parse(raw).map_err(|e| SetupError::BadUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SetupError::BadUrl {
            url: format!("{}://…@{}", url.scheme(), url.host_str().unwrap_or("")),
            reason: "credentials inside a URL are not accepted".into(),
        });
    }
    match url.scheme() {
        "https" => Ok((url, UrlVerdict::Safe)),
        "http" if is_loopback(&url) => Ok((url, UrlVerdict::Safe)),
        "http" if allow_insecure_http => {
            let host = url.host_str().unwrap_or("").to_owned();
            Ok((
                url,
                UrlVerdict::InsecureAllowed {
                    warning: format!(
                        "warning: sending credentials over plain http:// to {host} (--allow-insecure-http)"
                    ),
                },
            ))
        }
        "http" => Err(SetupError::InsecureHttp {
            host: url.host_str().unwrap_or("").to_owned(),
        }),
        other => Err(SetupError::BadUrl {
            url: raw.to_owned(),
            reason: format!("unsupported scheme {other:?}"),
        }),
    }
}

/// A request timeout as given on the command line: seconds, fractions allowed. Its `Display`
/// is the number of seconds, so `--help` shows a default from the same constant the code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl Seconds {
    /// Whole seconds.
    pub const fn from_secs(secs: u64) -> Seconds {
        Seconds(Duration::from_secs(secs))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// The values a flag in seconds takes: above zero or from zero, up to `max` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondsRange {
    /// Zero itself is accepted (`--max-retry-wait 0`: never wait).
    pub zero: bool,
    /// The largest value accepted.
    pub max: Seconds,
}

impl SecondsRange {
    /// More than zero, at most `max` (a timeout).
    pub const fn above_zero(max: Seconds) -> SecondsRange {
        SecondsRange { zero: false, max }
    }

    /// Zero or more, at most `max` (a wait).
    pub const fn from_zero(max: Seconds) -> SecondsRange {
        SecondsRange { zero: true, max }
    }
}

/// Parses a number of seconds in `range` (fractions allowed, surrounding spaces ignored). The
/// error names the value and the range, never more.
pub fn parse_seconds(raw: &str, range: SecondsRange) -> Result<Seconds, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    let low = if range.zero { secs >= 0.0 } else { secs > 0.0 };
    let max = range.max;
    if !(secs.is_finite() && low && secs <= max.0.as_secs_f64()) {
        let least = if range.zero {
            "at least 0"
        } else {
            "more than 0"
        };
        return Err(format!("{raw:?} must be {least} and at most {max} seconds"));
    }
    Ok(Seconds(Duration::from_secs_f64(secs)))
}

/// Parses a `--timeout` value: [`parse_seconds`] above zero, at most `max`.
pub fn parse_timeout(raw: &str, max: Seconds) -> Result<Seconds, String> {
    parse_seconds(raw, SecondsRange::above_zero(max))
}

/// Options for [`client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Total time for one request, connect included.
    pub timeout: Duration,
    /// An extra PEM CA certificate to trust (a private Infisical, a corporate proxy).
    pub ca_cert: Option<PathBuf>,
    /// Whether a URL this client reaches is `https://`: only then (or through an `https://`
    /// proxy) are the certificates of `SSL_CERT_FILE`/`SSL_CERT_DIR` decoded and trusted; a
    /// plain `http://` run only checks the variables (`netenv::configure`).
    pub https: bool,
}

/// The project's HTTP client: total timeout, redirects never followed, an identifying user
/// agent. Cheap to clone (reqwest shares the connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    timeout: Duration,
}

/// Builds the project's HTTP client; a `--ca-cert` that rustls refuses (it checks the
/// certificate only when the client is built) is reported against that file.
pub fn client(opts: &ClientOptions) -> Result<Client, SetupError> {
    let mut builder = reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("provider-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &opts.ca_cert {
        builder = builder.add_root_certificate(read_ca(path)?);
    }
    let builder = crate::netenv::configure(builder, opts.https)?; // proxies, SSL_CERT_FILE/DIR
    let inner = builder.build().map_err(|e| match &opts.ca_cert {
        Some(path) => SetupError::CaCert {
            path: path.clone(),
            reason: "not a usable PEM certificate".into(),
        },
        None => SetupError::Client {
            reason: e.to_string(),
        },
    })?;
    Ok(Client {
        inner,
        timeout: opts.timeout,
    })
}

fn read_ca(path: &Path) -> Result<reqwest::Certificate, SetupError> {
    let pem = std::fs::read(path).map_err(|e| SetupError::CaCert {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    })?;
    reqwest::Certificate::from_pem(&pem).map_err(|e| SetupError::CaCert {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The token cannot travel in an HTTP header (a control character such as a newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotHeaderSafe;

/// An `Authorization: Bearer <token>` value, marked sensitive (never logged by the HTTP
/// stack); its `Debug` shows no token. The one way this project builds that header.
#[derive(Clone)]
pub struct Bearer(HeaderValue);

impl Bearer {
    /// The header for `token`, or [`NotHeaderSafe`] when a header cannot carry it.
    pub fn new(token: &SecretString) -> Result<Bearer, NotHeaderSafe> {
        let text = SecretString::from(format!("Bearer {}", token.expose_secret()));
        let mut value = HeaderValue::from_str(text.expose_secret()).map_err(|_| NotHeaderSafe)?;
        value.set_sensitive(true);
        Ok(Bearer(value))
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer([REDACTED])")
    }
}

/// The method of a [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// One request, rebuilt for every attempt: method, URL, an optional Bearer header and an
/// optional JSON body (held as a secret: a login body carries a credential).
#[derive(Debug, Clone)]
pub struct Request<'a> {
    method: Method,
    url: &'a Url,
    bearer: Option<&'a Bearer>,
    json: Option<&'a SecretString>,
    accept_json: bool,
}

impl<'a> Request<'a> {
    /// `GET url`.
    pub fn get(url: &'a Url) -> Self {
        Request {
            method: Method::Get,
            url,
            bearer: None,
            json: None,
            accept_json: false,
        }
    }

    /// `POST url` with `Content-Type: application/json` and `body`.
    pub fn post_json(url: &'a Url, body: &'a SecretString) -> Self {
        Request {
            method: Method::Post,
            json: Some(body),
            ..Request::get(url)
        }
    }

    /// Sends `Authorization: Bearer …`.
    pub fn bearer(self, bearer: &'a Bearer) -> Self {
        Request {
            bearer: Some(bearer),
            ..self
        }
    }

    /// Sends `Accept: application/json`.
    pub fn accept_json(self) -> Self {
        Request {
            accept_json: true,
            ..self
        }
    }

    fn build(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut builder = match self.method {
            Method::Get => client.get(self.url.clone()),
            Method::Post => client.post(self.url.clone()),
        };
        if let Some(body) = self.json {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.expose_secret().to_owned());
        }
        if self.accept_json {
            builder = builder.header(ACCEPT, "application/json");
        }
        if let Some(bearer) = self.bearer {
            builder = builder.header(AUTHORIZATION, bearer.0.clone());
        }
        builder
    }
}

/// How much of a body is read, and what happens to a longer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// A body longer than this many bytes is refused ([`Outcome::TooLarge`]), checked against
    /// `Content-Length` first, then while reading.
    Refuse(usize),
    /// At most this many bytes are kept; reading stops there and the rest is dropped.
    Truncate(usize),
}

impl Cap {
    const fn bytes(self) -> usize {
        match self {
            Cap::Refuse(n) | Cap::Truncate(n) => n,
        }
    }
}

/// How a road reads bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRules {
    /// The body of a 2xx answer.
    pub answer: Cap,
    /// The body of any other status.
    pub error: Cap,
    /// Whether an error body that is refused or breaks while reading is dropped (the status
    /// alone decides, with an empty body) instead of deciding the outcome itself.
    pub error_best_effort: bool,
}

/// The statuses worth another attempt under [`Retry::Transient`]: too many requests, and the
/// three a proxy answers while the service behind it restarts.
pub const TRANSIENT_STATUSES: [u16; 4] = [429, 502, 503, 504];

/// When to try again. Not comparable: it holds a road's function, and function addresses
/// are not unique.
#[derive(Debug, Clone, Copy)]
pub enum Retry {
    /// One attempt, whatever happens.
    Never,
    /// Up to `attempts` in all (the first included) while the outcome is transient
    /// ([`Outcome::is_transient`]), waiting what the server asked — its `Retry-After`, else
    /// what the road's `hint` reads in the outcome — when it asked, else `backoff` doubled per
    /// attempt made. A server asking for more than `max_wait` is not waited for: the exchange
    /// gives up at once ([`GaveUp::WaitTooLong`]); a shorter wait would only spend another
    /// request inside the same window.
    Transient {
        /// Attempts in all, the first included.
        attempts: u32,
        /// The wait after the first failed attempt when the server asked none; doubled after
        /// each later one.
        backoff: Duration,
        /// The longest wait a server may ask for that is still honoured.
        max_wait: Duration,
        /// The wait a server asked for in its answer's body, when `Retry-After` gave none (a
        /// road's own words: [`no_hint`] when it has none).
        hint: fn(&Outcome) -> Option<Duration>,
    },
}

/// A road that reads no wait from bodies.
pub fn no_hint(_: &Outcome) -> Option<Duration> {
    None
}

/// Why an exchange stopped on a transient outcome under [`Retry::Transient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// The last attempt allowed failed too.
    NoAttemptLeft,
    /// The server asked to wait `asked`, longer than the policy's `max_wait` (`cap`).
    WaitTooLong {
        /// The wait the server asked for.
        asked: Duration,
        /// The longest wait honoured.
        cap: Duration,
    },
}

impl Retry {
    /// After attempt `attempt` (1-based) came back with `outcome`: the wait before the next
    /// one, or why there is none — `Err(None)` when the outcome stands as it is (not
    /// transient, or the policy is [`Retry::Never`]), else what was given up on.
    pub fn next(&self, attempt: u32, outcome: &Outcome) -> Result<Duration, Option<GaveUp>> {
        let Retry::Transient {
            attempts,
            backoff,
            max_wait,
            hint,
        } = *self
        else {
            return Err(None);
        };
        if !outcome.is_transient() {
            return Err(None);
        }
        if attempt >= attempts {
            return Err(Some(GaveUp::NoAttemptLeft));
        }
        match outcome.retry_after().or_else(|| hint(outcome)) {
            Some(asked) if asked > max_wait => Err(Some(GaveUp::WaitTooLong {
                asked,
                cap: max_wait,
            })),
            Some(asked) => Ok(asked),
            None => Ok(backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))),
        }
    }
}

/// Where the wait before a next attempt comes from ([`Retry::asked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The server's `Retry-After` header.
    RetryAfter,
    /// The road's reading of the answer's body ([`Retry::Transient`]'s `hint`).
    Body,
    /// No ask: the policy's own backoff.
    Backoff,
}

/// A wait about to start, handed to the watcher of [`Client::send_watched`] before the
/// exchange sleeps: after attempt `attempt` of `attempts` came back with `after`, the
/// exchange waits `wait` (`asked` says who chose it). Holds no header; `after`'s body is raw.
#[derive(Debug, Clone, Copy)]
pub struct Waiting<'a> {
    /// The attempt that just failed (1-based).
    pub attempt: u32,
    /// Attempts in all under the policy.
    pub attempts: u32,
    /// How long the exchange is about to wait.
    pub wait: Duration,
    /// Who chose the wait.
    pub asked: Asked,
    /// What the failed attempt came back with.
    pub after: &'a Outcome,
}

impl Retry {
    /// Who chooses the wait after `outcome` ([`Retry::next`] gives its length): its
    /// `Retry-After`, else the road's body hint, else the backoff.
    pub fn asked(&self, outcome: &Outcome) -> Asked {
        let body_hint = match self {
            Retry::Transient { hint, .. } => hint(outcome),
            Retry::Never => None,
        };
        match (outcome.retry_after(), body_hint) {
            (Some(_), _) => Asked::RetryAfter,
            (None, Some(_)) => Asked::Body,
            (None, None) => Asked::Backoff,
        }
    }

    /// Attempts in all (1 for [`Retry::Never`]).
    pub fn attempts(&self) -> u32 {
        match self {
            Retry::Never => 1,
            Retry::Transient { attempts, .. } => *attempts,
        }
    }
}

/// A road's rules for [`Client::send`].
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// When to try again.
    pub retry: Retry,
    /// How bodies are read.
    pub body: BodyRules,
}

/// `Retry-After` in seconds (`"2"`, `" 2 "`); an HTTP date or anything else is ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Where a transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No connection: refused, unreachable, DNS or TLS failure.
    Connect,
    /// The connection broke while the answer was read.
    Body,
    /// Anything else on the way.
    Other,
}

/// Why no complete answer came back (other than a timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// Where it broke.
    pub stage: Stage,
    /// The innermost cause ("Connection refused", a TLS alert), without the URL; no header
    /// (so no credential) is ever in it.
    pub cause: String,
}

/// What one exchange came back with. Bodies are raw (a 2xx body holds secret values; an error
/// body may echo one): quote them only through the redactor.
#[derive(Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer, its body read under [`BodyRules::answer`].
    Ok {
        /// The 2xx status.
        status: u16,
        /// The body, raw.
        body: Vec<u8>,
    },
    /// A status other than 2xx and 3xx, its body as text under [`BodyRules::error`], and the
    /// server's `Retry-After` in seconds when it gave one.
    Status {
        /// The status.
        code: u16,
        /// The body as text (invalid UTF-8 replaced), capped.
        body: String,
        /// `Retry-After` in seconds, when given.
        retry_after: Option<Duration>,
    },
    /// A 3xx: redirects are never followed.
    Redirect {
        /// The 3xx status.
        code: u16,
        /// The body as text, capped.
        body: String,
    },
    /// No complete answer within the client's timeout.
    Timeout,
    /// No complete answer at all.
    Unreachable {
        /// Where and why.
        why: Unreachable,
    },
    /// A body over its [`Cap::Refuse`] cap.
    TooLarge,
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok { status, body } => write!(f, "Ok({status}, {} bytes)", body.len()),
            Outcome::Status {
                code,
                body,
                retry_after,
            } => write!(
                f,
                "Status({code}, {} bytes, retry_after {retry_after:?})",
                body.len()
            ),
            Outcome::Redirect { code, body } => {
                write!(f, "Redirect({code}, {} bytes)", body.len())
            }
            Outcome::Timeout => f.write_str("Timeout"),
            Outcome::Unreachable { why } => write!(f, "Unreachable({why:?})"),
            Outcome::TooLarge => f.write_str("TooLarge"),
        }
    }
}

impl Outcome {
    /// A timeout, no answer, or one of [`TRANSIENT_STATUSES`]: worth another attempt. Never a
    /// 401, a 404 or any other answer the server meant.
    pub fn is_transient(&self) -> bool {
        match self {
            Outcome::Timeout | Outcome::Unreachable { .. } => true,
            Outcome::Status { code, .. } => TRANSIENT_STATUSES.contains(code),
            Outcome::Ok { .. } | Outcome::Redirect { .. } | Outcome::TooLarge => false,
        }
    }

    /// The server's `Retry-After`, when the outcome is a status that carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The last outcome of an exchange, how many attempts it took, how long it waited in all and
/// why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The last attempt's outcome.
    pub outcome: Outcome,
    /// How many attempts were made.
    pub attempts: u32,
    /// The time spent waiting between attempts.
    pub waited: Duration,
    /// Why no further attempt was made on a transient outcome (`None`: the outcome was not
    /// worth one, or the policy never retries).
    pub gave_up: Option<GaveUp>,
}

impl Client {
    /// The total time allowed for one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` under `rules`: attempt after attempt while [`Retry::next`] says so,
    /// sleeping in between; returns the last outcome, the attempts, the time waited and why
    /// it stopped.
    pub async fn send(&self, request: &Request<'_>, rules: &Rules) -> Exchange {
        self.send_watched(request, rules, &|_| {}).await
    }

    /// [`Client::send`], telling `watch` of each wait the moment it starts (before the
    /// sleep), so that a caller can say so while it lasts.
    pub async fn send_watched(
        &self,
        request: &Request<'_>,
        rules: &Rules,
        watch: &(dyn Fn(&Waiting<'_>) + Sync),
    ) -> Exchange {
        let mut attempts = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempts += 1;
            let outcome = self.attempt(request, &rules.body).await;
            match rules.retry.next(attempts, &outcome) {
                Ok(wait) => {
                    watch(&Waiting {
                        attempt: attempts,
                        attempts: rules.retry.attempts(),
                        wait,
                        asked: rules.retry.asked(&outcome),
                        after: &outcome,
                    });
                    waited += wait;
                    tokio::time::sleep(wait).await;
                }
                Err(gave_up) => {
                    return Exchange {
                        outcome,
                        attempts,
                        waited,
                        gave_up,
                    };
                }
            }
        }
    }

    async fn attempt(&self, request: &Request<'_>, rules: &BodyRules) -> Outcome {
        let response = match request.build(&self.inner).send().await {
            Ok(response) => response,
            Err(e) => return transport(&e),
        };
        let code = response.status().as_u16();
        if (200..300).contains(&code) {
            return match read_body(response, rules.answer).await {
                Ok(body) => Outcome::Ok { status: code, body },
                Err(Unread::TooLarge) => Outcome::TooLarge,
                Err(Unread::Broken(e)) => transport(&e),
            };
        }
        self.finish(response, rules).await
    }
}

/// How a streamed exchange ([`Client::stream`]) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streamed {
    /// A 2xx whose body was handed to the sink chunk by chunk as it arrived.
    Body {
        /// The 2xx status.
        status: u16,
        /// Set when the stream broke after some bytes: a timeout or a transport error.
        broken: Option<Box<Outcome>>,
    },
    /// No 2xx: the same outcome [`Client::send`] gives (status with its capped body,
    /// redirect, timeout, unreachable).
    Other(Outcome),
}

impl Client {
    /// One attempt, never retried, whose 2xx body is read **incrementally**: each chunk goes to
    /// `sink` as it arrives (at most `cap` bytes in all; the rest is not read), so a caller can
    /// parse Server-Sent Events and time the first token without buffering the whole body.
    /// Any other answer is read as [`Client::send`] reads it under `rules`.
    pub async fn stream(
        &self,
        request: &Request<'_>,
        rules: &BodyRules,
        cap: usize,
        sink: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Streamed {
        let mut response = match request.build(&self.inner).send().await {
            Ok(response) => response,
            Err(e) => return Streamed::Other(transport(&e)),
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Streamed::Other(self.finish(response, rules).await);
        }
        let mut seen = 0usize;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = cap - seen;
                    if chunk.len() >= room {
                        sink(&chunk[..room]);
                        return Streamed::Body {
                            status,
                            broken: None,
                        };
                    }
                    seen += chunk.len();
                    sink(&chunk);
                }
                Ok(None) => {
                    return Streamed::Body {
                        status,
                        broken: None,
                    };
                }
                Err(e) => {
                    return Streamed::Body {
                        status,
                        broken: Some(Box::new(transport(&e))),
                    };
                }
            }
        }
    }

    /// A non-2xx answer read as [`Client::send`] reads it.
    async fn finish(&self, response: reqwest::Response, rules: &BodyRules) -> Outcome {
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match read_body(response, rules.error).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) if rules.error_best_effort => String::new(),
            Err(Unread::TooLarge) => return Outcome::TooLarge,
            Err(Unread::Broken(e)) => return transport(&e),
        };
        if (300..400).contains(&code) {
            Outcome::Redirect { code, body }
        } else {
            Outcome::Status {
                code,
                body,
                retry_after,
            }
        }
    }
}

/// Why a body was not read whole.
enum Unread {
    TooLarge,
    Broken(reqwest::Error),
}

/// The one body reader: reads `response` under `cap`.
async fn read_body(mut response: reqwest::Response, cap: Cap) -> Result<Vec<u8>, Unread> {
    let limit = cap.bytes();
    let announced = response.content_length();
    if matches!(cap, Cap::Refuse(_)) && announced.is_some_and(|n| n > limit as u64) {
        return Err(Unread::TooLarge);
    }
    // One allocation of the announced size (at most the cap): growing by doubling would touch
    // up to twice the body's memory for a large folder.
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n.min(limit as u64) as usize));
    while let Some(chunk) = response.chunk().await.map_err(Unread::Broken)? {
        let room = limit - body.len();
        if chunk.len() > room {
            if matches!(cap, Cap::Refuse(_)) {
                return Err(Unread::TooLarge);
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
        if matches!(cap, Cap::Truncate(_)) && body.len() == limit {
            break;
        }
    }
    Ok(body)
}

/// The one transport-error classifier: a timeout, or where the exchange broke and the
/// innermost cause.
fn transport(err: &reqwest::Error) -> Outcome {
    if err.is_timeout() {
        return Outcome::Timeout;
    }
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    let stage = if err.is_connect() {
        Stage::Connect
    } else if err.is_body() || err.is_decode() {
        Stage::Body
    } else {
        Stage::Other
    };
    Outcome::Unreachable {
        why: Unreachable {
            stage,
            cause: source.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn http_only_to_loopback() {
        for safe in [
            "https://x.example",
            "http://127.0.0.1:9",
            "http://127.8.0.1:9",
            "http://[::1]:9",
            "http://localhost:9",
        ] {
            assert_eq!(
                check_url(safe, false).unwrap().1,
                UrlVerdict::Safe,
                "{safe}"
            );
        }
        assert!(check_url("http://10.0.0.1", false).is_err());
        assert!(check_url("http://localhost.example.com", false).is_err());
        assert!(matches!(
            check_url("http://10.0.0.1", true).unwrap().1,
            UrlVerdict::InsecureAllowed { .. }
        ));
        assert!(check_url("ftp://x", true).is_err());
        assert!(check_url("https://u:p@x.example", false).is_err());
        // Either half of the userinfo alone is refused too.
        assert!(check_url("https://u@x.example", false).is_err());
        assert!(check_url("https://:p@x.example", false).is_err());
    }

    /// Above zero, at most the maximum, finite; fractions and surrounding spaces accepted; the
    /// error quotes the value and the limit.
    #[test]
    fn timeout_bounds() {
        let max = Seconds::from_secs(3600);
        let ok = |raw: &str| parse_timeout(raw, max).map(|s| s.0);
        assert_eq!(ok("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(ok("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(ok(" 2 "), Ok(Duration::from_secs(2)));
        assert_eq!(ok("0.000001"), Ok(Duration::from_micros(1)));
        for bad in ["0", "-1", "3600.5", "nan", "inf", "-inf"] {
            assert_eq!(
                ok(bad),
                Err(format!(
                    "{bad:?} must be more than 0 and at most 3600 seconds"
                )),
                "{bad}"
            );
        }
        assert_eq!(ok("abc"), Err("\"abc\" is not a number of seconds".into()));
        assert_eq!(Seconds::from_secs(30).to_string(), "30");
        assert_eq!(Seconds(Duration::from_millis(500)).to_string(), "0.5");
    }

    /// A wait's range takes zero itself; the same parser, the same messages otherwise.
    #[test]
    fn wait_bounds_take_zero() {
        let range = SecondsRange::from_zero(Seconds::from_secs(3600));
        let ok = |raw: &str| parse_seconds(raw, range).map(|s| s.0);
        assert_eq!(ok("0"), Ok(Duration::ZERO));
        assert_eq!(ok(" 0.25 "), Ok(Duration::from_millis(250)));
        assert_eq!(ok("3600"), Ok(Duration::from_secs(3600)));
        for bad in ["-0.5", "3601", "nan", "inf"] {
            assert_eq!(
                ok(bad),
                Err(format!(
                    "{bad:?} must be at least 0 and at most 3600 seconds"
                )),
                "{bad}"
            );
        }
        assert_eq!(ok("x"), Err("\"x\" is not a number of seconds".into()));
    }

    /// A token with a newline is refused; a good one becomes a sensitive header whose `Debug`
    /// shows no token.
    #[test]
    fn bearer_refuses_what_a_header_cannot_carry() {
        let token = |t: &str| SecretString::from(t.to_owned());
        assert!(Bearer::new(&token("ab\ncd")).is_err());
        assert!(Bearer::new(&token("ab\rcd")).is_err());
        assert!(Bearer::new(&token("ab\u{7f}cd")).is_err());
        let bearer = Bearer::new(&token("tok-Zz9")).unwrap();
        assert_eq!(bearer.0.as_bytes(), b"Bearer tok-Zz9");
        assert!(bearer.0.is_sensitive());
        assert_eq!(format!("{bearer:?}"), "Bearer([REDACTED])");
    }

    /// A test road's body hint: "wait N" anywhere in a status body is N seconds.
    fn wait_word(outcome: &Outcome) -> Option<Duration> {
        match outcome {
            Outcome::Status { body, .. } => body
                .strip_prefix("wait ")
                .and_then(|n| n.parse().ok())
                .map(Duration::from_secs),
            _ => None,
        }
    }

    const TRANSIENT: Retry = Retry::Transient {
        attempts: 3,
        backoff: Duration::from_millis(100),
        max_wait: Duration::from_secs(5),
        hint: wait_word,
    };

    fn status(code: u16, retry_after: Option<u64>) -> Outcome {
        Outcome::Status {
            code,
            body: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn unreachable() -> Outcome {
        Outcome::Unreachable {
            why: Unreachable {
                stage: Stage::Connect,
                cause: "refused".into(),
            },
        }
    }

    /// Exactly timeouts, no answer, 429, 502, 503 and 504 are transient; never a 401, a 403, a
    /// 404, a 500, a redirect, an answer or an oversized one.
    #[test]
    fn transient_outcomes() {
        assert!(Outcome::Timeout.is_transient());
        assert!(unreachable().is_transient());
        for code in [429, 502, 503, 504] {
            assert!(status(code, None).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 408, 500, 501, 505] {
            assert!(!status(code, None).is_transient(), "{code}");
        }
        let ok = Outcome::Ok {
            status: 200,
            body: Vec::new(),
        };
        let redirect = Outcome::Redirect {
            code: 302,
            body: String::new(),
        };
        for other in [ok, redirect, Outcome::TooLarge] {
            assert!(!other.is_transient(), "{other:?}");
        }
        assert_eq!(
            status(503, Some(2)).retry_after(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(status(503, None).retry_after(), None);
        assert_eq!(Outcome::Timeout.retry_after(), None);
    }

    /// Another attempt only while attempts are left and the outcome is transient: a timeout,
    /// no answer, 429, 502, 503, 504 — never a 401, 403, 404, 500 or an answer; `Never` never
    /// tries again.
    #[test]
    fn retry_decisions() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        assert_eq!(TRANSIENT.next(1, &Outcome::Timeout), Ok(ms(100)));
        assert_eq!(TRANSIENT.next(2, &unreachable()), Ok(ms(200)));
        for code in [429, 502, 503, 504] {
            assert_eq!(
                TRANSIENT.next(1, &status(code, Some(1))),
                Ok(s(1)),
                "{code}"
            );
            assert_eq!(
                TRANSIENT.next(2, &status(code, None)),
                Ok(ms(200)),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 500] {
            assert_eq!(
                TRANSIENT.next(1, &status(code, Some(1))),
                Err(None),
                "{code}"
            );
        }
        let ok = Outcome::Ok {
            status: 200,
            body: Vec::new(),
        };
        assert_eq!(TRANSIENT.next(1, &ok), Err(None));
        assert_eq!(TRANSIENT.next(1, &Outcome::TooLarge), Err(None));
        assert_eq!(Retry::Never.next(1, &Outcome::Timeout), Err(None));
        assert_eq!(Retry::Never.next(1, &status(429, Some(1))), Err(None));
    }

    /// Three attempts in all: after the third (or any later) transient outcome there is none
    /// left, whatever the server asked; a non-transient last outcome just stands.
    #[test]
    fn retry_attempt_counts() {
        let none_left = Err(Some(GaveUp::NoAttemptLeft));
        assert_eq!(
            TRANSIENT.next(2, &Outcome::Timeout),
            Ok(Duration::from_millis(200))
        );
        assert_eq!(TRANSIENT.next(3, &Outcome::Timeout), none_left);
        assert_eq!(TRANSIENT.next(4, &Outcome::Timeout), none_left);
        assert_eq!(TRANSIENT.next(3, &status(429, Some(3600))), none_left);
        assert_eq!(TRANSIENT.next(3, &status(404, None)), Err(None));
        let once = Retry::Transient {
            attempts: 1,
            backoff: Duration::from_millis(100),
            max_wait: Duration::from_secs(5),
            hint: no_hint,
        };
        assert_eq!(once.next(1, &Outcome::Timeout), none_left);
    }

    /// The wait table: the server's `Retry-After`, else the road's body hint, honoured up to
    /// `max_wait` inclusive; a longer ask gives up at once, naming the ask and the cap; no
    /// ask: the backoff doubled per attempt made (saturating).
    #[test]
    fn retry_waits() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let too_long = |asked| {
            Err(Some(GaveUp::WaitTooLong {
                asked: s(asked),
                cap: s(5),
            }))
        };
        assert_eq!(TRANSIENT.next(1, &status(429, Some(0))), Ok(Duration::ZERO));
        assert_eq!(TRANSIENT.next(1, &status(429, Some(2))), Ok(s(2)));
        assert_eq!(TRANSIENT.next(2, &status(503, Some(5))), Ok(s(5)));
        assert_eq!(TRANSIENT.next(2, &status(503, Some(6))), too_long(6));
        assert_eq!(TRANSIENT.next(1, &status(429, Some(3600))), too_long(3600));
        // The body hint, when no Retry-After; Retry-After first when both.
        let hinted = |after| status(429, after).with_body("wait 4");
        assert_eq!(TRANSIENT.next(1, &hinted(None)), Ok(s(4)));
        assert_eq!(TRANSIENT.next(1, &hinted(Some(2))), Ok(s(2)));
        let too = status(429, None).with_body("wait 9");
        assert_eq!(TRANSIENT.next(1, &too), too_long(9));
        // No hint: the backoff.
        let plain = Retry::Transient {
            attempts: u32::MAX,
            backoff: ms(100),
            max_wait: s(5),
            hint: no_hint,
        };
        assert_eq!(no_hint(&hinted(None)), None);
        assert_eq!(plain.next(1, &hinted(None)), Ok(ms(100)));
        assert_eq!(plain.next(2, &Outcome::Timeout), Ok(ms(200)));
        assert_eq!(plain.next(3, &Outcome::Timeout), Ok(ms(400)));
        assert_eq!(plain.next(4, &Outcome::Timeout), Ok(ms(800)));
        assert_eq!(
            plain.next(u32::MAX - 1, &Outcome::Timeout),
            Ok(ms(100).saturating_mul(u32::MAX))
        );
    }

    /// `Retry-After` in seconds, trimmed; a date or a negative number is no ask.
    #[test]
    fn retry_after_header() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    /// `Debug` shows sizes, never a body.
    #[test]
    fn outcome_debug_shows_no_body() {
        let shown = [
            Outcome::Ok {
                status: 200,
                body: b"secret".to_vec(),
            },
            Outcome::Status {
                code: 503,
                body: "secret".into(),
                retry_after: None,
            },
            Outcome::Redirect {
                code: 302,
                body: "secret".into(),
            },
            Outcome::Timeout,
            Outcome::TooLarge,
        ]
        .map(|o| format!("{o:?}"));
        assert_eq!(
            shown,
            [
                "Ok(200, 6 bytes)",
                "Status(503, 6 bytes, retry_after None)",
                "Redirect(302, 6 bytes)",
                "Timeout",
                "TooLarge",
            ]
        );
        assert_eq!(
            format!("{:?}", unreachable()),
            "Unreachable(Unreachable { stage: Connect, cause: \"refused\" })"
        );
    }

    /// A loopback server that answers the n-th connection with the n-th canned response
    /// (`None`: read the request, never answer) and keeps every request it read.
    struct Raw {
        url: Url,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Raw {
        fn start(responses: Vec<Option<Vec<u8>>>) -> Raw {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = Url::parse(&format!("http://{}/p", listener.local_addr().unwrap())).unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            std::thread::spawn(move || {
                for response in responses {
                    let Ok((mut sock, _)) = listener.accept() else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&request).into_owned());
                    match response {
                        Some(bytes) => {
                            let _ = sock.write_all(&bytes);
                        }
                        None => {
                            std::thread::spawn(move || {
                                std::thread::sleep(Duration::from_secs(5));
                                drop(sock);
                            });
                        }
                    }
                }
            });
            Raw { url, seen }
        }

        fn requests(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    /// A whole answer with `Content-Length`, closing the connection.
    fn answer(code: u16, headers: &str, body: &str) -> Option<Vec<u8>> {
        Some(
            format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    /// A chunked answer (no `Content-Length`), closing the connection.
    fn chunked(code: u16, chunks: &[&str]) -> Option<Vec<u8>> {
        let mut out =
            format!("HTTP/1.1 {code} X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for c in chunks {
            out.push_str(&format!("{:x}\r\n{c}\r\n", c.len()));
        }
        out.push_str("0\r\n\r\n");
        Some(out.into_bytes())
    }

    fn test_client(timeout: Duration) -> Client {
        client(&ClientOptions {
            timeout,
            ca_cert: None,
            https: false,
        })
        .unwrap()
    }

    const FAST: Retry = Retry::Transient {
        attempts: 3,
        backoff: Duration::from_millis(1),
        max_wait: Duration::from_millis(1),
        hint: no_hint,
    };

    fn rules(retry: Retry, answer: Cap, error: Cap, best_effort: bool) -> Rules {
        Rules {
            retry,
            body: BodyRules {
                answer,
                error,
                error_best_effort: best_effort,
            },
        }
    }

    async fn get(raw: &Raw, rules: Rules) -> Exchange {
        test_client(Duration::from_secs(5))
            .send(&Request::get(&raw.url), &rules)
            .await
    }

    fn ok(body: &str) -> Outcome {
        Outcome::Ok {
            status: 200,
            body: body.as_bytes().to_vec(),
        }
    }

    /// Each wait is told to the watcher before it starts, with the attempt, the length and
    /// who chose it (the server's `Retry-After`, the road's body hint, or the backoff); a
    /// policy that never retries tells nothing.
    #[tokio::test]
    async fn send_watched_tells_each_wait() {
        fn body_hint(outcome: &Outcome) -> Option<Duration> {
            match outcome {
                Outcome::Status { body, .. } if body == "wait 1 ms" => {
                    Some(Duration::from_millis(1))
                }
                _ => None,
            }
        }
        let retry = Retry::Transient {
            attempts: 4,
            backoff: Duration::from_millis(1),
            max_wait: Duration::from_secs(1),
            hint: body_hint,
        };
        let raw = Raw::start(vec![
            answer(503, "Retry-After: 0\r\n", "busy"),
            answer(429, "", "wait 1 ms"),
            answer(502, "", ""),
            answer(200, "", "fine"),
        ]);
        let seen = Mutex::new(Vec::new());
        let refuse = Cap::Refuse(64);
        let got = test_client(Duration::from_secs(5))
            .send_watched(
                &Request::get(&raw.url),
                &rules(retry, refuse, refuse, true),
                &|w: &Waiting<'_>| {
                    let code = match w.after {
                        Outcome::Status { code, .. } => *code,
                        _ => 0,
                    };
                    seen.lock()
                        .unwrap()
                        .push((w.attempt, w.attempts, w.wait, w.asked, code));
                },
            )
            .await;
        assert_eq!(got.outcome, ok("fine"));
        let ms = Duration::from_millis;
        assert_eq!(
            seen.into_inner().unwrap(),
            [
                (1, 4, ms(0), Asked::RetryAfter, 503),
                (2, 4, ms(1), Asked::Body, 429),
                (3, 4, ms(4), Asked::Backoff, 502),
            ]
        );
        let told = Mutex::new(0);
        let raw = Raw::start(vec![answer(503, "", "")]);
        test_client(Duration::from_secs(5))
            .send_watched(
                &Request::get(&raw.url),
                &rules(Retry::Never, refuse, refuse, true),
                &|_| *told.lock().unwrap() += 1,
            )
            .await;
        assert_eq!((*told.lock().unwrap(), Retry::Never.attempts()), (0, 1));
    }

    /// Transient outcomes are tried again up to the attempts: a later answer is used; after
    /// the last attempt the last outcome stands, with its status, body and Retry-After, and
    /// no attempt left. The waits (`Retry-After: 0`, then 1 ms and 2 ms of backoff) add up.
    #[tokio::test]
    async fn send_retries_transient_outcomes() {
        let ms = Duration::from_millis;
        let last = Outcome::Status {
            code: 503,
            body: "c".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        for (responses, want, waited, gave_up) in [
            (
                vec![
                    answer(503, "Retry-After: 0\r\n", "busy"),
                    answer(429, "", ""),
                    answer(200, "", "fine"),
                ],
                ok("fine"),
                ms(2),
                None,
            ),
            (
                vec![
                    answer(502, "", "a"),
                    answer(504, "", "b"),
                    answer(503, "Retry-After: 7\r\n", "c"),
                    answer(200, "", "never asked"),
                ],
                last,
                ms(3),
                Some(GaveUp::NoAttemptLeft),
            ),
        ] {
            let raw = Raw::start(responses);
            let refuse = Cap::Refuse(64);
            let got = get(&raw, rules(FAST, refuse, refuse, true)).await;
            let want = Exchange {
                outcome: want,
                attempts: 3,
                waited,
                gave_up,
            };
            assert_eq!((got, raw.requests().len()), (want, 3));
        }
    }

    /// A server asking for longer than `max_wait` ends the exchange at once: one request, no
    /// wait, the ask and the cap named; the body hint is read from the body as received.
    #[tokio::test]
    async fn send_gives_up_on_a_longer_ask() {
        let refuse = Cap::Refuse(64);
        let raw = Raw::start(vec![
            answer(429, "Retry-After: 3600\r\n", ""),
            answer(200, "", ""),
        ]);
        let got = get(&raw, rules(FAST, refuse, refuse, true)).await;
        assert_eq!(
            (got, raw.requests().len()),
            (
                Exchange {
                    outcome: status(429, Some(3600)),
                    attempts: 1,
                    waited: Duration::ZERO,
                    gave_up: Some(GaveUp::WaitTooLong {
                        asked: Duration::from_secs(3600),
                        cap: Duration::from_millis(1),
                    }),
                },
                1
            )
        );
        let raw = Raw::start(vec![answer(503, "", "wait 1"), answer(200, "", "")]);
        let got = get(&raw, rules(TRANSIENT, refuse, refuse, true)).await;
        assert_eq!((got.attempts, got.waited), (2, Duration::from_secs(1)));
        assert_eq!(got.gave_up, None);
    }

    /// A 401 is never tried again, nor anything under `Never`; a 3xx is a redirect, not
    /// followed; a 404 a status.
    #[tokio::test]
    async fn send_never_retries_a_meant_answer() {
        let refuse = Cap::Refuse(64);
        let raw = Raw::start(vec![answer(401, "", "no"), answer(200, "", "")]);
        let got = get(&raw, rules(FAST, refuse, refuse, true)).await;
        assert_eq!(got.attempts, 1);
        assert_eq!(got.outcome, status(401, None).with_body("no"));
        let raw = Raw::start(vec![answer(503, "", ""), answer(200, "", "")]);
        let got = get(&raw, rules(Retry::Never, refuse, refuse, true)).await;
        assert_eq!((got.attempts, raw.requests().len()), (1, 1));
        assert_eq!((got.waited, got.gave_up), (Duration::ZERO, None));
        let raw = Raw::start(vec![answer(302, "Location: /elsewhere\r\n", "moved")]);
        let got = get(&raw, rules(FAST, refuse, refuse, true)).await;
        assert_eq!(
            got.outcome,
            Outcome::Redirect {
                code: 302,
                body: "moved".into()
            }
        );
        let raw = Raw::start(vec![answer(404, "", "gone")]);
        let got = get(&raw, rules(FAST, refuse, refuse, true)).await;
        assert_eq!(got.outcome, status(404, None).with_body("gone"));
    }

    /// `Refuse` keeps a body of exactly the cap and refuses one byte more, announced or not.
    #[tokio::test]
    async fn refuse_cap_boundary() {
        let cap = Cap::Refuse(4);
        let r = |retry| rules(retry, cap, cap, false);
        for (response, want) in [
            (answer(200, "", "abcd"), ok("abcd")),
            (answer(200, "", "abcde"), Outcome::TooLarge),
            (chunked(200, &["ab", "cd"]), ok("abcd")),
            (chunked(200, &["ab", "cde"]), Outcome::TooLarge),
            (chunked(200, &["abcd", "e"]), Outcome::TooLarge),
            (answer(500, "", "abcde"), Outcome::TooLarge),
        ] {
            let raw = Raw::start(vec![response]);
            assert_eq!(get(&raw, r(Retry::Never)).await.outcome, want);
        }
    }

    /// `Truncate` keeps the first bytes up to the cap, announced or not, and every chunk of a
    /// shorter body.
    #[tokio::test]
    async fn truncate_cap_keeps_the_head() {
        let cap = Cap::Truncate(4);
        let r = rules(Retry::Never, cap, cap, false);
        for (response, want) in [
            (answer(200, "", "abcdefgh"), ok("abcd")),
            (chunked(200, &["ab", "cdef"]), ok("abcd")),
            (chunked(200, &["abcd", "ef"]), ok("abcd")),
            (chunked(200, &["a", "b", "c"]), ok("abc")),
            (
                answer(400, "", "abcdefgh"),
                status(400, None).with_body("abcd"),
            ),
        ] {
            let raw = Raw::start(vec![response]);
            assert_eq!(get(&raw, r).await.outcome, want);
        }
    }

    /// Best effort: an error body over its cap is dropped and the status stands.
    #[tokio::test]
    async fn best_effort_error_body() {
        let raw = Raw::start(vec![answer(403, "", "too long for four")]);
        let r = rules(Retry::Never, Cap::Refuse(64), Cap::Refuse(4), true);
        assert_eq!(get(&raw, r).await.outcome, status(403, None));
        let raw = Raw::start(vec![answer(403, "", "fits")]);
        assert_eq!(
            get(&raw, r).await.outcome,
            status(403, None).with_body("fits")
        );
    }

    /// No answer in time is a timeout; a refused connection and a body cut short are
    /// unreachable, at the connection and at the body.
    #[tokio::test]
    async fn transport_failures_are_classified() {
        let cap = Cap::Refuse(64);
        let r = rules(Retry::Never, cap, cap, false);
        let raw = Raw::start(vec![None]);
        let quick = test_client(Duration::from_millis(200));
        let got = quick.send(&Request::get(&raw.url), &r).await;
        assert_eq!(got.outcome, Outcome::Timeout);
        assert_eq!(quick.timeout(), Duration::from_millis(200));

        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", closed.local_addr().unwrap())).unwrap();
        drop(closed);
        let got = quick.send(&Request::get(&url), &r).await;
        match got.outcome {
            Outcome::Unreachable { why } => assert_eq!(why.stage, Stage::Connect),
            other => panic!("{other:?}"),
        }

        let cut =
            b"HTTP/1.1 200 X\r\nContent-Length: 50\r\nConnection: close\r\n\r\nshort".to_vec();
        let raw = Raw::start(vec![Some(cut)]);
        match get(&raw, r).await.outcome {
            Outcome::Unreachable { why } => assert_eq!(why.stage, Stage::Body),
            other => panic!("{other:?}"),
        }
    }

    /// What goes on the wire: the method, the JSON body and its type, `Accept` only when
    /// asked, the Bearer header only when given.
    #[tokio::test]
    async fn request_shapes() {
        let cap = Cap::Refuse(64);
        let r = rules(Retry::Never, cap, cap, false);
        let http = test_client(Duration::from_secs(5));
        let raw = Raw::start(vec![answer(200, "", ""), answer(200, "", "")]);
        let body = SecretString::from("{\"a\":1}".to_owned());
        let bearer = Bearer::new(&SecretString::from("tok-Zz9".to_owned())).unwrap();
        http.send(
            &Request::post_json(&raw.url, &body)
                .accept_json()
                .bearer(&bearer),
            &r,
        )
        .await;
        http.send(&Request::get(&raw.url), &r).await;
        let seen: Vec<String> = raw.requests().iter().map(|q| q.to_lowercase()).collect();
        assert!(seen[0].starts_with("post /p http/1.1\r\n"), "{}", seen[0]);
        assert!(seen[0].contains("content-type: application/json\r\n"));
        assert!(seen[0].contains("accept: application/json\r\n"));
        assert!(seen[0].contains("authorization: bearer tok-zz9\r\n"));
        assert!(seen[0].contains("content-length: 7\r\n"));
        assert!(seen[1].starts_with("get /p http/1.1\r\n"), "{}", seen[1]);
        assert!(!seen[1].contains("content-type"));
        assert!(!seen[1].contains("accept: application/json"));
        assert!(!seen[1].contains("authorization"));
    }

    impl Outcome {
        fn with_body(self, text: &str) -> Outcome {
            match self {
                Outcome::Status {
                    code, retry_after, ..
                } => Outcome::Status {
                    code,
                    body: text.into(),
                    retry_after,
                },
                other => other,
            }
        }
    }
}
