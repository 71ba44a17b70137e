//! A wiremock stand-in for Infisical, serving payloads from `fixtures/infisical/` (or built
//! here) in the shapes of `../shared/reference/infisical-api.md`: every secret object carries
//! the fields the official Python SDK requires (`id, _id, workspace, environment, version,
//! type, secretKey, secretValue, secretComment, createdAt, updatedAt`), error bodies have
//! Infisical's `{reqId, statusCode, message, error}` shape, and a missing folder answers 200
//! with an empty list, as the real service does.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::cli::Cli;
use super::fixtures::fixture_json;

/// The raw-secrets list route.
pub const SECRETS_RAW: &str = "/api/v3/secrets/raw";
/// The Universal Auth login route.
pub const UA_LOGIN: &str = "/api/v1/auth/universal-auth/login";

/// The project, environment and token every test uses unless it says otherwise.
pub const PROJECT: &str = "proj-synthetic-0001";
pub const ENV: &str = "prod";
pub const TOKEN: &str = "synthetic-token-Zq8x2Lm4Vn6Bc0Df";
/// The key and value of `fixtures/infisical/secrets-providers.json`.
pub const PROVIDER_KEY: &str = "OLLAMA_CLOUD_API_KEY";
pub const PROVIDER_VALUE: &str = "synthetic-ollama-key-7Qm2Vx9Lp4Rt";
pub const PROVIDER_PATH: &str = "/home-platform/providers";

pub struct Infisical {
    pub server: MockServer,
}

/// One secret object as the real `GET /api/v3/secrets/raw` answers it.
pub fn secret_obj(key: &str, value: &str, folder: &str) -> Value {
    json!({
        "id": "6f1c3a52-0000-4000-8000-00000000aaaa",
        "_id": "6f1c3a52-0000-4000-8000-00000000aaaa",
        "workspace": PROJECT,
        "environment": ENV,
        "version": 1,
        "type": "shared",
        "secretKey": key,
        "secretValue": value,
        "secretComment": "",
        "secretReminderNote": null,
        "secretReminderRepeatDays": null,
        "skipMultilineEncoding": false,
        "createdAt": "2026-05-01T10:00:00.000Z",
        "updatedAt": "2026-05-01T10:00:00.000Z",
        "actor": null,
        "isRotatedSecret": false,
        "rotationId": null,
        "secretPath": folder,
        "secretValueHidden": false,
        "secretMetadata": [],
        "tags": []
    })
}

/// A list answer with these `(key, value)` pairs in `folder` and no imports.
pub fn list_answer(folder: &str, secrets: &[(&str, &str)]) -> Value {
    json!({
        "secrets": secrets.iter().map(|(k, v)| secret_obj(k, v, folder)).collect::<Vec<_>>(),
        "imports": []
    })
}

/// An Infisical error body.
pub fn error_body(status: u16, error: &str, message: &str) -> Value {
    json!({"reqId": "req-synthetic-0001", "statusCode": status, "message": message, "error": error})
}

impl Infisical {
    pub async fn start() -> Self {
        Infisical {
            server: MockServer::start().await,
        }
    }

    /// The base URL to pass as `--api-url`.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Answers the list route with a fixture, expecting exactly `times` requests.
    pub async fn serve_secrets(&self, fixture: &str, times: u64) {
        Mock::given(method("GET"))
            .and(path(SECRETS_RAW))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture_json(fixture)))
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Answers the list route with an error fixture and status, expecting exactly `times`.
    pub async fn fail_secrets(&self, status: u16, fixture: &str, times: u64) {
        Mock::given(method("GET"))
            .and(path(SECRETS_RAW))
            .respond_with(ResponseTemplate::new(status).set_body_json(fixture_json(fixture)))
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Answers the list route for one folder (matched on `secretPath`) with a JSON body, only
    /// when the request carries exactly `Authorization: Bearer <token>`; expects `times`.
    pub async fn serve_folder(&self, folder: &str, token: &str, body: Value, times: u64) {
        Mock::given(method("GET"))
            .and(path(SECRETS_RAW))
            .and(query_param("secretPath", folder))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Answers the list route with any response, expecting exactly `times` requests.
    pub async fn respond(&self, response: ResponseTemplate, times: u64) {
        Mock::given(method("GET"))
            .and(path(SECRETS_RAW))
            .respond_with(response)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Answers the list route with `response` for the first `n` requests only (mount a
    /// fallback after it for the later ones).
    pub async fn respond_first(&self, response: ResponseTemplate, n: u64) {
        Mock::given(method("GET"))
            .and(path(SECRETS_RAW))
            .respond_with(response)
            .up_to_n_times(n)
            .expect(n)
            .mount(&self.server)
            .await;
    }

    /// Answers the Universal Auth login with `response`, expecting exactly `times`.
    pub async fn login(&self, response: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path(UA_LOGIN))
            .respond_with(response)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<wiremock::Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

/// A working directory for one test: a temp dir, an output path inside it, helpers to look
/// at what is left there.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/<rel>`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The default output file, `<dir>/out.env`.
    pub fn output(&self) -> PathBuf {
        self.join("out.env")
    }

    /// Writes a credential file with the given mode.
    pub fn credential_file(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// The names in `dir` that look like a temporary file (dot-prefixed).
    pub fn dot_files(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Fails when a dot file (a temporary) is left in `dir`.
    #[track_caller]
    pub fn assert_no_temp(dir: &Path) {
        let left = Self::dot_files(dir);
        assert!(
            left.is_empty(),
            "temporary files left in {}: {left:?}",
            dir.display()
        );
    }
}

/// `write-canary-env` pointed at `url` for `PROJECT`/`ENV`, writing `output`, authenticated by
/// `INFISICAL_TOKEN=TOKEN` (registered as a secret), with a short `--timeout`.
pub fn canary(url: &str, output: &Path) -> Cli {
    Cli::canary()
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url", url])
        .arg("--output")
        .path_arg(output)
        .args(["--timeout", "2"])
        .secret_env("INFISICAL_TOKEN", TOKEN)
}

/// The file's permission bits.
pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .mode()
        & 0o7777
}

/// Whether the tests run as root (chown to another user needs it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Says loudly that a test is skipped (never a silent pass). Where the environment promises
/// that everything is present (`PB_NO_SKIP=1`, set by `.ci/run` after installing strace and
/// python-dotenv), a skip is a failure instead.
#[track_caller]
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("PB_NO_SKIP").is_some_and(|v| v == "1") {
        panic!("{test} cannot run ({why}) and PB_NO_SKIP=1 forbids skipping it");
    }
    eprintln!("SKIPPED {test}: {why}");
    println!("SKIPPED {test}: {why}");
}

/// A loopback port nothing listens on (bound, then released).
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A tiny HTTP server that answers list requests only once `n` of them are in flight at the
/// same time (a barrier): a client that fetches sequentially waits for an answer that never
/// comes and times out. Returns its URL; it answers each folder with one secret named after
/// the folder's last component (`/a` → `A_KEY`).
pub fn barrier_server(n: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Barrier};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let barrier = Arc::new(Barrier::new(n));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { continue };
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let folder = first
                    .split("secretPath=%2F")
                    .nth(1)
                    .and_then(|r| r.split(['&', ' ']).next())
                    .unwrap_or("root")
                    .to_uppercase();
                barrier.wait();
                let body = list_answer(
                    &format!("/{}", folder.to_lowercase()),
                    &[(&format!("{folder}_KEY"), "synthetic-barrier-value")],
                )
                .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}
