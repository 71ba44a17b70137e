//! A real TLS server on loopback with a private CA that `openssl` makes, and a recording
//! forward proxy that tunnels `CONNECT` — shared by the contract suite (`network.rs`) and the
//! peer tier (a real proxy, tinyproxy, in front of them). No tests here.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The name the tests give the TLS server: it resolves nowhere, so only a proxy reaches it.
pub const HOST: &str = "infisical.test";

/// A private CA and a server certificate for [`HOST`], made with `openssl`.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let sh = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem",
        ];
        ca.extend(ec);
        ca.extend([
            "-subj",
            "/CN=provider-bridge synthetic test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        sh(&ca);
        let mut csr = vec!["req", "-new", "-keyout", "leaf.key", "-out", "leaf.csr"];
        csr.extend(ec);
        csr.extend(["-subj", "/CN=infisical.test"]);
        sh(&csr);
        std::fs::write(
            dir.path().join("leaf.ext"),
            "subjectAltName=DNS:infisical.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        sh(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ]);
        sh(&[
            "x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der",
        ]);
        sh(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "leaf.key",
            "-outform",
            "DER",
            "-out",
            "leaf.key.der",
        ]);
        // A directory for SSL_CERT_DIR: the CA beside a file that is no certificate.
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        std::fs::copy(dir.path().join("ca.pem"), dir.path().join("certs/ca.pem")).unwrap();
        std::fs::write(dir.path().join("certs/README"), "not a certificate\n").unwrap();
        Pki { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }
}

/// A TLS server on loopback answering every request with `body` (JSON, status 200), and
/// recording each request's head.
pub struct TlsServer {
    pub port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    pub fn start(pki: &Pki, body: String) -> TlsServer {
        let cert = rustls::pki_types::CertificateDer::from(
            std::fs::read(pki.dir.path().join("leaf.der")).unwrap(),
        );
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            std::fs::read(pki.dir.path().join("leaf.key.der"))
                .unwrap()
                .into(),
        );
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let config = Arc::clone(&config);
                let seen = Arc::clone(&seen);
                let body = body.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    // A failed handshake (an untrusted CA on the client side) ends here.
                    let Ok(head) = read_head(&mut tls) else {
                        return;
                    };
                    let length = content_length(&head);
                    let mut rest = vec![0u8; length];
                    if tls.read_exact(&mut rest).is_err() {
                        return;
                    }
                    seen.lock().unwrap().push(head);
                    let _ = write!(
                        tls,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        TlsServer { port, heads }
    }

    pub fn url(&self) -> String {
        format!("https://{HOST}:{}", self.port)
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Reads an HTTP request head, byte by byte, up to the blank line.
pub fn read_head(stream: &mut impl std::io::Read) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

pub fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

/// A forward proxy on loopback that records every connection: the request head it was sent
/// and every byte the client sent through a `CONNECT` tunnel. [`HOST`] is tunnelled to
/// loopback; a request that is not `CONNECT` gets a 502.
pub struct Proxy {
    pub port: u16,
    heads: Arc<Mutex<Vec<String>>>,
    tunnelled: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let tunnelled = Arc::new(Mutex::new(Vec::new()));
        let (h, t) = (Arc::clone(&heads), Arc::clone(&tunnelled));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let (h, t) = (Arc::clone(&h), Arc::clone(&t));
                std::thread::spawn(move || {
                    let Ok(head) = read_head(&mut client) else {
                        return;
                    };
                    h.lock().unwrap().push(head.clone());
                    let target = head
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split(' ').next())
                        .and_then(|hp| hp.rsplit_once(':'))
                        .filter(|(host, _)| *host == HOST)
                        .map(|(_, port)| format!("127.0.0.1:{port}"));
                    let Some(target) = target else {
                        let _ = client.write_all(
                            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        );
                        return;
                    };
                    let Ok(upstream) = TcpStream::connect(target) else {
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut up_w, mut down_r) = (upstream.try_clone().unwrap(), upstream);
                    let mut client_w = client.try_clone().unwrap();
                    let down = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut down_r, &mut client_w);
                        let _ = client_w.shutdown(std::net::Shutdown::Write);
                    });
                    let mut buf = [0u8; 8192];
                    loop {
                        match client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                t.lock().unwrap().extend_from_slice(&buf[..n]);
                                if up_w.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = up_w.shutdown(std::net::Shutdown::Write);
                    let _ = down.join();
                });
            }
        });
        Proxy {
            port,
            heads,
            tunnelled,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Everything the proxy saw from clients, heads and tunnels, as text.
    pub fn everything(&self) -> String {
        let mut all = self.heads().join("");
        all.push_str(&String::from_utf8_lossy(&self.tunnelled.lock().unwrap()));
        all
    }
}
