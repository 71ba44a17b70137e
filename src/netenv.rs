//! The network environment both binaries honour, read the way curl, Go's `net/http` and the
//! official Infisical CLI read it (contracts `CLI-009` – `CLI-012`):
//!
//! - `HTTPS_PROXY`/`https_proxy` (else `ALL_PROXY`/`all_proxy`) for `https://` URLs: the
//!   client opens a `CONNECT` tunnel, so the proxy sees the host and port, never a header;
//! - `http_proxy`/`HTTP_PROXY` (else `ALL_PROXY`) for `http://` URLs;
//! - `NO_PROXY`/`no_proxy`: hosts, domains and CIDRs reached directly; loopback
//!   (`localhost`, 127.0.0.0/8, `::1`) is always reached directly, as Go does;
//! - `SSL_CERT_FILE` (a PEM bundle) and `SSL_CERT_DIR` (directories of PEM files, `:`
//!   separated): certificates trusted in addition to the built-in roots, like `--ca-cert`.
//!
//! A proxy URL may hold credentials: messages name the variable, never its value.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why the network environment cannot be applied (`http` turns it into its own setup error).
#[derive(Debug)]
pub(crate) enum Error {
    /// `$var` holds no proxy URL (its value is never quoted: it may hold credentials).
    BadProxy { var: &'static str },
    /// A certificate file or directory named by `SSL_CERT_FILE` / `SSL_CERT_DIR` is unusable.
    CaCert { path: PathBuf, reason: String },
}

/// Why a proxy variable was refused.
pub(crate) const NOT_A_PROXY: &str = "not a proxy URL (expected http://host:port)";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadProxy { var } => write!(f, "${var}: {NOT_A_PROXY}"),
            Error::CaCert { path, reason } => {
                write!(f, "cannot use CA certificate {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Always reached directly, whatever `NO_PROXY` says.
pub(crate) const LOOPBACK: &str = "localhost,127.0.0.0/8,::1,[::1]";

/// The first of `names` that is set and not blank, with its name.
fn var(names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*n, v.trim().to_owned()))
    })
}

