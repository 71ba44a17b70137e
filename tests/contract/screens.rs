//! The operator's screen: for every exit code of both binaries, and for the smoke's main
//! failure reasons, one test states the whole of what a person on a deploy runner reads —
//! exit code, stdout and stderr — as one text (SUITE-010). Only the parts that change from
//! run to run are placeholders (`[TMP]`, `[PORT]`, `[MS]`, `[UID]`, `[GID]`; see
//! `support/screen.rs`). Each test also cites the behaviour clause whose message it shows.
//!
//! A changed message is a changed test: review the diff, then `SNAPSHOTS=overwrite cargo test
//! --test contract screens::` rewrites the texts in place.

use std::time::Duration;

use snapbox::str;
use wiremock::ResponseTemplate;

use crate::support::chat::{Chat, Step, reply};
use crate::support::infisical::*;
use crate::support::refused_url;
use crate::support::screen::assert_screen;
use crate::support::{Cli, Smoke, Workdir, canary};
use crate::support::{fixture, fixture_json};

// ---------------------------------------------------------------- write-canary-env

/// Exit 0: the text report — status, path, mode, owner, key count, project, environment,
/// paths, then one key name a line; nothing on stderr, no value anywhere.
#[tokio::test]
async fn file_014_canary_exit_0_written_report() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-providers.json", 1)
        .await;
    let run = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH])
        .secret(PROVIDER_VALUE)
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 0
--- stdout
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /home-platform/providers
  OLLAMA_CLOUD_API_KEY
--- stderr

"#]],
    );
}

/// Exit 2: no credential at all names the variable and the flag that would give one.
#[tokio::test]
async fn inf_006_canary_exit_2_missing_token() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(ResponseTemplate::new(500), 0).await;
    let run = Cli::canary()
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url"])
        .arg(inf.url())
        .arg("--output")
        .path_arg(wd.output())
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 2
--- stdout
--- stderr
write-canary-env: error: missing credential: set $INFISICAL_TOKEN or pass --token-file

"#]],
    );
}

/// Exit 2: a bad flag value names the flag (clap's message, then its usage line).
#[test]
fn cli_003_canary_exit_2_bad_mode() {
    let wd = Workdir::new();
    let run = Cli::canary()
        .args([
            "--project-id",
            PROJECT,
            "--env",
            ENV,
            "--output-mode",
            "0986",
        ])
        .arg("--output")
        .path_arg(wd.output())
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 2
--- stdout
--- stderr
error: invalid value '0986' for '--output-mode <OCTAL>': "0986" is not an octal mode such as 0600

For more information, try '--help'.

"#]],
    );
}

/// Exit 3: a 401 on the list route names the route, the status, what to check, and the
/// server's words.
#[tokio::test]
async fn inf_017_canary_exit_3_refused_token() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(401, "infisical/error-401-token-missing.json", 1)
        .await;
    let run = canary(&inf.url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 3
--- stdout
--- stderr
write-canary-env: error: /api/v3/secrets/raw: refused with status 401 (check the credentials and the identity's access to this project, environment and path); the server said: UnauthorizedError: Token missing

"#]],
    );
}

/// Exit 3: a refused Universal Auth login names the login route.
#[tokio::test]
async fn inf_017_canary_exit_3_refused_login() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.login(
        ResponseTemplate::new(401)
            .set_body_json(fixture_json("infisical/error-401-invalid-credentials.json")),
        1,
    )
    .await;
    inf.respond(ResponseTemplate::new(500), 0).await;
    let run = Cli::canary()
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url"])
        .arg(inf.url())
        .arg("--output")
        .path_arg(wd.output())
        .args(["--auth", "universal-auth", "--client-id", "client-id-0001"])
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-client-secret-Gg7Hh8",
        )
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 3
--- stdout
--- stderr
write-canary-env: error: /api/v1/auth/universal-auth/login: refused with status 401 (check the credentials and the identity's access to this project, environment and path); the server said: UnauthorizedError: Invalid credentials

"#]],
    );
}

/// Exit 4: a 404 on the list route.
#[tokio::test]
async fn inf_018_canary_exit_4_not_found() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(404, "infisical/error-404-environment.json", 1)
        .await;
    let run = canary(&inf.url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 4
--- stdout
--- stderr
write-canary-env: error: /api/v3/secrets/raw: not found (status 404: check the project ID and the environment); the server said: NotFound: Environment with slug 'prod' in project with ID proj-synthetic-0001 not found

"#]],
    );
}

