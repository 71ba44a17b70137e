//! The operator's screen: for every exit code of both binaries, and for the smoke's main
//! failure reasons, a test states the whole of what a person on a deploy runner reads — exit
//! code, stdout and stderr — as one text (SUITE-010). Only the parts that change from run to
//! run are placeholders (`[TMP]`, `[PORT]`, `[MS]`, `[UID]`, `[GID]`; see `support/screen.rs`).
//! Each test cites the behaviour clauses whose messages it shows.
//!
//! The expected screens are the files in `tests/contract/screens/`, one per screen, named
//! `<clause>_<binary>_exit_<code>_<situation>.txt`. A changed message is a changed file:
//! review the diff; `SNAPSHOTS=overwrite cargo test --test contract screens::` rewrites them.

use std::time::Duration;

use snapbox::str;
use wiremock::ResponseTemplate;

use crate::support::chat::{Chat, Step, reply};
use crate::support::cli::Run;
use crate::support::infisical::*;
use crate::support::screen::assert_screen;
use crate::support::{Cli, Smoke, Workdir, canary, fixture, fixture_json, refused_url};

// ---------------------------------------------------------------- write-canary-env

/// One screen of the canary against a list route answering `status` with `fixture`, `times`
/// times (three for a retried status), with `args` added to the usual command line.
struct ListScreen {
    screen: &'static str,
    status: u16,
    fixture: &'static str,
    times: u64,
    args: &'static [&'static str],
}

const LIST_SCREENS: &[ListScreen] = &[
    ListScreen {
        screen: "file_014_canary_exit_0_written_report",
        status: 200,
        fixture: "infisical/secrets-providers.json",
        times: 1,
        args: &["--path", PROVIDER_PATH],
    },
    ListScreen {
        screen: "inf_017_canary_exit_3_refused_token",
        status: 401,
        fixture: "infisical/error-401-token-missing.json",
        times: 1,
        args: &[],
    },
    ListScreen {
        screen: "file_015_canary_exit_3_json_error",
        status: 403,
        fixture: "infisical/error-403-permission-denied.json",
        times: 1,
        args: &["--json"],
    },
    ListScreen {
        screen: "inf_018_canary_exit_4_not_found",
        status: 404,
        fixture: "infisical/error-404-environment.json",
        times: 1,
        args: &[],
    },
    ListScreen {
        screen: "inf_015_canary_exit_4_empty",
        status: 200,
        fixture: "infisical/secrets-empty.json",
        times: 1,
        args: &["--path", "/home-platform/provders"],
    },
    ListScreen {
        screen: "inf_014_canary_exit_4_missing_key",
        status: 200,
        fixture: "infisical/secrets-providers.json",
        times: 1,
        args: &["--key", "OPENAI_API_KEY"],
    },
    ListScreen {
        screen: "inf_019_canary_exit_5_unavailable_after_retries",
        status: 503,
        fixture: "infisical/error-503-proxy.json",
        times: 3,
        args: &[],
    },
    ListScreen {
        screen: "fmt_001_canary_exit_7_bad_key",
        status: 200,
        fixture: "infisical/secrets-bad-key.json",
        times: 1,
        args: &[],
    },
    ListScreen {
        screen: "inf_016_canary_exit_7_hidden_value",
        status: 200,
        fixture: "infisical/secrets-hidden.json",
        times: 1,
        args: &[],
    },
];

/// Each case's whole screen: the list route answers its fixture, the run must not show
/// `PROVIDER_VALUE` nor `secret` (the case's other value).
async fn list_screens(cases: &[ListScreen], secret: &str) {
    for case in cases {
        let inf = Infisical::start().await;
        let wd = Workdir::new();
        let answer = ResponseTemplate::new(case.status).set_body_json(fixture_json(case.fixture));
        inf.respond(answer, case.times).await;
        let run = canary(&inf.url(), &wd.output())
            .args(case.args)
            .secret(PROVIDER_VALUE)
            .secret(secret)
            .run();
        assert_screen(&run, Some(wd.path()), case.screen);
    }
}

