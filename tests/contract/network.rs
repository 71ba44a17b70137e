//! Proves the network-environment clauses of `contracts/cli.md` (CLI-009 – CLI-012): proxies
//! from `HTTPS_PROXY`/`https_proxy`/`ALL_PROXY` through a real `CONNECT` tunnel, loopback and
//! `NO_PROXY` reached directly, and a private CA trusted through `--ca-cert`, `SSL_CERT_FILE`
//! and `SSL_CERT_DIR` — against a real TLS server on loopback whose certificates `openssl`
//! makes in the test, and a recording proxy written here.

use std::path::Path;
use std::process::Command;

use crate::support::Cli;
use crate::support::fixture;
use crate::support::infisical::*;
use crate::support::leak;
use crate::support::{Smoke, Workdir, canary, skip};
use crate::tls_support::{HOST, Pki, Proxy, TlsServer};

/// Fails when the proxy saw `secrets` in any form the leak detector knows.
#[track_caller]
fn proxy_saw_none_of(proxy: &Proxy, secrets: &[&str]) {
    let seen = proxy.everything();
    let leaks = leak::find_leaks(&[("proxy", &seen)], secrets);
    assert!(leaks.is_empty(), "the proxy saw a secret: {leaks:?}");
}

fn openssl_usable(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(test, "openssl is missing");
    }
    ok
}

fn canary_to(url: &str, out: &Path) -> Cli {
    canary(url, out).secret(PROVIDER_VALUE)
}

/// Through `HTTPS_PROXY`, `https_proxy` and `ALL_PROXY`, with the private CA from
/// `--ca-cert`, `SSL_CERT_FILE` and `SSL_CERT_DIR`: the run succeeds, the proxy saw exactly
/// one `CONNECT infisical.test:<port>` and nothing of the token in any form, and the server
/// (inside the tunnel) got `Authorization: Bearer <token>`. Without the CA the same run is
/// exit 5 (TLS failure) and the token was never sent.
#[test]
fn cli_009_cli_011_https_proxy_tunnel_and_private_ca() {
    if !openssl_usable("cli_009_cli_011_https_proxy_tunnel_and_private_ca") {
        return;
    }
    let pki = Pki::new();
    let ca = pki.ca().display().to_string();
    // Two directories, `:`-separated: one without any certificate, then the CA's.
    let empty = tempfile::tempdir().unwrap();
    let ca_dir = format!("{}:{}", empty.path().display(), pki.ca_dir().display());
    let cases: [(&str, Option<&str>, i32); 5] = [
        ("HTTPS_PROXY", Some("--ca-cert"), 0),
        ("https_proxy", Some("SSL_CERT_FILE"), 0),
        ("ALL_PROXY", Some("SSL_CERT_DIR"), 0),
        ("all_proxy", Some("SSL_CERT_FILE"), 0),
        ("HTTPS_PROXY", None, 5),
    ];
    for (proxy_var, ca_source, code) in cases {
        let what = format!("{proxy_var} with {ca_source:?}");
        let server = TlsServer::start(&pki, fixture("infisical/secrets-providers.json"));
        let proxy = Proxy::start();
        let wd = Workdir::new();
        let mut cli = canary_to(&server.url(), &wd.output())
            .env(proxy_var, proxy.url())
            .args(["--timeout", "5"]);
        cli = match ca_source {
            Some("--ca-cert") => cli.arg("--ca-cert").arg(&ca),
            Some("SSL_CERT_FILE") => cli.env("SSL_CERT_FILE", &ca),
            Some("SSL_CERT_DIR") => cli.env("SSL_CERT_DIR", &ca_dir),
            _ => cli,
        };
        let run = cli.run();
        run.code(code).no_leak();
        let heads = proxy.heads();
        assert!(!heads.is_empty(), "{what}: the proxy was not used");
        for head in &heads {
            assert!(
                head.starts_with(&format!("CONNECT {HOST}:{} HTTP/1.1\r\n", server.port)),
                "{what}: the proxy saw {head:?}"
            );
        }
        proxy_saw_none_of(&proxy, &[TOKEN, PROVIDER_VALUE]);
        let got = server.heads();
        if code == 0 {
            assert_eq!(heads.len(), 1, "{what}: {heads:?}");
            assert_eq!(got.len(), 1, "{what}: {got:?}");
            assert!(
                got[0].contains(&format!("authorization: Bearer {TOKEN}\r\n")),
                "{what}: the server got no token"
            );
            assert_eq!(
                dotenvy::from_path_iter(wd.output())
                    .unwrap()
                    .map(Result::unwrap)
                    .collect::<Vec<_>>(),
                [(PROVIDER_KEY.to_owned(), PROVIDER_VALUE.to_owned())],
                "{what}"
            );
        } else {
            assert!(got.is_empty(), "{what}: a request crossed an untrusted TLS");
            assert!(!wd.output().exists(), "{what}");
        }
    }
}

