//! Proves `contracts/infisical.md`: credentials, the list call, merging, errors and retries,
//! against the wiremock stand-in of `support/infisical.rs`. Every wiremock expectation
//! (`expect(n)`) is verified when the server drops at the end of each test.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use snapbox::str;
use wiremock::ResponseTemplate;

use crate::support::fixture_json;
use crate::support::infisical::*;
use crate::support::{Cli, Workdir, canary, refused_url, written_one_key};

fn providers() -> serde_json::Value {
    fixture_json("infisical/secrets-providers.json")
}

/// Token Auth: the list call carries exactly `Authorization: Bearer <token>`; no login call.
#[tokio::test]
async fn inf_001_token_auth_sends_exact_bearer_header_and_no_login() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_folder("/", TOKEN, providers(), 1).await;
    inf.login(ResponseTemplate::new(500), 0).await;
    let _ = canary(&inf.url(), &wd.output())
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let reqs = inf.requests().await;
    assert_eq!(reqs.len(), 1);
    let auth = reqs[0].headers.get("authorization").unwrap();
    assert_eq!(auth.as_bytes(), format!("Bearer {TOKEN}").as_bytes());
    assert!(
        std::fs::read_to_string(wd.output())
            .unwrap()
            .contains(PROVIDER_KEY)
    );
}

/// Universal Auth: one login with `{clientId, clientSecret}`, then the returned access token
/// as the Bearer of every list call (two paths, two list calls, still one login).
#[tokio::test]
async fn inf_002_universal_auth_logs_in_once_and_uses_access_token() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let access = "synthetic-ua-access-token-Rr3Ss4Tt5";
    let secret = "synthetic-client-secret-Gg7Hh8";
    inf.login(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
        1,
    )
    .await;
    inf.serve_folder(
        "/a",
        access,
        list_answer("/a", &[("A_KEY", "synthetic-a-1234")]),
        1,
    )
    .await;
    inf.serve_folder(
        "/b",
        access,
        list_answer("/b", &[("B_KEY", "synthetic-b-1234")]),
        1,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--auth", "universal-auth", "--path", "/a", "--path", "/b"])
        .env("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "client-id-0001")
        .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", secret)
        .secret(access)
        .secret("synthetic-a-1234")
        .secret("synthetic-b-1234")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /a /b
  A_KEY
  B_KEY

"#]])
        .tmp(wd.path())
        .run();
    let reqs = inf.requests().await;
    let login: Vec<_> = reqs.iter().filter(|r| r.url.path() == UA_LOGIN).collect();
    assert_eq!(login.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&login[0].body).unwrap();
    assert_eq!(
        body,
        json!({"clientId": "client-id-0001", "clientSecret": secret})
    );
}

/// The token comes from `$INFISICAL_TOKEN` or `--token-file`; the file flag wins over the
/// variable; the client ID flag wins over its variable.
#[tokio::test]
async fn inf_003_credential_from_variable_or_file_and_flag_wins() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let file_token = "synthetic-file-token-Aa1Bb2Cc3";
    inf.serve_folder("/", file_token, providers(), 1).await;
    inf.serve_folder("/", TOKEN, providers(), 1).await;
    let f = wd.credential_file("token", file_token, 0o600);
    // Variable only.
    let _ = canary(&inf.url(), &wd.output())
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    // Both: the file wins (the mock for the file token answers; the variable's would too,
    // so the count on each mock tells which one was used).
    let _ = canary(&inf.url(), &wd.join("two.env"))
        .arg("--token-file")
        .path_arg(&f)
        .secret(file_token)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/two.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();

    // Universal Auth: --client-id wins over its variable.
    let ua = Infisical::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(UA_LOGIN))
        .and(wiremock::matchers::body_partial_json(
            json!({"clientId": "from-flag"}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
        )
        .expect(1)
        .mount(&ua.server)
        .await;
    ua.serve_folder("/", "synthetic-ua-access-token-Rr3Ss4Tt5", providers(), 1)
        .await;
    let secret_file = wd.credential_file("client-secret", "synthetic-cs-file-Qq1", 0o600);
    let _ = canary(&ua.url(), &wd.join("three.env"))
        .args(["--auth", "universal-auth", "--client-id", "from-flag"])
        .arg("--client-secret-file")
        .path_arg(&secret_file)
        .env("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "from-variable")
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-cs-variable-Ww2",
        )
        .secret("synthetic-cs-file-Qq1")
        .secret("synthetic-ua-access-token-Rr3Ss4Tt5")
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/three.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let login = &ua.requests().await[0];
    let body: serde_json::Value = serde_json::from_slice(&login.body).unwrap();
    assert_eq!(body["clientSecret"], "synthetic-cs-file-Qq1");
}

/// A credential file with `o+r` is refused with exit 2 naming it, before any request.
#[tokio::test]
async fn inf_004_world_readable_credential_file_refused_before_request() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 0)
        .await;
    inf.login(ResponseTemplate::new(500), 0).await;
    let token = "synthetic-readable-token-Ee5";
    for mode in [0o644, 0o604, 0o666] {
        let f = wd.credential_file("token", token, mode);
        let _ = canary(&inf.url(), &wd.output())
            .arg("--token-file")
            .path_arg(&f)
            .secret(token)
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: refusing credential file [TMP]/token: mode {mode:04o} \
                 lets other users read it (chmod o-rwx)\n"
            ))
            .tmp(wd.path())
            .run();
        let f = wd.credential_file("cs", token, mode);
        let _ = canary(&inf.url(), &wd.output())
            .args(["--auth", "universal-auth", "--client-id", "id-1"])
            .arg("--client-secret-file")
            .path_arg(&f)
            .secret(token)
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: refusing credential file [TMP]/cs: mode {mode:04o} \
                 lets other users read it (chmod o-rwx)\n"
            ))
            .tmp(wd.path())
            .run();
    }
    assert!(!wd.output().exists());
}

/// Surrounding whitespace in a token file is trimmed: the header is exactly `Bearer <token>`.
#[tokio::test]
async fn inf_005_file_credential_is_trimmed() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let token = "synthetic-trimmed-token-Ff6Gg7";
    inf.serve_folder("/", token, providers(), 1).await;
    let f = wd.credential_file("token", &format!("  \t{token}\n\n"), 0o600);
    let _ = canary(&inf.url(), &wd.output())
        .arg("--token-file")
        .path_arg(&f)
        .secret(token)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
}

/// No token (Token Auth) or no client secret / client ID (Universal Auth): exit 2 naming the
/// variable and the flag, no request.
#[tokio::test]
async fn inf_006_missing_credential_is_usage_error() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 0)
        .await;
    inf.login(ResponseTemplate::new(500), 0).await;
    let base = || {
        crate::support::Cli::canary()
            .args(["--project-id", PROJECT, "--env", ENV, "--api-url"])
            .arg(inf.url())
            .arg("--output")
            .path_arg(wd.output())
    };
    let _ = base()
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: missing credential: set $INFISICAL_TOKEN or pass --token-file

"#]])
        .tmp(wd.path())
        .run();
    let _ = base()
        .args(["--auth", "universal-auth", "--client-id", "id-1"])
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: missing credential: set $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET or pass --client-secret-file

"#]])
        .tmp(wd.path())
        .run();
    let _ = base()
        .args(["--auth", "universal-auth"])
        .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "synthetic-cs-Hh8")
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: missing credential: set $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID or pass --client-id

"#]])
        .tmp(wd.path())
        .run();
    let _ = base()
        .env("INFISICAL_TOKEN", "   ")
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: credential from $INFISICAL_TOKEN is empty

"#]])
        .tmp(wd.path())
        .run();
    for bad in [
        "synthetic-inner space-Aa1",
        "synthetic-inner\nline-Bb2",
        "synthetic-é-Cc3",
    ] {
        let _ = base()
            .secret_env("INFISICAL_TOKEN", bad)
            .exits(2)
            .stderr(str![[r#"
write-canary-env: error: the token from $INFISICAL_TOKEN holds characters an HTTP header cannot carry (spaces, control characters or non-ASCII)

"#]])
            .tmp(wd.path())
            .run();
    }
}

/// Plain http to a non-loopback host is refused (exit 2, no request); with
/// `--allow-insecure-http` it is used with a warning naming the host. (`0.0.0.0` is not
/// loopback by address, yet on Linux connecting to it reaches the local server.)
#[tokio::test]
async fn inf_007_plain_http_only_to_loopback() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let port = inf.server.address().port();
    let insecure = format!("http://0.0.0.0:{port}");
    let _ = canary(&insecure, &wd.output())
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: refusing plain http:// to 0.0.0.0: credentials would cross the network in clear (use https://, or --allow-insecure-http if you really mean it)

"#]])
        .tmp(wd.path())
        .run();
    let _ = canary("http://10.255.255.1:9", &wd.output())
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: refusing plain http:// to 10.255.255.1: credentials would cross the network in clear (use https://, or --allow-insecure-http if you really mean it)

"#]])
        .tmp(wd.path())
        .run();
    assert!(inf.requests().await.is_empty());
    inf.serve_folder("/", TOKEN, providers(), 1).await;
    let _ = canary(&insecure, &wd.output())
        .arg("--allow-insecure-http")
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .stderr(str![[r#"
write-canary-env: warning: sending credentials over plain http:// to 0.0.0.0 (--allow-insecure-http)

"#]])
        .tmp(wd.path())
        .run();
}

/// A redirect is not followed: exit 2, one request, the Location never asked.
#[tokio::test]
async fn inf_008_redirect_not_followed() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let elsewhere = format!("{}/elsewhere", inf.url());
    for status in [301, 302, 307, 308] {
        inf.server.reset().await;
        inf.respond(
            ResponseTemplate::new(status).insert_header("location", elsewhere.as_str()),
            1,
        )
        .await;
        wiremock::Mock::given(wiremock::matchers::path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200).set_body_json(providers()))
            .expect(0)
            .mount(&inf.server)
            .await;
        let _ = canary(&inf.url(), &wd.output())
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: {SECRETS_RAW}: the server answered with a redirect \
                 (status {status}), which is not followed: point --api-url at the API itself\n"
            ))
            .tmp(wd.path())
            .run();
        inf.server.verify().await;
    }
}

/// The list query carries every parameter of the reference, booleans as `true`/`false`.
#[tokio::test]
async fn inf_009_list_query_parameters() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 2)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH])
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /home-platform/providers
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH, "--recursive", "--include-imports"])
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
unchanged: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /home-platform/providers
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let reqs = inf.requests().await;
    let pairs = |i: usize| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = reqs[i]
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        v.sort();
        v
    };
    let expected = |flag: &str| {
        let mut v: Vec<(String, String)> = [
            ("environment", ENV),
            ("expandSecretReferences", "true"),
            ("include_imports", flag),
            ("recursive", flag),
            ("secretPath", PROVIDER_PATH),
            ("viewSecretValue", "true"),
            ("workspaceId", PROJECT),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        v.sort();
        v
    };
    assert_eq!(reqs[0].url.path(), SECRETS_RAW);
    assert_eq!(pairs(0), expected("false"));
    assert_eq!(pairs(1), expected("true"));
}

