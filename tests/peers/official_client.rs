//! The official client reads our fixtures: the Infisical Python SDK (`infisicalsdk` on PyPI)
//! lists secrets from the stand-in serving `fixtures/` — the payloads the contract tests use —
//! with Token Auth and with Universal Auth, and gets the keys and values `write-canary-env`
//! writes. A fixture the real client cannot parse is a fixture that lies.

use std::collections::BTreeMap;
use std::process::Command;

use crate::peer::{PROJECT, path_in, peers, route_str, routes, run_ok, script, tempdir};
use crate::support::Cli;

type Values = BTreeMap<String, String>;

#[derive(Clone, Copy, PartialEq)]
enum Auth {
    Token,
    Universal,
}

/// What the SDK listed for `folder`: the parsed JSON of `tests/peers/sdk_list.py`.
fn sdk_list(auth: Auth, folder: &str) -> serde_json::Value {
    let p = peers();
    let mut cmd = Command::new(&p.python);
    cmd.arg(script("sdk_list.py"))
        .args(["--host", &p.infisical_url, "--project", PROJECT])
        .args(["--env", "prod", "--path", folder])
        .env_clear();
    match auth {
        Auth::Token => cmd
            .args(["--auth", "token-auth"])
            .env("INFISICAL_TOKEN", route_str("tokenAuthToken")),
        Auth::Universal => cmd
            .args(["--auth", "universal-auth"])
            .env("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", route_str("clientId"))
            .env(
                "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
                route_str("clientSecret"),
            ),
    };
    let out = run_ok(&format!("infisicalsdk listing {folder}"), &mut cmd);
    serde_json::from_slice(&out.stdout).expect("sdk_list JSON")
}

fn sdk_values(listed: &serde_json::Value) -> Values {
    listed["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The env file `write-canary-env` writes for `folder` with `auth`, read with dotenvy.
fn canary_values(auth: Auth, folder: &str) -> Values {
    let dir = tempdir();
    let out = path_in(dir.path(), "app.env");
    let mut cli = Cli::canary()
        .args(["--project-id", PROJECT, "--env", "prod", "--path", folder])
        .args(["--output", &out, "--api-url", &peers().infisical_url]);
    cli = match auth {
        Auth::Token => cli.secret_env("INFISICAL_TOKEN", route_str("tokenAuthToken")),
        Auth::Universal => cli
            .env("INFISICAL_AUTH_METHOD", "universal-auth")
            .env("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", route_str("clientId"))
            .secret_env(
                "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
                route_str("clientSecret"),
            ),
    };
    cli.run().success().no_leak();
    dotenvy::from_path_iter(&out)
        .expect("read the written file")
        .map(|kv| kv.expect("dotenvy reads the written file"))
        .collect()
}

const FOLDERS: [&str; 3] = ["/home-platform/providers", "/shared", "/peers/tricky"];

fn same_as_canary(auth: Auth) {
    for folder in FOLDERS {
        let listed = sdk_list(auth, folder);
        let sdk = sdk_values(&listed);
        assert!(!sdk.is_empty(), "{folder}: the SDK listed nothing");
        let written = canary_values(auth, folder);
        assert_eq!(
            sdk, written,
            "{folder}: the SDK and write-canary-env disagree"
        );
    }
}

/// Token Auth: the SDK lists, from the stand-in, exactly the keys and values that
/// `write-canary-env` writes for the same folders.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_020_sdk_token_auth_lists_what_canary_writes() {
    same_as_canary(Auth::Token);
}

/// Universal Auth (login, then the access token): the same.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_021_sdk_universal_auth_lists_what_canary_writes() {
    same_as_canary(Auth::Universal);
}

/// Every secrets payload in `fixtures/infisical/` and `fixtures/peers/infisical/` (the
/// deliberately broken ones that are not JSON aside) is served by the stand-in and parsed by the
/// official SDK, with every secret and import the fixture holds.
#[test]
#[ignore = "peer tier: run by scripts/peers"]
fn peer_022_sdk_parses_every_secrets_fixture() {
    let routes = routes();
    let served: BTreeMap<String, String> = routes["secrets"]["prod"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(folder, rel)| (rel.as_str().unwrap().to_owned(), folder.clone()))
        .collect();
    let mut checked = 0;
    for sub in ["infisical", "peers/infisical"] {
        let dir = crate::support::fixtures::dir().join(sub);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("secrets-") || !name.ends_with(".json") {
                continue;
            }
            let rel = format!("{sub}/{name}");
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            let Ok(fixture) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue; // deliberately broken (truncated) JSON
            };
            let folder = served.get(&rel).unwrap_or_else(|| {
                panic!("{rel} is not served: add it to fixtures/peers/infisical-routes.json")
            });
            let listed = sdk_list(Auth::Token, folder);
            let want: Vec<&str> = fixture["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["secretKey"].as_str().unwrap())
                .collect();
            let got: Vec<&str> = listed["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["key"].as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{rel}: secrets as the SDK parsed them");
            let imports = fixture["imports"].as_array().map_or(0, Vec::len);
            assert_eq!(
                listed["imports"].as_array().unwrap().len(),
                imports,
                "{rel}: imports as the SDK parsed them"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} fixtures checked");
}
