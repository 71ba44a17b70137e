//! Proves the write-canary-env part of `contracts/secret-hygiene.md` (SEC-010 – SEC-029).

use std::os::unix::fs::MetadataExt as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use provider_bridge::infisical::Auth;
use provider_bridge::secret::SecretString;
use serde_json::json;
use snapbox::str;
use wiremock::ResponseTemplate;

use crate::support::fixture_json;
use crate::support::infisical::*;
use crate::support::{Cli, Workdir, canary};

const VALUE_A: &str = "synthetic-value-A-9f8e7d6c";
const VALUE_B: &str = "synthetic-value-B-line1\nsynthetic-value-B-line2";

/// A body that echoes the request's Authorization header and the given values, raw, in
/// base64 and JSON-escaped, the way a chatty proxy or debug endpoint might.
fn echo_body(token: &str, values: &[&str]) -> String {
    let mut body = format!(
        "{{\"message\": \"bad request; headers: Authorization: Bearer {token}\", \"echo\": ["
    );
    for v in values {
        body.push_str(&format!(
            "{}, \"{}\", ",
            serde_json::to_string(v).unwrap(),
            STANDARD.encode(v)
        ));
    }
    body.push_str(&format!(
        "\"{token}\"], \"raw\": \"{}\"}}",
        values.join(" ")
    ));
    body
}

/// Success, dry run and JSON report, with Token Auth and Universal Auth: no value, token,
/// client secret or access token in the output.
#[tokio::test]
async fn sec_010_no_secret_on_success_dry_run_and_json() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let body = list_answer("/", &[("A_KEY", VALUE_A), ("B_KEY", VALUE_B)]);
    inf.respond(ResponseTemplate::new(200).set_body_json(body), 6)
        .await;
    write_dry_json(
        || {
            canary(&inf.url(), &wd.join("token.env"))
                .secret(VALUE_A)
                .secret(VALUE_B)
        },
        &wd,
        "token.env",
    );
    inf.login(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
        3,
    )
    .await;
    write_dry_json(
        || {
            canary(&inf.url(), &wd.join("ua.env"))
                .args(["--auth", "universal-auth", "--client-id", "id-1"])
                .secret_env(
                    "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
                    "synthetic-client-secret-Jk3",
                )
                .secret("synthetic-ua-access-token-Rr3Ss4Tt5")
                .secret(VALUE_A)
                .secret(VALUE_B)
        },
        &wd,
        "ua.env",
    );
}

/// Runs `cli` three times writing `[TMP]/<file>`: a write, a dry run, a JSON report, each
/// stated whole (the JSON as a document, since it names the owner by number).
fn write_dry_json(cli: impl Fn() -> Cli, wd: &Workdir, file: &str) {
    let report = |verb: &str| {
        format!(
            "{verb}: [TMP]/{file} (mode 0600, owner [UID]:[GID]) with 2 keys from project \
             {PROJECT}, environment {ENV}, paths /\n  A_KEY\n  B_KEY\n"
        )
    };
    let _ = cli()
        .exits(0)
        .stdout(report("written"))
        .tmp(wd.path())
        .run();
    let _ = cli()
        .arg("--dry-run")
        .exits(0)
        .stdout(format!("{}keys: unchanged\n", report("unchanged")))
        .tmp(wd.path())
        .run();
    let run = cli()
        .arg("--json")
        .exits(0)
        .stdout_checked_elsewhere("the JSON report, compared as a document below")
        .tmp(wd.path())
        .run();
    let path = wd.join(file);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        run.stdout_json(),
        json!({
            "created_dirs": [],
            "dry_run": false,
            "environment": ENV,
            "keys": ["A_KEY", "B_KEY"],
            "mode": "0600",
            "owner": {"gid": meta.gid(), "uid": meta.uid()},
            "path": path.display().to_string(),
            "paths": ["/"],
            "project_id": PROJECT,
            "status": "unchanged",
        }),
        "{}",
        run.report()
    );
}