/// With or without `/api`, with or without a trailing slash, from the flag or from
/// `$INFISICAL_DOMAIN`/`$INFISICAL_API_URL`: the same route; the flag wins.
#[tokio::test]
async fn inf_010_api_url_with_or_without_api_suffix() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_folder("/", TOKEN, providers(), 7).await;
    let u = inf.url();
    // The same file each time: written by the first run, unchanged after.
    let report = |verb: &str| {
        format!(
            "{verb}: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project \
             {PROJECT}, environment {ENV}, paths /\n  {PROVIDER_KEY}\n"
        )
    };
    for (i, url) in [
        u.clone(),
        format!("{u}/"),
        format!("{u}/api"),
        format!("{u}/api/"),
    ]
    .iter()
    .enumerate()
    {
        let _ = canary(url, &wd.output())
            .secret(PROVIDER_VALUE)
            .exits(0)
            .stdout(report(if i == 0 { "written" } else { "unchanged" }))
            .tmp(wd.path())
            .run();
    }
    let no_flag = || {
        crate::support::Cli::canary()
            .args(["--project-id", PROJECT, "--env", ENV, "--output"])
            .path_arg(wd.output())
            .secret_env("INFISICAL_TOKEN", TOKEN)
            .secret(PROVIDER_VALUE)
    };
    let _ = no_flag()
        .env("INFISICAL_DOMAIN", format!("{u}/api"))
        .env("INFISICAL_API_URL", "http://10.255.255.1:9")
        .exits(0)
        .stdout(report("unchanged"))
        .tmp(wd.path())
        .run();
    let _ = no_flag()
        .env("INFISICAL_API_URL", format!("{u}/api"))
        .exits(0)
        .stdout(report("unchanged"))
        .tmp(wd.path())
        .run();
    // The flag wins over the variables (which point nowhere usable).
    let _ = canary(&u, &wd.output())
        .env("INFISICAL_DOMAIN", "http://10.255.255.1:9")
        .env("INFISICAL_API_URL", "http://10.255.255.1:9")
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(report("unchanged"))
        .tmp(wd.path())
        .run();
    assert_eq!(inf.requests().await.len(), 7);
}

/// Two paths are in flight together: a server that answers only when both have arrived
/// answers within one timeout, and both folders' keys are written.
#[tokio::test]
async fn inf_011_several_paths_fetched_concurrently() {
    let wd = Workdir::new();
    let url = barrier_server(3);
    let started = Instant::now();
    let _ = canary(&url, &wd.output())
        .args(["--path", "/a", "--path", "/b", "--path", "/c"])
        .args(["--timeout", "3"])
        .secret("synthetic-barrier-value")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 3 keys from project proj-synthetic-0001, environment prod, paths /a /b /c
  A_KEY
  B_KEY
  C_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = std::fs::read_to_string(wd.output()).unwrap();
    for key in ["A_KEY=", "B_KEY=", "C_KEY="] {
        assert!(text.contains(key), "{key} missing");
    }
}

/// The same key from two folders: exit 7 naming the key and both folders; nothing written.
/// The same imported secret reached from two paths is not a conflict.
#[tokio::test]
async fn inf_012_same_key_from_two_paths_is_error() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_folder(PROVIDER_PATH, TOKEN, providers(), 1).await;
    inf.serve_folder(
        "/shared",
        TOKEN,
        fixture_json("infisical/secrets-shared.json"),
        1,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH, "--path", "/shared"])
        .secret(PROVIDER_VALUE)
        .secret("synthetic-other-folder-key-Mm7")
        .secret("synthetic-region-shared-Nn8")
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: key OLLAMA_CLOUD_API_KEY comes from two folders, /home-platform/providers and /shared: refusing to pick one (fetch them into separate files, or remove one)

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());

    // A recursive answer with the same key in two sub-folders.
    recursive_duplicates(
        &wd,
        &[
            ("DUP_KEY", "synthetic-sub-x-0001", "/apps/x"),
            ("DUP_KEY", "synthetic-sub-y-0001", "/apps/y"),
        ],
        &[],
        str![[r#"
write-canary-env: error: key DUP_KEY comes from two folders, /apps/x and /apps/y: refusing to pick one (fetch them into separate files, or remove one)

"#]],
    )
    .await;

    // Two keys from two folders each, the first left out by `--key`: the kept one is named
    // (with the first two of its three folders).
    recursive_duplicates(
        &wd,
        &[
            ("A_DUP", "synthetic-a-x-0001", "/apps/x"),
            ("B_DUP", "synthetic-b-x-0001", "/apps/x"),
            ("A_DUP", "synthetic-a-y-0001", "/apps/y"),
            ("B_DUP", "synthetic-b-y-0001", "/apps/y"),
            ("B_DUP", "synthetic-b-z-0001", "/apps/z"),
        ],
        &["--key", "B_DUP"],
        str![[r#"
write-canary-env: error: key B_DUP comes from two folders, /apps/x and /apps/y: refusing to pick one (fetch them into separate files, or remove one)

"#]],
    )
    .await;

    // Two paths importing the same folder: one secret, no conflict.
    let inf2 = Infisical::start().await;
    let import = |folder: &str| {
        json!({
            "secrets": [secret_obj(&format!("{}_KEY", &folder[1..].to_uppercase()), "synthetic-own-0001", folder)],
            "imports": [{"secretPath": "/common", "environment": "prod", "folderId": "f",
                         "secrets": [secret_obj("COMMON_KEY", "synthetic-common-0001", "/common")]}]
        })
    };
    inf2.serve_folder("/x", TOKEN, import("/x"), 1).await;
    inf2.serve_folder("/y", TOKEN, import("/y"), 1).await;
    let _ = canary(&inf2.url(), &wd.output())
        .args(["--path", "/x", "--path", "/y", "--include-imports"])
        .secret("synthetic-own-0001")
        .secret("synthetic-common-0001")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 3 keys from project proj-synthetic-0001, environment prod, paths /x /y
  COMMON_KEY
  X_KEY
  Y_KEY

"#]])
        .tmp(wd.path())
        .run();
    let text = std::fs::read_to_string(wd.output()).unwrap();
    assert_eq!(text.matches("COMMON_KEY=").count(), 1);
}

/// A recursive listing of `/apps` whose one answer holds `secrets` (key, value, folder), run
/// with `extra` arguments: exit 7 with `stderr` whole, every value absent, nothing written.
async fn recursive_duplicates(
    wd: &Workdir,
    secrets: &[(&str, &str, &str)],
    extra: &[&str],
    stderr: impl snapbox::IntoData,
) {
    let inf = Infisical::start().await;
    let body = json!({
        "secrets": secrets
            .iter()
            .map(|(key, value, folder)| secret_obj(key, value, folder))
            .collect::<Vec<_>>(),
        "imports": []
    });
    inf.respond(ResponseTemplate::new(200).set_body_json(body), 1)
        .await;
    let mut cli = canary(&inf.url(), &wd.output())
        .args(["--path", "/apps", "--recursive"])
        .args(extra.iter().copied());
    for (_, value, _) in secrets {
        cli = cli.secret(*value);
    }
    let _ = cli.exits(7).stderr(stderr).tmp(wd.path()).run();
    assert!(!wd.output().exists());
}

/// Imports are written only with `--include-imports`; local wins over an import; a later
/// import wins over an earlier one.
#[tokio::test]
async fn inf_013_imports_only_when_asked_and_local_wins() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-with-imports.json", 2)
        .await;
    let all = [
        "synthetic-local-ollama-key-Lc4Wq9",
        "synthetic-imported-base-key-Hh3Kd1",
        "synthetic-region-base-Eu1",
        "synthetic-region-override-Eu2",
    ];
    let cli = |extra: &[&str], out: &std::path::Path| {
        let mut cli = canary(&inf.url(), out).args(extra.iter().copied());
        for s in all {
            cli = cli.secret(s);
        }
        cli
    };
    let without = wd.join("without.env");
    let _ = cli(&[], &without)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/without.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let text = std::fs::read_to_string(&without).unwrap();
    assert!(text.contains("OLLAMA_CLOUD_API_KEY='synthetic-local-ollama-key-Lc4Wq9'"));
    assert!(!text.contains("SHARED_REGION"), "{text}");
    let with = wd.join("with.env");
    let _ = cli(&["--include-imports"], &with)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/with.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY
  SHARED_REGION

"#]])
        .tmp(wd.path())
        .run();
    let text = std::fs::read_to_string(&with).unwrap();
    assert!(text.contains("OLLAMA_CLOUD_API_KEY='synthetic-local-ollama-key-Lc4Wq9'"));
    assert!(text.contains("SHARED_REGION='synthetic-region-override-Eu2'"));
    assert!(!text.contains("base"), "{text}");
}

/// `--key` keeps only the named keys; a missing named key is exit 4 naming every missing key.
#[tokio::test]
async fn inf_014_key_filter_and_missing_key() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let body = list_answer(
        "/",
        &[
            ("KEEP_ME", "synthetic-keep-0001"),
            ("DROP_ME", "synthetic-drop-0001"),
        ],
    );
    inf.respond(ResponseTemplate::new(200).set_body_json(body), 2)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--key", "KEEP_ME"])
        .secret("synthetic-keep-0001")
        .secret("synthetic-drop-0001")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  KEEP_ME

"#]])
        .tmp(wd.path())
        .run();
    let text = std::fs::read_to_string(wd.output()).unwrap();
    assert!(text.contains("KEEP_ME=") && !text.contains("DROP_ME"));
    let other = wd.join("other.env");
    let _ = canary(&inf.url(), &other)
        .args(["--key", "KEEP_ME", "--key", "NOPE_ONE", "--key", "NOPE_TWO"])
        .secret("synthetic-keep-0001")
        .secret("synthetic-drop-0001")
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: keys not found in any path: NOPE_ONE, NOPE_TWO

"#]])
        .tmp(wd.path())
        .run();
    assert!(!other.exists());
}

/// An empty answer is exit 4 naming the path; `--allow-empty` writes a header-only file.
#[tokio::test]
async fn inf_015_empty_result_is_not_found_unless_allowed() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-empty.json", 2).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", "/home-platform/provders"])
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: no secrets found at /home-platform/provders in environment prod: either no such folder (an older server answers a missing folder with an empty list: check --path and --env) or the identity may not see the secrets there (a server silently drops what an identity may not describe: check its permissions on that path and environment); pass --allow-empty if an empty file is intended

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", "/home-platform/provders", "--allow-empty"])
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 0 keys from project proj-synthetic-0001, environment prod, paths /home-platform/provders