/// The smoke through `HTTPS_PROXY` with the CA from `SSL_CERT_FILE`: the check passes, the
/// proxy saw only `CONNECT` and no form of the key, the server got the Bearer key.
#[test]
fn cli_009_cli_011_smoke_through_https_proxy_with_ssl_cert_file() {
    if !openssl_usable("cli_009_cli_011_smoke_through_https_proxy_with_ssl_cert_file") {
        return;
    }
    let pki = Pki::new();
    let server = TlsServer::start(&pki, fixture("openai/chat-ok.json"));
    let proxy = Proxy::start();
    let key = crate::support::chat::KEY;
    let run = Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/v1", server.url()))
        .args(["--check", "chat_completion", "--timeout", "5"])
        // One request, so one tunnel: the model list (SMK-031) would open a second one.
        .arg("--no-model-list")
        .secret_env("OLLAMA_CLOUD_API_KEY", key)
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", pki.ca().display().to_string())
        .run();
    run.code(0).no_leak().stdout_has("chat_completion=pass");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with(&format!("CONNECT {HOST}:{} HTTP/1.1\r\n", server.port)));
    proxy_saw_none_of(&proxy, &[key]);
    let got = server.heads();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains(&format!("authorization: Bearer {key}\r\n")));
}

/// With every proxy variable pointing at a recording proxy, loopback URLs (`127.0.0.1`,
/// `localhost`) are reached directly by both binaries, and a host named in `NO_PROXY` is
/// never handed to the proxy (it resolves nowhere here, so the run is exit 5).
#[tokio::test]
async fn cli_010_loopback_and_no_proxy_are_reached_directly() {
    let inf = Infisical::start().await;
    inf.serve_secrets("infisical/secrets-providers.json", 2)
        .await;
    let chat = crate::support::chat::Chat::start().await;
    chat.answer(200, "openai/chat-ok.json", 1).await;
    let proxy = Proxy::start();
    let every = |cli: Cli| {
        [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .iter()
        .fold(cli, |cli, var| cli.env(var, proxy.url()))
    };
    let wd = Workdir::new();
    let port = inf.url().rsplit(':').next().unwrap().to_owned();
    for url in [inf.url(), format!("http://localhost:{port}")] {
        let out = wd.join(&format!("{}.env", url.len()));
        every(canary_to(&url, &out)).run().success().no_leak();
    }
    every(chat.smoke().args(["--check", "chat_completion"]))
        .run()
        .success()
        .no_leak();
    // NO_PROXY, exact and as a domain suffix.
    for no_proxy in [HOST, ".test", "example.org,infisical.test"] {
        every(canary_to(&format!("https://{HOST}:1"), &wd.join("np.env")))
            .env("NO_PROXY", no_proxy)
            .args(["--timeout", "1"])
            .run()
            .code(5)
            .no_leak();
    }
    assert_eq!(proxy.heads(), Vec::<String>::new(), "the proxy was used");
    chat.verify().await;
}

/// A proxy variable that is no URL is exit 2 naming the variable, never its value (it may hold
/// credentials), before any request; an `SSL_CERT_FILE` that is missing or holds no
/// certificate is exit 2 naming the file.
#[tokio::test]
async fn cli_012_bad_proxy_or_ca_variable_is_a_usage_error() {
    let inf = Infisical::start().await;
    inf.serve_secrets("infisical/secrets-providers.json", 0)
        .await;
    let wd = Workdir::new();
    let proxy_value = "http://synthetic-user:synthetic-proxy-pass@[::bad";
    for var in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
        canary_to(&inf.url(), &wd.output())
            .secret_env(var, proxy_value)
            .run()
            .code(2)
            .stderr_is(&format!(
                "write-canary-env: error: invalid URL \"${var}\": not a proxy URL (expected http://host:port)\n"
            ))
            .no_leak();
    }
    let empty = wd.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for (file, why) in [
        (wd.join("missing.pem"), "entity not found"),
        (empty, "holds no PEM certificate"),
    ] {
        canary_to(&inf.url(), &wd.output())
            .env("SSL_CERT_FILE", file.display().to_string())
            .run()
            .code(2)
            .stderr_is(&format!(
                "write-canary-env: error: cannot use CA certificate {}: {why}\n",
                file.display()
            ))
            .no_leak();
    }
    assert!(!wd.output().exists());
}
