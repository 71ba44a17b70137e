//! Proves the write-canary-env part of `contracts/secret-hygiene.md` (SEC-010 – SEC-029).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use provider_bridge::infisical::Auth;
use provider_bridge::secret::SecretString;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::support::fixture_json;
use crate::support::infisical::*;
use crate::support::{Workdir, canary};

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
    for extra in [&[][..], &["--dry-run"][..], &["--json"][..]] {
        canary(&inf.url(), &wd.join("token.env"))
            .args(extra.iter().copied())
            .secret(VALUE_A)
            .secret(VALUE_B)
            .run()
            .success()
            .stdout_has("A_KEY")
            .no_leak();
    }
    inf.login(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
        3,
    )
    .await;
    for extra in [&[][..], &["--dry-run"][..], &["--json"][..]] {
        canary(&inf.url(), &wd.join("ua.env"))
            .args(["--auth", "universal-auth", "--client-id", "id-1"])
            .args(extra.iter().copied())
            .secret_env(
                "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
                "synthetic-client-secret-Jk3",
            )
            .secret("synthetic-ua-access-token-Rr3Ss4Tt5")
            .secret(VALUE_A)
            .secret(VALUE_B)
            .run()
            .success()
            .no_leak();
    }
}

/// Refused values, hidden values, duplicate keys, missing keys and an unsafe write: the
/// error names keys and paths, and no value or token leaks.
#[tokio::test]
async fn sec_011_no_secret_on_data_and_write_errors() {
    let wd = Workdir::new();
    let cases: Vec<(serde_json::Value, Vec<&str>, i32)> = vec![
        (
            list_answer(
                "/",
                &[("BAD_VALUE", "synthetic-${HOME}-9Zx"), ("A_KEY", VALUE_A)],
            ),
            vec![],
            7,
        ),
        (fixture_json("infisical/secrets-hidden.json"), vec![], 7),
        (
            list_answer("/", &[("A_KEY", VALUE_A)]),
            vec!["--key", "MISSING_KEY"],
            4,
        ),
    ];
    for (body, extra, code) in cases {
        let inf = Infisical::start().await;
        inf.respond(ResponseTemplate::new(200).set_body_json(body), 1)
            .await;
        canary(&inf.url(), &wd.output())
            .args(extra)
            .secret(VALUE_A)
            .secret("synthetic-${HOME}-9Zx")
            .secret("synthetic-visible-value-Pp0")
            .run()
            .code(code)
            .no_leak();
    }
    // The same key from two folders.
    let inf = Infisical::start().await;
    for folder in ["/x", "/y"] {
        inf.serve_folder(folder, TOKEN, list_answer(folder, &[("A_KEY", VALUE_A)]), 1)
            .await;
    }
    canary(&inf.url(), &wd.output())
        .args(["--path", "/x", "--path", "/y"])
        .secret(VALUE_A)
        .run()
        .code(7)
        .stderr_has("A_KEY")
        .no_leak();
    // An unsafe write (a symlink target).
    let inf = Infisical::start().await;
    inf.respond(
        ResponseTemplate::new(200).set_body_json(list_answer("/", &[("A_KEY", VALUE_A)])),
        1,
    )
    .await;
    let link = wd.join("link.env");
    std::os::unix::fs::symlink(wd.join("elsewhere"), &link).unwrap();
    canary(&inf.url(), &link)
        .secret(VALUE_A)
        .run()
        .code(6)
        .no_leak();
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
    let run = canary(&inf.url(), &wd.output())
        .args(["--path", "/ok", "--path", "/echo"])
        .secret(VALUE_A)
        .secret(VALUE_B)
        .run();
    run.code(5).stderr_has("[REDACTED]").no_leak();
    // A long echo is capped.
    let long = format!("{} {}", "x".repeat(5000), echo_body(TOKEN, &[]));
    let inf2 = Infisical::start().await;
    inf2.respond(ResponseTemplate::new(401).set_body_string(long), 1)
        .await;
    let run = canary(&inf2.url(), &wd.output()).run();
    run.code(3).no_leak();
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
    ua(&inf.url())
        .run()
        .code(3)
        .stderr_has("Invalid credentials")
        .stderr_has("[REDACTED]")
        .no_leak();
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
    ua(&inf2.url())
        .secret(access)
        .run()
        .code(3)
        .stderr_has("[REDACTED]")
        .no_leak();
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
        let run = rt.block_on(async {
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
            let run = canary(&inf.url(), &wd.output())
                .args(extra)
                .secret_env("INFISICAL_TOKEN", token.clone())
                .secret(v1.clone())
                .secret(v2.clone())
                .run();
            (run, expected)
        });
        let (run, expected) = run;
        run.code(expected).no_leak();
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
