//! The network environment both binaries honour, read the way curl, Go's `net/http` and the
//! official Infisical CLI read it (contracts `CLI-008` – `CLI-011`):
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

use std::path::{Path, PathBuf};

use crate::http::SetupError;

/// Always reached directly, whatever `NO_PROXY` says.
pub const LOOPBACK: &str = "localhost,127.0.0.0/8,::1,[::1]";

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
/// variables is replaced, so loopback is never proxied).
pub fn configure(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, SetupError> {
    let mut builder = builder.no_proxy();
    let direct = match var(&["NO_PROXY", "no_proxy"]) {
        Some((_, list)) => format!("{LOOPBACK},{list}"),
        None => LOOPBACK.to_owned(),
    };
    let all = var(&["ALL_PROXY", "all_proxy"]);
    let bad = |name: &str| SetupError::BadUrl {
        url: format!("${name}"),
        reason: "not a proxy URL (expected http://host:port)".into(),
    };
    if let Some((name, url)) = var(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone()) {
        let proxy = reqwest::Proxy::https(url.as_str()).map_err(|_| bad(name))?;
        builder = builder.proxy(proxy.no_proxy(reqwest::NoProxy::from_string(&direct)));
    }
    if let Some((name, url)) = var(&["http_proxy", "HTTP_PROXY"]).or(all) {
        let proxy = reqwest::Proxy::http(url.as_str()).map_err(|_| bad(name))?;
        builder = builder.proxy(proxy.no_proxy(reqwest::NoProxy::from_string(&direct)));
    }
    if let Some((_, file)) = var(&["SSL_CERT_FILE"]) {
        for cert in bundle(Path::new(&file), true)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some((_, dirs)) = var(&["SSL_CERT_DIR"]) {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return Err(SetupError::CaCert {
                    path: PathBuf::from(dir),
                    reason: "$SSL_CERT_DIR names no readable directory".into(),
                });
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for file in files {
                // A directory may hold other files (hash links to CRLs, READMEs): skipped.
                for cert in bundle(&file, false).unwrap_or_default() {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
    }
    Ok(builder)
}

/// The certificates of a PEM bundle; with `required`, a file without one is an error.
fn bundle(path: &Path, required: bool) -> Result<Vec<reqwest::Certificate>, SetupError> {
    let err = |reason: &str| SetupError::CaCert {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let pem = std::fs::read(path).map_err(|e| err(&e.kind().to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| err("not a PEM certificate bundle"))?;
    if certs.is_empty() && required {
        return Err(err("holds no PEM certificate"));
    }
    Ok(certs)
}
