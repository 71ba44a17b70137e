//! The Infisical stand-in: a wiremock server answering in the shapes of Infisical's own source
//! (`fixtures/README.md` names the file and commit of each answer). Every secret object
//! carries the fields the real list route sends (`id, _id, workspace, environment, version,
//! type, secretKey, secretValue, secretComment, createdAt, updatedAt, secretPath, tags, …`;
//! imported secrets have no `secretPath`, `tags`, `createdAt`, `updatedAt`), error bodies have
//! Infisical's `{reqId, statusCode, message, error}` shape, and with the route table a missing
//! folder answers a current server's 404 `SecretPathNotFound` (an older server's 200 with an
//! empty list when the table says `"unknownFolder": "empty"`).
//!
//! Two servers, one stand-in ([`Server`]): today's answers as read in Infisical's source (the
//! default), and the **October 2024 server** — a real backend at upstream commit `593bda8b`,
//! run on loopback and recorded (`fixtures/infisical/593bda8b/`) — chosen with
//! [`InfisicalBuilder::server`] for the standing answers and [`Infisical::answer_as`] for the
//! counted ones, so that a contract can be run against both.
//!
//! Two ways to use it, on the one type:
//! - **Standing answers**, set on the builder before it starts ([`Infisical::builder`]): what
//!   the demo, the benchmarks and the docs tests need — a fixture, generated secrets or the
//!   peer route table on the list route, a token check, a login. They answer any number of
//!   times (no `expect`).
//! - **Counted answers**, mounted on a started server by a contract test
//!   ([`Infisical::serve_secrets`] and its siblings): each expects an exact number of requests
//!   (wiremock's `expect`, checked when the server drops), because the request counts are
//!   part of the contracts (retries, no retry on 401, one login).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{any, header, header_exists, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures::fixture_json;

/// The raw-secrets list route.
pub const SECRETS_RAW: &str = "/api/v3/secrets/raw";
/// The Universal Auth login route.
pub const UA_LOGIN: &str = "/api/v1/auth/universal-auth/login";

/// The project every fixture and every test uses unless it says otherwise.
pub const PROJECT: &str = "proj-synthetic-0001";
/// The environment every test uses unless it says otherwise.
pub const ENV: &str = "prod";
/// The Token Auth token the contract tests send (registered as a secret by their runner).
pub const TOKEN: &str = "synthetic-token-Zq8x2Lm4Vn6Bc0Df";
/// The key of `fixtures/infisical/secrets-providers.json`.
pub const PROVIDER_KEY: &str = "OLLAMA_CLOUD_API_KEY";
/// The value of [`PROVIDER_KEY`] in `fixtures/infisical/secrets-providers.json`.
pub const PROVIDER_VALUE: &str = "synthetic-ollama-key-7Qm2Vx9Lp4Rt";
/// The folder of `fixtures/infisical/secrets-providers.json`.
pub const PROVIDER_PATH: &str = "/home-platform/providers";
/// The fixture most answers serve.
pub const PROVIDERS_FIXTURE: &str = "infisical/secrets-providers.json";
/// The project of the recording at 593bda8b (its answers name it).
pub const RECORDED_PROJECT: &str = "df1167bf-8375-4614-9f41-d4658b21e228";

// ---------------------------------------------------------------------------------------------
// The two servers

/// Which Infisical the stand-in answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Server {
    /// Today's servers, as read in their source (`fixtures/README.md` names file and commit):
    /// a missing folder is a 404 `SecretPathNotFound`, a validation failure a 422, a role
    /// scoped to other folders gets an empty (filtered) list.
    #[default]
    Current,
    /// The real backend at upstream commit `593bda8b` (2024-10-24), as recorded
    /// (`fixtures/infisical/593bda8b/`): a missing folder or environment answers 200 with empty
    /// lists, a validation failure 401 `ValidationFailure`, a role scoped to other folders 403
    /// `PermissionDenied` "You are not allowed to read on secrets", the rate limit "try again in
    /// 1 minute"; error bodies have no `reqId`.
    October2024,
}