"#]])
        .stderr(str![[r#"
write-canary-env: warning: no secrets found at /home-platform/provders in environment prod; writing a file with only the header because --allow-empty was given (an empty answer can also mean a missing folder or an identity not allowed to see it)

"#]])
        .tmp(wd.path())
        .run();
    let text = std::fs::read_to_string(wd.output()).unwrap();
    assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
}

/// A hidden value is exit 7 naming the key; the placeholder is never written.
#[tokio::test]
async fn inf_016_hidden_value_refused() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-hidden.json", 2).await;
    let _ = canary(&inf.url(), &wd.output())
        .secret("synthetic-visible-value-Pp0")
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: the identity may not read the value of OLLAMA_CLOUD_API_KEY (secretValueHidden): grant it read access to secret values

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
    // The placeholder alone (without the flag) is caught too.
    let body = list_answer("/", &[("PLACEHOLDER_KEY", "<hidden-by-infisical>")]);
    let inf2 = Infisical::start().await;
    inf2.respond(ResponseTemplate::new(200).set_body_json(body), 1)
        .await;
    let _ = canary(&inf2.url(), &wd.output())
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: the identity may not read the value of PLACEHOLDER_KEY (secretValueHidden): grant it read access to secret values

"#]])
        .tmp(wd.path())
        .run();
    // Only kept keys matter: the visible one alone is written.
    let _ = canary(&inf.url(), &wd.output())
        .args(["--key", "VISIBLE_KEY"])
        .secret("synthetic-visible-value-Pp0")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  VISIBLE_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert!(
        !std::fs::read_to_string(wd.output())
            .unwrap()
            .contains("hidden-by-infisical")
    );
}

/// 401 and every 403 body of the reference: exit 3 after exactly one request.
#[tokio::test]
async fn inf_017_refused_is_exit_3_never_retried() {
    let generic = "check the credentials and the identity's access to this project, environment \
                   and path";
    let token = "the access token is malformed, expired or not issued by this instance: check \
                 the token file (or variable) and that --api-url names the instance that issued it";
    let role = format!(
        "the credentials worked, but the identity's role does not allow reading secrets at / in \
         environment prod of project {PROJECT}: grant its role read access to that path and \
         environment"
    );
    let read_value = "the identity can see the secrets at / in environment prod but lacks the \
                      read-value permission there (readValue): grant it read access to secret \
                      values on that path and environment";
    let member = format!(
        "the identity is not a member of project {PROJECT}: add it to the project with a role \
         that reads / in environment prod, or check --project-id"
    );
    for (status, fixture, hint, said) in [
        (
            401,
            "infisical/error-401-token-missing.json",
            generic,
            "UnauthorizedError: Token missing",
        ),
        (
            401,
            "infisical/error-401-invalid-credentials.json",
            generic,
            "UnauthorizedError: Invalid credentials",
        ),
        (
            403,
            "infisical/error-403-token-expired.json",
            token,
            "TokenError: Your token has expired. Please re-authenticate.",
        ),
        (
            403,
            "infisical/error-403-permission-denied.json",
            &role,
            "PermissionDenied: You are not allowed to read on secrets",
        ),
        (
            403,
            "infisical/error-403-read-value.json",
            read_value,
            "PermissionDenied: You are not allowed to readValue on secrets",
        ),
        (
            403,
            "infisical/error-403-not-member.json",
            &member,
            "You are not member of this project: You are not allowed to access this resource",
        ),
        (
            401,
            "infisical/error-401-token-revoked.json",
            generic,
            "UnauthorizedError: No identity access token found",
        ),
        (
            403,
            "infisical/error-403-reference-expansion.json",
            generic,
            "ForbiddenError: Failed to expand one or more secret references",
        ),
    ] {
        one_answer(
            status,
            fixture,
            &[],
            3,
            &format!(
                "{SECRETS_RAW}: refused with status {status} ({hint}); the server said: {said}"
            ),
        )
        .await;
    }

    // A refused Universal Auth login: exit 3, one login, no list call.
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.login(
        ResponseTemplate::new(401)
            .set_body_json(fixture_json("infisical/error-401-invalid-credentials.json")),
        1,
    )
    .await;
    inf.respond(ResponseTemplate::new(200), 0).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--auth", "universal-auth", "--client-id", "id-1"])
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-wrong-secret-Ii9",
        )
        .exits(3)
        .stderr(str![[r#"
write-canary-env: error: /api/v1/auth/universal-auth/login: refused with status 401 (check the credentials and the identity's access to this project, environment and path); the server said: UnauthorizedError: Invalid credentials

"#]])
        .tmp(wd.path())
        .run();
}

/// 404: exit 4 after exactly one request.
#[tokio::test]
async fn inf_018_not_found_is_exit_4() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(404, "infisical/error-404-environment.json", 1)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: not found (status 404: no environment prod in project proj-synthetic-0001: check --env against the project's environment slugs); the server said: NotFound: Environment with slug 'prod' in project with ID proj-synthetic-0001 not found

"#]])
        .tmp(wd.path())
        .run();
}

/// 429/502/503/504 are retried: a success on the third attempt is used; three failures are
/// exit 5 after exactly three requests.
#[tokio::test]
async fn inf_019_transient_statuses_retried_three_attempts() {
    for status in [429, 502, 503, 504] {
        let why = if status == 429 {
            "the server's rate limit"
        } else {
            "the server is unavailable"
        };
        let waits: String = (2..=3)
            .map(|k| {
                format!(
                    "write-canary-env: waiting 0 s: {why} ({status}, retry-after); then attempt \
                     {k} of 3 of {SECRETS_RAW} for --path /\n"
                )
            })
            .collect();
        let inf = Infisical::start().await;
        let wd = Workdir::new();
        inf.respond_first(
            ResponseTemplate::new(status).insert_header("retry-after", "0"),
            2,
        )
        .await;
        inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 1)
            .await;
        let _ = canary(&inf.url(), &wd.output())
            .secret(PROVIDER_VALUE)
            .exits(0)
            .stdout(written_one_key())
            .stderr(waits.clone())
            .tmp(wd.path())
            .run();
        drop(inf);

        let inf = Infisical::start().await;
        inf.respond(
            ResponseTemplate::new(status)
                .insert_header("retry-after", "0")
                .set_body_json(error_body(status, "Unavailable", "try later")),
            3,
        )
        .await;
        let _ = canary(&inf.url(), &wd.join("fail.env"))
            .exits(5)
            .stderr(format!(
                "{waits}write-canary-env: error: {SECRETS_RAW}: unavailable after 3 attempts \
                 (gave up: no attempt left; 0.0 s spent waiting): status {status}; the server \
                 said: Unavailable: try later\n"
            ))
            .tmp(wd.path())
            .run();
    }
}

/// A refused connection is retried, then exit 5 naming the reason; a timeout likewise.
#[tokio::test]
async fn inf_019_connection_and_timeout_retried_then_exit_5() {
    let wd = Workdir::new();
    let _ = canary(&refused_url(), &wd.output())
        .exits(5)
        .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the connection failed, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: the connection failed, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): connection failed (refused or unreachable)

"#]])
        .tmp(wd.path())
        .run();
    let inf = Infisical::start().await;
    inf.respond(
        ResponseTemplate::new(200)
            .set_body_json(providers())
            .set_delay(Duration::from_secs(3)),
        3,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--timeout", "0.2"])
        .secret(PROVIDER_VALUE)
        .exits(5)
        .stderr(str![[r#"
write-canary-env: waiting 0.1 s: no answer within --timeout, backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0.2 s: no answer within --timeout, backing off; then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 0.3 s spent waiting): timed out after 200ms

"#]])
        .tmp(wd.path())
        .run();
}

/// The wait honours `Retry-After` (else a 429 body's "try again in N seconds") up to
/// `--max-retry-wait` (default 60 s); otherwise 100 ms doubled per attempt; and a real
/// `Retry-After: 1` makes the run wait about a second before the next attempt.
#[tokio::test]
async fn inf_020_retry_after_honoured_up_to_cap() {
    use provider_bridge::infisical::{GaveUp, retry_delay};
    assert_eq!(retry_delay(1, Some("0")), Ok(Duration::ZERO));
    assert_eq!(retry_delay(1, Some("2")), Ok(Duration::from_secs(2)));
    assert_eq!(retry_delay(1, Some("60")), Ok(Duration::from_secs(60)));
    assert_eq!(
        retry_delay(1, Some("3600")),
        Err(Some(GaveUp::WaitTooLong {
            asked: Duration::from_secs(3600),
            cap: Duration::from_secs(60)
        }))
    );
    assert_eq!(retry_delay(1, None), Ok(Duration::from_millis(100)));
    assert_eq!(retry_delay(2, None), Ok(Duration::from_millis(200)));
    assert_eq!(
        retry_delay(2, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
        Ok(Duration::from_millis(200))
    );
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond_first(
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        1,
    )
    .await;
    let took = providers_once_then_write(
        &inf,
        &wd.output(),
        &[],
        &format!(
            "write-canary-env: waiting 1 s: the server's rate limit (429, retry-after); then \
             attempt 2 of 3 of {SECRETS_RAW} for --path /\n"
        ),
    )
    .await;
    assert!(took >= Duration::from_millis(950));

    // Without the header, the body's "try again in 1 seconds" is the wait.
    let inf = Infisical::start().await;
    inf.respond_first(
        ResponseTemplate::new(429)
            .set_body_json(fixture_json("infisical/error-429-rate-limit.json")),
        1,
    )
    .await;
    let took = providers_once_then_write(
        &inf,
        &wd.join("body.env"),
        &[],
        &format!(
            "write-canary-env: waiting 1 s: the server's rate limit (429, its message); then \
             attempt 2 of 3 of {SECRETS_RAW} for --path /\n"
        ),
    )
    .await;
    assert!(took >= Duration::from_millis(950));
}

/// A 500 is exit 5 after exactly one request (not retried).
#[tokio::test]
async fn inf_021_other_server_error_not_retried() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(500, "infisical/error-500.json", 1).await;
    let _ = canary(&inf.url(), &wd.output())
        .exits(5)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: unavailable after 1 attempt: status 500 (not retried); the server said: InternalServerError: Something went wrong

"#]])
        .tmp(wd.path())
        .run();
}

/// A 400 is exit 2 after exactly one request.
#[tokio::test]
async fn inf_022_bad_request_is_configuration_error() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(400, "infisical/error-400.json", 1).await;
    let _ = canary(&inf.url(), &wd.output())
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: the request was rejected with status 400 (check --project-id, --env and --path); the server said: BadRequest: Missing project id or environment

"#]])
        .tmp(wd.path())
        .run();
}

/// Truncated JSON, non-JSON and a wrong shape: exit 7 after one request, position not text.
#[tokio::test]
async fn inf_023_malformed_json_is_invalid_data() {
    let truncated = crate::support::fixture("infisical/secrets-truncated.json");
    for (body, position) in [
        (truncated.clone(), "invalid JSON at line 2 column 0"),
        (
            "<html>maintenance</html>".to_owned(),
            "invalid JSON at line 1 column 1",
        ),
        (
            r#"{"secrets": [{"secretKey": "K", "secretValue": 12345678}]}"#.to_owned(),
            "JSON of an unexpected shape at line 1 column 55",
        ),
        (
            r#"{"secrets": "synthetic-not-a-list-value"}"#.to_owned(),
            "JSON of an unexpected shape at line 1 column 40",
        ),
    ] {
        let inf = Infisical::start().await;
        let wd = Workdir::new();
        inf.respond(
            ResponseTemplate::new(200).set_body_raw(body.clone().into_bytes(), "application/json"),
            1,
        )
        .await;
        let _ = canary(&inf.url(), &wd.output())
            .secret("synthetic-truncated-value-Uu9")
            .secret("synthetic-not-a-list-value")
            .secret("12345678")
            .exits(7)
            .stderr(format!(
                "write-canary-env: error: {SECRETS_RAW}: the answer is not the JSON expected: \
                 {position}\n"
            ))
            .tmp(wd.path())
            .run();
    }
}

/// An answer over 16 MiB is refused with exit 7, after one request.
#[tokio::test]
async fn inf_024_oversized_answer_refused() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let mut body = b"{\"secrets\": [], \"pad\": \"".to_vec();
    body.resize(16 * 1024 * 1024 + 1, b'x');
    inf.respond(
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
        1,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: the answer is larger than 16 MiB; refused

"#]])
        .tmp(wd.path())
        .run();
}

/// `--timeout 0.3` is accepted and bounds a request well under a second; bad values exit 2.
#[tokio::test]
async fn inf_025_fractional_timeout() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond_first(
        ResponseTemplate::new(200)
            .set_body_json(providers())
            .set_delay(Duration::from_secs(5)),
        1,
    )
    .await;
    let took = providers_once_then_write(
        &inf,
        &wd.output(),
        &["--timeout", "0.3"],
        &format!(
            "write-canary-env: waiting 0.1 s: no answer within --timeout, backing off; then \
             attempt 2 of 3 of {SECRETS_RAW} for --path /\n"
        ),
    )
    .await;
    assert!(took < Duration::from_secs(2));
    let range = "must be more than 0 and at most 86400 seconds";
    for (bad, why) in [
        ("0", range),
        ("-1", range),
        ("abc", "is not a number of seconds"),
        ("nan", range),
    ] {
        let _ = canary(&inf.url(), &wd.output())
            .arg(format!("--timeout={bad}"))
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: invalid value '{bad}' for '--timeout <SECS>': \
                 \"{bad}\" {why}\n\nFor more information, try '--help'.\n"
            ))
            .tmp(wd.path())
            .run();
    }
}

/// `--help` lists every flag, every variable and every default, and no variable's value.
#[test]
fn inf_026_help_shows_flags_variables_and_defaults() {
    // clap pads the blank lines between a flag and its values with spaces, which the
    // comparison trims (as smk_011 does)
    let run = crate::support::Cli::canary()
        .arg("--help")
        .env("INFISICAL_PROJECT_ID", "proj-shown-nowhere")
        .secret_env("INFISICAL_TOKEN", TOKEN)
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-help-secret-Tt1",
        )
        .exits(0)
        .stdout_checked_elsewhere(
            "the help, compared whole below, each line's trailing blanks trimmed",
        )
        .run();
    let trimmed: String = run
        .stdout
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    assert_eq!(trimmed, CANARY_HELP, "{}", run.report());
    // The clause's items, so that a help text rewritten above cannot drop one unnoticed.
    for flag in [
        "--project-id",
        "--env",
        "--path",
        "--key",
        "--output",
        "--auth",
        "--token-file",
        "--client-secret-file",
        "--api-url",
        "--include-imports",
        "--recursive",
        "--output-mode",
        "--parent-mode",
        "--owner",
        "--group",
        "--allow-world-readable",
        "--allow-empty",
        "--allow-insecure-http",
        "--dry-run",
        "--json",
        "--timeout",
        "--ca-cert",
        "--max-retry-wait",
    ] {
        assert!(
            trimmed.contains(&format!("{flag} ")) || trimmed.contains(&format!("{flag}\n")),
            "--help does not list {flag}"
        );
    }
    for var in [
        "INFISICAL_API_URL",
        "INFISICAL_DOMAIN",
        "INFISICAL_AUTH_METHOD",
        "INFISICAL_TOKEN",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
        "INFISICAL_PROJECT_ID",
        "INFISICAL_ENVIRONMENT",
        "INFISICAL_SECRET_PATH",
        "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN",
    ] {
        assert!(trimmed.contains(var), "--help does not name {var}");
    }
    for default in [
        "[default: token-auth]",
        "https://app.infisical.com]",
        "[default: /]",
        "[default: 0600]",
        "[default: 0700]",
        "[default: 30]",
        "[default: 60]",
    ] {
        assert!(trimmed.contains(default), "--help does not show {default}");
    }
}