/// Refused values, hidden values, duplicate keys, missing keys and an unsafe write: the
/// error names keys and paths, and no value or token leaks.
#[tokio::test]
async fn sec_011_no_secret_on_data_and_write_errors() {
    let wd = Workdir::new();
    let cases: Vec<(serde_json::Value, Vec<&str>, i32, &str)> = vec![
        (
            list_answer(
                "/",
                &[("BAD_VALUE", "synthetic-${HOME}-9Zx"), ("A_KEY", VALUE_A)],
            ),
            vec![],
            7,
            "unresolved secret reference in BAD_VALUE: the value still holds a ${...} reference \
             after the server's expansion (the secret it names does not exist, or is empty): fix \
             or remove the reference in Infisical",
        ),
        (
            fixture_json("infisical/secrets-hidden.json"),
            vec![],
            7,
            "the identity may not read the value of OLLAMA_CLOUD_API_KEY (secretValueHidden): \
             grant it read access to secret values",
        ),
        (
            list_answer("/", &[("A_KEY", VALUE_A)]),
            vec!["--key", "MISSING_KEY"],
            4,
            "key not found in any path: MISSING_KEY",
        ),
    ];
    for (body, extra, code, said) in cases {
        let inf = Infisical::start().await;
        inf.respond(ResponseTemplate::new(200).set_body_json(body), 1)
            .await;
        let _ = canary(&inf.url(), &wd.output())
            .args(extra)
            .secret(VALUE_A)
            .secret("synthetic-${HOME}-9Zx")
            .secret("synthetic-visible-value-Pp0")
            .exits(code)
            .stderr(format!("write-canary-env: error: {said}\n"))
            .tmp(wd.path())
            .run();
    }
    // The same key from two folders.
    let inf = Infisical::start().await;
    for folder in ["/x", "/y"] {
        inf.serve_folder(folder, TOKEN, list_answer(folder, &[("A_KEY", VALUE_A)]), 1)
            .await;
    }
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", "/x", "--path", "/y"])
        .secret(VALUE_A)
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: key A_KEY comes from two folders, /x and /y: refusing to pick one (fetch them into separate files, or remove one)

"#]])
        .tmp(wd.path())
        .run();
    // An unsafe write (a symlink target).
    let inf = Infisical::start().await;
    inf.respond(
        ResponseTemplate::new(200).set_body_json(list_answer("/", &[("A_KEY", VALUE_A)])),
        1,
    )
    .await;
    let link = wd.join("link.env");
    std::os::unix::fs::symlink(wd.join("elsewhere"), &link).unwrap();
    let _ = canary(&inf.url(), &link)
        .secret(VALUE_A)
        .exits(6)
        .stderr(str![[r#"
write-canary-env: error: refusing to write [TMP]/link.env: it is a symbolic link (remove it, or point --output at the real file)

"#]])
        .tmp(wd.path())
        .run();
}

/// A server error body echoing the Authorization header and the values of another path (raw,
/// base64, JSON) is quoted redacted, and capped at 200 characters.
#[tokio::test]
async fn sec_012_echoing_server_is_redacted_and_capped() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_folder(
        "/ok",
        TOKEN,
        list_answer("/ok", &[("A_KEY", VALUE_A), ("B_KEY", VALUE_B)]),
        1,
    )
    .await;
    wiremock::Mock::given(wiremock::matchers::query_param("secretPath", "/echo"))
        .respond_with(
            ResponseTemplate::new(500).set_body_string(echo_body(TOKEN, &[VALUE_A, VALUE_B])),
        )
        .expect(1)
        .mount(&inf.server)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", "/ok", "--path", "/echo"])
        .secret(VALUE_A)
        .secret(VALUE_B)
        .exits(5)
        // a base64 form keeps the characters that depend on what follows the value
        // ("[REDACTED]M="): SEC-001's forms, sec_002_redacted_base64_leaves_no_tail
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: unavailable after 1 attempt: status 500 (not retried); the server said: {"message": "bad request; headers: Authorization: Bearer [REDACTED]", "echo": ["[REDACTED]", "[REDACTED]M=", "[REDACTED]", "[REDACTED]I=", "[REDACTED]"], "raw": "[REDACTED] [REDACTED]"}

"#]])
        .tmp(wd.path())
        .run();
    // A long echo is capped.
    let long = format!("{} {}", "x".repeat(5000), echo_body(TOKEN, &[]));
    let inf2 = Infisical::start().await;
    inf2.respond(ResponseTemplate::new(401).set_body_string(long), 1)
        .await;
    let run = canary(&inf2.url(), &wd.output())
        .exits(3)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: refused with status 401 (check the credentials and the identity's access to this project, environment and path); the server said: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…

"#]])
        .tmp(wd.path())
        .run();
    let said = run
        .stderr
        .split("the server said: ")
        .nth(1)
        .unwrap_or_else(|| run.fail("no quoted body"));
    assert!(said.trim_end().chars().count() <= 201, "{said}");
    assert!(said.trim_end().ends_with('…'));
}

/// Universal Auth: a login error echoing the request body does not leak the client secret; a
/// list error echoing the access token does not leak it.
#[tokio::test]
async fn sec_013_universal_auth_secrets_never_leak() {
    let wd = Workdir::new();
    let client_secret = "synthetic-client-secret-Lm4No5";
    let inf = Infisical::start().await;
    inf.login(
        ResponseTemplate::new(401).set_body_string(format!(
            "{{\"statusCode\":401,\"message\":\"Invalid credentials for {{\\\"clientId\\\":\\\"id-1\\\",\\\"clientSecret\\\":\\\"{client_secret}\\\"}}\",\"error\":\"UnauthorizedError\"}}"
        )),
        1,
    )
    .await;
    let ua = |url: &str| {
        canary(url, &wd.output())
            .args(["--auth", "universal-auth", "--client-id", "id-1"])
            .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", client_secret)
    };
    let _ = ua(&inf.url())
        .exits(3)
        .stderr(str![[r#"
write-canary-env: error: /api/v1/auth/universal-auth/login: refused with status 401 (check the credentials and the identity's access to this project, environment and path); the server said: UnauthorizedError: Invalid credentials for {"clientId":"id-1","clientSecret":"[REDACTED]"}

"#]])
        .tmp(wd.path())
        .run();
    let access = "synthetic-ua-access-token-Rr3Ss4Tt5";
    let inf2 = Infisical::start().await;
    inf2.login(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
        1,
    )
    .await;
    inf2.respond(
        ResponseTemplate::new(403).set_body_string(echo_body(access, &[])),
        1,
    )
    .await;
    let _ = ua(&inf2.url())
        .secret(access)
        .exits(3)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: refused with status 403 (check the credentials and the identity's access to this project, environment and path); the server said: bad request; headers: Authorization: Bearer [REDACTED]

"#]])
        .tmp(wd.path())
        .run();
}

/// The failure a random case provokes.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Status(u16),
    Unrepresentable,
    Hidden,
    MissingKey,
}

fn failure() -> impl Strategy<Value = Failure> {
    prop_oneof![
        prop::sample::select(vec![400u16, 401, 403, 404, 429, 500, 503]).prop_map(Failure::Status),
        Just(Failure::Unrepresentable),
        Just(Failure::Hidden),
        Just(Failure::MissingKey),
    ]
}

fn random_secret() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9 '\"\\\\$#=`{}é🙂/+&<>%-]{8,30}",
        prop::option::of("[A-Za-z0-9 '\"#=/+-]{8,20}"),
    )
        .prop_map(|(a, b)| match b {
            Some(b) => format!("synthetic-{a}\nsynthetic-{b}"),
            None => format!("synthetic-{a}"),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random values and a random token on a random failure path: nothing leaks, and the exit
    /// code is the documented one.
    #[test]
    fn sec_014_random_secrets_never_leak_on_random_error(
        v1 in random_secret(),
        v2 in random_secret(),
        token in "synthetic-[A-Za-z0-9._~+/-]{12,40}",
        failure in failure(),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let wd = Workdir::new();
        let _ = rt.block_on(async {
            let inf = Infisical::start().await;
            let mut extra: Vec<&str> = vec!["--path", "/ok"];
            let ok_values: Vec<(&str, String)> = match failure {
                Failure::Unrepresentable => vec![("A_KEY", v1.clone()), ("B_KEY", format!("{v2}\r${{X}}"))],
                _ => vec![("A_KEY", v1.clone()), ("B_KEY", v2.clone())],
            };
            let mut answer = list_answer(
                "/ok",
                &ok_values.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
            );
            if let Failure::Hidden = failure {
                answer["secrets"][1]["secretValueHidden"] = json!(true);
            }
            inf.serve_folder("/ok", &token, answer, 1).await;
            let expected = match failure {
                Failure::Status(status) => {
                    extra.extend(["--path", "/fail"]);
                    let times = if matches!(status, 429 | 503) { 3 } else { 1 };
                    wiremock::Mock::given(wiremock::matchers::query_param("secretPath", "/fail"))
                        .respond_with(
                            ResponseTemplate::new(status)
                                .insert_header("retry-after", "0")
                                .set_body_string(echo_body(&token, &[&v1, &v2])),
                        )
                        .expect(times)
                        .mount(&inf.server)
                        .await;
                    match status { 400 => 2, 401 | 403 => 3, 404 => 4, _ => 5 }
                }
                Failure::Unrepresentable | Failure::Hidden => 7,
                Failure::MissingKey => {
                    extra.extend(["--key", "A_KEY", "--key", "NOT_THERE"]);
                    4
                }
            };
            canary(&inf.url(), &wd.output())
                .args(extra)
                .secret_env("INFISICAL_TOKEN", token.clone())
                .secret(v1.clone())
                .secret(v2.clone())
                .exits(expected)
                // Not stated whole: which key a random value trips, how many forms of it the
                // quoted body holds and where its 200-character cap falls depend on the values.
                .stderr_contains("write-canary-env: error: ")
                .tmp(wd.path())
                .run()
        });
        prop_assert!(!wd.output().exists());
    }
}

/// `Debug` of the credential holder shows `[REDACTED]`, never the token or client secret.
#[test]
fn sec_015_credentials_live_in_secrecy_types() {
    let token = "synthetic-debug-token-Pq7";
    let shown = format!("{:?}", Auth::Token(SecretString::from(token)));
    assert!(
        !shown.contains(token) && shown.contains("REDACTED"),
        "{shown}"
    );
    let secret = "synthetic-debug-client-secret-Rs8";
    let shown = format!(
        "{:?}",
        Auth::Universal {
            client_id: "id-1".into(),
            client_secret: SecretString::from(secret),
        }
    );
    assert!(
        !shown.contains(secret) && shown.contains("REDACTED"),
        "{shown}"
    );
}