/// The written report (exit 0), a refused token (3, also as `--json`), not found, an empty
/// answer and a missing `--key` (4), unavailable after three attempts (5), a bad key name and
/// a hidden value (7): each whole screen, and no value anywhere.
#[tokio::test]
async fn file_014_file_015_inf_014_inf_015_inf_016_inf_017_inf_018_inf_019_fmt_001_list_route_screens()
 {
    list_screens(LIST_SCREENS, "synthetic-visible-value-Pp0").await;
}

/// The answers of a real server (issue 12), one screen each.
const REAL_SERVER_SCREENS: &[ListScreen] = &[
    ListScreen {
        screen: "inf_029_canary_exit_4_secret_path_not_found",
        status: 404,
        fixture: "infisical/error-404-secret-path-not-found.json",
        times: 1,
        args: &["--path", "/home-platform/provders"],
    },
    ListScreen {
        screen: "inf_031_canary_exit_3_read_value_denied",
        status: 403,
        fixture: "infisical/error-403-read-value.json",
        times: 1,
        args: &["--path", PROVIDER_PATH],
    },
    ListScreen {
        screen: "inf_032_canary_exit_0_allow_empty_warns",
        status: 200,
        fixture: "infisical/secrets-empty.json",
        times: 1,
        args: &["--path", "/home-platform/provders", "--allow-empty"],
    },
    ListScreen {
        screen: "inf_033_canary_exit_3_identity_not_in_org",
        status: 400,
        fixture: "infisical/error-400-identity-not-in-org.json",
        times: 1,
        args: &[],
    },
    ListScreen {
        screen: "inf_035_canary_exit_5_rate_limited_no_attempt_left",
        status: 429,
        fixture: "infisical/error-429-rate-limit.json",
        times: 3,
        args: &[],
    },
    ListScreen {
        screen: "inf_036_canary_exit_7_unresolved_reference",
        status: 200,
        fixture: "infisical/secrets-unresolved-reference.json",
        times: 1,
        args: &[],
    },
];

/// A missing folder (4), a missing read-value permission and an identity out of its
/// organization (3), an allowed empty answer (0, with its warning), a rate limit waited out
/// twice (5) and an unresolved reference (7): each whole screen, and no value anywhere.
#[tokio::test]
async fn inf_029_inf_031_inf_032_inf_033_inf_035_inf_036_real_server_screens() {
    list_screens(
        REAL_SERVER_SCREENS,
        "https://synthetic.example/${shared.UPSTREAM_HOST}/v1",
    )
    .await;
}

/// The answers a real Infisical gave when recorded at 593bda8b, and the newer wordings read in
/// its source (issue 20), one screen each.
const RECORDED_SCREENS: &[ListScreen] = &[
    ListScreen {
        screen: "inf_039_canary_exit_3_role_not_covering_the_path",
        status: 403,
        fixture: "infisical/593bda8b/error-403-permission-denied.json",
        times: 1,
        args: &["--path", PROVIDER_PATH],
    },
    ListScreen {
        screen: "inf_040_canary_exit_3_token_error",
        status: 403,
        fixture: "infisical/593bda8b/error-403-token-malformed.json",
        times: 1,
        args: &[],
    },
    ListScreen {
        screen: "inf_041_canary_exit_3_not_a_member",
        status: 403,
        fixture: "infisical/593bda8b/error-403-not-member.json",
        times: 1,
        args: &["--project-id", RECORDED_PROJECT, "--path", PROVIDER_PATH],
    },
    ListScreen {
        screen: "inf_043_canary_exit_2_older_validation_failure",
        status: 401,
        fixture: "infisical/593bda8b/error-401-validation.json",
        times: 1,
        args: &[],
    },
    ListScreen {
        screen: "inf_044_canary_exit_3_read_value_other_wording",
        status: 403,
        fixture: "infisical/error-403-read-value-forbidden.json",
        times: 1,
        args: &["--path", PROVIDER_PATH],
    },
    ListScreen {
        screen: "inf_047_canary_exit_5_one_minute_beyond_the_cap",
        status: 429,
        fixture: "infisical/593bda8b/error-429-rate-limit.json",
        times: 1,
        args: &["--max-retry-wait", "30"],
    },
    ListScreen {
        screen: "inf_045_canary_exit_4_secret_path_not_found_without_path",
        status: 404,
        fixture: "infisical/error-404-secret-path-not-found-name-only.json",
        times: 1,
        args: &["--path", "/home-platform/provders"],
    },
];