/// Applies the proxy and CA variables to `builder` (reqwest's own reading of the proxy
/// variables is replaced, so loopback is never proxied). `tls`: whether a URL the client will
/// reach is `https://`. The CA variables are checked on every run (a missing file, one without
/// a certificate block, a directory that cannot be read: `CLI-012`), but the certificates are
/// decoded and trusted only when the client may speak TLS — `tls`, or a proxy variable naming
/// an `https://` proxy: a plain `http://` run reads no more of them than that check.
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    tls: bool,
) -> Result<reqwest::ClientBuilder, Error> {
    let mut builder = builder.no_proxy();
    let direct = match var(&["NO_PROXY", "no_proxy"]) {
        Some((_, list)) => format!("{LOOPBACK},{list}"),
        None => LOOPBACK.to_owned(),
    };
    let all = var(&["ALL_PROXY", "all_proxy"]);
    let bad = |var: &'static str| Error::BadProxy { var };
    // A proxy reached over TLS needs the roots whatever the URL's scheme.
    let mut tls = tls;
    if let Some((name, url)) = var(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone()) {
        let proxy = reqwest::Proxy::https(url.as_str()).map_err(|_| bad(name))?;
        builder = builder.proxy(proxy.no_proxy(reqwest::NoProxy::from_string(&direct)));
        tls |= names_https(&url);
    }
    if let Some((name, url)) = var(&["http_proxy", "HTTP_PROXY"]).or(all) {
        let proxy = reqwest::Proxy::http(url.as_str()).map_err(|_| bad(name))?;
        builder = builder.proxy(proxy.no_proxy(reqwest::NoProxy::from_string(&direct)));
        tls |= names_https(&url);
    }
    if !tls {
        check_ca_variables()?;
        return Ok(builder);
    }
    // Each certificate once: a system directory holds every root two or three times (the
    // file, its hash links, often the bundle itself), and each one costs the client time.
    let mut blocks = Blocks::default();
    if let Some((_, file)) = var(&["SSL_CERT_FILE"]) {
        let file = PathBuf::from(file);
        if blocks.add_file(&file)? == 0 {
            return Err(Error::CaCert {
                path: file,
                reason: "holds no PEM certificate".into(),
            });
        }
    }
    if let Some((_, dirs)) = var(&["SSL_CERT_DIR"]) {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return Err(Error::CaCert {
                    path: PathBuf::from(dir),
                    reason: "$SSL_CERT_DIR names no readable directory".into(),
                });
            };
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for file in files {
                // Other files (hash links to CRLs, READMEs) are skipped.
                let _ = blocks.add_file(&file);
            }
        }
    }
    if !blocks.pem.is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(blocks.pem.as_bytes()).map_err(|_| {
            Error::CaCert {
                path: PathBuf::from("$SSL_CERT_FILE/$SSL_CERT_DIR"),
                reason: "not a PEM certificate bundle".into(),
            }
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// Whether a proxy variable's value names an `https://` proxy.
fn names_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The checks `configure` makes of the CA variables on a run that speaks no TLS, with the
/// same errors as the full reading: `SSL_CERT_FILE` can be read and holds a certificate block,
/// each directory of `SSL_CERT_DIR` can be listed. Nothing is decoded, no other file read.
fn check_ca_variables() -> Result<(), Error> {
    if let Some((_, file)) = var(&["SSL_CERT_FILE"]) {
        let file = PathBuf::from(file);
        if !holds_a_block(&file)? {
            return Err(Error::CaCert {
                path: file,
                reason: "holds no PEM certificate".into(),
            });
        }
    }
    if let Some((_, dirs)) = var(&["SSL_CERT_DIR"]) {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            if std::fs::read_dir(dir).is_err() {
                return Err(Error::CaCert {
                    path: PathBuf::from(dir),
                    reason: "$SSL_CERT_DIR names no readable directory".into(),
                });
            }
        }
    }
    Ok(())
}

/// Whether the file at `path` holds a PEM certificate block (`BEGIN`, then `END`), read as
/// [`Blocks::add_file`] reads it (links followed, text): a file it could not read fails here
/// with the same reason, and one it would count no block in is `false`.
fn holds_a_block(path: &Path) -> Result<bool, Error> {
    let err = |reason: String| Error::CaCert {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.kind().to_string()))?;
    if !meta.is_file() {
        return Ok(false);
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.kind().to_string()))?;
    Ok(text
        .find(BEGIN)
        .is_some_and(|start| text[start..].contains(END)))
}

/// The lines that open and close a PEM certificate block.
const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The distinct PEM certificate blocks read so far, and the files they came from.
#[derive(Default)]
struct Blocks {
    files: std::collections::HashSet<(u64, u64)>,
    seen: std::collections::HashSet<String>,
    pem: String,
}

impl Blocks {
    /// Adds the certificate blocks of `path` not seen yet (a file already read under another
    /// name is skipped); returns how many blocks the file holds.
    fn add_file(&mut self, path: &Path) -> Result<usize, Error> {
        let err = |reason: String| Error::CaCert {
            path: path.to_owned(),
            reason,
        };
        use std::os::unix::fs::MetadataExt as _;
        // One stat (links followed) tells a file read under another name.
        let meta = std::fs::metadata(path).map_err(|e| err(e.kind().to_string()))?;
        if !meta.is_file() {
            return Ok(0);
        }
        if !self.files.insert((meta.dev(), meta.ino())) {
            return Ok(1);
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.kind().to_string()))?;
        let mut count = 0;
        let mut rest = text.as_str();
        while let Some(start) = rest.find(BEGIN) {
            let Some(len) = rest[start..].find(END) else {
                break;
            };
            let body: String = rest[start + BEGIN.len()..start + len]
                .split_whitespace()
                .collect();
            count += 1;
            if self.seen.insert(body.clone()) {
                self.pem.push_str(BEGIN);
                for line in body.as_bytes().chunks(64) {
                    self.pem.push('\n');
                    self.pem.push_str(&String::from_utf8_lossy(line));
                }
                self.pem.push('\n');
                self.pem.push_str(END);
                self.pem.push('\n');
            }
            rest = &rest[start + len + END.len()..];
        }
        Ok(count)
    }
}
