//! PEER-040: a real forward proxy, Debian's tinyproxy, in front of the HTTPS tests. Both
//! binaries go through it with `HTTPS_PROXY` to a TLS server whose private CA `openssl` made;
//! tinyproxy's own log shows the `CONNECT` and never the credential. tinyproxy hands the tunnel
//! to the suite's recording proxy as its upstream (the TLS server's name resolves nowhere, so
//! only that proxy can reach it), which records what tinyproxy sent on.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::peer::peers;
use crate::support::Cli;
use crate::support::fixture;
use crate::support::infisical::{PROVIDER_KEY, PROVIDER_VALUE, TOKEN};
use crate::support::leak;
use crate::support::{Workdir, canary};
use crate::tls_support::{HOST, Pki, Proxy, TlsServer};

/// tinyproxy on a free loopback port, logging at `Info` into `dir`, with `upstream` as its
/// upstream proxy; stopped (by its PID) when dropped.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Tinyproxy {
    fn start(dir: &Path, upstream: u16) -> Tinyproxy {
        use std::os::unix::fs::PermissionsExt as _;
        // tinyproxy drops root for nobody: its log directory must be writable by it.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 8\nLogLevel Info\n\
                 LogFile \"{}\"\nUpstream http 127.0.0.1:{upstream}\nUser nobody\nGroup nogroup\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(&peers().tinyproxy)
            .args(["-d", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy starts");
        let mut proxy = Tinyproxy { child, port, log };
        // Ready when it accepts a connection (bounded: 5 s).
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("tinyproxy exited ({status}): {}", proxy.log_text());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("tinyproxy never listened on {port}: {}", proxy.log_text());
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails when `text` (what a proxy saw or logged) holds any form of `secrets`.
#[track_caller]
fn holds_none_of(what: &str, text: &str, secrets: &[&str]) {
    let leaks = leak::find_leaks(&[(what, text)], secrets);
    assert!(leaks.is_empty(), "{what} holds a secret: {leaks:?}");
}

/// Through tinyproxy (`HTTPS_PROXY`), `write-canary-env` with `--ca-cert` and the smoke with
/// `SSL_CERT_FILE` reach the private-CA server: both succeed, tinyproxy logged
/// `CONNECT infisical.test:<port>` for each, and neither its log nor the bytes it passed on
/// hold the token, the key or the value — while the server, inside the tunnel, got them.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_040_tinyproxy_tunnels_https_and_never_sees_a_credential() {
    let pki = Pki::new();
    let upstream = Proxy::start();
    let logs = Workdir::new();
    let tinyproxy = Tinyproxy::start(logs.path(), upstream.port);

    let infisical = TlsServer::start(&pki, fixture("infisical/secrets-providers.json"));
    let wd = Workdir::new();
    canary(&infisical.url(), &wd.output())
        .secret(PROVIDER_VALUE)
        .env("HTTPS_PROXY", tinyproxy.url())
        .arg("--ca-cert")
        .arg(pki.ca().display().to_string())
        .args(["--timeout", "10"])
        .run()
        .success()
        .no_leak();
    let got = infisical.heads();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains(&format!("authorization: Bearer {TOKEN}\r\n")));
    let written: Vec<(String, String)> = dotenvy::from_path_iter(wd.output())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        written,
        [(PROVIDER_KEY.to_owned(), PROVIDER_VALUE.to_owned())]
    );

    let chat = TlsServer::start(&pki, fixture("openai/chat-ok.json"));
    let key = crate::support::chat::KEY;
    Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/v1", chat.url()))
        .args(["--check", "chat_completion", "--timeout", "10"])
        // One request, one tunnel: the model list (SMK-031) would open a second one.
        .arg("--no-model-list")
        .secret_env("OLLAMA_CLOUD_API_KEY", key)
        .env("HTTPS_PROXY", tinyproxy.url())
        .env("SSL_CERT_FILE", pki.ca().display().to_string())
        .run()
        .success()
        .no_leak()
        .stdout_has("chat_completion=pass");
    let got = chat.heads();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains(&format!("authorization: Bearer {key}\r\n")));

    let log = tinyproxy.log_text();
    for server in [&infisical, &chat] {
        assert!(
            log.contains(&format!("CONNECT {HOST}:{}", server.port)),
            "tinyproxy logged no CONNECT to {HOST}:{}:\n{log}",
            server.port
        );
    }
    let secrets = [TOKEN, PROVIDER_VALUE, key];
    holds_none_of("tinyproxy's log", &log, &secrets);
    holds_none_of("what tinyproxy passed on", &upstream.everything(), &secrets);
    let heads = upstream.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        assert!(head.starts_with(&format!("CONNECT {HOST}:")), "{head:?}");
    }
}