/// A role scoped elsewhere, a bad token, no membership (3), an older server's validation
/// failure (2), the other describe-but-not-read wording (3), "try again in 1 minute" beyond a
/// 30 s cap (5), a path-less folder 404 (4): each whole screen, and no value anywhere.
#[tokio::test]
async fn inf_039_inf_040_inf_041_inf_043_inf_044_inf_045_inf_047_recorded_answer_screens() {
    list_screens(RECORDED_SCREENS, "synthetic-ollama-key-0000000000000000").await;
}

/// Exit 3: the recorded 404 of an unknown Universal Auth client ID is a credentials problem;
/// one login, no list call.
#[tokio::test]
async fn inf_042_canary_exit_3_unknown_client_id() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.answer_as(Server::October2024, Situation::UnknownClientId, 1)
        .await;
    inf.respond(ResponseTemplate::new(500), 0).await;
    let run = canary(&inf.url(), &wd.output())
        .args([
            "--auth",
            "universal-auth",
            "--client-id",
            "no-such-client-0001",
        ])
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-client-secret-Gg7Hh8",
        )
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        "inf_042_canary_exit_3_unknown_client_id",
    );
}

/// Exit 5: the recorded rate limit ("try again in 1 minute", `retry-after: 0` so the test
/// does not wait) three times: each wait said as it starts, then the final message.
#[tokio::test]
async fn inf_046_canary_exit_5_rate_limit_waits_said() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let answer = Server::October2024
        .response(Situation::RateLimited)
        .insert_header("retry-after", "0")
        .insert_header("x-ratelimit-limit", "40");
    inf.respond(answer, 3).await;
    let run = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH])
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        "inf_046_canary_exit_5_rate_limit_waits_said",
    );
}

/// Exit 2: no credential at all names the variable and the flag that would give one; nothing
/// is sent.
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
    assert_screen(&run, Some(wd.path()), "inf_006_canary_exit_2_missing_token");
}

/// Exit 2: a bad flag value names the flag (clap's message).
#[test]
fn cli_003_canary_exit_2_bad_mode() {
    let wd = Workdir::new();
    let run = canary("http://127.0.0.1:9", &wd.output())
        .args(["--output-mode", "0986"])
        .run();
    assert_screen(&run, Some(wd.path()), "cli_003_canary_exit_2_bad_mode");
}

/// Exit 3: a refused Universal Auth login names the login route; no list call follows.
#[tokio::test]
async fn inf_017_canary_exit_3_refused_login() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let refused = fixture_json("infisical/error-401-invalid-credentials.json");
    inf.login(ResponseTemplate::new(401).set_body_json(refused), 1)
        .await;
    inf.respond(ResponseTemplate::new(500), 0).await;
    let run = canary(&inf.url(), &wd.output())
        .args(["--auth", "universal-auth", "--client-id", "client-id-0001"])
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-client-secret-Gg7Hh8",
        )
        .run();
    assert_screen(&run, Some(wd.path()), "inf_017_canary_exit_3_refused_login");
}

/// Exit 5: nothing listens on the port (three attempts).
#[test]
fn inf_019_canary_exit_5_connection_refused() {
    let wd = Workdir::new();
    let run = canary(&refused_url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        "inf_019_canary_exit_5_connection_refused",
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
        "file_009_canary_exit_6_symlink_target",
    );
}