/// A situation the contracts meet, which the two [`Server`]s may answer differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    /// The identity's role reads other folders only (the seed's `/forgejo/**` identity).
    WrongScope,
    /// The identity is not a member of the project.
    NotMember,
    /// The token is not one this instance issued (malformed, or signed by another).
    BadToken,
    /// The folder asked for does not exist.
    MissingFolder,
    /// The request does not validate.
    ValidationFailure,
    /// The secrets route's rate limit is reached.
    RateLimited,
    /// The project ID is unknown.
    UnknownProject,
    /// Universal Auth with a client ID the instance does not know (the login route).
    UnknownClientId,
    /// Universal Auth with a wrong client secret (the login route).
    InvalidCredentials,
}

impl Situation {
    /// Every situation.
    pub const ALL: [Situation; 9] = [
        Situation::WrongScope,
        Situation::NotMember,
        Situation::BadToken,
        Situation::MissingFolder,
        Situation::ValidationFailure,
        Situation::RateLimited,
        Situation::UnknownProject,
        Situation::UnknownClientId,
        Situation::InvalidCredentials,
    ];

    /// Whether the login route answers it (else the list route).
    pub fn on_login(self) -> bool {
        matches!(
            self,
            Situation::UnknownClientId | Situation::InvalidCredentials
        )
    }
}

impl Server {
    /// Both servers, the recorded one first.
    pub const BOTH: [Server; 2] = [Server::October2024, Server::Current];

    /// What this server answers in `situation`: the status and the fixture (relative to
    /// `fixtures/`). The October 2024 answers are all recorded; today's are read in the source,
    /// except where no newer reading exists (the unknown client ID, the wrong secret: the
    /// recorded answer stands for both, `fixtures/README.md` says so).
    pub fn answer(self, situation: Situation) -> (u16, &'static str) {
        use Situation as S;
        match (self, situation) {
            (Server::October2024, S::WrongScope) => {
                (403, "infisical/593bda8b/error-403-permission-denied.json")
            }
            (Server::Current, S::WrongScope) => (200, "infisical/secrets-empty.json"),
            (Server::October2024, S::NotMember) => {
                (403, "infisical/593bda8b/error-403-not-member.json")
            }
            (Server::Current, S::NotMember) => (403, "infisical/error-403-not-member.json"),
            (Server::October2024, S::BadToken) => {
                (403, "infisical/593bda8b/error-403-token-malformed.json")
            }
            (Server::Current, S::BadToken) => (403, "infisical/error-403-token-expired.json"),
            (Server::October2024, S::MissingFolder) => {
                (200, "infisical/593bda8b/secrets-empty.json")
            }
            (Server::Current, S::MissingFolder) => {
                (404, "infisical/error-404-secret-path-not-found.json")
            }
            (Server::October2024, S::ValidationFailure) => {
                (401, "infisical/593bda8b/error-401-validation.json")
            }
            (Server::Current, S::ValidationFailure) => (422, "infisical/error-422-validation.json"),
            (Server::October2024, S::RateLimited) => {
                (429, "infisical/593bda8b/error-429-rate-limit.json")
            }
            (Server::Current, S::RateLimited) => (429, "infisical/error-429-rate-limit.json"),
            (Server::October2024, S::UnknownProject) => {
                (404, "infisical/593bda8b/error-404-project.json")
            }
            (Server::Current, S::UnknownProject) => (404, "infisical/error-404-project.json"),
            (_, S::UnknownClientId) => (404, "infisical/593bda8b/error-404-unknown-client-id.json"),
            (Server::October2024, S::InvalidCredentials) => {
                (401, "infisical/593bda8b/error-401-invalid-credentials.json")
            }
            (Server::Current, S::InvalidCredentials) => {
                (401, "infisical/error-401-invalid-credentials.json")
            }
        }
    }