/// Exit 4: an empty answer names the path and `--allow-empty`.
#[tokio::test]
async fn inf_015_canary_exit_4_empty() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-empty.json", 1).await;
    let run = canary(&inf.url(), &wd.output())
        .args(["--path", "/home-platform/provders"])
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 4
--- stdout
--- stderr
write-canary-env: error: no secrets found at /home-platform/provders (a mistyped path answers with an empty list; pass --allow-empty if an empty file is intended)

"#]],
    );
}

/// Exit 4: a `--key` no path holds is named.
#[tokio::test]
async fn inf_014_canary_exit_4_missing_key() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-providers.json", 1)
        .await;
    let run = canary(&inf.url(), &wd.output())
        .args(["--key", "OPENAI_API_KEY"])
        .secret(PROVIDER_VALUE)
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 4
--- stdout
--- stderr
write-canary-env: error: key not found in any path: OPENAI_API_KEY

"#]],
    );
}

/// Exit 5: three 503s, then the attempt count and the server's words.
#[tokio::test]
async fn inf_019_canary_exit_5_unavailable_after_retries() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(503, "infisical/error-503.json", 3).await;
    let run = canary(&inf.url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 5
--- stdout
--- stderr
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts: status 503; the server said: ServiceUnavailable: Service temporarily unavailable

"#]],
    );
}

/// Exit 5: nothing listens on the port.
#[test]
fn inf_019_canary_exit_5_connection_refused() {
    let wd = Workdir::new();
    let run = canary(&refused_url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 5
--- stdout
--- stderr
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts: connection failed (refused or unreachable)

"#]],
    );
}

/// Exit 6: a symlink at the target is refused, naming the path.
#[tokio::test]
async fn file_009_canary_exit_6_symlink_target() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-providers.json", 1)
        .await;
    std::os::unix::fs::symlink(wd.join("elsewhere"), wd.output()).unwrap();
    let run = canary(&inf.url(), &wd.output())
        .secret(PROVIDER_VALUE)
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 6
--- stdout
--- stderr
write-canary-env: error: refusing to write [TMP]/out.env: it is a symbolic link (remove it, or point --output at the real file)

"#]],
    );
}

/// Exit 7: a key that is not an env name is named (escaped), its value never shown.
#[tokio::test]
async fn fmt_001_canary_exit_7_bad_key() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-bad-key.json", 1).await;
    let run = canary(&inf.url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 7
--- stdout
--- stderr
write-canary-env: error: key "bad-key.name" is not a valid env name ([A-Za-z_][A-Za-z0-9_]*)

"#]],
    );
}

/// Exit 7: a hidden value names the key and the permission to grant.
#[tokio::test]
async fn inf_016_canary_exit_7_hidden_value() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-hidden.json", 1).await;
    let run = canary(&inf.url(), &wd.output())
        .secret("synthetic-visible-value-Pp0")
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 7
--- stdout
--- stderr
write-canary-env: error: the identity may not read the value of OLLAMA_CLOUD_API_KEY (secretValueHidden): grant it read access to secret values

"#]],
    );
}

/// Exit 7: a truncated answer says where the JSON ends, never what it holds.
#[tokio::test]
async fn inf_023_canary_exit_7_malformed_answer() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(
        ResponseTemplate::new(200).set_body_raw(
            fixture("infisical/secrets-truncated.json"),
            "application/json",
        ),
        1,
    )
    .await;
    let run = canary(&inf.url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 7
--- stdout
--- stderr
write-canary-env: error: /api/v3/secrets/raw: the answer is not the JSON expected: invalid JSON at line 2 column 0

"#]],
    );
}

/// `--json` on a failure: the JSON error object on stdout, the message on stderr.
#[tokio::test]
async fn file_015_canary_exit_3_json_error() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(403, "infisical/error-403-permission-denied.json", 1)
        .await;
    let run = canary(&inf.url(), &wd.output()).arg("--json").run();
    assert_screen(
        &run,
        Some(wd.path()),
        str![[r#"
exit: 3
--- stdout
{"error":"/api/v3/secrets/raw: refused with status 403 (check the credentials and the identity's access to this project, environment and path); the server said: PermissionDenied: You are not allowed to read on secrets","exit_code":3,"status":"error"}
--- stderr
write-canary-env: error: /api/v3/secrets/raw: refused with status 403 (check the credentials and the identity's access to this project, environment and path); the server said: PermissionDenied: You are not allowed to read on secrets

"#]],
    );
}

// ---------------------------------------------------------------- ollama-compat-smoke

/// Exit 0: three passing lines in the fixed order; stderr says how the key was sent.
#[tokio::test]
async fn smk_001_smoke_exit_0_all_pass() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(Step::JsonSchema, 200, "openai/json-ok.json", 1)
        .await;
    chat.on(Step::Tool, 200, "openai/tool-ok.json", 1).await;
    let run = chat.smoke().run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 0
--- stdout
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=pass latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer

"#]],
    );
    chat.verify().await;
}