/// Exit 7: a truncated answer says where the JSON ends, never what it holds.
#[tokio::test]
async fn inf_023_canary_exit_7_malformed_answer() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let truncated = fixture("infisical/secrets-truncated.json");
    inf.respond(
        ResponseTemplate::new(200).set_body_raw(truncated, "application/json"),
        1,
    )
    .await;
    let run = canary(&inf.url(), &wd.output()).run();
    assert_screen(
        &run,
        Some(wd.path()),
        "inf_023_canary_exit_7_malformed_answer",
    );
}

// ---------------------------------------------------------------- ollama-compat-smoke

/// Every check's first step answered `status` with `fixture`, once each, and no fallback
/// request: the root cause named on every line and on stderr.
const EVERY_CHECK_SCREENS: &[(&str, u16, &str)] = &[
    (
        "fb_004_smoke_exit_3_refused",
        401,
        "openai/error-ollama-401.json",
    ),
    (
        "fb_005_smoke_exit_4_model_not_found",
        404,
        "openai/error-ollama-404-model.json",
    ),
    (
        "fb_006_smoke_exit_5_unavailable",
        503,
        "openai/error-ollama-503.json",
    ),
];

/// Refused (exit 3), an unknown model (4) and an unavailable endpoint (5) on every check: the
/// whole screen, and no fallback request.
#[tokio::test]
async fn fb_004_fb_005_fb_006_smk_008_every_check_fails_alike_screens() {
    for (screen, status, fixture) in EVERY_CHECK_SCREENS {
        let chat = Chat::start().await;
        for step in [Step::Chat, Step::JsonSchema, Step::Tool] {
            chat.on(step, *status, fixture, 1).await;
        }
        chat.never(Step::JsonObject).await;
        assert_screen(&chat.smoke().run(), None, screen);
        chat.verify().await;
    }
}

/// Exit 0: three passing lines in the fixed order; stderr says how the key was sent.
#[tokio::test]
async fn smk_001_smoke_exit_0_all_pass() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    chat.on(Step::JsonSchema, 200, "openai/json-ok.json", 1)
        .await;
    chat.on(Step::Tool, 200, "openai/tool-ok.json", 1).await;
    assert_screen(&chat.smoke().run(), None, "smk_001_smoke_exit_0_all_pass");
    chat.verify().await;
}

/// Exit 1: the JSON ladder falls back once on an explicit `json_schema` rejection and passes
/// on `json_object` (`steps=`), while the tool check gets prose (`no_tool_call`).
#[tokio::test]
async fn fb_002_smk_006_smoke_exit_1_fallback_and_no_tool_call() {
    let chat = Chat::start().await;
    chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
    let rejection = "openai/error-openai-json-schema.json";
    chat.on(Step::JsonSchema, 400, rejection, 1).await;
    chat.on(Step::JsonObject, 200, "openai/json-ok.json", 1)
        .await;
    chat.on(Step::Tool, 200, "openai/tool-prose.json", 1).await;
    let screen = "fb_002_smk_006_smoke_exit_1_fallback_and_no_tool_call";
    assert_screen(&chat.smoke().run(), None, screen);
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
    assert_screen(&run, None, "smk_004_smoke_exit_1_reasoning_only");
    chat.verify().await;
}

/// Exit 1: JSON in a code fence, prose instead of JSON, and JSON without the asked keys —
/// each reason named, and none of them a reason to fall back.
#[tokio::test]
async fn fb_009_smoke_exit_1_json_reasons() {
    for (fixture, screen) in [
        (
            "openai/json-fenced.json",
            "fb_009_smoke_exit_1_json_reasons_fenced",
        ),
        (
            "openai/json-prose.json",
            "fb_009_smoke_exit_1_json_reasons_prose",
        ),
        (
            "openai/json-missing-keys.json",
            "fb_009_smoke_exit_1_json_reasons_missing_keys",
        ),
    ] {
        let chat = Chat::start().await;
        chat.on(Step::JsonSchema, 200, fixture, 1).await;
        chat.never(Step::JsonObject).await;
        let run = chat
            .smoke()
            .args(["--check", "json_response", "--json-mode", "json_schema"])
            .run();
        assert_screen(&run, None, screen);
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
        "sec_031_smoke_exit_2_key_instead_of_variable_name",
    );
}

