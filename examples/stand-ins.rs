//! Loopback stand-ins for Infisical and an OpenAI-compatible chat endpoint, for `scripts/demo`
//! and `scripts/bench`: the command-line face of `pb-stand-ins` (`crates/stand-ins`), the same
//! stand-ins the contract suite and the docs tests use, serving the same `fixtures/`. Never part
//! of the production binaries (an example, built with dev-dependencies).
//!
//! ```text
//! cargo run --example stand-ins -- [--generate N] [--chat-delay-ms MS] [--reject-json-schema]
//!                                    [--only-key]
//! ```
//! Prints one line, `infisical=<url> chat=<url>/v1`, then serves until the process is
//! signalled (scripts stop it by PID).
//!
//! Infisical: `GET /api/v3/secrets/raw` answers by the peer route table
//! (`fixtures/peers/infisical-routes.json`, the one the Python peer stand-in reads: e.g.
//! `/home-platform/providers` → `fixtures/infisical/secrets-providers.json`), or with
//! `--generate N` N synthetic secrets per `secretPath`; any token is accepted. `POST
//! /api/v1/auth/universal-auth/login` answers `fixtures/infisical/login-ok.json`.
//!
//! Chat: `POST /v1/chat/completions` answers each step with its passing fixture (a tool call,
//! a JSON object, a chat answer), after `--chat-delay-ms`; with `--reject-json-schema` a
//! `json_schema` request gets OpenAI's 400 rejection instead; with `--only-key` only requests
//! with `Authorization: Bearer <pb_stand_ins::chat::KEY>` are answered, others get 401 (the
//! systemd tier proves so that the smoke's credential arrived).

use std::time::Duration;

use pb_stand_ins::infisical::Routes;
use pb_stand_ins::{Chat, Infisical};

struct Options {
    generate: Option<usize>,
    chat_delay: Duration,
    reject_json_schema: bool,
    only_key: bool,
}

fn parse_args() -> Options {
    let mut opts = Options {
        generate: None,
        chat_delay: Duration::ZERO,
        reject_json_schema: false,
        only_key: false,
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
            "--only-key" => opts.only_key = true,
            other => panic!("stand-ins: unknown argument {other}"),
        }
    }
    opts
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let opts = parse_args();
    let infisical = Infisical::builder().login_ok();
    let infisical = match opts.generate {
        Some(n) => infisical.generate(n),
        None => infisical.routes(Routes::load()),
    }
    .start()
    .await;
    let mut chat = Chat::builder()
        .passing()
        .reject_json_schema(opts.reject_json_schema)
        .delay(opts.chat_delay);
    if opts.only_key {
        chat = chat.only_key(pb_stand_ins::chat::KEY);
    }
    let chat = chat.start().await;
    println!("infisical={} chat={}", infisical.url(), chat.base_url());
    // Serve until signalled: scripts stop the stand-ins by PID.
    std::future::pending::<()>().await;
}
