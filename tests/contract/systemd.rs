//! Proves the clauses of `contracts/systemd.md` that the unit files state by themselves
//! (SYS-002, SYS-003). The others need a real systemd: `tests/peers/systemd.rs`.

use std::path::PathBuf;

fn unit(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `Key=value` lines of a unit, in order, comments and section headers left out.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not a setting: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn values<'a>(settings: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    settings
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn position(settings: &[(String, String)], key: &str) -> usize {
    settings
        .iter()
        .position(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key}="))
}

/// Each service: one `Environment=`, the metrics default, before its `EnvironmentFile=`;
/// `Type=oneshot`; `ExecStart=` the binary alone.
#[test]
fn sys_002_configuration_from_the_instance_file_after_the_metrics_default() {
    for (name, bin, env_file, metrics) in [
        (
            "write-canary-env@.service",
            "/usr/bin/write-canary-env",
            "/etc/provider-bridge/%i.env",
            "WRITE_CANARY_ENV_METRICS_FILE=/var/lib/prometheus/node-exporter/write-canary-env-%i.prom",
        ),
        (
            "ollama-compat-smoke@.service",
            "/usr/bin/ollama-compat-smoke",
            "/etc/provider-bridge/smoke-%i.env",
            "OLLAMA_COMPAT_SMOKE_METRICS_FILE=/var/lib/prometheus/node-exporter/ollama-compat-smoke-%i.prom",
        ),
    ] {
        let s = settings(&unit(name));
        assert_eq!(values(&s, "Type"), ["oneshot"], "{name}");
        assert_eq!(values(&s, "EnvironmentFile"), [env_file], "{name}");
        assert_eq!(values(&s, "Environment"), [metrics], "{name}");
        assert!(
            position(&s, "Environment") < position(&s, "EnvironmentFile"),
            "{name}: Environment= must come before EnvironmentFile= so the instance overrides it"
        );
        assert_eq!(values(&s, "ExecStart"), [bin], "{name}");
        // the variable is one the binary reads
        let help = std::process::Command::new(assert_cmd::cargo::cargo_bin(
            bin.trim_start_matches("/usr/bin/"),
        ))
        .arg("--help")
        .output()
        .expect("--help");
        let variable = metrics.split('=').next().unwrap();
        assert!(
            String::from_utf8_lossy(&help.stdout).contains(variable),
            "{bin} --help does not name {variable}"
        );
    }
}

/// No credential variable in any `Environment=`; every credential through `LoadCredential=`
/// from the instance's file.
#[test]
fn sys_003_credentials_only_through_load_credential() {
    let credential_vars = [
        "INFISICAL_TOKEN",
        "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
        "OLLAMA_CLOUD_API_KEY",
        "API_KEY",
    ];
    for name in [
        "write-canary-env@.service",
        "write-canary-env@.timer",
        "ollama-compat-smoke@.service",
        "ollama-compat-smoke@.timer",
    ] {
        let s = settings(&unit(name));
        for env in values(&s, "Environment") {
            for var in credential_vars {
                assert!(!env.contains(var), "{name}: Environment={env} names {var}");
            }
        }
        for exec in values(&s, "ExecStart") {
            assert!(
                !exec.contains(' '),
                "{name}: ExecStart={exec} has arguments"
            );
        }
    }
    let canary = settings(&unit("write-canary-env@.service"));
    assert_eq!(
        values(&canary, "LoadCredential"),
        [
            "infisical-token:/etc/provider-bridge/%i.token",
            "infisical-client-secret:/etc/provider-bridge/%i.client-secret"
        ]
    );
    let smoke = settings(&unit("ollama-compat-smoke@.service"));
    assert_eq!(
        values(&smoke, "LoadCredential"),
        ["ollama-api-key:/etc/provider-bridge/smoke-%i.key"]
    );
}