/// Exit 1: the JSON ladder falls back once on an explicit `json_schema` rejection and passes
/// on `json_object` (`steps=`), while the tool check gets prose (`no_tool_call`).
#[tokio::test]
async fn fb_002_smk_006_smoke_exit_1_fallback_and_no_tool_call() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(
        Step::JsonSchema,
        400,
        "openai/error-openai-json-schema.json",
        1,
    )
    .await;
    chat.on(Step::JsonObject, 200, "openai/json-ok.json", 1)
        .await;
    chat.on(Step::Tool, 200, "openai/tool-prose.json", 1).await;
    let run = chat.smoke().run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 1
--- stdout
chat_completion=pass latency_ms=[MS]
json_response=pass json_mode=response_format response_format=json_object fallback=rejected steps=json_schema:rejected,json_object:pass latency_ms=[MS]
tool_call=fail reason=no_tool_call latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
tool_call: the model answered without calling get_weather

"#]],
    );
    chat.verify().await;
}

/// Exit 1: a thinking model that spent its tokens in `reasoning` is named, with the fix.
#[tokio::test]
async fn smk_004_smoke_exit_1_reasoning_only() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-reasoning-only.json", 1)
        .await;
    let run = chat
        .smoke()
        .args(["--check", "chat_completion", "--max-tokens", "333"])
        .run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 1
--- stdout
chat_completion=fail reason=reasoning_only hint=--max-tokens latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the content is empty and the text is in reasoning (a known gemma4 behaviour): raise --max-tokens (now 333)

"#]],
    );
    chat.verify().await;
}

/// Exit 1: JSON in a code fence, prose instead of JSON, and JSON without the asked keys —
/// each reason named, never a fallback past the first step for them.
#[tokio::test]
async fn fb_009_smoke_exit_1_json_reasons() {
    for fixture in [
        "openai/json-fenced.json",
        "openai/json-prose.json",
        "openai/json-missing-keys.json",
    ] {
        let chat = Chat::start().await;
        chat.on(Step::JsonSchema, 200, fixture, 1).await;
        chat.never(Step::JsonObject).await;
        let run = chat
            .smoke()
            .args(["--check", "json_response", "--json-mode", "json_schema"])
            .run();
        match fixture {
            "openai/json-fenced.json" => assert_screen(
                &run,
                None,
                str![[r#"
exit: 1
--- stdout
json_response=fail reason=fenced json_mode=response_format response_format=json_schema latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
json_response: the content is JSON wrapped in a markdown fence

"#]],
            ),
            "openai/json-prose.json" => assert_screen(
                &run,
                None,
                str![[r#"
exit: 1
--- stdout
json_response=fail reason=not_json json_mode=response_format response_format=json_schema latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
json_response: the content is not a JSON object

"#]],
            ),
            _ => assert_screen(
                &run,
                None,
                str![[r#"
exit: 1
--- stdout
json_response=fail reason=schema json_mode=response_format response_format=json_schema latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
json_response: the JSON object lacks the asked keys and types: "capital" (string), "letters" (integer)

"#]],
            ),
        }
        chat.verify().await;
    }
}

/// Exit 2: `--api-key-env` given a key instead of a variable name.
#[test]
fn sec_031_smoke_exit_2_key_instead_of_variable_name() {
    let run = Cli::smoke()
        .args(["--base-url", "http://127.0.0.1:9/v1"])
        .args(["--api-key-env", "sk-synthetic-not-a-name"])
        .run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 2
--- stdout
--- stderr
ollama-compat-smoke: --api-key-env takes the NAME of an environment variable (letters, digits and _, not starting with a digit), never the key itself

"#]],
    );
}

/// Exit 3: Ollama's 401 on every check; no fallback.
#[tokio::test]
async fn fb_004_smoke_exit_3_refused() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 401, "openai/error-ollama-401.json", 1)
        .await;
    chat.on(Step::JsonSchema, 401, "openai/error-ollama-401.json", 1)
        .await;
    chat.never(Step::JsonObject).await;
    chat.on(Step::Tool, 401, "openai/error-ollama-401.json", 1)
        .await;
    let run = chat.smoke().run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 3
--- stdout
chat_completion=fail reason=auth status=401 auth=bearer latency_ms=[MS]
json_response=fail reason=auth status=401 auth=bearer json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=auth status=401 auth=bearer latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the server refused the API key (HTTP 401); the server said: "unauthorized"
json_response: the server refused the API key (HTTP 401); the server said: "unauthorized"
tool_call: the server refused the API key (HTTP 401); the server said: "unauthorized"

"#]],
    );
    chat.verify().await;
}

/// Exit 4: Ollama's 404 for an unknown model on every check; no fallback.
#[tokio::test]
async fn fb_005_smoke_exit_4_model_not_found() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 404, "openai/error-ollama-404-model.json", 1)
        .await;
    chat.on(
        Step::JsonSchema,
        404,
        "openai/error-ollama-404-model.json",
        1,
    )
    .await;
    chat.never(Step::JsonObject).await;
    chat.on(Step::Tool, 404, "openai/error-ollama-404-model.json", 1)
        .await;
    let run = chat.smoke().run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 4
--- stdout
chat_completion=fail reason=not_found status=404 latency_ms=[MS]
json_response=fail reason=not_found status=404 json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=not_found status=404 latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: not found (HTTP 404): check --model and --base-url; the server said: "model 'gemma4:31b-cloud' not found"
json_response: not found (HTTP 404): check --model and --base-url; the server said: "model 'gemma4:31b-cloud' not found"
tool_call: not found (HTTP 404): check --model and --base-url; the server said: "model 'gemma4:31b-cloud' not found"

"#]],
    );
    chat.verify().await;
}

