//! The one way this project talks HTTP: a reqwest client with a total timeout, no redirects,
//! an optional extra CA, and the rule that plain `http://` is for loopback only.
//!
//! Knows nothing of Infisical or OpenAI: each road turns responses into its own outcomes.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use reqwest::Url;

/// Why an endpoint URL or the client could not be set up (always a configuration error).
#[derive(Debug)]
pub enum SetupError {
    BadUrl { url: String, reason: String },
    InsecureHttp { host: String },
    CaCert { path: PathBuf, reason: String },
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

/// Options for [`client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Total time for one request, connect included.
    pub timeout: Duration,
    /// An extra PEM CA certificate to trust (a private Infisical, a corporate proxy).
    pub ca_cert: Option<PathBuf>,
}

/// The project's HTTP client: total timeout, redirects never followed, no proxy surprises for
/// loopback, an identifying user agent.
pub fn client(opts: &ClientOptions) -> Result<reqwest::Client, SetupError> {
    let mut builder = reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("provider-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &opts.ca_cert {
        builder = builder.add_root_certificate(read_ca(path)?);
    }
    let builder = crate::netenv::configure(builder)?; // proxies, SSL_CERT_FILE/DIR
    builder.build().map_err(|e| SetupError::Client {
        reason: e.to_string(),
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