/// Exit 5: a timeout is named with the limit.
#[tokio::test]
async fn smk_012_smoke_exit_5_timeout() {
    let chat = Chat::start().await;
    let slow = reply(200, "openai/chat-ok.json").set_delay(Duration::from_secs(5));
    chat.on_with(Step::Chat, slow, 1).await;
    let run = chat
        .smoke()
        .args(["--check", "chat_completion", "--timeout", "0.3"])
        .run();
    assert_screen(&run, None, "smk_012_smoke_exit_5_timeout");
}

/// Exit 5: nothing listens on the port.
#[test]
fn fb_006_smoke_exit_5_connection_refused() {
    let run = Cli::smoke()
        .arg("--base-url")
        .arg(format!("{}/v1", refused_url()))
        .args(["--check", "chat_completion"])
        .run();
    assert_screen(&run, None, "fb_006_smoke_exit_5_connection_refused");
}

// ---------------------------------------------------------------- both: a cancelled job

/// Exit 143: SIGTERM (what a Forgejo runner sends a cancelled job) while the binary waits for
/// its server — nothing on either stream (the smoke's report lines come only at the end), and
/// nothing left in the directory (CLI-007 proves 129 and 130 the same way).
#[test]
fn cli_007_canary_exit_143_smoke_exit_143_sigterm_while_waiting() {
    use std::process::Command;
    for (bin, screen) in [
        (
            "write-canary-env",
            "cli_007_canary_exit_143_sigterm_while_waiting",
        ),
        (
            "ollama-compat-smoke",
            "cli_007_smoke_exit_143_sigterm_while_waiting",
        ),
    ] {
        let silent = crate::support::signal::Silent::new();
        let url = &silent.url;
        let wd = Workdir::new();
        let cmd = if bin == "write-canary-env" {
            let mut cmd = Command::new(assert_cmd::cargo::cargo_bin(bin));
            cmd.args(["--project-id", PROJECT, "--env", ENV, "--api-url", url])
                .arg("--output")
                .arg(wd.output())
                .env_clear()
                .env("INFISICAL_TOKEN", TOKEN);
            cmd
        } else {
            crate::support::signal::smoke_command(url)
        };
        let output = silent.signal(cmd, nix::sys::signal::Signal::SIGTERM);
        let secrets = vec![TOKEN.to_owned(), crate::support::chat::KEY.to_owned()];
        let run = Run::from_output(format!("{bin} (SIGTERM)"), &output, secrets);
        assert_screen(&run, Some(wd.path()), screen);
        let left: Vec<_> = std::fs::read_dir(wd.path()).unwrap().collect();
        assert!(left.is_empty(), "{bin} left {left:?}");
    }
}

/// The new main reasons of issue 12/15, each on the check it concerns: the whole screen.
/// Exit 1 `unsupported` (llama.cpp without `--jinja`; chat passes), exit 3 `cloud_disabled`,
/// exit 5 `quota` and `rate_limited`, exit 5 `loading`.
#[tokio::test]
async fn smk_019_smk_020_smk_021_smk_022_smk_023_new_reason_screens() {
    let cases: [(&str, Step, ResponseTemplate); 5] = [
        (
            "smk_019_smoke_exit_1_unsupported_tools",
            Step::Tool,
            reply(500, "openai/error-llamacpp-jinja-500.json"),
        ),
        (
            "smk_021_smoke_exit_3_cloud_disabled",
            Step::Tool,
            reply(403, "openai/error-ollama-403-cloud-disabled.json"),
        ),
        (
            "smk_022_smoke_exit_5_quota",
            Step::Tool,
            reply(429, "openai/error-ollama-cloud-429-weekly.json"),
        ),
        (
            "smk_023_smoke_exit_5_rate_limited",
            Step::Tool,
            reply(429, "openai/error-429.json").insert_header("retry-after", "30"),
        ),
        (
            "smk_020_smoke_exit_5_loading",
            Step::Tool,
            reply(503, "openai/error-llamacpp-503-loading.json"),
        ),
    ];
    for (screen, step, answer) in cases {
        let chat = Chat::start().await;
        chat.on(Step::Chat, 200, "openai/chat-ok.json", 1).await;
        chat.on_with(step, answer, 1).await;
        let run = chat
            .smoke()
            .args(["--check", "chat_completion", "--check", "tool_call"])
            .run();
        assert_screen(&run, None, screen);
        chat.verify().await;
    }
}