/// Exit 5: a 503 on every check; no fallback.
#[tokio::test]
async fn fb_006_smoke_exit_5_unavailable() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 503, "openai/error-ollama-503.json", 1)
        .await;
    chat.on(Step::JsonSchema, 503, "openai/error-ollama-503.json", 1)
        .await;
    chat.never(Step::JsonObject).await;
    chat.on(Step::Tool, 503, "openai/error-ollama-503.json", 1)
        .await;
    let run = chat.smoke().run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 5
--- stdout
chat_completion=fail reason=unavailable status=503 latency_ms=[MS]
json_response=fail reason=unavailable status=503 json_mode=response_format response_format=json_schema latency_ms=[MS]
tool_call=fail reason=unavailable status=503 latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: the endpoint is unavailable (HTTP 503); the server said: "server busy, please try again.  maximum pending requests exceeded"
json_response: the endpoint is unavailable (HTTP 503); the server said: "server busy, please try again.  maximum pending requests exceeded"
tool_call: the endpoint is unavailable (HTTP 503); the server said: "server busy, please try again.  maximum pending requests exceeded"

"#]],
    );
    chat.verify().await;
}

/// Exit 5: a timeout is named with the limit; no fallback.
#[tokio::test]
async fn smk_012_smoke_exit_5_timeout() {
    let chat = Chat::start().await;
    chat.on_with(
        Step::Chat,
        reply(200, "openai/chat-ok.json").set_delay(Duration::from_secs(5)),
        1,
    )
    .await;
    let run = chat
        .smoke()
        .args(["--check", "chat_completion", "--timeout", "0.3"])
        .run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 5
--- stdout
chat_completion=fail reason=timeout latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=bearer
chat_completion: no answer within 0.3s (--timeout)

"#]],
    );
}

/// Exit 5: nothing listens on the port.
#[test]
fn fb_006_smoke_exit_5_connection_refused() {
    let run = Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/v1", refused_url()))
        .args(["--check", "chat_completion"])
        .run();
    assert_screen(
        &run,
        None,
        str![[r#"
exit: 5
--- stdout
chat_completion=fail reason=unavailable latency_ms=[MS]
--- stderr
ollama-compat-smoke: endpoint=http://127.0.0.1:[PORT]/v1 model=gemma4:31b-cloud auth=none
chat_completion: the endpoint is unavailable; cannot connect: Connection refused (os error 111)

"#]],
    );
}