    /// [`Self::answer`] as a response (no header: a test adds `retry-after` where it wants).
    pub fn response(self, situation: Situation) -> ResponseTemplate {
        let (status, fixture) = self.answer(situation);
        ResponseTemplate::new(status).set_body_json(fixture_json(fixture))
    }
}

// ---------------------------------------------------------------------------------------------
// Answer shapes

/// One secret object as the real `GET /api/v3/secrets/raw` answers it, with a fixed id.
pub fn secret_obj(key: &str, value: &str, folder: &str) -> Value {
    secret_with_id("6f1c3a52-0000-4000-8000-00000000aaaa", key, value, folder)
}

/// One secret object as the real list route answers it, with the given id.
pub fn secret_with_id(id: &str, key: &str, value: &str, folder: &str) -> Value {
    json!({
        "id": id,
        "_id": id,
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

/// A current server's 404 for a folder (or, non-recursive, an environment) that does not
/// exist (`getSecrets` in `secret-v2-bridge-service.ts`).
pub fn path_not_found(folder: &str, environment: &str) -> Value {
    error_body(
        404,
        "SecretPathNotFound",
        &format!(
            "Folder with path '{folder}' in environment '{environment}' was not found. Please ensure the environment slug and secret path is correct."
        ),
    )
}

/// An Infisical error body.
pub fn error_body(status: u16, error: &str, message: &str) -> Value {
    json!({"reqId": "req-synthetic-0001", "statusCode": status, "message": message, "error": error})
}

/// A deterministic pseudo-random sequence (no dependency, the same payload every run).
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

/// `n` synthetic secrets for one folder, in the answer shape of the real list route: values of
/// 40–400 bytes, one in fifty a multi-line 3 KB PEM-like block, keys unique per folder; the
/// same folder always gets the same payload.
pub fn generated(n: usize, folder: &str) -> Value {
    let tag: u64 = folder.bytes().fold(1469598103934665603, |h, b| {
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
            let id = format!("00000000-0000-4000-8000-{i:012}");
            secret_with_id(&id, &format!("{prefix}_SECRET_{i:05}"), &value, folder)
        })
        .collect();
    json!({"secrets": secrets, "imports": []})
}

// ---------------------------------------------------------------------------------------------
// The peer route table

/// The route table of the peer tier's Python stand-in (`tests/peers/infisical_standin.py`),
/// `fixtures/peers/infisical-routes.json`: the credentials it accepts and `environment →
/// secretPath → fixture`. The Rust stand-in reads the same table ([`InfisicalBuilder::routes`]),
/// so the folders live in one place.
#[derive(Debug, Clone)]
pub struct Routes(Value);

impl Routes {
    /// The table in `fixtures/peers/infisical-routes.json`.
    pub fn load() -> Self {
        Routes(fixture_json("peers/infisical-routes.json"))
    }

    /// The whole table, as JSON.
    pub fn json(&self) -> &Value {
        &self.0
    }

    /// A string field of the table (`tokenAuthToken`, `clientId`, `login`, …).
    #[track_caller]
    pub fn str(&self, field: &str) -> String {
        self.0[field]
            .as_str()
            .unwrap_or_else(|| panic!("infisical-routes.json has no string {field}"))
            .to_owned()
    }

    /// The fixture (relative to `fixtures/`) the table maps `(environment, folder)` to, or
    /// its `emptyFolder` fixture for a folder it does not name (what an older server answers;
    /// see [`Self::answer_for`] for the current one).
    pub fn fixture_for(&self, environment: &str, folder: &str) -> String {
        self.0["secrets"][environment][folder]
            .as_str()
            .map_or_else(|| self.str("emptyFolder"), str::to_owned)
    }

    /// What the list route answers for `(environment, folder)`: 200 with its fixture; for a
    /// folder the table does not name, a current server's 404 `SecretPathNotFound` naming
    /// both ([`path_not_found`]), or, when the table's `unknownFolder` is `"empty"`, an older
    /// server's 200 with its `emptyFolder` fixture.
    pub fn answer_for(&self, environment: &str, folder: &str) -> (u16, Value) {
        let known = self.0["secrets"][environment][folder].is_string();
        if !known && self.0["unknownFolder"].as_str() != Some("empty") {
            return (404, path_not_found(folder, environment));
        }
        (200, fixture_json(&self.fixture_for(environment, folder)))
    }

    /// [`Self::answer_for`] as `server` answers: the October 2024 server answers an unknown
    /// folder (or environment) 200 with its recorded empty lists, whatever the table says.
    pub fn answer_as(&self, server: Server, environment: &str, folder: &str) -> (u16, Value) {
        let known = self.0["secrets"][environment][folder].is_string();
        match server {
            Server::October2024 if !known => (
                200,
                fixture_json(Server::October2024.answer(Situation::MissingFolder).1),
            ),
            _ => self.answer_for(environment, folder),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The builder and its standing answers

/// What the list route answers when the builder sets it.
#[derive(Clone)]
enum Listing {
    Fixture(String),
    Generate(usize),
    Routes(Routes),
}

/// Builds an [`Infisical`] stand-in. Every knob is off by default: [`InfisicalBuilder::start`]
/// with no knob set gives a bare server (every request answers wiremock's 404) on which a test
/// mounts its counted answers.
#[must_use = "a builder does nothing until `.start().await`"]
#[derive(Clone, Default)]
pub struct InfisicalBuilder {
    listing: Option<Listing>,
    token: Option<String>,
    login: bool,
    delay: Duration,
    server: Server,
}

impl InfisicalBuilder {
    /// `GET /api/v3/secrets/raw` answers 200 with this fixture (relative to `fixtures/`) for
    /// every folder, any number of times.
    pub fn list(mut self, fixture: &str) -> Self {
        self.listing = Some(Listing::Fixture(fixture.to_owned()));
        self
    }

    /// `GET /api/v3/secrets/raw` answers 200 with `n` synthetic secrets per `secretPath`
    /// ([`generated`]: each folder's payload built once, then served from a cache), any number
    /// of times. For the benchmarks.
    pub fn generate(mut self, n: usize) -> Self {
        self.listing = Some(Listing::Generate(n));
        self
    }

    /// `GET /api/v3/secrets/raw` answers what the peer route table gives for
    /// `(environment, secretPath)` ([`Routes::answer_for`]: its fixture, or for an unknown
    /// folder the current server's 404 `SecretPathNotFound`), any number of times.
    pub fn routes(mut self, routes: Routes) -> Self {
        self.listing = Some(Listing::Routes(routes));
        self
    }

    /// The list route's standing answer is given only to `Authorization: Bearer <token>`; any
    /// other request (but the login of [`Self::login_ok`], which carries no token) answers 401
    /// with `fixtures/infisical/error-401-token-missing.json`, any number of times. Without it
    /// every token (or none) is accepted.
    pub fn only_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// `POST /api/v1/auth/universal-auth/login` answers 200 with
    /// `fixtures/infisical/login-ok.json`, whatever the credentials, any number of times.
    pub fn login_ok(mut self) -> Self {
        self.login = true;
        self
    }

    /// Which server the standing answers are (default [`Server::Current`]). With
    /// [`Server::October2024`], as recorded at 593bda8b: [`Self::routes`] answers an unknown
    /// folder 200 with empty lists, [`Self::only_token`] answers a request carrying another
    /// token 403 `TokenError` "The provided access token is malformed…" (none at all 401
    /// `Token missing`), and [`Self::login_ok`] answers the recorded login.
    pub fn server(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    /// Every standing answer (list and login; not the 401 of [`Self::only_token`]) comes after
    /// `delay`. Default: none.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Starts the server on a loopback port and mounts the standing answers.
    pub async fn start(self) -> Infisical {
        let server = MockServer::start().await;
        let authorized = |mock: MockBuilder| match &self.token {
            Some(t) => mock.and(header("authorization", format!("Bearer {t}").as_str())),
            None => mock,
        };
        if let Some(listing) = self.listing.clone() {
            authorized(Mock::given(method("GET")).and(path(SECRETS_RAW)))
                .respond_with(Lister {
                    listing,
                    server: self.server,
                    delay: self.delay,
                    cache: Mutex::new(HashMap::new()),
                })
                .with_priority(1)
                .mount(&server)
                .await;
        }
        if self.login {
            Mock::given(method("POST"))
                .and(path(UA_LOGIN))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(fixture_json(match self.server {
                            Server::October2024 => "infisical/593bda8b/login-ok.json",
                            Server::Current => "infisical/login-ok.json",
                        }))
                        .set_delay(self.delay),
                )
                .with_priority(1)
                .mount(&server)
                .await;
        }
        if self.token.is_some() && self.server == Server::October2024 {
            Mock::given(header_exists("authorization"))
                .respond_with(ResponseTemplate::new(403).set_body_json(fixture_json(
                    "infisical/593bda8b/error-403-token-malformed.json",
                )))
                .with_priority(9)
                .mount(&server)
                .await;
        }
        if self.token.is_some() {
            let missing = match self.server {
                Server::October2024 => "infisical/593bda8b/error-401-token-missing.json",
                Server::Current => "infisical/error-401-token-missing.json",
            };
            Mock::given(any())
                .respond_with(ResponseTemplate::new(401).set_body_json(fixture_json(missing)))
                .with_priority(10)
                .mount(&server)
                .await;
        }
        Infisical { server }
    }
}

/// `(environment, secretPath)`.
type Folder = (String, String);

/// The list route's standing answer.
struct Lister {
    listing: Listing,
    server: Server,
    delay: Duration,
    /// Rendered answers by `(environment, secretPath)`, so each payload is built once.
    cache: Mutex<HashMap<Folder, (u16, Vec<u8>)>>,
}

impl Respond for Lister {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str, default: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map_or_else(|| default.to_owned(), |(_, v)| v.into_owned())
        };
        let (environment, folder) = (param("environment", ENV), param("secretPath", "/"));
        let mut cache = self.cache.lock().unwrap();
        let body = cache
            .entry((environment.clone(), folder.clone()))
            .or_insert_with(|| {
                let (status, value) = match &self.listing {
                    Listing::Fixture(f) => (200, fixture_json(f)),
                    Listing::Generate(n) => (200, generated(*n, &folder)),
                    Listing::Routes(r) => r.answer_as(self.server, &environment, &folder),
                };
                (status, serde_json::to_vec(&value).unwrap())
            });
        ResponseTemplate::new(body.0)
            .set_body_raw(body.1.clone(), "application/json")
            .set_delay(self.delay)
    }
}

// ---------------------------------------------------------------------------------------------
// The stand-in and its counted answers

/// A running Infisical stand-in. It stops (and checks every `expect`) when dropped.
pub struct Infisical {
    /// The wiremock server, for what the helpers below do not cover.
    pub server: MockServer,
}

impl Infisical {
    /// A builder with every knob off (see [`InfisicalBuilder`]).
    pub fn builder() -> InfisicalBuilder {
        InfisicalBuilder::default()
    }

    /// A bare server with no standing answer, for a test to mount its counted ones.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The base URL to pass as `--api-url`.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// `GET` on the list route, whatever the query.
    fn list() -> MockBuilder {
        Mock::given(method("GET")).and(path(SECRETS_RAW))
    }

    /// The list route answers 200 with a fixture, no delay; exactly `times` requests expected.
    pub async fn serve_secrets(&self, fixture: &str, times: u64) {
        self.fail_secrets(200, fixture, times).await;
    }

    /// The list route answers 200 with these secrets in `/`, no delay; exactly `times`
    /// requests expected.
    pub async fn serve_values(&self, values: &[(String, String)], times: u64) {
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = ResponseTemplate::new(200).set_body_json(list_answer("/", &pairs));
        self.respond(answer, times).await;
    }

    /// The list route answers `status` with a fixture (an error body, usually), no delay;
    /// exactly `times` requests expected.
    pub async fn fail_secrets(&self, status: u16, fixture: &str, times: u64) {
        let answer = ResponseTemplate::new(status).set_body_json(fixture_json(fixture));
        self.respond(answer, times).await;
    }

    /// The list route answers 200 with `body` for one folder (matched on `secretPath`), only
    /// when the request carries exactly `Authorization: Bearer <token>`, no delay; exactly
    /// `times` such requests expected.
    pub async fn serve_folder(&self, folder: &str, token: &str, body: Value, times: u64) {
        Self::list()
            .and(query_param("secretPath", folder))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// The list route answers `response` (any status, body, header or delay); exactly `times`
    /// requests expected.
    pub async fn respond(&self, response: ResponseTemplate, times: u64) {
        Self::list()
            .respond_with(response)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// The list route answers `response` to the first `n` requests only, and expects exactly
    /// `n`; mount another answer after it for the later requests.
    pub async fn respond_first(&self, response: ResponseTemplate, n: u64) {
        Self::list()
            .respond_with(response)
            .up_to_n_times(n)
            .expect(n)
            .mount(&self.server)
            .await;
    }

    /// The route of `situation` (the login for [`Situation::on_login`], else the list) answers
    /// as `server` does ([`Server::response`]); exactly `times` requests expected.
    pub async fn answer_as(&self, server: Server, situation: Situation, times: u64) {
        let response = server.response(situation);
        if situation.on_login() {
            self.login(response, times).await;
        } else {
            self.respond(response, times).await;
        }
    }

    /// `POST` on the Universal Auth login answers `response`; exactly `times` expected.
    pub async fn login(&self, response: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path(UA_LOGIN))
            .respond_with(response)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// The one answer wiremock cannot give

/// A tiny HTTP server standing in for Infisical's list route that answers only once `n`
/// requests are in flight at the same time (a barrier): a client that fetches sequentially
/// waits for an answer that never comes and times out. wiremock cannot do this (its responders
/// are synchronous). It accepts `n` connections, answers each folder with one secret named
/// after the folder's last component (`/a` → `A_KEY`), and returns its URL.
pub fn barrier_server(n: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::Barrier;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::http;

    #[tokio::test]
    async fn builder_standing_answers() {
        let inf = Infisical::builder()
            .list(PROVIDERS_FIXTURE)
            .only_token("synthetic-t")
            .login_ok()
            .start()
            .await;
        let list = format!("{SECRETS_RAW}?environment=prod&secretPath=%2F");
        let (status, body) = http(&inf.url(), "GET", &list, Some("synthetic-t"));
        assert_eq!(status, 200);
        assert!(body.contains(PROVIDER_VALUE), "{body}");
        assert_eq!(http(&inf.url(), "GET", &list, Some("synthetic-u")).0, 401);
        assert_eq!(http(&inf.url(), "GET", &list, None).0, 401);
        let (status, body) = http(&inf.url(), "POST", UA_LOGIN, None);
        assert_eq!(status, 200);
        assert!(body.contains("accessToken"), "{body}");

        let generated = Infisical::builder().generate(3).start().await;
        let (status, body) = http(&generated.url(), "GET", &list, None);
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, super::generated(3, "/"));
        assert_eq!(
            http(&generated.url(), "POST", UA_LOGIN, None).0,
            404,
            "no login knob"
        );

        let routed = Infisical::builder().routes(Routes::load()).start().await;
        let providers =
            format!("{SECRETS_RAW}?environment=prod&secretPath=%2Fhome-platform%2Fproviders");
        assert!(
            http(&routed.url(), "GET", &providers, None)
                .1
                .contains(PROVIDER_KEY)
        );
        let (status, body) = http(&routed.url(), "GET", &list, None);
        assert_eq!(
            (status, body.contains("SecretPathNotFound")),
            (404, true),
            "{body}"
        );
    }

    #[tokio::test]
    async fn counted_answers() {
        let inf = Infisical::start().await;
        inf.serve_folder(
            "/a",
            "synthetic-t",
            list_answer("/a", &[("A_KEY", "synthetic-a")]),
            1,
        )
        .await;
        inf.fail_secrets(503, "infisical/error-503-proxy.json", 1)
            .await;
        let a = format!("{SECRETS_RAW}?secretPath=%2Fa");
        let (status, body) = http(&inf.url(), "GET", &a, Some("synthetic-t"));
        assert_eq!((status, body.contains("A_KEY")), (200, true));
        assert_eq!(http(&inf.url(), "GET", &a, None).0, 503);
        assert_eq!(inf.requests().await.len(), 2);
    }

    #[test]
    fn generated_is_deterministic_and_unique_per_folder() {
        let a = generated(60, "/bench/p1");
        assert_eq!(a, generated(60, "/bench/p1"));
        let keys: std::collections::BTreeSet<&str> = a["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["secretKey"].as_str().unwrap())
            .collect();
        assert_eq!(keys.len(), 60);
        assert!(
            a["secrets"][49]["secretValue"]
                .as_str()
                .unwrap()
                .contains('\n')
        );
        assert_ne!(
            a["secrets"][0]["secretKey"],
            generated(1, "/bench/p2")["secrets"][0]["secretKey"]
        );
    }

    /// The October 2024 profile: an unknown folder answers the recorded 200 with empty lists;
    /// another token the recorded 403 `TokenError`, no token the recorded 401; and every
    /// situation has an answer on both servers, a fixture that exists, recorded ones under
    /// `593bda8b/` only.
    #[tokio::test]
    async fn october_2024_profile() {
        let old = Infisical::builder()
            .routes(Routes::load())
            .only_token("synthetic-t")
            .server(Server::October2024)
            .start()
            .await;
        let unknown = format!("{SECRETS_RAW}?environment=prod&secretPath=%2Fno%2Fsuch");
        let (status, body) = http(&old.url(), "GET", &unknown, Some("synthetic-t"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((status, body), (200, json!({"secrets": [], "imports": []})));
        let (status, body) = http(&old.url(), "GET", &unknown, Some("synthetic-u"));
        assert_eq!((status, body.contains("TokenError")), (403, true), "{body}");
        let (status, body) = http(&old.url(), "GET", &unknown, None);
        assert_eq!(
            (status, body.contains("Token missing")),
            (401, true),
            "{body}"
        );
        for situation in Situation::ALL {
            for server in Server::BOTH {
                let (status, fixture) = server.answer(situation);
                let recorded = fixture.starts_with("infisical/593bda8b/");
                assert!(
                    recorded || server == Server::Current,
                    "{situation:?}: the October 2024 answer must be recorded"
                );
                let body = fixture_json(fixture);
                assert!(
                    status == 200 || body["statusCode"] == status,
                    "{fixture}: statusCode {status}"
                );
            }
        }
    }

    #[test]
    fn routes_map_known_folders_and_answer_unknown_ones_404() {
        let routes = Routes::load();
        assert_eq!(routes.fixture_for(ENV, PROVIDER_PATH), PROVIDERS_FIXTURE);
        assert_eq!(
            routes.fixture_for(ENV, "/no/such/folder"),
            routes.str("emptyFolder")
        );
        assert_eq!(routes.answer_for(ENV, PROVIDER_PATH).0, 200);
        assert_eq!(
            routes.answer_for(ENV, "/no/such/folder"),
            (404, path_not_found("/no/such/folder", ENV))
        );
        let mut old = routes.json().clone();
        old["unknownFolder"] = "empty".into();
        let old = Routes(old);
        assert_eq!(
            old.answer_for(ENV, "/no/such/folder"),
            (200, fixture_json(&routes.str("emptyFolder")))
        );
    }
}
