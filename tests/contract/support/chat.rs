//! A wiremock stand-in for an OpenAI-compatible chat endpoint, serving payloads from
//! `fixtures/openai/` in the shapes of `../shared/reference/openai-compat.md`.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::fixtures::fixture_json;

/// The chat route under the base URL `<server>/v1`.
pub const CHAT: &str = "/v1/chat/completions";

pub struct Chat {
    pub server: MockServer,
}

impl Chat {
    pub async fn start() -> Self {
        Chat {
            server: MockServer::start().await,
        }
    }

    /// The base URL to pass as `--base-url`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// Answers every chat request with a fixture, expecting exactly `times` requests.
    pub async fn answer(&self, status: u16, fixture: &str, times: u64) {
        Mock::given(method("POST"))
            .and(path(CHAT))
            .respond_with(ResponseTemplate::new(status).set_body_json(fixture_json(fixture)))
            .expect(times)
            .mount(&self.server)
            .await;
    }
}