/// `write-canary-env --help`, each line's trailing blanks trimmed.
pub(crate) const CANARY_HELP: &str = r#"Render secrets from Infisical into a dotenv file, atomically, with exact modes, never printing a
value.

Credentials come only from files, systemd's credentials or the environment (never from a flag
value). Token Auth reads --token-file, else $CREDENTIALS_DIRECTORY/infisical-token (systemd's
LoadCredential=), else $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, else $INFISICAL_TOKEN (the official
CLI's order). Universal Auth reads $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID (or --client-id) and the
client secret from --client-secret-file, else $CREDENTIALS_DIRECTORY/infisical-client-secret, else
$INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET.

Every flag an operator sets in a unit can also be given by the environment variable named in [env:
…]; a flag wins over its variable. Boolean variables take true or false.

Exit codes: 0 success, 2 usage or configuration, 3 refused (401/403), 4 not found (404, missing key,
empty result), 5 unavailable (after retries), 6 unsafe write, 7 invalid data, 8 the file is written
and in place but the --on-change command failed.

Usage: write-canary-env [OPTIONS] --project-id <ID> --env <SLUG> --output <FILE>

Options:
      --project-id <ID>
          Infisical project (workspace) ID

          [env: INFISICAL_PROJECT_ID]

      --env <SLUG>
          Environment slug, e.g. prod

          [env: INFISICAL_ENVIRONMENT]

      --path <P>
          Folder path to read; repeat for several (fetched concurrently)

          [env: INFISICAL_SECRET_PATH]
          [default: /]

      --key <K>
          Keep only this key; repeat for several (the variable takes a comma-separated list). A
          named key that is missing is exit 4

          [env: WRITE_CANARY_ENV_KEYS]

      --output <FILE>
          The env file to write

          [env: WRITE_CANARY_ENV_OUTPUT]

      --auth <METHOD>
          Authentication method

          [env: INFISICAL_AUTH_METHOD]
          [default: token-auth]
          [possible values: token-auth, universal-auth]

      --token-file <F>
          File holding the Token Auth access token (must not be readable by others) [default:
          $CREDENTIALS_DIRECTORY/infisical-token, else $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, else
          $INFISICAL_TOKEN]

          [env: WRITE_CANARY_ENV_TOKEN_FILE]

      --client-id <ID>
          Universal Auth client ID (an identifier, not a secret)

          [env: INFISICAL_UNIVERSAL_AUTH_CLIENT_ID]

      --client-secret-file <F>
          File holding the Universal Auth client secret (must not be readable by others) [default:
          $CREDENTIALS_DIRECTORY/infisical-client-secret, else
          $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET]

          [env: WRITE_CANARY_ENV_CLIENT_SECRET_FILE]

      --api-url <URL>
          Infisical URL, with or without a trailing /api [env: INFISICAL_DOMAIN, then
          INFISICAL_API_URL, the official CLI's order] [default: https://app.infisical.com]

      --include-imports
          Include secrets imported into the folders (local secrets win)

          [env: WRITE_CANARY_ENV_INCLUDE_IMPORTS]

      --recursive
          Include the secrets of sub-folders

          [env: WRITE_CANARY_ENV_RECURSIVE]

      --output-mode <OCTAL>
          Exact mode of the file, whatever the umask

          [env: WRITE_CANARY_ENV_OUTPUT_MODE]
          [default: 0600]

      --parent-mode <OCTAL>
          Exact mode of every directory created; existing ones are left alone

          [env: WRITE_CANARY_ENV_PARENT_MODE]
          [default: 0700]

      --owner <USER|UID>
          Owner of the file and the directories created (user name or uid) [default: the running
          user]

          [env: WRITE_CANARY_ENV_OWNER]

      --group <GROUP|GID>
          Group of the file and the directories created (group name or gid) [default: the system's
          choice]

          [env: WRITE_CANARY_ENV_GROUP]

      --allow-world-readable
          Allow an --output-mode with "other" bits

          [env: WRITE_CANARY_ENV_ALLOW_WORLD_READABLE]

      --allow-empty
          Write a file even when no secret is found (otherwise exit 4)

          [env: WRITE_CANARY_ENV_ALLOW_EMPTY]

      --allow-insecure-http
          Allow plain http:// to a host other than loopback (prints a warning)

          [env: WRITE_CANARY_ENV_ALLOW_INSECURE_HTTP]

      --dry-run
          Fetch and validate, write nothing; report the keys and whether the file would change

      --json
          Print a machine-readable JSON report on stdout (never values)

      --timeout <SECS>
          Time limit for each request, in seconds (fractions allowed)

          [env: WRITE_CANARY_ENV_TIMEOUT]
          [default: 30]

      --ca-cert <PEM>
          Extra PEM CA certificate to trust

          [env: WRITE_CANARY_ENV_CA_CERT]

      --format <FORMAT>
          Output format: dotenv (portable quoting), docker (`docker run --env-file`, literal),
          systemd (`EnvironmentFile=`), shell (`export KEY='…'`) or json (one object). A value the
          format cannot carry is exit 7, naming the key and the format

          [env: WRITE_CANARY_ENV_FORMAT]
          [default: dotenv]
          [possible values: dotenv, docker, systemd, shell, json]

      --max-retry-wait <SECS>
          Longest wait honoured when the server asks for one (Retry-After, or a 429's "try again in
          N seconds"); a longer one gives up at once (exit 5). Infisical's rate-limit window is 60 s

          [env: WRITE_CANARY_ENV_MAX_RETRY_WAIT]
          [default: 60]

      --metrics-file <FILE>
          Also write this run's Prometheus metrics (text format, mode 0644: no secret, no key name)
          atomically to FILE on every run, success or failure — e.g. a *.prom file in
          node_exporter's textfile directory

          [env: WRITE_CANARY_ENV_METRICS_FILE]

      --on-change <CMD>
          A command run after a run put a new file in place (created or changed bytes), or that an
          earlier run still owes. Split into words like systemd's ExecStart= (quotes and backslash
          escapes; no shell: write `sh -c '…'` for one); its program must exist on PATH. It gets
          PB_OUTPUT, PB_CHANGE (created, changed or owed) and PB_KEYS_ADDED, PB_KEYS_CHANGED,
          PB_KEYS_REMOVED, never a credential variable; its output is redacted onto stderr. If it
          fails, the exit code is 8 and it stays owed for the next run

          [env: WRITE_CANARY_ENV_ON_CHANGE]

      --on-change-timeout <SECS>
          How long the --on-change command may run; then its process group gets SIGTERM, and SIGKILL
          5 s later

          [env: WRITE_CANARY_ENV_ON_CHANGE_TIMEOUT]
          [default: 60]

  -h, --help
          Print help (see a summary with '-h')

  -V, --version
          Print version
"#;

/// A missing or invalid `--ca-cert` is exit 2 naming the file, with no request made.
#[tokio::test]
async fn inf_027_bad_ca_cert_is_usage_error() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 0)
        .await;
    let garbage = wd.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (ca, why) in [
        (wd.join("missing.pem"), "entity not found"),
        (garbage, "not a usable PEM certificate"),
    ] {
        let name = ca.file_name().unwrap().to_string_lossy().into_owned();
        let _ = canary(&inf.url(), &wd.output())
            .arg("--ca-cert")
            .path_arg(&ca)
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: cannot use CA certificate [TMP]/{name}: {why}\n"
            ))
            .tmp(wd.path())
            .run();
    }
}

