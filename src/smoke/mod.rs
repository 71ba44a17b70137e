//! `ollama-compat-smoke`: probe what an OpenAI-compatible chat endpoint really supports.
//!
//! The road: [`Settings`] → [`Config::try_from`] (key, URL; in [`config`]) → [`run`] (the
//! client, then the checks, concurrently, each `--repeat` times) → [`report::Report`] (text,
//! json, junit; every byte redacted). Contracts: `contracts/json-fallback.md`,
//! `contracts/smoke-report.md` and the smoke's part of `contracts/secret-hygiene.md`.

pub mod answer;
mod checks;
pub mod classify;
pub mod cli;
mod client;
mod config;
mod models;
mod report;
mod stream;

use crate::http::{self, ClientOptions};

pub use config::{
    Check, CheckChoice, Config, DEFAULT_BASE_URL, DEFAULT_KEY_ENV, DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL, DEFAULT_TIMEOUT, Error, JsonMode, JsonStep, KeySource, MAX_REPEAT, MAX_TIMEOUT,
    ReasoningEffort, ReportFormat, Settings,
};
pub use report::Report;

/// Builds the client, runs the selected checks concurrently, each `--repeat` times in
/// sequence, and gathers the report.
pub async fn run(config: &Config) -> Result<Report, Error> {
    let client = client::ChatClient {
        http: http::client(&ClientOptions {
            timeout: config.settings.timeout,
            ca_cert: None,
            https: config.url.scheme() == "https" || config.models_url.scheme() == "https",
        })
        .map_err(Error::Setup)?,
        url: config.url.clone(),
        auth: config.auth.clone(),
        model: config.settings.model.clone(),
        max_tokens: config.settings.max_tokens,
        reasoning_effort: config
            .settings
            .reasoning_effort
            .map(ReasoningEffort::as_str),
        models_url: config.models_url.clone(),
    };
    let client = &client;
    let checks = config.checks();
    let started = std::time::Instant::now();
    let results = {
        let one = |check: Check| {
            let selected = checks.contains(&check);
            async move {
                if !selected {
                    return None;
                }
                let mut runs = Vec::new();
                for _ in 0..config.settings.repeat {
                    runs.push(checks::run_once(client, check, config.settings.json_mode).await);
                }
                Some(report::CheckReport { check, runs })
            }
        };
        let list = async {
            if config.settings.model_list {
                models::ModelList::from_reply(&client.models().await)
            } else {
                models::ModelList::Skipped
            }
        };
        let (chat, json, tool, stream_chat, stream_tool, choice, list) = tokio::join!(
            one(Check::ChatCompletion),
            one(Check::JsonResponse),
            one(Check::ToolCall),
            one(Check::StreamChat),
            one(Check::StreamToolCall),
            one(Check::ToolChoice),
            list
        );
        let checks = [chat, json, tool, stream_chat, stream_tool, choice]
            .into_iter()
            .flatten()
            .collect();
        (checks, list)
    };
    let (results, list) = results;
    Ok(Report::new(config, results, list, started.elapsed()))
}
