//! A counting loopback proxy: sits between the smoke and a real llama-server and records every
//! request that reaches the server (method, path, JSON body) and the status it answered. This
//! is how the tier proves "no fallback request" against a real peer: the server cannot lie
//! about what it received, and neither can the smoke's own report.
//!
//! HTTP/1.1 only, one request per connection towards the server (`Connection: close`), the
//! answer relayed byte for byte. Listens on 127.0.0.1 only; stops when dropped.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request the server received through the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
    /// The status line's code of the server's answer (0 if none was read).
    pub status: u16,
}

impl Seen {
    /// Which check this request belongs to, judged from its body: `tool_call` offers tools,
    /// `json_response` sends `response_format` or asks for JSON in the prompt, otherwise
    /// `chat_completion`.
    pub fn check(&self) -> &'static str {
        if self.body.get("tools").is_some() {
            "tool_call"
        } else if self.body.get("response_format").is_some()
            || self.body.to_string().to_lowercase().contains("json")
        {
            "json_response"
        } else {
            "chat_completion"
        }
    }
}

pub struct CountingProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    /// Starts a proxy towards `upstream` (`http://127.0.0.1:PORT/...`; only host and port are
    /// used).
    pub fn start(upstream: &str) -> Self {
        let url = url::Url::parse(upstream).expect("upstream URL");
        let target = format!(
            "{}:{}",
            url.host_str().expect("upstream host"),
            url.port_or_known_default().expect("upstream port")
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let seen = seen.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let seen = seen.clone();
                    let target = target.clone();
                    thread::spawn(move || {
                        let _ = relay(conn, &target, &seen);
                    });
                }
            });
        }
        CountingProxy { addr, seen, stop }
    }

    /// The base URL to give the smoke, with the same path as the upstream URL
    /// (e.g. `http://127.0.0.1:PORT/v1`).
    pub fn url(&self, upstream: &str) -> String {
        let mut url = url::Url::parse(upstream).expect("upstream URL");
        url.set_port(Some(self.addr.port())).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.to_string().trim_end_matches('/').to_owned()
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop so that it sees `stop`
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Reads one request from the client, sends it to the server on a new connection and relays
/// the answer back, marked `Connection: close` so that the client never reuses the connection.
fn relay(client: TcpStream, target: &str, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // a connection opened and closed without a request
    }
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse().unwrap_or(0);
            }
            if name == "connection" || name == "keep-alive" {
                continue;
            }
        }
        headers.push(trimmed.to_owned());
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;

    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();

    let mut upstream = TcpStream::connect(target)?;
    let mut head = request_line.trim_end().to_owned() + "\r\n";
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&body)?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    let status = std::str::from_utf8(&answer[..answer.len().min(32)])
        .ok()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    seen.lock().unwrap().push(Seen {
        method,
        path,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        status,
    });
    client.write_all(&with_connection_close(&answer))?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// The answer with its `Connection` headers replaced by `Connection: close`.
fn with_connection_close(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("keep-alive:")) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[end + 4..]);
    bytes
}