/// A login answer whose `accessToken` holds a newline: exit 7, one login, no list request, and
/// the whole message names the list route (the one the header was for), not the login route.
#[tokio::test]
async fn inf_028_unusable_access_token_names_the_list_route() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let access = "synthetic-ua-access-Uu6\nVv7-second-line";
    inf.login(
        ResponseTemplate::new(200).set_body_json(json!({
            "accessToken": access,
            "expiresIn": 7200,
            "accessTokenMaxTTL": 43244,
            "tokenType": "Bearer",
        })),
        1,
    )
    .await;
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 0)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--auth", "universal-auth", "--client-id", "id-1"])
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-client-secret-Ww8Xx9",
        )
        .secret(access)
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: the answer is not the JSON expected: the access token holds characters an HTTP header cannot carry

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
}

/// What a list route answering `status` with `fixture` once makes the canary print, with
/// `args` added: exit `code`, exactly one request, stderr exactly `stderr`.
async fn one_answer(status: u16, fixture: &str, args: &[&str], code: i32, stderr: &str) {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.fail_secrets(status, fixture, 1).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(args.iter().copied())
        .exits(code)
        .stderr(format!("write-canary-env: error: {stderr}\n"))
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
}

/// A 404 `SecretPathNotFound` names the path and the environment; with several `--path`, the
/// one that failed (the other answers normally).
#[tokio::test]
async fn inf_029_missing_folder_names_path_and_environment() {
    let said = "the server said: SecretPathNotFound: Folder with path '/home-platform/provders' in environment 'prod' was not found. Please ensure the environment slug and secret path is correct.";
    one_answer(
        404,
        "infisical/error-404-secret-path-not-found.json",
        &["--path", "/home-platform/provders"],
        4,
        &format!("{SECRETS_RAW}: not found (status 404: no folder /home-platform/provders in environment prod: check --path and --env (a current server answers so for an unknown environment too)); {said}"),
    )
    .await;
    // Two paths: the good one answers, the mistyped one is named.
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_folder(PROVIDER_PATH, TOKEN, providers(), 1).await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(SECRETS_RAW))
        .and(wiremock::matchers::query_param(
            "secretPath",
            "/home-platform/provders",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture_json(
            "infisical/error-404-secret-path-not-found.json",
        )))
        .expect(1)
        .mount(&inf.server)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH, "--path", "/home-platform/provders"])
        .secret(PROVIDER_VALUE)
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: not found (status 404: no folder /home-platform/provders in environment prod: check --path and --env (a current server answers so for an unknown environment too)); the server said: SecretPathNotFound: Folder with path '/home-platform/provders' in environment 'prod' was not found. Please ensure the environment slug and secret path is correct.

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
}

/// An unknown environment (recursive) and an unknown project: each its own hint.
#[tokio::test]
async fn inf_030_unknown_environment_or_project_has_its_own_hint() {
    one_answer(
        404,
        "infisical/error-404-environment.json",
        &["--recursive"],
        4,
        &format!("{SECRETS_RAW}: not found (status 404: no environment prod in project {PROJECT}: check --env against the project's environment slugs); the server said: NotFound: Environment with slug 'prod' in project with ID proj-synthetic-0001 not found"),
    )
    .await;
    one_answer(
        404,
        "infisical/error-404-project.json",
        &[],
        4,
        &format!("{SECRETS_RAW}: not found (status 404: no project {PROJECT}: check --project-id, and that --api-url names the instance holding it); the server said: NotFound: Project with proj-synthetic-0001 not found"),
    )
    .await;
    // Another 404 body keeps the generic hint.
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(
        ResponseTemplate::new(404).set_body_string("File Not Found"),
        1,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: not found (status 404: check the project ID and the environment); the server said: File Not Found

"#]])
        .tmp(wd.path())
        .run();
}

/// 403 readValue (and describeSecret): exit 3, one request, the message names path and
/// environment.
#[tokio::test]
async fn inf_031_read_value_denied_names_path_and_environment() {
    one_answer(
        403,
        "infisical/error-403-describe-denied.json",
        &["--path", PROVIDER_PATH],
        3,
        &format!("{SECRETS_RAW}: refused with status 403 (the identity may not see any secret (no describe permission): grant it read access to the secrets at {PROVIDER_PATH} in environment prod); the server said: PermissionDenied: You are not allowed to describeSecret on secrets"),
    )
    .await;
    one_answer(
        403,
        "infisical/error-403-read-value.json",
        &["--path", PROVIDER_PATH],
        3,
        &format!("{SECRETS_RAW}: refused with status 403 (the identity can see the secrets at {PROVIDER_PATH} in environment prod but lacks the read-value permission there (readValue): grant it read access to secret values on that path and environment); the server said: PermissionDenied: You are not allowed to readValue on secrets"),
    )
    .await;
}

/// An empty answer names both causes; `--allow-empty` writes the header-only file and warns
/// on stderr, on every run.
#[tokio::test]
async fn inf_032_empty_answer_names_both_causes_and_allowed_empty_warns() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-empty.json", 3).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", "/home-platform/provders"])
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: no secrets found at /home-platform/provders in environment prod: either no such folder (an older server answers a missing folder with an empty list: check --path and --env) or the identity may not see the secrets there (a server silently drops what an identity may not describe: check its permissions on that path and environment); pass --allow-empty if an empty file is intended

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
    let warning = "write-canary-env: warning: no secrets found at /home-platform/provders in environment prod; writing a file with only the header because --allow-empty was given (an empty answer can also mean a missing folder or an identity not allowed to see it)\n";
    // The same file twice: written, then unchanged; the warning both times.
    for verb in ["written", "unchanged"] {
        let _ = canary(&inf.url(), &wd.output())
            .args(["--path", "/home-platform/provders", "--allow-empty"])
            .exits(0)
            .stdout(format!(
                "{verb}: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 0 keys from project \
                 {PROJECT}, environment {ENV}, paths /home-platform/provders\n"
            ))
            .stderr(warning)
            .tmp(wd.path())
            .run();
        let text = std::fs::read_to_string(wd.output()).unwrap();
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    }
}

