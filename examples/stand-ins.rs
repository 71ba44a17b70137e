//! Loopback stand-ins for Infisical and an OpenAI-compatible chat endpoint, serving the same
//! `fixtures/` as the contract suite. Used by `scripts/demo`, `scripts/bench` and the docs
//! tests; never part of the production binaries (it is an example, built with dev-dependencies).
//!
//! ```text
//! cargo run --example stand-ins -- [--generate N] [--chat-delay-ms MS] [--reject-json-schema]
//! ```
//! Prints one line, `infisical=<url> chat=<url>/v1`, then serves until the process is
//! signalled (scripts stop it by PID).
//!
//! Infisical: `GET /api/v3/secrets/raw` answers `fixtures/infisical/secrets-providers.json`, or
//! with `--generate N` N synthetic secrets per `secretPath` (values 40–400 bytes, one in fifty
//! a multi-line 3 KB PEM-like block; keys unique per path); `POST
//! /api/v1/auth/universal-auth/login` answers `fixtures/infisical/login-ok.json`.
//!
//! Chat: `POST /v1/chat/completions` answers by what was asked: `tools` → a tool call,
//! `response_format` → a JSON answer (with `--reject-json-schema`, a `json_schema` request gets OpenAI's 400
//! rejection instead), a plain prompt demanding JSON → a JSON answer, anything else → a chat answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn fixture(rel: &str) -> Value {
    let path = fixtures().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("stand-ins: fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stand-ins: fixture {rel}: {e}"))
}

struct Options {
    generate: Option<usize>,
    chat_delay: Duration,
    reject_json_schema: bool,
}

fn parse_args() -> Options {
    let mut opts = Options {
        generate: None,
        chat_delay: Duration::ZERO,
        reject_json_schema: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("stand-ins: {name} needs a number"))
        };
        match arg.as_str() {
            "--generate" => opts.generate = Some(value("--generate") as usize),
            "--chat-delay-ms" => opts.chat_delay = Duration::from_millis(value("--chat-delay-ms")),
            "--reject-json-schema" => opts.reject_json_schema = true,
            other => panic!("stand-ins: unknown argument {other}"),
        }
    }
    opts
}

/// A deterministic pseudo-random sequence (no dependency, same payload every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn text(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=#: .,-";
        (0..len)
            .map(|_| ALPHABET[(self.next() as usize) % ALPHABET.len()] as char)
            .collect()
    }
}

/// N synthetic secrets for one path, in the answer shape of the real list route.
fn generated(n: usize, secret_path: &str) -> Value {
    let tag: u64 = secret_path.bytes().fold(1469598103934665603, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    });
    let mut rng = Lcg(tag);
    let prefix = format!("P{:04X}", tag & 0xffff);
    let secrets: Vec<Value> = (0..n)
        .map(|i| {
            let value = if i % 50 == 49 {
                let body: Vec<String> = (0..48).map(|_| rng.text(64)).collect();
                format!(
                    "-----BEGIN SYNTHETIC TEST KEY-----\n{}\n-----END SYNTHETIC TEST KEY-----",
                    body.join("\n")
                )
            } else {
                let len = 40 + (rng.next() as usize) % 361;
                let mut v = String::from("synthetic-");
                v.push_str(&rng.text(len - v.len()));
                v
            };
            let id = format!("00000000-0000-4000-8000-{:012}", i);
            json!({
                "id": id, "_id": id, "workspace": "proj-synthetic-0001", "environment": "prod",
                "version": 1, "type": "shared", "secretKey": format!("{prefix}_SECRET_{i:05}"),
                "secretValue": value, "secretComment": "", "secretReminderNote": null,
                "secretReminderRepeatDays": null, "skipMultilineEncoding": false,
                "createdAt": "2026-05-01T10:00:00.000Z", "updatedAt": "2026-05-01T10:00:00.000Z",
                "actor": null, "isRotatedSecret": false, "rotationId": null,
                "secretPath": secret_path, "secretValueHidden": false, "secretMetadata": [],
                "tags": []
            })
        })
        .collect();
    json!({"secrets": secrets, "imports": []})
}

struct Secrets {
    generate: Option<usize>,
    /// Rendered bodies by secret path, so each path's payload is built once.
    cache: Mutex<HashMap<String, Vec<u8>>>,
}

impl Respond for Secrets {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let secret_path = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "secretPath")
            .map_or_else(|| "/".to_owned(), |(_, v)| v.into_owned());
        let mut cache = self.cache.lock().unwrap();
        let body = cache.entry(secret_path.clone()).or_insert_with(|| {
            let value = match self.generate {
                Some(n) => generated(n, &secret_path),
                None => fixture("infisical/secrets-providers.json"),
            };
            serde_json::to_vec(&value).unwrap()
        });
        ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json")
    }
}

struct Chat {
    delay: Duration,
    reject_json_schema: bool,
}

impl Respond for Chat {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let asks_json = body["messages"].as_array().is_some_and(|messages| {
            messages
                .iter()
                .any(|m| m["content"].as_str().is_some_and(|c| c.contains("JSON")))
        });
        let (status, answer) = if body.get("tools").is_some() {
            (200, fixture("openai/tool-ok.json"))
        } else if body["response_format"]["type"] == "json_schema" && self.reject_json_schema {
            (400, fixture("openai/error-openai-json-schema.json"))
        } else if asks_json {
            (200, fixture("openai/json-ok.json"))
        } else {
            (200, fixture("openai/chat-ok.json"))
        };
        ResponseTemplate::new(status)
            .set_body_json(answer)
            .set_delay(self.delay)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let opts = parse_args();
    let infisical = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/secrets/raw"))
        .respond_with(Secrets {
            generate: opts.generate,
            cache: Mutex::new(HashMap::new()),
        })
        .mount(&infisical)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/universal-auth/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("infisical/login-ok.json")))
        .mount(&infisical)
        .await;
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Chat {
            delay: opts.chat_delay,
            reject_json_schema: opts.reject_json_schema,
        })
        .mount(&chat)
        .await;
    println!("infisical={} chat={}/v1", infisical.uri(), chat.uri());
    // Serve until signalled: scripts stop the stand-ins by PID.
    std::future::pending::<()>().await;
}