/// Exit 8: the file is written and in place, the on-change command failed; the report of the
/// write on stdout, the error naming the program and how it ended on stderr, after what the
/// command printed (redacted).
#[tokio::test]
async fn rot_004_rot_009_canary_exit_8_on_change_failed() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-providers.json", 1)
        .await;
    let run = canary(&inf.url(), &wd.output())
        .args([
            "--on-change",
            "sh -c 'echo reloading honcho with $(grep -c = \"$PB_OUTPUT\") keys; grep OLLAMA \"$PB_OUTPUT\" >&2; exit 3'",
        ])
        .secret(PROVIDER_VALUE)
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        "rot_004_canary_exit_8_on_change_failed",
    );
}

/// A dry run's key diff against the file on disk: added, changed and removed keys by name, and
/// whether the on-change command would run.
#[tokio::test]
async fn rot_013_canary_dry_run_key_diff() {
    let wd = Workdir::new();
    std::fs::write(wd.output(), "# written by hand\nOLLAMA_CLOUD_API_KEY=old\n").unwrap();
    let foreign = Infisical::start().await;
    foreign
        .serve_secrets("infisical/secrets-providers.json", 1)
        .await;
    let run = canary(&foreign.url(), &wd.output())
        .args(["--dry-run", "--on-change", "true"])
        .secret(PROVIDER_VALUE)
        .run();
    assert_screen(
        &run,
        Some(wd.path()),
        "rot_013_canary_exit_0_dry_run_not_ours",
    );
    std::fs::remove_file(wd.output()).unwrap();

    let first = Infisical::start().await;
    first
        .serve_values(
            &[
                ("OLD_KEY".to_owned(), "synthetic-old-Gg7".to_owned()),
                ("KEPT_KEY".to_owned(), "synthetic-kept-Hh8".to_owned()),
                (
                    "ROTATED_KEY".to_owned(),
                    "synthetic-rotated-one-Ii9".to_owned(),
                ),
            ],
            1,
        )
        .await;
    let _ = canary(&first.url(), &wd.output())
        .secret("synthetic-old-Gg7")
        .secret("synthetic-kept-Hh8")
        .secret("synthetic-rotated-one-Ii9")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 3 keys from project proj-synthetic-0001, environment prod, paths /
  KEPT_KEY
  OLD_KEY
  ROTATED_KEY

"#]])
        .tmp(wd.path())
        .run();
    let second = Infisical::start().await;
    second
        .serve_values(
            &[
                ("KEPT_KEY".to_owned(), "synthetic-kept-Hh8".to_owned()),
                ("NEW_KEY".to_owned(), "synthetic-new-Jj0".to_owned()),
                (
                    "ROTATED_KEY".to_owned(),
                    "synthetic-rotated-two-Kk1".to_owned(),
                ),
            ],
            1,
        )
        .await;
    let run = canary(&second.url(), &wd.output())
        .args(["--dry-run", "--on-change", "true"])
        .secret("synthetic-old-Gg7")
        .secret("synthetic-kept-Hh8")
        .secret("synthetic-rotated-one-Ii9")
        .secret("synthetic-new-Jj0")
        .secret("synthetic-rotated-two-Kk1")
        .run();
    run.no_leak();
    assert_screen(
        &run,
        Some(wd.path()),
        "rot_013_canary_exit_0_dry_run_key_diff",
    );
}