/// Credential problems whatever the status: exit 3 after exactly one request, each its cause.
#[tokio::test]
async fn inf_033_credential_problems_are_refused_whatever_the_status() {
    for (status, fixture, hint, said) in [
        (
            400,
            "error-400-identity-not-in-org",
            "the identity does not belong to the project's organization any more (a credentials problem, not a bad request): add it back or use another identity",
            "BadRequest: Identity does not belong to this organization",
        ),
        (
            401,
            "error-401-token-use-limit",
            "the access token has reached its number-of-uses limit (every list call, every --path and every retry uses one): issue a new token or raise its limit",
            "UnauthorizedError: Unable to renew because access token number of uses limit reached",
        ),
        (
            401,
            "error-401-ua-locked",
            "Universal Auth is locked for this identity after failed logins (300 s by default): wait for the lock to end, then check the client secret",
            "UnauthorizedError: This identity auth method is temporarily locked, please try again later",
        ),
        (
            403,
            "error-403-ip-not-allowed",
            "the request came from an IP address the identity's trusted IPs do not allow: run from an allowed address or add this one",
            "ForbiddenError: You are not allowed to access this resource from the current IP address",
        ),
    ] {
        one_answer(
            status,
            &format!("infisical/{fixture}.json"),
            &[],
            3,
            &format!(
                "{SECRETS_RAW}: refused with status {status} ({hint}); the server said: {said}"
            ),
        )
        .await;
    }
    // The lockout on the login route: exit 3, one login, no list call.
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.login(
        ResponseTemplate::new(401)
            .set_body_json(fixture_json("infisical/error-401-ua-locked.json")),
        1,
    )
    .await;
    inf.respond(ResponseTemplate::new(200), 0).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--auth", "universal-auth", "--client-id", "id-1"])
        .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "synthetic-cs-Kk1")
        .exits(3)
        .stderr(str![[r#"
write-canary-env: error: /api/v1/auth/universal-auth/login: refused with status 401 (Universal Auth is locked for this identity after failed logins (300 s by default): wait for the lock to end, then check the client secret); the server said: UnauthorizedError: This identity auth method is temporarily locked, please try again later

"#]])
        .tmp(wd.path())
        .run();
}

/// A 422 with an array `message`: exit 2, each issue as `path: message`.
#[tokio::test]
async fn inf_034_validation_failure_is_readable_usage_error() {
    one_answer(
        422,
        "infisical/error-422-validation.json",
        &[],
        2,
        &format!("{SECRETS_RAW}: the request was rejected with status 422 (check --project-id, --env and --path); the server said: ValidationFailure: recursive: Invalid enum value. Expected 'true' | 'false', received 'yes'; environment: Required"),
    )
    .await;
}

/// A wait asked beyond `--max-retry-wait` gives up at once, saying so; exhausting the
/// attempts says so too, with the time spent waiting.
#[tokio::test]
async fn inf_035_wait_beyond_cap_gives_up_and_says_so() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "42")
            .insert_header("x-ratelimit-limit", "60")
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", "42")
            .set_body_json(error_body(
                429,
                "RateLimitExceeded",
                "Rate limit exceeded. Please try again in 42 seconds",
            )),
        1,
    )
    .await;
    let started = Instant::now();
    let _ = canary(&inf.url(), &wd.output())
        .args(["--max-retry-wait", "30"])
        .exits(5)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: unavailable after 1 attempt (gave up: the server asked to wait 42.0 s, more than --max-retry-wait 30.0 s; 0.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 42 seconds

"#]])
        .tmp(wd.path())
        .run();
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(inf);
    // The default (60 s) waits out the real window's 1 s twice, saying each wait as it
    // starts (INF-046), then gives up.
    let inf = Infisical::start().await;
    inf.respond(rate_limited_for_1s(), 3).await;
    let _ = canary(&inf.url(), &wd.output())
        .exits(5)
        .stderr(str![[r#"
write-canary-env: waiting 1 s: the server's rate limit (429, retry-after); then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 1 s: the server's rate limit (429, retry-after); then attempt 3 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: error: /api/v3/secrets/raw: unavailable after 3 attempts (gave up: no attempt left; 2.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 1 seconds

"#]])
        .tmp(wd.path())
        .run();
    drop(inf);
    // `--max-retry-wait 0` takes no wait the server asks; bad values are usage errors.
    let inf = Infisical::start().await;
    inf.respond(rate_limited_for_1s(), 1).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--max-retry-wait", "0"])
        .exits(5)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: unavailable after 1 attempt (gave up: the server asked to wait 1.0 s, more than --max-retry-wait 0.0 s; 0.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 1 seconds

"#]])
        .tmp(wd.path())
        .run();
    let wd2 = Workdir::new();
    let range = "must be at least 0 and at most 3600 seconds";
    for (bad, why) in [
        ("-1", range),
        ("x", "is not a number of seconds"),
        ("3601", range),
    ] {
        let _ = canary("http://127.0.0.1:9", &wd2.output())
            .arg(format!("--max-retry-wait={bad}"))
            .exits(2)
            .stderr(format!(
                "write-canary-env: error: invalid value '{bad}' for '--max-retry-wait <SECS>': \
                 \"{bad}\" {why}\n\nFor more information, try '--help'.\n"
            ))
            .tmp(wd2.path())
            .run();
    }
}

/// A value still holding `${NAME}` is exit 7 naming the key; nothing is written.
#[tokio::test]
async fn inf_036_unresolved_reference_is_refused() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/secrets-unresolved-reference.json", 2)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .secret(PROVIDER_VALUE)
        .secret("https://synthetic.example/${shared.UPSTREAM_HOST}/v1")
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: unresolved secret reference in UPSTREAM_URL: the value still holds a ${...} reference after the server's expansion (the secret it names does not exist, or is empty): fix or remove the reference in Infisical

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
    // Only kept keys count.
    let _ = canary(&inf.url(), &wd.output())
        .args(["--key", PROVIDER_KEY])
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    // `${` not in reference syntax stays a quoting refusal (FMT-004).
    let other = Infisical::start().await;
    other
        .respond(
            ResponseTemplate::new(200)
                .set_body_json(list_answer("/", &[("ODD_KEY", "synthetic ${ odd }")])),
            1,
        )
        .await;
    let _ = canary(&other.url(), &wd.join("odd.env"))
        .secret("synthetic ${ odd }")
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: the value of ODD_KEY cannot be written portably in a dotenv file: it contains `${` (python-dotenv would interpolate it)

"#]])
        .tmp(wd.path())
        .run();
}

/// Imports in the server's shape: the origin is the import's folder and, when another,
/// its environment; the same key from two imported environments is a conflict naming both.
#[tokio::test]
async fn inf_037_imported_origins_include_the_environment() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let answer = fixture_json("infisical/secrets-imports-two-environments.json");
    let one = |i: usize| {
        let mut a = answer.clone();
        let imports = a["imports"].as_array().unwrap()[i].clone();
        a["imports"] = json!([imports]);
        a
    };
    inf.serve_folder("/apps/a", TOKEN, one(0), 1).await;
    inf.serve_folder("/apps/b", TOKEN, one(1), 1).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", "/apps/a", "--path", "/apps/b", "--include-imports"])
        .secret("synthetic-app-local-Ab1")
        .secret("synthetic-endpoint-prod-Pr1")
        .secret("synthetic-endpoint-staging-St2")
        .exits(7)
        .stderr(str![[r#"
write-canary-env: error: key SHARED_ENDPOINT comes from two folders, /shared and /shared (environment staging): refusing to pick one (fetch them into separate files, or remove one)

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
    // In one folder, the later import wins (INF-013), whatever its environment.
    let single = Infisical::start().await;
    single
        .serve_secrets("infisical/secrets-imports-two-environments.json", 1)
        .await;
    let _ = canary(&single.url(), &wd.output())
        .args(["--include-imports"])
        .secret("synthetic-app-local-Ab1")
        .secret("synthetic-endpoint-prod-Pr1")
        .secret("synthetic-endpoint-staging-St2")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project proj-synthetic-0001, environment prod, paths /
  APP_LOCAL_KEY
  SHARED_ENDPOINT

"#]])
        .tmp(wd.path())
        .run();
    let text = std::fs::read_to_string(wd.output()).unwrap();
    assert!(
        text.contains("SHARED_ENDPOINT='synthetic-endpoint-staging-St2'"),
        "{text}"
    );
}

/// `$INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN` before `$INFISICAL_TOKEN`, with a value-free
/// warning when both are set; `--token-file` before both.
#[tokio::test]
async fn inf_038_token_variables_in_the_official_cli_order() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let access = "synthetic-ua-access-env-Yy5Zz6";
    inf.serve_folder("/", access, providers(), 2).await;
    inf.serve_folder("/", TOKEN, providers(), 0).await;
    let _ = canary(&inf.url(), &wd.output())
        .secret_env("INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN", access)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .stderr(str![[r#"
write-canary-env: warning: both $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN and $INFISICAL_TOKEN are set; using $INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, as the official CLI does

"#]])
        .tmp(wd.path())
        .run();
    let _ = Cli::canary()
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url"])
        .arg(inf.url())
        .arg("--output")
        .path_arg(wd.join("two.env"))
        .secret_env("INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN", access)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/two.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let file_token = "synthetic-file-token-Pp3Qq4";
    let files = Infisical::start().await;
    files.serve_folder("/", file_token, providers(), 1).await;
    let f = wd.credential_file("token", file_token, 0o600);
    let _ = canary(&files.url(), &wd.join("three.env"))
        .arg("--token-file")
        .path_arg(&f)
        .secret_env("INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN", access)
        .secret(file_token)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/three.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
}

/// The list route then answers the providers once; a run writing `out` with `args`
/// succeeds, saying `stderr` (its waits) and writing the providers' key. How long the run
/// took.
async fn providers_once_then_write(
    inf: &Infisical,
    out: &Path,
    args: &[&str],
    stderr: &str,
) -> Duration {
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 1)
        .await;
    let file = out.file_name().expect("a file").to_string_lossy();
    let started = Instant::now();
    let _ = canary(&inf.url(), out)
        .args(args)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(format!(
            "written: [TMP]/{file} (mode 0600, owner [UID]:[GID]) with 1 key from project \
             {PROJECT}, environment {ENV}, paths /\n  {PROVIDER_KEY}\n"
        ))
        .stderr(stderr.to_owned())
        .tmp(out.parent().expect("a folder"))
        .run();
    started.elapsed()
}

/// The real server's 429 (`fixtures/infisical/error-429-rate-limit.json`) asking for 1 s.
fn rate_limited_for_1s() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(fixture_json("infisical/error-429-rate-limit.json"))
}

/// systemd's credential: `$CREDENTIALS_DIRECTORY/infisical-token` is the token, before both
/// variables; `--token-file` wins over it; an `o+r` credential file is refused like
/// `--token-file`; a directory without the file leaves the variables in charge.
#[tokio::test]
async fn inf_070_token_from_systemd_credentials_directory() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let creds = wd.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let systemd_token = "synthetic-systemd-cred-Ll7Mm8";
    let file_token = "synthetic-file-token-Nn9Oo0";
    let token_file = wd.credential_file("token", file_token, 0o600);
    std::fs::write(creds.join("infisical-token"), format!("{systemd_token}\n")).unwrap();
    std::fs::set_permissions(
        creds.join("infisical-token"),
        std::os::unix::fs::PermissionsExt::from_mode(0o400),
    )
    .unwrap();
    inf.serve_folder("/", systemd_token, providers(), 1).await;
    inf.serve_folder("/", file_token, providers(), 1).await;
    inf.serve_folder("/", TOKEN, providers(), 1).await;
    // The credential wins over both variables.
    let _ = canary(&inf.url(), &wd.output())
        .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN",
            "synthetic-ua-env-Pp1",
        )
        .secret(systemd_token)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    // --token-file wins over the credential.
    let _ = canary(&inf.url(), &wd.join("two.env"))
        .arg("--token-file")
        .path_arg(&token_file)
        .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
        .secret(systemd_token)
        .secret(file_token)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/two.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    // A directory without the credential: $INFISICAL_TOKEN, as before.
    let empty = wd.join("no-credentials");
    std::fs::create_dir(&empty).unwrap();
    let _ = canary(&inf.url(), &wd.join("three.env"))
        .env("CREDENTIALS_DIRECTORY", empty.display().to_string())
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/three.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    // Readable by others: refused before any request, naming the file.
    std::fs::set_permissions(
        creds.join("infisical-token"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let before = inf.requests().await.len();
    let _ = canary(&inf.url(), &wd.join("four.env"))
        .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
        .secret(systemd_token)
        .exits(2)
        .stderr(str![[r#"
write-canary-env: error: refusing credential file [TMP]/credentials/infisical-token: mode 0644 lets other users read it (chmod o-rwx)

"#]])
        .tmp(wd.path())
        .run();
    assert_eq!(
        inf.requests().await.len(),
        before,
        "no request after a refusal"
    );
}

/// systemd's credential for Universal Auth: `$CREDENTIALS_DIRECTORY/infisical-client-secret`
/// is sent as the client secret, before `$INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET`.
#[tokio::test]
async fn inf_071_client_secret_from_systemd_credentials_directory() {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    let creds = wd.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let cred_secret = "synthetic-systemd-cs-Qq2Rr3";
    std::fs::write(creds.join("infisical-client-secret"), cred_secret).unwrap();
    std::fs::set_permissions(
        creds.join("infisical-client-secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o400),
    )
    .unwrap();
    let access = "synthetic-ua-access-token-Rr3Ss4Tt5";
    inf.login(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/login-ok.json")),
        1,
    )
    .await;
    inf.serve_folder("/", access, providers(), 1).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--auth", "universal-auth", "--client-id", "client-id-0001"])
        .env("CREDENTIALS_DIRECTORY", creds.display().to_string())
        .secret_env(
            "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
            "synthetic-cs-variable-Ww2",
        )
        .secret(cred_secret)
        .secret(access)
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .tmp(wd.path())
        .run();
    let login = &inf.requests().await[0];
    let body: serde_json::Value = serde_json::from_slice(&login.body).unwrap();
    assert_eq!(
        body,
        json!({"clientId": "client-id-0001", "clientSecret": cred_secret})
    );
}

// ------------------------------------------------------------------ what a real server said

/// The last line of the message of a run refused at the list route with `hint`, quoting
/// `said`.
fn refused_list(hint: &str, said: &str) -> String {
    format!("{SECRETS_RAW}: refused with status 403 ({hint}); the server said: {said}")
}

/// The seed's own failure, recorded: a role reading `/forgejo/**` only asks for
/// `/home-platform/providers` — 403 `PermissionDenied` "read on secrets". The credentials
/// worked; the message names project, environment and path. The older fixture (with CASL
/// `details`) reads the same.
#[tokio::test]
async fn inf_039_role_not_covering_the_path_is_named() {
    let hint = format!(
        "the credentials worked, but the identity's role does not allow reading secrets at {PROVIDER_PATH} in environment prod of project {PROJECT}: grant its role read access to that path and environment"
    );
    for fixture in [
        "infisical/593bda8b/error-403-permission-denied.json",
        "infisical/error-403-permission-denied.json",
    ] {
        one_answer(
            403,
            fixture,
            &["--path", PROVIDER_PATH],
            3,
            &refused_list(
                &hint,
                "PermissionDenied: You are not allowed to read on secrets",
            ),
        )
        .await;
    }
}

/// A malformed token, one signed by another instance (both recorded) and an expired one:
/// the token is at fault, not the path.
#[tokio::test]
async fn inf_040_token_error_blames_the_token() {
    let hint = "the access token is malformed, expired or not issued by this instance: check the token file (or variable) and that --api-url names the instance that issued it";
    for (fixture, said) in [
        (
            "infisical/593bda8b/error-403-token-malformed.json",
            "TokenError: The provided access token is malformed. Please use a valid token or generate a new one and try again.",
        ),
        (
            "infisical/593bda8b/error-403-token-invalid-signature.json",
            "TokenError: invalid signature",
        ),
        (
            "infisical/error-403-token-expired.json",
            "TokenError: Your token has expired. Please re-authenticate.",
        ),
    ] {
        one_answer(403, fixture, &[], 3, &refused_list(hint, said)).await;
    }
}

/// No membership, recorded (the reason in `error`, a generic `message`) and as current
/// servers word it: the message says so, naming `--project-id`.
#[tokio::test]
async fn inf_041_not_a_member_names_the_project() {
    for (project, fixture, said) in [
        (
            RECORDED_PROJECT,
            "infisical/593bda8b/error-403-not-member.json",
            format!(
                "Identity is not a member of the specified project with ID '{RECORDED_PROJECT}': You are not allowed to access this resource"
            ),
        ),
        (
            PROJECT,
            "infisical/error-403-not-member.json",
            "You are not member of this project: You are not allowed to access this resource"
                .to_owned(),
        ),
    ] {
        one_answer(
            403,
            fixture,
            &["--project-id", project],
            3,
            &refused_list(
                &format!(
                    "the identity is not a member of project {project}: add it to the project with a role that reads / in environment prod, or check --project-id"
                ),
                &said,
            ),
        )
        .await;
    }
}

/// A Universal Auth run with `client_id` whose login answers `status` with `fixture`: exit
/// `code`, stderr exactly `stderr`, one login, no list call, nothing written.
async fn login_answer(status: u16, fixture: &str, code: i32, stderr: impl snapbox::IntoData) {
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.login(
        ResponseTemplate::new(status).set_body_json(fixture_json(fixture)),
        1,
    )
    .await;
    inf.respond(ResponseTemplate::new(200), 0).await;
    let _ = canary(&inf.url(), &wd.output())
        .args([
            "--auth",
            "universal-auth",
            "--client-id",
            "no-such-client-0001",
        ])
        .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "synthetic-cs-Ll2")
        .exits(code)
        .stderr(stderr)
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
}

/// The recorded 404 of an unknown client ID is exit 3 saying the client ID is unknown; a
/// 404 of another kind on the login route keeps exit 4 and its URL hint.
#[tokio::test]
async fn inf_042_unknown_client_id_is_a_credentials_problem() {
    login_answer(
        404,
        "infisical/593bda8b/error-404-unknown-client-id.json",
        3,
        format!("write-canary-env: error: {UA_LOGIN}: refused with status 404 (the client ID is unknown to this instance: check --client-id (or $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID) and that --api-url names the instance where the identity lives); the server said: NotFound: No identity with specified client ID was found\n"),
    )
    .await;
    login_answer(
        404,
        "infisical/593bda8b/error-404-v4-route.json",
        4,
        str![[r#"
write-canary-env: error: /api/v1/auth/universal-auth/login: not found (status 404: does --api-url name an Infisical API with Universal Auth?); the server said: Not Found: Route GET:/api/v4/secrets?projectId=df1167bf-8375-4614-9f41-d4658b21e228&environment=prod&secretPath=%2Fhome-platform%2Fproviders not found

"#]],
    )
    .await;
}

/// The recorded 401 `ValidationFailure` (nested zod issues) is exit 2 after one request,
/// each issue as `path: message`, never the raw JSON.
#[tokio::test]
async fn inf_043_older_servers_validation_failure_is_a_usage_error() {
    one_answer(
        401,
        "infisical/593bda8b/error-401-validation.json",
        &[],
        2,
        &format!("{SECRETS_RAW}: the request was rejected with status 401 (check --project-id, --env and --path); the server said: ValidationFailure: permissions.0.action: Invalid input"),
    )
    .await;
}

/// Both wordings of describe-but-not-read give the one message of INF-031.
#[tokio::test]
async fn inf_044_describe_but_not_read_in_either_wording() {
    let hint = format!(
        "the identity can see the secrets at {PROVIDER_PATH} in environment prod but lacks the read-value permission there (readValue): grant it read access to secret values on that path and environment"
    );
    for (fixture, said) in [
        (
            "infisical/error-403-read-value.json",
            "PermissionDenied: You are not allowed to readValue on secrets",
        ),
        (
            "infisical/error-403-read-value-forbidden.json",
            "ForbiddenError: You do not have permission to read secret values",
        ),
    ] {
        one_answer(
            403,
            fixture,
            &["--path", PROVIDER_PATH],
            3,
            &refused_list(&hint, said),
        )
        .await;
    }
}

/// A `SecretPathNotFound` 404 whose message names no path: the `--path` asked and the
/// environment are named; of two paths, only the failing one.
#[tokio::test]
async fn inf_045_secret_path_not_found_names_the_path_asked() {
    let fixture = "infisical/error-404-secret-path-not-found-name-only.json";
    one_answer(
        404,
        fixture,
        &["--path", "/home-platform/provders"],
        4,
        &format!("{SECRETS_RAW}: not found (status 404: no folder /home-platform/provders in environment prod: check --path and --env (a current server answers so for an unknown environment too)); the server said: NotFound: Not found. Please ensure the environment slug and secret path is correct."),
    )
    .await;
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_folder(PROVIDER_PATH, TOKEN, providers(), 1).await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(SECRETS_RAW))
        .and(wiremock::matchers::query_param("secretPath", "/typo"))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture_json(fixture)))
        .expect(1)
        .mount(&inf.server)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--path", PROVIDER_PATH, "--path", "/typo"])
        .secret(PROVIDER_VALUE)
        .exits(4)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: not found (status 404: no folder /typo in environment prod: check --path and --env (a current server answers so for an unknown environment too)); the server said: NotFound: Not found. Please ensure the environment slug and secret path is correct.

"#]])
        .tmp(wd.path())
        .run();
    assert!(!wd.output().exists());
}

/// The wait is said when it starts: against a 429 asking 30 s, the line is on stderr while
/// the run still waits (it has not ended; it is then cancelled with SIGTERM, exit 143), and
/// it is the only line. A run that waits twice and succeeds says each wait once.
#[tokio::test]
async fn inf_046_a_wait_is_said_when_it_starts() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.respond(
        Server::October2024
            .response(Situation::RateLimited)
            .insert_header("retry-after", "30"),
        1,
    )
    .await;
    let url = inf.url();
    let out = wd.output();
    let (first, code, rest) = tokio::task::spawn_blocking(move || {
        crate::support::signal::deliverable();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("write-canary-env"))
            .args(["--project-id", PROJECT, "--env", ENV, "--api-url", &url])
            .args(["--path", PROVIDER_PATH, "--output"])
            .arg(&out)
            .env_clear()
            .env("INFISICAL_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        // The line came while the 30-second wait runs: the process has not ended.
        let running = child.try_wait().unwrap().is_none();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        assert!(running, "the line came only after the run ended");
        (first, status.code(), rest)
    })
    .await
    .unwrap();
    assert_eq!(
        (first.as_str(), code, rest.as_str()),
        (
            "write-canary-env: waiting 30 s: the server's rate limit (429, retry-after); then attempt 2 of 3 of /api/v3/secrets/raw for --path /home-platform/providers\n",
            Some(143),
            ""
        )
    );
    assert!(!wd.output().exists());
    drop(inf);
    // Two waits (a 503 backing off 100 ms, a 429 asking 0 s), then the answer.
    let inf = Infisical::start().await;
    inf.respond_first(ResponseTemplate::new(503), 1).await;
    inf.respond_first(
        ResponseTemplate::new(429).insert_header("retry-after", "0"),
        1,
    )
    .await;
    inf.respond(ResponseTemplate::new(200).set_body_json(providers()), 1)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .secret(PROVIDER_VALUE)
        .exits(0)
        .stdout(written_one_key())
        .stderr(str![[r#"
write-canary-env: waiting 0.1 s: the server is unavailable (503), backing off; then attempt 2 of 3 of /api/v3/secrets/raw for --path /
write-canary-env: waiting 0 s: the server's rate limit (429, retry-after); then attempt 3 of 3 of /api/v3/secrets/raw for --path /

"#]])
        .tmp(wd.path())
        .run();
}

/// The recorded "try again in 1 minute" without `Retry-After` asks 60 s: beyond a 30 s cap
/// the run gives up at once, naming 60 s; "N seconds" is still N.
#[tokio::test]
async fn inf_047_try_again_in_minutes_is_60_seconds_each() {
    use provider_bridge::http::Outcome;
    use provider_bridge::infisical::try_again_in;
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.answer_as(Server::October2024, Situation::RateLimited, 1)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--max-retry-wait", "30"])
        .exits(5)
        .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: unavailable after 1 attempt (gave up: the server asked to wait 60.0 s, more than --max-retry-wait 30.0 s; 0.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 1 minute

"#]])
        .tmp(wd.path())
        .run();
    let asked = |body: &str| {
        try_again_in(&Outcome::Status {
            code: 429,
            body: body.into(),
            retry_after: None,
        })
    };
    assert_eq!(
        asked("try again in 2 minutes"),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        asked("try again in 7 seconds"),
        Some(Duration::from_secs(7))
    );
}

/// Every situation of the recording, against the October 2024 server and today's: the exit
/// code, the request counts and the whole message of its clause; and the recorded happy path
/// (the login, then the list in the October 2024 shape) writes the key.

#[tokio::test]
async fn inf_048_both_servers_keep_the_contracts() {
    use Situation as S;
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.login(
        ResponseTemplate::new(200).set_body_json(fixture_json("infisical/593bda8b/login-ok.json")),
        1,
    )
    .await;
    inf.serve_folder(
        PROVIDER_PATH,
        "synthetic-recorded-access-token-redacted-len-407",
        fixture_json("infisical/593bda8b/secrets-providers.json"),
        1,
    )
    .await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--project-id", RECORDED_PROJECT, "--path", PROVIDER_PATH])
        .args(["--auth", "universal-auth", "--client-id", "client-0001"])
        .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "synthetic-cs-Nn4")
        .secret("synthetic-ollama-key-0000000000000000")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project df1167bf-8375-4614-9f41-d4658b21e228, environment prod, paths /home-platform/providers
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    let written = std::fs::read_to_string(wd.output()).unwrap();
    assert!(written.contains(PROVIDER_KEY), "{written}");
    drop(inf);
    let empty = "no secrets found at / in environment prod: either no such folder (an older server answers a missing folder with an empty list: check --path and --env) or the identity may not see the secrets there (a server silently drops what an identity may not describe: check its permissions on that path and environment); pass --allow-empty if an empty file is intended".to_owned();
    let not_member = format!(
        "the identity is not a member of project {PROJECT}: add it to the project with a role that reads / in environment prod, or check --project-id"
    );
    let bad_token = "the access token is malformed, expired or not issued by this instance: check the token file (or variable) and that --api-url names the instance that issued it";
    let no_project = format!(
        "no project {PROJECT}: check --project-id, and that --api-url names the instance holding it"
    );
    for server in Server::BOTH {
        for situation in Situation::ALL {
            let old = server == Server::October2024;
            let (code, said): (i32, String) = match situation {
                S::WrongScope if old => (
                    3,
                    format!(
                        "{SECRETS_RAW}: refused with status 403 (the credentials worked, but the identity's role does not allow reading secrets at / in environment prod of project {PROJECT}: grant its role read access to that path and environment); the server said: PermissionDenied: You are not allowed to read on secrets"
                    ),
                ),
                // today's server filters what a role scoped elsewhere may not see: an empty list
                S::WrongScope => (4, empty.clone()),
                // the older server answers a missing folder with an empty list
                S::MissingFolder if old => (4, empty.clone()),
                S::NotMember if old => (
                    3,
                    format!(
                        "{SECRETS_RAW}: refused with status 403 ({not_member}); the server said: Identity is not a member of the specified project with ID '{RECORDED_PROJECT}': You are not allowed to access this resource"
                    ),
                ),
                S::NotMember => (
                    3,
                    format!(
                        "{SECRETS_RAW}: refused with status 403 ({not_member}); the server said: You are not member of this project: You are not allowed to access this resource"
                    ),
                ),
                S::BadToken if old => (
                    3,
                    format!(
                        "{SECRETS_RAW}: refused with status 403 ({bad_token}); the server said: TokenError: The provided access token is malformed. Please use a valid token or generate a new one and try again."
                    ),
                ),
                S::BadToken => (
                    3,
                    format!(
                        "{SECRETS_RAW}: refused with status 403 ({bad_token}); the server said: TokenError: Your token has expired. Please re-authenticate."
                    ),
                ),
                S::MissingFolder => (
                    4,
                    format!(
                        "{SECRETS_RAW}: not found (status 404: no folder / in environment prod: check --path and --env (a current server answers so for an unknown environment too)); the server said: SecretPathNotFound: Folder with path '/home-platform/provders' in environment 'prod' was not found. Please ensure the environment slug and secret path is correct."
                    ),
                ),
                S::ValidationFailure if old => (
                    2,
                    format!(
                        "{SECRETS_RAW}: the request was rejected with status 401 (check --project-id, --env and --path); the server said: ValidationFailure: permissions.0.action: Invalid input"
                    ),
                ),
                S::ValidationFailure => (
                    2,
                    format!(
                        "{SECRETS_RAW}: the request was rejected with status 422 (check --project-id, --env and --path); the server said: ValidationFailure: recursive: Invalid enum value. Expected 'true' | 'false', received 'yes'; environment: Required"
                    ),
                ),
                S::RateLimited if old => (
                    5,
                    format!(
                        "{SECRETS_RAW}: unavailable after 1 attempt (gave up: the server asked to wait 60.0 s, more than --max-retry-wait 0.0 s; 0.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 1 minute"
                    ),
                ),
                S::RateLimited => (
                    5,
                    format!(
                        "{SECRETS_RAW}: unavailable after 1 attempt (gave up: the server asked to wait 1.0 s, more than --max-retry-wait 0.0 s; 0.0 s spent waiting): status 429; the server said: RateLimitExceeded: Rate limit exceeded. Please try again in 1 seconds"
                    ),
                ),
                S::UnknownProject if old => (
                    4,
                    format!(
                        "{SECRETS_RAW}: not found (status 404: {no_project}); the server said: NotFound: Project with ID '00000000-0000-0000-0000-000000000000' not found during bot lookup. Are you sure you are using the correct project ID?"
                    ),
                ),
                S::UnknownProject => (
                    4,
                    format!(
                        "{SECRETS_RAW}: not found (status 404: {no_project}); the server said: NotFound: Project with {PROJECT} not found"
                    ),
                ),
                S::UnknownClientId => (
                    3,
                    format!(
                        "{UA_LOGIN}: refused with status 404 (the client ID is unknown to this instance: check --client-id (or $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID) and that --api-url names the instance where the identity lives); the server said: NotFound: No identity with specified client ID was found"
                    ),
                ),
                S::InvalidCredentials => (
                    3,
                    format!(
                        "{UA_LOGIN}: refused with status 401 (check the credentials and the identity's access to this project, environment and path); the server said: UnauthorizedError: Invalid credentials"
                    ),
                ),
            };
            let inf = Infisical::start().await;
            let wd = Workdir::new();
            inf.answer_as(server, situation, 1).await;
            let mut cli = canary(&inf.url(), &wd.output()).args(["--max-retry-wait", "0"]);
            if situation.on_login() {
                inf.respond(ResponseTemplate::new(200), 0).await;
                cli = cli
                    .args(["--auth", "universal-auth", "--client-id", "client-0001"])
                    .secret_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "synthetic-cs-Mm3");
            }
            let _ = cli
                .exits(code)
                .stderr(format!("write-canary-env: error: {said}\n"))
                .tmp(wd.path())
                .run();
            assert!(!wd.output().exists());
        }
    }
}

/// Silent filtering, recorded: a recursive read from `/` and an import into `/forgejo` by
/// the identity scoped to `/forgejo/**` answer 200 without `OLLAMA_CLOUD_API_KEY`; `--key`
/// turns that into exit 4 naming the key, and nothing is written.
#[tokio::test]
async fn inf_049_silently_filtered_secret_is_caught_by_key() {
    for (fixture, args) in [
        (
            "infisical/593bda8b/secrets-recursive-wrong-scope.json",
            &["--recursive", "--path", "/"][..],
        ),
        (
            "infisical/593bda8b/secrets-forgejo-imports-wrong-scope.json",
            &["--include-imports", "--path", "/forgejo"][..],
        ),
    ] {
        let inf = Infisical::start().await;
        let wd = Workdir::new();
        inf.serve_secrets(fixture, 1).await;
        let _ = canary(&inf.url(), &wd.output())
            .args(args.iter().copied())
            .args(["--key", PROVIDER_KEY])
            .secret("synthetic-forgejo-token-1111")
            .exits(4)
            .stderr(str![[r#"
write-canary-env: error: key not found in any path: OLLAMA_CLOUD_API_KEY

"#]])
            .tmp(wd.path())
            .run();
        assert!(!wd.output().exists());
    }
    // The viewer, whose role covers both folders, gets the import and the key.
    let inf = Infisical::start().await;
    let wd = Workdir::new();
    inf.serve_secrets("infisical/593bda8b/secrets-forgejo-imports-viewer.json", 1)
        .await;
    let _ = canary(&inf.url(), &wd.output())
        .args([
            "--include-imports",
            "--path",
            "/forgejo",
            "--key",
            PROVIDER_KEY,
        ])
        .secret("synthetic-forgejo-token-1111")
        .secret("synthetic-ollama-key-0000000000000000")
        .exits(0)
        .stdout(str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /forgejo
  OLLAMA_CLOUD_API_KEY

"#]])
        .tmp(wd.path())
        .run();
    assert!(
        std::fs::read_to_string(wd.output())
            .unwrap()
            .contains(PROVIDER_KEY)
    );
}

/// Of two paths that fail differently, the root cause is reported whatever their order: a
/// folder the role may not read (403, exit 3) wins over a missing one (404, exit 4), the
/// refused path's message alone; nothing written.
#[tokio::test]
async fn cli_004_of_two_failing_paths_the_root_cause_is_reported() {
    let missing = "infisical/error-404-secret-path-not-found-name-only.json";
    for paths in [["/typo", "/denied"], ["/denied", "/typo"]] {
        let inf = Infisical::start().await;
        let wd = Workdir::new();
        for (folder, response) in [
            (
                "/typo",
                ResponseTemplate::new(404).set_body_json(fixture_json(missing)),
            ),
            (
                "/denied",
                Server::October2024.response(Situation::WrongScope),
            ),
        ] {
            wiremock::Mock::given(wiremock::matchers::method("GET"))
                .and(wiremock::matchers::path(SECRETS_RAW))
                .and(wiremock::matchers::query_param("secretPath", folder))
                .respond_with(response)
                .expect(1)
                .mount(&inf.server)
                .await;
        }
        let _ = canary(&inf.url(), &wd.output())
            .args(["--path", paths[0], "--path", paths[1]])
            .exits(3)
            .stderr(str![[r#"
write-canary-env: error: /api/v3/secrets/raw: refused with status 403 (the credentials worked, but the identity's role does not allow reading secrets at /denied in environment prod of project proj-synthetic-0001: grant its role read access to that path and environment); the server said: PermissionDenied: You are not allowed to read on secrets

"#]])
            .tmp(wd.path())
            .run();
        assert!(!wd.output().exists());
    }
}
