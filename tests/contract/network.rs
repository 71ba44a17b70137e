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

/// What `write-canary-env` prints after writing (`written`) or keeping (`unchanged`) `file` in
/// `[TMP]` with the one provider key.
fn reported(verb: &str, file: &str) -> String {
    format!(
        "{verb}: [TMP]/{file} (mode 0600, owner [UID]:[GID]) with 1 key from project {PROJECT}, \
         environment {ENV}, paths /\n  {PROVIDER_KEY}\n"
    )
}

/// The canary's message when no attempt reached the server (`--timeout` short, three attempts).
/// What an unreachable server costs: the two waits said as they start (INF-046), then the
/// error.
const UNREACHABLE: &str = "write-canary-env: waiting 0.1 s: the connection failed, backing off; \
                           then attempt 2 of 3 of /api/v3/secrets/raw for --path /\n\
                           write-canary-env: waiting 0.2 s: the connection failed, backing off; \
                           then attempt 3 of 3 of /api/v3/secrets/raw for --path /\n\
                           write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 \
                           attempts (gave up: no attempt left; 0.3 s spent waiting): connection \
                           failed (refused or unreachable)\n";

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
        let _ = if code == 0 {
            cli.exits(0).stdout(reported("written", "out.env"))
        } else {
            cli.exits(code).stderr(UNREACHABLE)
        }
        .tmp(wd.path())
        .run();
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
    let _ = Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/v1", server.url()))
        .args(["--check", "chat_completion", "--timeout", "5"])
        // One request, so one tunnel: the model list (SMK-031) would open a second one.
        .arg("--no-model-list")
        .secret_env("OLLAMA_CLOUD_API_KEY", key)
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", pki.ca().display().to_string())
        .exits(0)
        .stdout("chat_completion=pass latency_ms=[MS]\n")
        .stderr(format!(
            "ollama-compat-smoke: endpoint=https://{HOST}:{}/v1 model=gemma4:31b-cloud \
             auth=bearer\n",
            server.port
        ))
        .run();
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
    // both URLs have the same length, so the second run finds the file it would write
    for (url, verb) in [
        (inf.url(), "written"),
        (format!("http://localhost:{port}"), "unchanged"),
    ] {
        let file = format!("{}.env", url.len());
        let _ = every(canary_to(&url, &wd.join(&file)))
            .exits(0)
            .stdout(reported(verb, &file))
            .tmp(wd.path())
            .run();
    }
    let _ = every(chat.smoke().args(["--check", "chat_completion"]))
        .exits(0)
        .stdout("chat_completion=pass latency_ms=[MS]\n")
        .stderr(
            "ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud \
             auth=bearer\n",
        )
        .run();
    // NO_PROXY, exact and as a domain suffix.
    for no_proxy in [HOST, ".test", "example.org,infisical.test"] {
        every(canary_to(&format!("https://{HOST}:1"), &wd.join("np.env")))
            .env("NO_PROXY", no_proxy)
            .args(["--timeout", "1"])
            .exits(5)
            .stderr(UNREACHABLE)
            .run();
    }
    assert_eq!(proxy.heads(), Vec::<String>::new(), "the proxy was used");
    chat.verify().await;
}

/// A proxy variable that is no URL is exit 2 naming the variable, never its value (it may hold
/// credentials), before any request; an `SSL_CERT_FILE` that is missing or holds no
/// certificate, or an `SSL_CERT_DIR` that cannot be read, is exit 2 naming it, for a plain
/// `http://` URL as for an `https://` one (which no request reaches: the setup fails first). A
/// block that is no certificate fails the `https://` run only: the `http://` run writes its
/// file.
#[tokio::test]
async fn cli_012_bad_proxy_or_ca_variable_is_a_usage_error() {
    let inf = Infisical::start().await;
    inf.serve_secrets("infisical/secrets-providers.json", 0)
        .await;
    let wd = Workdir::new();
    let proxy_value = "http://synthetic-user:synthetic-proxy-pass@[::bad";
    for var in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
        let _ = canary_to(&inf.url(), &wd.output())
            .secret_env(var, proxy_value)
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: invalid URL \"${var}\": not a proxy URL (expected \
                 http://host:port)\n"
            ))
            .run();
    }
    let empty = wd.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    // No server listens there: only a setup error can end the https:// run.
    let https = "https://127.0.0.1:9";
    for url in [inf.url(), https.to_owned()] {
        for (var, name, why) in [
            ("SSL_CERT_FILE", "missing.pem", "entity not found"),
            ("SSL_CERT_FILE", "empty.pem", "holds no PEM certificate"),
            (
                "SSL_CERT_DIR",
                "missing-dir",
                "$SSL_CERT_DIR names no readable directory",
            ),
        ] {
            let _ = canary_to(&url, &wd.output())
                .env(var, wd.join(name).display().to_string())
                .exits(2)
                .stderr(format!(
                    "write-canary-env: error: cannot use CA certificate [TMP]/{name}: {why}\n"
                ))
                .tmp(wd.path())
                .run();
        }
    }
    assert!(!wd.output().exists());
    let garbage = wd.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    // An https:// URL, or an https:// proxy named (even one loopback never goes through).
    for (url, proxy) in [(https, None), (&*inf.url(), Some("https://127.0.0.1:9"))] {
        let mut cli =
            canary_to(url, &wd.output()).env("SSL_CERT_FILE", garbage.display().to_string());
        if let Some(proxy) = proxy {
            cli = cli.env("http_proxy", proxy);
        }
        let _ = cli
            .exits(2)
            .stderr(
                "write-canary-env: error: cannot use CA certificate $SSL_CERT_FILE/$SSL_CERT_DIR: \
                 not a PEM certificate bundle\n",
            )
            .run();
    }
    assert!(!wd.output().exists());
    let served = Infisical::start().await;
    served
        .serve_secrets("infisical/secrets-providers.json", 1)
        .await;
    let _ = canary_to(&served.url(), &wd.output())
        .env("SSL_CERT_FILE", garbage.display().to_string())
        .exits(0)
        .stdout(reported("written", "out.env"))
        .tmp(wd.path())
        .run();
}
