//! A wiremock stand-in for Infisical, serving payloads from `fixtures/infisical/` in the shapes
//! of `../shared/reference/infisical-api.md`.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::fixtures::fixture_json;

/// The raw-secrets list route.
pub const SECRETS_RAW: &str = "/api/v3/secrets/raw";
/// The Universal Auth login route.
pub const UA_LOGIN: &str = "/api/v1/auth/universal-auth/login";

pub struct Infisical {
    pub server: MockServer,
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
}
