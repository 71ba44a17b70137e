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

/// Parses a `--timeout` value: a finite number of seconds above zero and at most `max`
/// (fractions allowed, surrounding spaces ignored). The error names the value, never more.
pub fn parse_timeout(raw: &str, max: Seconds) -> Result<Seconds, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= max.0.as_secs_f64()) {
        return Err(format!(
            "{raw:?} must be more than 0 and at most {max} seconds"
        ));
    }
    Ok(Seconds(Duration::from_secs_f64(secs)))
}

/// Options for [`client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Total time for one request, connect included.
    pub timeout: Duration,
    /// An extra PEM CA certificate to trust (a private Infisical, a corporate proxy).
    pub ca_cert: Option<PathBuf>,
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

/// When to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// One attempt, whatever happens.
    Never,
    /// Up to `attempts` in all (the first included) while the outcome is transient
    /// ([`Outcome::is_transient`]): waiting the server's `Retry-After` (at most
    /// `retry_after_cap`), else `backoff` doubled per attempt made.
    Transient {
        attempts: u32,
        backoff: Duration,
        retry_after_cap: Duration,
    },
}

impl Retry {
    /// Whether to try again after attempt `attempt` (1-based) came back with `outcome`, and
    /// after how long; `None` ends the exchange with that outcome.
    pub fn wait(&self, attempt: u32, outcome: &Outcome) -> Option<Duration> {
        match *self {
            Retry::Never => None,
            Retry::Transient { attempts, .. } if attempt < attempts && outcome.is_transient() => {
                Some(self.delay(attempt, outcome.retry_after()))
            }
            Retry::Transient { .. } => None,
        }
    }

    /// The wait after attempt `attempt` (1-based): `retry_after` capped at `retry_after_cap`
    /// when the server gave one, else `backoff × 2^(attempt − 1)`. Zero under [`Retry::Never`].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match *self {
            Retry::Never => Duration::ZERO,
            Retry::Transient {
                backoff,
                retry_after_cap,
                ..
            } => match retry_after {
                Some(wait) => wait.min(retry_after_cap),
                None => backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))),
            },
        }
    }
}

/// A road's rules for [`Client::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub retry: Retry,
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
    Ok { status: u16, body: Vec<u8> },
    /// A status other than 2xx and 3xx, its body as text under [`BodyRules::error`], and the
    /// server's `Retry-After` in seconds when it gave one.
    Status {
        code: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// A 3xx: redirects are never followed.
    Redirect { code: u16, body: String },
    /// No complete answer within the client's timeout.
    Timeout,
    /// No complete answer at all.
    Unreachable { why: Unreachable },
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

/// The last outcome of an exchange and how many attempts it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub outcome: Outcome,
    pub attempts: u32,
}

impl Client {
    /// The total time allowed for one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` under `rules`: attempt after attempt while [`Retry::wait`] says so,
    /// sleeping in between; returns the last outcome.
    pub async fn send(&self, request: &Request<'_>, rules: &Rules) -> Exchange {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(request, &rules.body).await;
            match rules.retry.wait(attempt, &outcome) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Exchange {
                        outcome,
                        attempts: attempt,
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
    use super::*;

    #[test]
    fn http_only_to_loopback() {
        assert_eq!(
            check_url("https://x.example", false).unwrap().1,
            UrlVerdict::Safe
        );
        assert_eq!(
            check_url("http://127.0.0.1:9", false).unwrap().1,
            UrlVerdict::Safe
        );
        assert_eq!(
            check_url("http://127.8.0.1:9", false).unwrap().1,
            UrlVerdict::Safe
        );
        assert_eq!(
            check_url("http://[::1]:9", false).unwrap().1,
            UrlVerdict::Safe
        );
        assert_eq!(
            check_url("http://localhost:9", false).unwrap().1,
            UrlVerdict::Safe
        );
        assert!(check_url("http://10.0.0.1", false).is_err());
        assert!(check_url("http://localhost.example.com", false).is_err());
        assert!(matches!(
            check_url("http://10.0.0.1", true).unwrap().1,
            UrlVerdict::InsecureAllowed { .. }
        ));
        assert!(check_url("ftp://x", true).is_err());
        assert!(check_url("https://u:p@x.example", false).is_err());
    }
}
